/**
 * Protocol version 2 through the router (docs/protocol.md, "Version 2"): TTL writes, range deletes,
 * snapshots and iterators of one session (connection), on the store route it is bound to.
 *
 * - A snapshot spans every shard of the route: each shard takes its part (shard-handles.ts) at the same
 *   point of its order, so the snapshot is one consistent cut, like a scan's.
 * - An iterator has one part per shard it spans (one with `keyGroup`, else all, in shard order; reversed
 *   with `reverse`). Shards own contiguous key-group ranges in order, so reading the parts one after the
 *   other yields the embedded store's (keyGroup, key) order across the whole store. A seek lands in the
 *   part owning its key group: the parts before it (in iteration order) are finished, the parts after it
 *   are rewound to the start of their range. The limit is counted here, across parts.
 * - Handles are bounded per session (MAX_SNAPSHOTS, MAX_ITERATORS: BUSY beyond) and released when the
 *   session closes or changes its binding.
 */
import { FloeError } from '../errors.js';
import { compareBytes, defaultKeyGroup } from '../keys.js';
import { planIterator } from '../lsm/iterator.js';
import {
  ITERATOR_PAGE_BYTES,
  MAX_ITERATORS,
  MAX_SNAPSHOTS,
  NextFlag,
  engineIteratorOptions,
  iteratorEntriesEnd,
  readIteratorNext,
  readIteratorOptions,
  type ParsedNext,
} from '../protocol/protocol-v2.js';
import { DEFAULT_KG, ERROR_OP, errorPayload, InternalOp, Op, opName, opVersion, RESPONSE_BIT } from '../protocol/protocol.js';
import { readU32, Reader, Writer } from '../protocol/wire.js';
import { gatherValues, resolveGroup, type StoreRoute } from './route-keyed.js';
import { deleteKeyGroups, deleteRange, keyedTtlWrite } from './route-writes-v2.js';
import { EMPTY, type Answer, type Reply, type ShardBus, type Target } from './shard-bus.js';

interface SnapshotHandle {
  /** The shard part per index of route.targets. */
  parts: Map<number, { target: Target; handle: number }>;
}

interface IterPart {
  targetIndex: number;
  target: Target;
  handle: number;
  done: boolean;
  /** A seek to send with the part's next read (a client seek, or a rewind: see rewindTarget). */
  seek: { keyGroup: number; key: Uint8Array } | undefined;
}

interface RouterIterator {
  parts: IterPart[];
  at: number;
  remaining: number;
  keyGroup: number | undefined;
  lower: Uint8Array | undefined;
  upper: Uint8Array | undefined;
  reverse: boolean;
  keys: boolean;
  values: boolean;
  opening: boolean;
  busy: boolean;
  closed: boolean;
}

const ok = (op: number, reply: Answer): void => reply(op | RESPONSE_BIT, EMPTY);

/** Shard-side handles (snapshot and iterator parts) opened and not yet released, per router (its bus). */
const openParts = new WeakMap<ShardBus, number>();
const count = (bus: ShardBus, n: number): void => {
  openParts.set(bus, (openParts.get(bus) ?? 0) + n);
};

/** The shard-side snapshot and iterator parts the router's sessions hold (STATS, tests of release). */
export function openShardHandles(bus: ShardBus): number {
  return openParts.get(bus) ?? 0;
}

/** One session's snapshots and iterators, and the stateless v2 requests. */
export class SessionHandles {
  private readonly snapshots = new Map<number, SnapshotHandle>();
  private readonly iterators = new Map<number, RouterIterator>();
  closed = false;

  constructor(private readonly bus: ShardBus) {}

  get size(): number {
    return this.snapshots.size + this.iterators.size;
  }

  /**
   * Serves a version-2 request; false when `op` is not one. A VERSION error when the session negotiated
   * an older version (the client must not send these; the connection stays usable).
   */
  dispatch(version: number, route: StoreRoute, op: number, payload: Uint8Array, reply: Answer): boolean {
    const needs = opVersion(op);
    if (needs === 1) return false;
    if (needs > version) {
      throw new FloeError('VERSION', `${opName(op)} needs protocol version ${needs}, but this connection negotiated version ${version} in HELLO; send HELLO with maxVersion >= ${needs}`);
    }
    switch (op) {
      case Op.PUT_TTL:
      case Op.MERGE_TTL:
        return keyedTtlWrite(this.bus, route, op, payload, reply);
      case Op.DELETE_RANGE:
        return deleteRange(this.bus, route, payload, reply);
      case Op.DELETE_KEY_GROUPS:
        return deleteKeyGroups(this.bus, route, payload, reply);
      case Op.GET_AT:
        return this.getAt(route, payload, reply);
      case Op.MULTI_GET_AT:
        return this.multiGetAt(route, payload, reply);
      case Op.SNAPSHOT:
        return this.snapshot(route, payload, reply);
      case Op.RELEASE_SNAPSHOT:
        return this.releaseSnapshot(payload, reply);
      case Op.ITERATOR:
        return this.openIterator(route, payload, reply);
      case Op.ITERATOR_NEXT:
        return this.next(route, readIteratorNext(payload), reply);
      case Op.ITERATOR_CLOSE:
        return this.closeIterator(payload, reply);
      default:
        return false;
    }
  }

  /** Releases every handle (the session closes, or its binding changes). */
  closeAll(): void {
    for (const s of this.snapshots.values()) for (const p of s.parts.values()) this.releasePart(p.target, p.handle);
    this.snapshots.clear();
    for (const it of this.iterators.values()) this.dropIterator(it);
    this.iterators.clear();
  }

  // ---------------------------------------------------------------- snapshots

  /** SNAPSHOT (u32 id): a part on every shard of the route, registered at once (later frames may name it). */
  private snapshot(route: StoreRoute, payload: Uint8Array, reply: Answer): true {
    const id = readId(payload, 'SNAPSHOT');
    this.checkNew(id, 'snapshot');
    if (this.snapshots.size >= MAX_SNAPSHOTS) {
      throw new FloeError('BUSY', `this connection holds ${MAX_SNAPSHOTS} open snapshots; release some (snapshot.release()) before taking more`, { retryable: true });
    }
    const parts = route.targets.map((target) => ({ target, handle: this.bus.nextCursorId() }));
    const handle: SnapshotHandle = { parts: new Map(parts.map((p, i) => [i, p])) };
    this.snapshots.set(id, handle);
    count(this.bus, parts.length);
    this.bus.fanOut(
      parts.map((p) => ({ target: p.target, write: false, encode: (w: Writer) => w.u32(p.handle) })),
      InternalOp.SHARD_SNAPSHOT,
      (results) => {
        const failed = results.find((x) => x.op === ERROR_OP);
        if (failed === undefined) return ok(Op.SNAPSHOT, reply);
        if (this.snapshots.get(id) === handle) this.snapshots.delete(id);
        for (const x of results) {
          if (x.op !== ERROR_OP) this.releasePart(parts[x.index]!.target, parts[x.index]!.handle);
          else count(this.bus, -1); // never opened on that shard
        }
        reply(ERROR_OP, failed.payload);
      },
    );
    return true;
  }

  private releaseSnapshot(payload: Uint8Array, reply: Answer): true {
    const id = readId(payload, 'RELEASE_SNAPSHOT');
    const s = this.snapshots.get(id);
    if (s === undefined) throw unknown('snapshot', id);
    this.snapshots.delete(id);
    for (const p of s.parts.values()) this.releasePart(p.target, p.handle);
    ok(Op.RELEASE_SNAPSHOT, reply);
    return true;
  }

  private snapshotPart(id: number, targetIndex: number): number {
    const s = this.snapshots.get(id);
    if (s === undefined) throw unknown('snapshot', id);
    return s.parts.get(targetIndex)!.handle;
  }

  /** GET_AT (u32 snapshot, u16 kg, rest key). */
  private getAt(route: StoreRoute, payload: Uint8Array, reply: Answer): true {
    if (payload.length < 6) throw new FloeError('PROTOCOL', `malformed GET_AT payload: ${payload.length} bytes`);
    const id = readU32(payload, 0);
    const rawKg = (payload[4]! << 8) | payload[5]!;
    const key = payload.subarray(6);
    const kg = resolveGroup(route, rawKg, key);
    const t = route.targetOf(kg);
    const part = this.snapshotPart(id, t);
    this.bus.send(
      route.targets[t]!,
      Op.GET_AT,
      (w) => {
        w.u32(part);
        w.u16(kg);
        w.raw(key);
      },
      reply,
    );
    return true;
  }

  /** MULTI_GET_AT (u32 snapshot, u16 kg, u32 count, keys): split per shard like MULTI_GET. */
  private multiGetAt(route: StoreRoute, payload: Uint8Array, reply: Answer): true {
    const r = new Reader(payload, 0, payload.length, 'MULTI_GET_AT payload');
    const id = r.u32();
    const rawKg = r.u16();
    const n = r.u32();
    const keys: Uint8Array[] = [];
    for (let i = 0; i < n; i++) keys.push(r.bytes32());
    r.done();
    const byTarget = new Map<number, number[]>();
    keys.forEach((k, i) => {
      const kg = resolveGroup(route, rawKg, k, `multiGet(): key ${i}: `);
      const t = route.targetOf(kg, `multiGet(): key ${i}: `);
      const list = byTarget.get(t);
      if (list) list.push(i);
      else byTarget.set(t, [i]);
    });
    if (byTarget.size === 0) byTarget.set(0, []);
    const targets = [...byTarget.keys()];
    const parts = targets.map((t) => ({
      target: route.targets[t]!,
      write: false,
      encode: (w: Writer) => {
        w.u32(this.snapshotPart(id, t));
        w.u16(rawKg);
        w.u32(byTarget.get(t)!.length);
        for (const i of byTarget.get(t)!) w.bytes32(keys[i]!);
      },
    }));
    for (const t of targets) this.snapshotPart(id, t); // unknown snapshot: fail before sending anything
    this.bus.fanOut(parts, Op.MULTI_GET_AT, (results) => {
      const failed = results.find((x) => x.op === ERROR_OP);
      if (failed) return reply(ERROR_OP, failed.payload);
      reply(Op.MULTI_GET_AT | RESPONSE_BIT, gatherValues(n, results, (i) => byTarget.get(targets[i]!)!));
    });
    return true;
  }

  // ---------------------------------------------------------------- iterators

  /** ITERATOR (u32 id, u32 snapshot, options): opens a part on each shard it spans. */
  private openIterator(route: StoreRoute, payload: Uint8Array, reply: Answer): true {
    const r = new Reader(payload, 0, payload.length, 'ITERATOR payload');
    const id = r.u32();
    const snapId = r.u32();
    const optionsAt = r.pos;
    const parsed = readIteratorOptions(r);
    r.done();
    this.checkNew(id, 'iterator');
    if (this.iterators.size >= MAX_ITERATORS) {
      throw new FloeError('BUSY', `this connection has ${MAX_ITERATORS} open iterators; close some (iterator.close()) before opening more`, { retryable: true });
    }
    // The embedded store's validation (bounds, key group, limit), so errors match in every mode.
    const plan = planIterator({ ...engineIteratorOptions(parsed), ...(parsed.limit !== undefined ? { limit: parsed.limit } : {}) }, route.maxKeyGroups);
    if (snapId !== 0 && !this.snapshots.has(snapId)) throw unknown('snapshot', snapId);
    let indexes = route.targets.map((_, i) => i);
    if (plan.keyGroup !== undefined && route.targets.length > 1) indexes = [route.targetOf(plan.keyGroup, 'iterator(): ')];
    if (plan.reverse) indexes.reverse();
    const it: RouterIterator = {
      parts: indexes.map((i) => ({ targetIndex: i, target: route.targets[i]!, handle: this.bus.nextCursorId(), done: false, seek: undefined })),
      at: 0,
      remaining: plan.limit,
      keyGroup: plan.keyGroup,
      // Copies: the bounds may be views into the request frame, which is reused once this call returns.
      lower: copy(plan.bounds.lower),
      upper: copy(plan.bounds.upper),
      reverse: plan.reverse,
      keys: plan.keys,
      values: plan.values,
      opening: true,
      busy: false,
      closed: false,
    };
    this.iterators.set(id, it);
    count(this.bus, it.parts.length);
    const options = payload.subarray(optionsAt);
    this.bus.fanOut(
      it.parts.map((p) => ({
        target: p.target,
        write: false,
        encode: (w: Writer) => {
          w.u32(p.handle);
          w.u32(snapId === 0 ? 0 : this.snapshotPart(snapId, p.targetIndex));
          w.raw(options);
        },
      })),
      InternalOp.SHARD_ITER_OPEN,
      (results) => {
        it.opening = false;
        const failed = results.find((x) => x.op === ERROR_OP);
        for (const x of results) if (x.op === ERROR_OP) it.parts[x.index]!.done = true; // nothing to release there
        if (failed === undefined && !it.closed) return ok(Op.ITERATOR, reply);
        if (this.iterators.get(id) === it) this.iterators.delete(id);
        this.dropIterator(it);
        reply(ERROR_OP, failed?.payload ?? errorPayload(new FloeError('CLOSED', `iterator ${id} was closed while it opened`)));
      },
    );
    return true;
  }

  private next(route: StoreRoute, n: ParsedNext, reply: Answer): true {
    const it = this.iterators.get(n.iterator);
    if (it === undefined) throw unknown('iterator', n.iterator);
    if (it.opening || it.busy) {
      throw new FloeError('BUSY', `iterator ${n.iterator} is still ${it.opening ? 'opening' : 'producing the previous page'}; wait for that answer first`);
    }
    if (n.seek !== undefined) this.seek(route, it, n.seek);
    const want = Math.min(Math.max(1, n.maxEntries), it.remaining);
    const pages: Uint8Array[] = [];
    let count = 0;
    let bytes = 0;
    const finish = (): void => {
      it.busy = false;
      it.remaining -= count;
      while (it.at < it.parts.length && it.parts[it.at]!.done && !pending(it.parts[it.at]!)) it.at++;
      const done = it.remaining <= 0 || it.at >= it.parts.length;
      const w = new Writer(5 + bytes);
      w.u8(done ? 1 : 0);
      w.u32(count);
      for (const p of pages) w.raw(p);
      reply(Op.ITERATOR_NEXT | RESPONSE_BIT, w.view());
    };
    const step = (): void => {
      while (it.at < it.parts.length && it.parts[it.at]!.done && !pending(it.parts[it.at]!)) it.at++;
      if (it.at >= it.parts.length || count >= want || bytes >= ITERATOR_PAGE_BYTES) return finish();
      const part = it.parts[it.at]!;
      const flags = part.seek ? NextFlag.seek : 0;
      const seek = part.seek;
      part.seek = undefined;
      part.done = false;
      this.bus.send(
        part.target,
        InternalOp.SHARD_ITER_NEXT,
        (w) => {
          w.u32(part.handle);
          w.u32(want - count);
          w.u32(ITERATOR_PAGE_BYTES - bytes);
          w.u8(flags);
          if (seek) {
            w.u16(seek.keyGroup);
            w.bytes32(seek.key);
          }
        },
        (rop, p) => {
          if (rop === ERROR_OP) {
            it.busy = false;
            return reply(ERROR_OP, p);
          }
          if (it.closed) {
            it.busy = false;
            return reply(ERROR_OP, errorPayload(new FloeError('CLOSED', 'the iterator was closed while it read')));
          }
          const got = readU32(p, 1);
          const end = iteratorEntriesEnd(p, 5, got, it.keys, it.values);
          pages.push(copy(p.subarray(5, end)));
          count += got;
          bytes += end - 5;
          if (p[0] === 1) part.done = true;
          else if (count < want && bytes < ITERATOR_PAGE_BYTES) return finish(); // the shard stopped short: it decided the page was full
          step();
        },
      );
    };
    it.busy = true;
    if (want <= 0) finish();
    else step();
    return true;
  }

  /**
   * Repositions: a target outside the bounds ends the iterator (abstract-level's rule, as embedded); else
   * the part owning the target's group seeks, the parts before it finish, the parts after it rewind.
   */
  private seek(route: StoreRoute, it: RouterIterator, target: { keyGroup: number; key: Uint8Array }): void {
    const key = copy(target.key);
    if (it.keyGroup !== undefined && target.keyGroup !== DEFAULT_KG && target.keyGroup !== it.keyGroup) {
      throw new FloeError('INVALID_ARGUMENT', `seek(): this iterator covers key group ${it.keyGroup}, not ${target.keyGroup}; omit keyGroup or create an iterator over that group`);
    }
    const kg =
      target.keyGroup !== DEFAULT_KG ? resolveGroup(route, target.keyGroup, EMPTY, 'seek(): ') : (it.keyGroup ?? defaultKeyGroup(key, route.maxKeyGroups));
    const outside = (it.lower !== undefined && compareBytes(key, it.lower) < 0) || (it.upper !== undefined && compareBytes(key, it.upper) >= 0);
    const at = outside ? it.parts.length : it.parts.length === 1 ? 0 : it.parts.findIndex((p) => p.targetIndex === route.targetOf(kg, 'seek(): '));
    it.parts.forEach((p, i) => {
      p.seek = i === at ? { keyGroup: kg, key } : i > at ? rewindTarget(p, it) : undefined;
      p.done = i < at;
    });
    it.at = Math.min(at, it.parts.length);
  }

  private closeIterator(payload: Uint8Array, reply: Answer): true {
    const id = readId(payload, 'ITERATOR_CLOSE');
    const it = this.iterators.get(id);
    if (it === undefined) throw unknown('iterator', id);
    this.iterators.delete(id);
    this.dropIterator(it);
    ok(Op.ITERATOR_CLOSE, reply);
    return true;
  }

  /** Releases an iterator's shard parts (a part still opening is released behind its open, in shard order). */
  private dropIterator(it: RouterIterator): void {
    if (it.closed) return;
    it.closed = true;
    for (const p of it.parts) this.releasePart(p.target, p.handle);
  }

  private releasePart(target: Target, handle: number): void {
    count(this.bus, -1);
    if (target.shard.dead !== undefined || target.gone !== undefined || this.bus.closed) return;
    this.bus.send(target, InternalOp.SHARD_RELEASE, (w) => w.u32(handle), () => undefined);
  }

  private checkNew(id: number, what: string): void {
    if (id === 0) throw new FloeError('INVALID_ARGUMENT', `${what} id 0 is reserved; use ids from 1`);
    if (this.closed) throw new FloeError('CLOSED', 'the session is closed');
    if ((what === 'snapshot' ? this.snapshots : this.iterators).has(id)) {
      throw new FloeError('INVALID_ARGUMENT', `${what} id ${id} is already open on this connection; pick an id that is not in use`);
    }
  }
}

/** A copy (Buffer#slice would be a view: payloads are views into reused buffers). */
function copy(b: Uint8Array): Uint8Array;
function copy(b: Uint8Array | undefined): Uint8Array | undefined;
function copy(b: Uint8Array | undefined): Uint8Array | undefined {
  return b === undefined ? undefined : Uint8Array.prototype.slice.call(b);
}

const pending = (p: IterPart): boolean => p.seek !== undefined;

/**
 * The seek that rewinds a part to the start of its range, reusing its read view (so expiry stays judged
 * at the iterator's creation, as embedded): forward, the shard's first group at the lower bound (or the
 * empty key); backward, the group after the shard's last one (a part is rewound only when a later shard in
 * shard order exists). "Shard" here is the target's instance: a default-store shard, or a named store's part at the lower bound: nothing of that group is on this shard, so the walk continues
 * from the end of the shard's last group. Both targets are inside the bounds (a lower bound at or above
 * the upper bound makes the range empty anyway).
 */
function rewindTarget(p: IterPart, it: RouterIterator): { keyGroup: number; key: Uint8Array } {
  const [first, last] = p.target.keyGroups;
  return { keyGroup: it.reverse ? last + 1 : first, key: it.lower ?? EMPTY };
}

function readId(payload: Uint8Array, what: string): number {
  const r = new Reader(payload, 0, payload.length, `${what} payload`);
  const id = r.u32();
  r.done();
  return id;
}

function unknown(what: string, id: number): FloeError {
  return new FloeError('INVALID_ARGUMENT', `unknown ${what} ${id}: it was ${what === 'iterator' ? 'closed' : 'released'}, never opened, or belongs to another connection`);
}

export type { Reply };
