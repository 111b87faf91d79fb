/**
 * The router: runs N shards, each owning one LSM instance of a contiguous key-group range — worker threads
 * (workers/shard-worker.ts), or the router's own thread for a single shard (lib/daemon/shard-link.ts) —
 * and executes protocol frames against them. It is the engine of both the
 * daemon (lib/daemon/server.ts hands it socket frames) and the in-process sharded store
 * (lib/daemon/sharded-store.ts hands it frames it encodes itself).
 *
 * Data path: a request frame is parsed just enough to find its key group(s) (the default is computed here
 * with the engine's function, lib/keys.ts), copied into its shard's outgoing batch, and all batches are
 * posted once per event-loop turn as one transferred ArrayBuffer per shard. Responses come back the same
 * way and are handed to the request's `Reply` as views (valid as long as the caller keeps them).
 *
 * Ordering: each shard receives frames in the order the router was given them and executes them in that
 * order (see shard-service.ts). Multi-shard requests (batches, multi-gets, scans without keyGroup, flush)
 * are split per shard at one point of that order, which is what makes them consistent across shards.
 *
 * Batches spanning shards: validated as a whole here before anything is sent (an invalid op rejects the
 * batch), then applied atomically per shard. Not all-or-nothing if a shard fails while applying its part
 * (the error names the shards that applied theirs) or across a crash (see docs/protocol.md).
 *
 * Checkpoints: new writes are held in the router (and, to keep per-shard order, everything queued behind a
 * held write), every shard checkpoints after the requests already sent to it, the per-shard records are
 * folded into ONE record whose handle lists every shard instance, then held requests are released.
 *
 * A crashed shard: its pending requests fail with an IO error naming the shard; later requests to it fail
 * the same way. It is NOT restarted (its unflushed writes are gone and silently serving older data would
 * hide that); the daemon reacts by shutting down so its supervisor restarts it (docs/operations.md).
 */
import { join } from 'node:path';
import type { CheckpointHandle, StoreOptions, StoreStats } from '../api.js';
import { claimShardedLocalDir, type ShardedLocalDir } from '../cache/disk-cache-registry.js';
import { SharedBlockCache } from '../cache/shared-block-cache.js';
import { CHECKPOINT_HANDLE_VERSION } from '../checkpoint/checkpoint.js';
import { decodeCheckpointRecord, writeCheckpointRecord, type CheckpointRecord } from '../checkpoint/checkpoint-record.js';
import { validateHandle } from '../checkpoint/handle.js';
import { FloeError, isFloeError, type FloeErrorCode } from '../errors.js';
import { checkKey, checkValue, defaultKeyGroup } from '../keys.js';
import { defaultLocalDir, resolveOptions, type ResolvedOptions } from '../options.js';
import type { ObjectStore } from '../store/object-store.js';
import { openObjectStore } from '../store/open.js';
import { checkpointPath, shardLocalDirName } from '../store/paths.js';
import { claimCheckpoints, retireOn } from '../checkpoint/retire.js';
import { systemClock, type Clock } from '../util/clock.js';
import { Random } from '../util/random.js';
import { freshLayout, readLatestLayout, restoredLayout, sameLayout, writeLayout, type ShardLayout } from './layout.js';
import {
  ABSENT,
  asFloeError,
  decodeError,
  DEFAULT_KG,
  ERROR_OP,
  errorPayload,
  InternalOp,
  MAX_CURSORS,
  Op,
  opName,
  parseJson,
  readScanPayload,
  RESPONSE_BIT,
  writeJson,
  WriteType,
} from './protocol.js';
import type { ShardInit } from './shard-service.js';
import { startInlineShard, startWorkerShard, type ShardLink } from './shard-link.js';
import { ShardMap, type KeyGroupRange } from './shard-map.js';
import { Coalescer, FRAME_HEADER_BYTES, protocolError, readU32, Reader, Writer } from './wire.js';

/**
 * Receives a response: opcode (request | 0x80, or ERROR_OP), payload view, and the `tag` given with the
 * request (lets a caller use one Reply for many requests). Called exactly once per request.
 */
export type Reply = (op: number, payload: Uint8Array, tag: number) => void;
/** A Reply without the tag, for requests whose caller keeps its own context. */
type Answer = (op: number, payload: Uint8Array) => void;

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void;

export interface RouterOptions {
  /** Store options; `shards` is the wanted shard count. */
  options: StoreOptions;
  /** The shard count was chosen explicitly: it must then match an existing layout (else the layout's count wins). */
  shardsExplicit?: boolean;
  /** Start from these checkpoints (any shard count) instead of the current layout: writes a new layout. */
  restore?: { handles: CheckpointHandle[]; mode?: 'claim' | 'no-claim' };
  random?: Random;
  clock?: Clock;
  log?: LogFn;
  /** Called once when a shard thread dies unexpectedly. */
  onShardCrash?: (shard: number, error: FloeError) => void;
  /** Run the shards on this thread instead of worker threads. Default: only when there is one shard. */
  inline?: boolean;
}

const CLOSE_TIMEOUT_MS = 60_000;
const RESTART_WINDOW_MS = 60_000;
const RESTARTS_PER_WINDOW = 5;

class Shard {
  readonly out = new Writer(64 * 1024);
  /** Frames held during a checkpoint (and everything behind them, to keep order). */
  held: Writer | null = null;
  dead: FloeError | undefined;
  closing = false;
  /** Times of in-place restarts after crashes (durability 'wal'), for the restart budget. */
  readonly restarts: number[] = [];
  exited!: Promise<void>;
  private markExited!: () => void;

  constructor(
    readonly index: number,
    readonly instanceId: string,
    readonly keyGroups: KeyGroupRange,
    public link: ShardLink,
    /** How to start it again: the same instance, reopened (never restored twice). */
    readonly reopen: { init: ShardInit; inline: boolean },
  ) {
    this.resetExited();
  }

  resetExited(): void {
    this.exited = new Promise((resolve) => (this.markExited = resolve));
  }

  exitedNow(): void {
    this.markExited();
  }

  describe(): string {
    return `shard ${this.index} (instance ${this.instanceId}, key groups [${this.keyGroups[0]}, ${this.keyGroups[1]}])`;
  }
}

interface Pending {
  shard: number;
  reply: Reply;
  tag: number;
}

interface CursorPart {
  shard: Shard;
  workerCursor: number;
  done: boolean;
}

interface Cursor {
  id: number;
  parts: CursorPart[];
  at: number;
  remaining: number;
  pageBytes: number;
  busy: boolean;
  closed: boolean;
}

/** One client's view of the router: owns that client's scan cursors. Close it when the client goes. */
export class RouterSession {
  readonly cursors = new Map<number, Cursor>();
  nextCursor = 1;
  closed = false;

  constructor(private readonly router: Router) {}

  /**
   * Executes one request frame (header included). REQUIRES: `frame` stays unchanged only during the call
   * (the router copies what it needs). PROMISES: `reply` is called exactly once, possibly synchronously.
   */
  dispatch(frame: Buffer, reply: Reply, tag = 0): void {
    this.router.dispatch(this, frame, reply, tag);
  }

  /** Closes every open cursor of this session (releasing the shards' snapshots). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.cursors.values()) this.router.closeCursor(c);
    this.cursors.clear();
  }
}

export class Router {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private lastId = 0;
  private holding = false;
  private readonly flusher = new Coalescer(() => this.flushShards());
  private checkpointChain: Promise<unknown> = Promise.resolve();
  private checkpointBusy = false;
  private closing: Promise<void> | undefined;
  private closed = false;
  private nextWorkerCursor = 1;
  /** Extra fields for STATS answers (the daemon adds its own section). */
  extraStats: (() => Record<string, unknown>) | undefined;

  private constructor(
    readonly options: ResolvedOptions,
    readonly layout: ShardLayout,
    readonly map: ShardMap,
    private readonly shards: Shard[],
    private readonly store: ObjectStore,
    private readonly cache: SharedBlockCache | undefined,
    private readonly localDir: ShardedLocalDir,
    private readonly random: Random,
    private readonly clock: Clock,
    private readonly log: LogFn,
    private readonly onShardCrash: RouterOptions['onShardCrash'],
  ) {
    for (const s of shards) this.attach(s, s.link);
  }

  private attach(s: Shard, link: ShardLink): void {
    link.attach({
      onBatch: (batch) => this.onResponses(batch),
      onError: (reason) => {
        if (s.link === link) this.shardDied(s, reason);
      },
      onExit: (code) => {
        if (s.link !== link) return; // a replaced link's late exit
        if (!s.closing || s.dead === undefined) this.shardDied(s, s.closing ? undefined : `its thread exited with code ${code}`);
        s.exitedNow();
      },
    });
  }

  get maxKeyGroups(): number {
    return this.options.maxKeyGroups;
  }

  get shardCount(): number {
    return this.shards.length;
  }

  /** Instance ids and ranges of the shards, in shard order. */
  describeShards(): Array<{ shard: number; instanceId: string; keyGroups: KeyGroupRange; alive: boolean }> {
    return this.shards.map((s) => ({ shard: s.index, instanceId: s.instanceId, keyGroups: s.keyGroups, alive: s.dead === undefined }));
  }

  /**
   * Opens (or creates, or restores) the sharded store described by `o` and starts its shard threads.
   * PROMISES: on failure every started thread is stopped and nothing is left open.
   */
  static async open(o: RouterOptions): Promise<Router> {
    const resolved = resolveOptions(o.options);
    if (resolved.primary.startsWith('mem://')) {
      throw new FloeError(
        'CONFIG',
        `a sharded store (the shards option, or the daemon) needs primary storage every shard thread can reach: file://, s3:// or hdfs://; ${resolved.primary} lives inside one thread`,
      );
    }
    const maxKg = resolved.maxKeyGroups;
    const name = resolved.instanceId;
    const clock = o.clock ?? systemClock;
    const random = o.random ?? new Random((Date.now() ^ (process.pid << 8)) >>> 0);
    const log: LogFn = o.log ?? (() => undefined);
    const wanted = resolved.shards;
    const { store } = await openObjectStore(resolved.primary, { s3: resolved.s3, hdfs: resolved.hdfs, clock, random: random.fork() });
    let cache: SharedBlockCache | undefined;
    let shards: Shard[] = [];
    let local: ShardedLocalDir | undefined;
    try {
      const previous = await readLatestLayout(store, name);
      let layout: ShardLayout;
      let mode: 'fresh' | 'existing' | 'restore';
      if (o.restore) {
        const handles = o.restore.handles;
        if (!Array.isArray(handles) || handles.length === 0) {
          throw new FloeError('INVALID_ARGUMENT', 'restore needs a non-empty array of checkpoint handles');
        }
        for (const h of handles) validateHandle(h, resolved.primary, maxKg);
        const n = wanted ?? previous?.shards.length ?? 1;
        layout = restoredLayout(previous, name, maxKg, n, clock.now(), random, handles.map((h) => h.checkpointId));
        mode = 'restore';
      } else if (previous) {
        if (previous.maxKeyGroups !== maxKg) {
          throw new FloeError('CONFIG', `the sharded store ${JSON.stringify(name)} on ${resolved.primary} was created with maxKeyGroups ${previous.maxKeyGroups}, but the options say ${maxKg}; maxKeyGroups is fixed for the life of the data`);
        }
        if (o.shardsExplicit && wanted !== undefined && wanted !== previous.shards.length) {
          throw new FloeError(
            'CONFIG',
            `the sharded store ${JSON.stringify(name)} on ${resolved.primary} has ${previous.shards.length} shards, but ${wanted} were asked for; ` +
              `open it with shards: ${previous.shards.length} (or leave shards unset), or rescale: take a checkpoint and restore it with the new shard count (floe daemon --restore HANDLE.json --shards ${wanted})`,
          );
        }
        layout = previous;
        mode = 'existing';
      } else {
        layout = freshLayout(name, maxKg, wanted ?? 1, clock.now());
        mode = 'fresh';
      }
      const map = new ShardMap(maxKg, layout.shards.map((s) => s.keyGroups));
      cache = resolved.blockCacheBytes > 0 ? SharedBlockCache.create(resolved.blockCacheBytes) : undefined;
      const descriptor = cache?.shareable();
      const n = layout.shards.length;
      // Shards split the disk budget; folders of other shard counts go, so disk use stays within it across restarts.
      const localDir = o.options.localDir ?? defaultLocalDir(resolved.primary, name);
      local = await claimShardedLocalDir({ localDir, capacityBytes: resolved.diskCacheBytes, shards: n });
      const shardBytes = local.shardBytes;
      // One shard runs on this thread: a worker would only add a hop per batch and no parallelism.
      const inline = o.inline ?? n === 1;
      const started = layout.shards.map(async (s, i) => {
        const { shards: _ignored, ...rest } = o.options;
        const init: ShardInit = {
          shard: i,
          options: {
            ...rest,
            instanceId: s.instanceId,
            localDir: join(localDir, shardLocalDirName(i)),
            maxKeyGroups: maxKg,
            diskCacheBytes: shardBytes,
          },
          keyGroups: s.keyGroups,
          expectExisting: mode === 'existing',
          ...(mode === 'restore' ? { restore: { handles: o.restore!.handles } } : {}),
        };
        const describe = `shard ${i} (instance ${s.instanceId}, key groups [${s.keyGroups[0]}, ${s.keyGroups[1]}])`;
        const link = inline ? await startInlineShard(init, cache) : await startWorkerShard(init, descriptor, describe);
        const { restore: _restored, ...reopenInit } = init;
        return new Shard(i, s.instanceId, s.keyGroups, link, { init: { ...reopenInit, expectExisting: true }, inline });
      });
      const results = await Promise.allSettled(started);
      shards = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
      if (mode !== 'existing') {
        try {
          await writeLayout(store, layout);
        } catch (e) {
          // Two fresh opens racing write the same deterministic layout: the other one's is ours.
          const now = mode === 'fresh' && isFloeError(e, 'BUSY') ? await readLatestLayout(store, name) : undefined;
          if (now === undefined || !sameLayout(now, layout)) throw e;
        }
        log('info', mode === 'restore' ? 'layout_restored' : 'layout_created', { name, seq: layout.seq, shards: n, instances: layout.shards.map((s) => s.instanceId) });
        if (mode === 'restore') {
          const current = new Set(layout.shards.map((s) => s.instanceId));
          // The new instances' manifests reference the files now: in claim mode the records may go and
          // their source instances retire.
          if (o.restore!.mode === 'claim') await claimCheckpoints(store, o.restore!.handles, current, clock, random.fork());
          // The replaced layout's instances are unreachable through this store from now on: retire them so
          // GC can reclaim what only they kept (checkpoints taken from them stay restorable).
          for (const s of previous?.shards ?? []) {
            if (!current.has(s.instanceId)) await retireOn(store, s.instanceId, clock, random.fork()).catch(ignoreMissingInstance);
          }
        }
      }
      return new Router(resolved, layout, map, shards, store, cache, local, random, clock, log, o.onShardCrash);
    } catch (e) {
      await Promise.all(shards.map((s) => s.link.terminate().catch(() => undefined)));
      await local?.release();
      await store.close().catch(() => undefined);
      throw e;
    }
  }

  openSession(): RouterSession {
    return new RouterSession(this);
  }

  // ---------------------------------------------------------------- shard I/O

  private shardDied(s: Shard, reason: string | undefined): void {
    if (s.dead !== undefined) return;
    const restarting = reason !== undefined && this.mayRestart(s);
    const error =
      reason === undefined
        ? new FloeError('CLOSED', `${s.describe()} is closed`)
        : restarting
          ? new FloeError(
              'IO',
              `${s.describe()} crashed: ${reason}. Requests in flight to it failed (they may or may not have been applied); ` +
                'it restarts in place from its write-ahead log (no acknowledged write is lost): retry',
              { retryable: true },
            )
          : new FloeError(
              'IO',
              `${s.describe()} crashed: ${reason}. Requests in flight to it failed (they may or may not have been applied) and the shard stays down; ` +
                `restart the store or daemon (writes to this shard since its last flush are lost)`,
            );
    s.dead = error;
    s.held = null;
    const payload = errorPayload(error);
    for (const [id, p] of this.pending) {
      if (p.shard !== s.index) continue;
      this.pending.delete(id);
      this.safeReply(p, ERROR_OP, payload);
    }
    if (reason !== undefined) {
      this.log('error', 'shard_crashed', { shard: s.index, instanceId: s.instanceId, reason, restarting });
      if (restarting) void this.restart(s, error);
      else this.onShardCrash?.(s.index, error);
    }
  }

  /**
   * With the WAL every acknowledged write of a crashed shard is on primary storage, so the shard can come
   * back in place (reopening its instance fences the dead writer and replays its log) while the other
   * shards keep serving. Without it the writes since the last flush are gone: fail loudly instead. A shard
   * that crashes again and again stays down (at most RESTARTS_PER_WINDOW restarts per window).
   */
  private mayRestart(s: Shard): boolean {
    if (this.options.durability !== 'wal' || this.closed || s.closing) return false;
    const now = this.clock.now();
    while (s.restarts.length > 0 && now - s.restarts[0]! > RESTART_WINDOW_MS) s.restarts.shift();
    return s.restarts.length < RESTARTS_PER_WINDOW;
  }

  private async restart(s: Shard, crash: FloeError): Promise<void> {
    s.restarts.push(this.clock.now());
    const old = s.link;
    await old.terminate().catch(() => undefined);
    s.dead = new FloeError('IO', `${s.describe()} is restarting after a crash; retry the request`, { retryable: true });
    try {
      const { init, inline } = s.reopen;
      // The terminated thread could not release its folder's lock; a shard in this thread shares its registry entry.
      if (!inline) await this.localDir.clearShardLock(s.index);
      const link = inline ? await startInlineShard(init, this.cache) : await startWorkerShard(init, this.cache?.shareable(), s.describe());
      if (this.closed) {
        await link.terminate().catch(() => undefined);
        return;
      }
      s.resetExited();
      s.link = link;
      this.attach(s, link);
      s.dead = undefined;
      this.log('warn', 'shard_restarted', { shard: s.index, instanceId: s.instanceId, restarts: s.restarts.length });
    } catch (e) {
      s.dead = crash;
      this.log('error', 'shard_restart_failed', { shard: s.index, instanceId: s.instanceId, error: (e as Error).message });
      this.onShardCrash?.(s.index, crash);
    }
  }

  private onResponses(batch: Uint8Array): void {
    let at = 0;
    while (at + FRAME_HEADER_BYTES <= batch.length) {
      const len = readU32(batch, at);
      const end = at + 4 + len;
      const op = batch[at + 4]!;
      const id = readU32(batch, at + 5);
      const p = this.pending.get(id);
      if (p !== undefined) {
        this.pending.delete(id);
        this.safeReply(p, op, end === at + FRAME_HEADER_BYTES ? EMPTY : batch.subarray(at + FRAME_HEADER_BYTES, end));
      }
      at = end;
    }
  }

  private safeReply(p: Pending, op: number, payload: Uint8Array): void {
    try {
      p.reply(op, payload, p.tag);
    } catch (e) {
      this.log('error', 'reply_failed', { error: (e as Error).message });
    }
  }

  /**
   * Registers a request to shard `s` and returns the writer its frame goes into (its id is `this.lastId`),
   * or undefined after answering the request with the shard's death. `write` marks requests held during
   * checkpoints; `bypassHold` is for the checkpoint's own frames.
   */
  private frameTo(s: Shard, write: boolean, reply: Reply, tag = 0, bypassHold = false): Writer | undefined {
    if (s.dead !== undefined) {
      reply(ERROR_OP, errorPayload(s.dead), tag);
      return undefined;
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0 || 1;
    this.nextId = (id + 1) >>> 0 || 1;
    this.lastId = id;
    this.pending.set(id, { shard: s.index, reply, tag });
    if (!bypassHold && (s.held !== null || (write && this.holding))) return (s.held ??= new Writer(16 * 1024));
    this.flusher.schedule();
    return s.out;
  }

  /**
   * Sends one frame to shard `s` (payload written by `encode`). The hot single-key paths inline this.
   * PROMISES: `reply` is called exactly once (at once if the shard is dead).
   */
  private send(s: Shard, op: number, encode: ((w: Writer) => void) | undefined, reply: Reply, write = false, bypassHold = false): void {
    const w = this.frameTo(s, write, reply, 0, bypassHold);
    if (w === undefined) return;
    const start = w.beginFrame(op, this.lastId);
    encode?.(w);
    w.endFrame(start);
  }

  private flushShards(): void {
    for (const s of this.shards) {
      if (s.out.length === 0 || s.dead !== undefined) {
        s.out.length = 0;
        continue;
      }
      s.link.post(s.out.takeArrayBuffer());
    }
  }

  /** Sends one internal request to a shard; resolves with a copy of the response payload. */
  private call(s: Shard, op: number, payload?: (w: Writer) => void, bypassHold = false): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.send(s, op, payload, (rop, p) => (rop === ERROR_OP ? reject(decodeError(p)) : resolve(p.slice())), false, bypassHold);
    });
  }

  private callAll(op: number): Promise<Uint8Array[]> {
    return Promise.all(this.shards.map((s) => this.call(s, op)));
  }

  // ---------------------------------------------------------------- dispatch

  /** See RouterSession.dispatch. */
  dispatch(session: RouterSession, frame: Buffer, tagged: Reply, tag: number): void {
    const op = frame[4]!;
    try {
      if (this.closed || session.closed) throw new FloeError('CLOSED', 'the store is closed; open a new one');
      if (frame.length < FRAME_HEADER_BYTES || readU32(frame, 0) !== frame.length - 4) throw protocolError('frame length does not match its bytes');
      // The hot single-key requests pass the caller's Reply and tag straight through (no allocation).
      if (op === Op.PUT || op === Op.MERGE || op === Op.GET || op === Op.DELETE) return this.singleKey(op, frame, tagged, tag);
      const payload = frame.subarray(FRAME_HEADER_BYTES);
      const reply: Answer = (rop, p) => tagged(rop, p, tag);
      switch (op) {
        case Op.WRITE:
          return this.writeBatch(payload, reply);
        case Op.MULTI_GET:
          return this.multiGet(payload, reply);
        case Op.SCAN:
          return this.openScan(session, payload, reply);
        case Op.SCAN_NEXT:
          return this.scanNext(session, payload, reply);
        case Op.SCAN_CLOSE:
          return this.scanClose(session, payload, reply);
        case Op.FLUSH:
          return this.settle(this.flush(), reply, op, () => undefined);
        case Op.CHECKPOINT:
          return this.settle(this.checkpoint(), reply, op, (w, h) => writeJson(w, h));
        case Op.RELEASE_CHECKPOINT:
          return this.settle(this.releaseCheckpoint(parseJson<CheckpointHandle>(payload, 'checkpoint handle')), reply, op, () => undefined);
        case Op.STATS:
          return this.settle(this.stats(), reply, op, (w, s) => writeJson(w, { ...s, ...(this.extraStats ? { daemon: this.extraStats() } : {}) }));
        default:
          throw protocolError(`opcode ${opName(op)} is not a request this daemon serves`);
      }
    } catch (e) {
      tagged(ERROR_OP, errorPayload(asFloeError(e)), tag);
    }
  }

  private settle<T>(p: Promise<T>, reply: Answer, op: number, write: (w: Writer, v: T) => void): void {
    p.then(
      (v) => {
        const w = new Writer(1024);
        write(w, v);
        reply(op | RESPONSE_BIT, w.view());
      },
      (e: unknown) => reply(ERROR_OP, errorPayload(asFloeError(e))),
    );
  }

  private resolveGroup(kg: number, key: Uint8Array, where = ''): number {
    if (kg === DEFAULT_KG) return defaultKeyGroup(key, this.options.maxKeyGroups);
    if (kg >= this.options.maxKeyGroups) {
      throw new FloeError('INVALID_ARGUMENT', `${where}keyGroup must be an integer in [0, ${this.options.maxKeyGroups}), got ${kg}; omit it to use the default hash`);
    }
    return kg;
  }

  /**
   * The single-key requests — PUT/MERGE (u16 kg, bytes32 key, rest value) and GET/DELETE (u16 kg, rest
   * key): the frame is copied to its shard with the key group resolved. The hot path: no allocation
   * beyond the pending entry (and a key view when the key group must be hashed).
   */
  private singleKey(op: number, frame: Buffer, reply: Reply, tag: number): void {
    const p = FRAME_HEADER_BYTES;
    const withValue = op === Op.PUT || op === Op.MERGE;
    if (frame.length < p + (withValue ? 6 : 2)) throw protocolError(`malformed ${opName(op)} payload: ${frame.length - p} bytes`);
    let keyStart = p + 2;
    let keyEnd = frame.length;
    if (withValue) {
      const klen = readU32(frame, p + 2);
      keyStart = p + 6;
      keyEnd = keyStart + klen;
      if (keyEnd > frame.length) throw protocolError(`malformed ${opName(op)} payload: key length ${klen} exceeds the frame`);
    }
    const kg = this.resolveGroupAt((frame[p]! << 8) | frame[p + 1]!, frame, keyStart, keyEnd);
    const w = this.frameTo(this.shards[this.map.shardOf(kg)]!, op !== Op.GET, reply, tag);
    if (w === undefined) return;
    const start = w.beginFrame(op, this.lastId);
    w.u16(kg);
    w.rawFrom(frame, p + 2, frame.length);
    w.endFrame(start);
  }

  /** resolveGroup for a key given as a range of `buf` (hashes without a view unless needed). */
  private resolveGroupAt(kg: number, buf: Buffer, start: number, end: number): number {
    if (kg === DEFAULT_KG) return defaultKeyGroup(buf.subarray(start, end), this.options.maxKeyGroups);
    return this.resolveGroup(kg, EMPTY);
  }

  private writeBatch(payload: Uint8Array, reply: Answer): void {
    const r = new Reader(payload, 0, payload.length, 'WRITE payload');
    const n = r.u32();
    // Parse and validate the whole batch first: an invalid op rejects it before any shard sees any of it.
    const ops: Array<{ type: number; kg: number; key: Uint8Array; value: Uint8Array | undefined; shard: number }> = [];
    for (let i = 0; i < n; i++) {
      const type = r.u8();
      const rawKg = r.u16();
      const key = r.bytes32();
      if (type !== WriteType.put && type !== WriteType.delete && type !== WriteType.merge) {
        throw protocolError(`WRITE op ${i} has unknown type ${type} (1 put, 2 delete, 3 merge)`);
      }
      const value = type === WriteType.delete ? undefined : r.bytes32();
      const where = `write(): operation ${i}: `;
      try {
        checkKey(key);
        if (value !== undefined) checkValue(value, `operation ${i} value`);
      } catch (e) {
        throw isFloeError(e) && !e.message.startsWith('operation') ? new FloeError(e.code, where + e.message) : e;
      }
      const kg = this.resolveGroup(rawKg, key, where);
      ops.push({ type, kg, key, value, shard: this.map.shardOf(kg) });
    }
    r.done();
    if (ops.length === 0) {
      reply(Op.WRITE | RESPONSE_BIT, EMPTY);
      return;
    }
    const first = ops[0]!.shard;
    const groups = new Map<number, typeof ops>();
    for (const o of ops) {
      const g = groups.get(o.shard);
      if (g) g.push(o);
      else groups.set(o.shard, [o]);
    }
    const writeGroup = (w: Writer, group: typeof ops): void => {
      w.u32(group.length);
      for (const o of group) {
        w.ensure(11 + o.key.length + (o.value?.length ?? 0));
        w.u8(o.type);
        w.u16(o.kg);
        w.bytes32(o.key);
        if (o.value !== undefined) w.bytes32(o.value);
      }
    };
    if (groups.size === 1) {
      this.send(this.shards[first]!, Op.WRITE, (w) => writeGroup(w, ops), reply, true);
      return;
    }
    const shardsOf = [...groups.keys()];
    this.fanOut(
      shardsOf.map((shard) => ({ shard, write: true, encode: (w: Writer) => writeGroup(w, groups.get(shard)!) })),
      Op.WRITE,
      (results) => {
        const failed = results.filter((x) => x.op === ERROR_OP);
        if (failed.length === 0) return reply(Op.WRITE | RESPONSE_BIT, EMPTY);
        const errors = failed.map((x) => decodeError(x.payload));
        if (failed.length === results.length) return reply(ERROR_OP, errorPayload(errors[0]!));
        const applied = results.filter((x) => x.op !== ERROR_OP).map((x) => shardsOf[x.index]);
        const bad = failed.map((x, i) => `shard ${shardsOf[x.index]}: ${errors[i]!.message}`).join('; ');
        reply(
          ERROR_OP,
          errorPayload(
            new FloeError(
              errors[0]!.code as FloeErrorCode,
              `write batch partially applied: shard(s) ${applied.join(', ')} applied their part, but ${bad}. ` +
                `Do not blindly retry (merges would apply twice); re-read the keys and repair`,
            ),
          ),
        );
      },
    );
  }

  private multiGet(payload: Uint8Array, reply: Answer): void {
    const r = new Reader(payload, 0, payload.length, 'MULTI_GET payload');
    const rawKg = r.u16();
    const n = r.u32();
    const keys: Uint8Array[] = new Array(n);
    for (let i = 0; i < n; i++) keys[i] = r.bytes32();
    r.done();
    const encode = (w: Writer, indexes: number[] | undefined): void => {
      w.u16(rawKg);
      w.u32(indexes ? indexes.length : n);
      for (const i of indexes ?? keys.keys()) w.bytes32(keys[i]!);
    };
    if (rawKg !== DEFAULT_KG) {
      const kg = this.resolveGroup(rawKg, EMPTY);
      this.send(this.shards[this.map.shardOf(kg)]!, Op.MULTI_GET, (w) => encode(w, undefined), reply);
      return;
    }
    // Default key groups: each key to the shard of its own key group; the shard hashes again.
    const byShard = new Map<number, number[]>();
    keys.forEach((k, i) => {
      const s = this.map.shardOf(defaultKeyGroup(k, this.options.maxKeyGroups));
      const list = byShard.get(s);
      if (list) list.push(i);
      else byShard.set(s, [i]);
    });
    if (byShard.size <= 1) {
      const shard = byShard.size === 1 ? [...byShard.keys()][0]! : 0;
      this.send(this.shards[shard]!, Op.MULTI_GET, (w) => encode(w, undefined), reply);
      return;
    }
    const shardsOf = [...byShard.keys()];
    this.fanOut(
      shardsOf.map((shard) => ({ shard, write: false, encode: (w: Writer) => encode(w, byShard.get(shard)!) })),
      Op.MULTI_GET,
      (results) => {
        const failed = results.find((x) => x.op === ERROR_OP);
        if (failed) return reply(ERROR_OP, failed.payload);
        const values: Array<Uint8Array | undefined> = new Array(n);
        for (const x of results) {
          const rr = new Reader(x.payload, 0, x.payload.length, 'MULTI_GET response');
          const indexes = byShard.get(shardsOf[x.index]!)!;
          const m = rr.u32();
          for (let j = 0; j < m; j++) {
            const len = rr.u32();
            values[indexes[j]!] = len === ABSENT ? undefined : rr.take(len);
          }
        }
        const w = new Writer(64 * 1024);
        w.u32(n);
        for (const v of values) {
          if (v === undefined) w.u32(ABSENT);
          else w.bytes32(v);
        }
        reply(Op.MULTI_GET | RESPONSE_BIT, w.view());
      },
    );
  }

  /** Sends one frame per part (all in this turn, so at one point of every shard's order) and gathers. */
  private fanOut(
    parts: Array<{ shard: number; write: boolean; encode: (w: Writer) => void }>,
    op: number,
    done: (results: Array<{ index: number; op: number; payload: Uint8Array }>) => void,
  ): void {
    const results: Array<{ index: number; op: number; payload: Uint8Array }> = new Array(parts.length);
    let left = parts.length;
    parts.forEach((part, index) => {
      const gather: Reply = (rop, payload) => {
        results[index] = { index, op: rop, payload };
        if (--left === 0) done(results);
      };
      this.send(this.shards[part.shard]!, op, part.encode, gather, part.write);
    });
  }

  // ---------------------------------------------------------------- scans

  private openScan(session: RouterSession, payload: Uint8Array, reply: Answer): void {
    const scan = readScanPayload(new Reader(payload, 0, payload.length, 'SCAN payload'));
    if (session.cursors.size >= MAX_CURSORS) {
      throw new FloeError('BUSY', `this connection has ${MAX_CURSORS} open scans; finish or close some (break out of the loop) before starting more`, { retryable: true });
    }
    // A SCAN's keyGroup is always explicit: 0xFFFF is not "default" here (resolveGroup would hash it).
    if (scan.keyGroup !== undefined && scan.keyGroup >= this.options.maxKeyGroups) {
      throw new FloeError('INVALID_ARGUMENT', `scan(): keyGroup must be an integer in [0, ${this.options.maxKeyGroups}), got ${scan.keyGroup}; omit it to scan every key group`);
    }
    const targets = scan.keyGroup !== undefined ? [this.shards[this.map.shardOf(scan.keyGroup)]!] : this.shards;
    const cursor: Cursor = {
      id: 0,
      parts: targets.map((shard) => ({ shard, workerCursor: this.nextWorkerCursor++ >>> 0, done: false })),
      at: 0,
      remaining: scan.limit ?? Number.POSITIVE_INFINITY,
      pageBytes: scan.pageBytes,
      busy: true,
      closed: false,
    };
    if (cursor.remaining === 0) {
      reply(Op.SCAN | RESPONSE_BIT, EMPTY_PAGE);
      return;
    }
    // Open on every target shard now, so each snapshot is taken at this point of its shard's order;
    // only the first returns data (the others' first page is fetched when the scan reaches them).
    let left = cursor.parts.length;
    let firstPage: Uint8Array | undefined;
    let failure: Uint8Array | undefined;
    const opened: CursorPart[] = [];
    cursor.parts.forEach((part, i) => {
      const onOpened: Reply = (op, p) => {
        if (op === ERROR_OP) failure ??= p.slice();
        else {
          opened.push(part);
          if (i === 0) firstPage = p;
          else if (p[0] === 1) part.done = true;
        }
        if (--left > 0) return;
        cursor.busy = false;
        if (failure !== undefined) {
          for (const o of opened) this.closePart(o);
          return reply(ERROR_OP, failure);
        }
        if (session.closed) {
          for (const o of opened) this.closePart(o);
          return reply(ERROR_OP, errorPayload(new FloeError('CLOSED', 'the session closed during the scan')));
        }
        cursor.id = session.nextCursor;
        session.nextCursor = (session.nextCursor + 1) >>> 0 || 1;
        session.cursors.set(cursor.id, cursor);
        this.deliverPage(session, cursor, firstPage!, Op.SCAN, reply);
      };
      const encode = (w: Writer): void => {
        w.u32(part.workerCursor);
        w.u32(i === 0 ? cursor.pageBytes : 0);
        w.raw(payload);
      };
      this.send(part.shard, InternalOp.SHARD_SCAN_OPEN, encode, onOpened);
    });
  }

  private scanNext(session: RouterSession, payload: Uint8Array, reply: Answer): void {
    const r = new Reader(payload, 0, payload.length, 'SCAN_NEXT payload');
    const id = r.u32();
    r.done();
    const cursor = session.cursors.get(id);
    if (cursor === undefined) throw new FloeError('INVALID_ARGUMENT', `unknown scan cursor ${id}: it finished, was closed, or belongs to another connection`);
    if (cursor.busy) throw new FloeError('INVALID_ARGUMENT', `scan cursor ${id} is still producing the previous page; wait for it before asking for the next`);
    this.fetchPage(session, cursor, Op.SCAN_NEXT, reply);
  }

  private fetchPage(session: RouterSession, cursor: Cursor, op: number, reply: Answer): void {
    const part = cursor.parts[cursor.at]!;
    cursor.busy = true;
    const onPage: Reply = (rop, p) => {
      cursor.busy = false;
      if (rop === ERROR_OP) {
        session.cursors.delete(cursor.id);
        this.closeCursor(cursor);
        return reply(ERROR_OP, p);
      }
      if (cursor.closed) {
        if (p[0] !== 1) this.closePart(part);
        else part.done = true;
        return reply(ERROR_OP, errorPayload(new FloeError('INVALID_ARGUMENT', `scan cursor ${cursor.id} was closed`)));
      }
      this.deliverPage(session, cursor, p, op, reply);
    };
    this.send(
      part.shard,
      InternalOp.SHARD_SCAN_NEXT,
      (w) => {
        w.u32(part.workerCursor);
        w.u32(cursor.pageBytes);
      },
      onPage,
    );
  }

  /**
   * Turns a shard page (u8 done, u32 count, entries) into a client page (u32 cursor, u8 done, u32 count,
   * entries), applying the scan's limit across shards and moving on to the next shard when one is done.
   */
  private deliverPage(session: RouterSession, cursor: Cursor, page: Uint8Array, op: number, reply: Answer): void {
    const part = cursor.parts[cursor.at]!;
    if (page[0] === 1) part.done = true;
    let count = readU32(page, 1);
    let end = page.length;
    if (count > cursor.remaining) {
      count = cursor.remaining;
      end = entriesEnd(page, count);
    }
    cursor.remaining -= count;
    while (cursor.at < cursor.parts.length && cursor.parts[cursor.at]!.done) cursor.at++;
    const done = cursor.remaining <= 0 || cursor.at >= cursor.parts.length;
    if (done) {
      session.cursors.delete(cursor.id);
      this.closeCursor(cursor);
    } else if (count === 0) {
      // Nothing to show yet (a shard was empty): keep going instead of sending an empty page.
      this.fetchPage(session, cursor, op, reply);
      return;
    }
    const w = new Writer(9 + end);
    w.u32(done ? 0 : cursor.id);
    w.u8(done ? 1 : 0);
    w.u32(count);
    w.raw(page.subarray(5, end));
    reply(op | RESPONSE_BIT, w.view());
  }

  private scanClose(session: RouterSession, payload: Uint8Array, reply: Answer): void {
    const r = new Reader(payload, 0, payload.length, 'SCAN_CLOSE payload');
    const id = r.u32();
    r.done();
    const cursor = session.cursors.get(id);
    if (cursor !== undefined) {
      session.cursors.delete(id);
      this.closeCursor(cursor);
    }
    reply(Op.SCAN_CLOSE | RESPONSE_BIT, EMPTY);
  }

  /** Releases the shard cursors of a scan (a part whose page is in flight is closed when the page lands). */
  closeCursor(cursor: Cursor): void {
    if (cursor.closed) return;
    cursor.closed = true;
    cursor.parts.forEach((part, i) => {
      if (part.done || (cursor.busy && i === cursor.at)) return;
      this.closePart(part);
    });
  }

  private closePart(part: CursorPart): void {
    if (part.done || part.shard.dead !== undefined || this.closed) return;
    part.done = true;
    this.send(part.shard, InternalOp.SHARD_SCAN_CLOSE, (w) => w.u32(part.workerCursor), () => undefined);
  }

  // ---------------------------------------------------------------- whole-store operations

  /** Makes every write the router was given before this call durable on every shard. */
  async flush(): Promise<void> {
    this.checkOpen();
    await this.callAll(Op.FLUSH);
  }

  /**
   * One checkpoint of all shards at one consistent point (see the file comment): the point of the call —
   * writes given to the router before it are in, writes after it wait in the router until it is taken.
   * Checkpoints are serialized; one called while another runs takes its point when that one finishes.
   */
  checkpoint(): Promise<CheckpointHandle> {
    this.checkOpen();
    // Start synchronously when idle, so the cut is exactly here in the request order.
    const run = this.checkpointBusy ? this.checkpointChain.then(() => this.checkpointOnce()) : this.checkpointOnce();
    this.checkpointBusy = true;
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.checkpointChain = tail;
    void tail.then(() => {
      if (this.checkpointChain === tail) this.checkpointBusy = false;
    });
    return run;
  }

  private async checkpointOnce(): Promise<CheckpointHandle> {
    this.checkOpen();
    this.holding = true;
    let records: CheckpointRecord[];
    let handle: CheckpointHandle;
    try {
      const raw = await Promise.all(this.shards.map((s) => this.call(s, InternalOp.SHARD_CHECKPOINT, undefined, true)));
      records = raw.map((bytes, i) => decodeCheckpointRecord(bytes, `checkpoint record of shard ${i}`));
      const suffix = this.random.nextU32().toString(16).padStart(8, '0');
      handle = {
        format: 'floe-checkpoint',
        version: CHECKPOINT_HANDLE_VERSION,
        checkpointId: `${this.layout.name}-L${this.layout.seq}-${this.clock.now().toString(36)}-${suffix}`,
        primary: this.options.primary,
        maxKeyGroups: this.options.maxKeyGroups,
        createdAt: new Date(this.clock.now()).toISOString(),
        instances: records.flatMap((r) => r.handle.instances),
      };
      await writeCheckpointRecord(this.store, {
        handle,
        instances: records.flatMap((r) => r.instances),
        files: [...new Set(records.flatMap((r) => r.files))],
      });
    } finally {
      this.releaseHolds();
    }
    // The combined record now protects every file; the per-shard records are redundant. Best effort: a
    // leftover record only keeps files alive longer (GC), it never loses data.
    for (const r of records) {
      await this.store.delete(checkpointPath(r.handle.checkpointId)).catch((e: unknown) => {
        this.log('warn', 'checkpoint_cleanup_failed', { checkpointId: r.handle.checkpointId, error: asFloeError(e).message });
      });
    }
    this.log('info', 'checkpoint', { checkpointId: handle.checkpointId, shards: records.length });
    return handle;
  }

  private releaseHolds(): void {
    this.holding = false;
    for (const s of this.shards) {
      const held = s.held;
      s.held = null;
      if (held === null || held.length === 0 || s.dead !== undefined) continue;
      s.out.raw(held.view());
      this.flusher.schedule();
    }
  }

  async releaseCheckpoint(handle: CheckpointHandle): Promise<void> {
    this.checkOpen();
    validateHandle(handle, this.options.primary, this.options.maxKeyGroups);
    try {
      await this.store.delete(checkpointPath(handle.checkpointId));
    } catch (e) {
      if (!isFloeError(e, 'NOT_FOUND')) throw e;
    }
  }

  /** Every shard's stats summed; the one shared block cache counted once. */
  async stats(): Promise<StoreStats> {
    this.checkOpen();
    const all = (await Promise.all(this.shards.map((s) => this.call(s, InternalOp.SHARD_STATS)))).map((p) => parseJson<StoreStats>(p, 'shard stats'));
    const sum = <T extends Record<string, number>>(pick: (s: StoreStats) => T): T => {
      const out = {} as Record<string, number>;
      for (const s of all) for (const [k, v] of Object.entries(pick(s))) out[k] = (out[k] ?? 0) + v;
      return out as T;
    };
    const levels: Array<{ files: number; bytes: number }> = [];
    for (const s of all) {
      s.lsm.levels.forEach((l, i) => {
        levels[i] ??= { files: 0, bytes: 0 };
        levels[i]!.files += l.files;
        levels[i]!.bytes += l.bytes;
      });
    }
    return {
      remote: sum((s) => s.remote),
      blockCache: this.cache ? this.cache.stats() : { capacity: 0, bytes: 0, hits: 0, misses: 0 },
      diskCache: sum((s) => s.diskCache),
      lsm: {
        memtableBytes: all.reduce((n, s) => n + s.lsm.memtableBytes, 0),
        levels,
        pendingCompactionBytes: all.reduce((n, s) => n + s.lsm.pendingCompactionBytes, 0),
        stalls: all.reduce((n, s) => n + s.lsm.stalls, 0),
      },
    };
  }

  /** Runs compactions on every shard until none is needed (tests and tools). */
  async compactUntilIdle(): Promise<void> {
    this.checkOpen();
    await this.callAll(InternalOp.SHARD_COMPACT);
  }

  /** Kills a shard's thread as a crash would (tests of crash handling). */
  async terminateShardForTesting(index: number): Promise<void> {
    await this.shards[index]!.link.terminate();
  }

  private checkOpen(): void {
    if (this.closed) throw new FloeError('CLOSED', 'the store is closed; open a new one');
  }

  /** Flushes and closes every shard, then the router. Idempotent; rejects with the first shard's failure. */
  close(): Promise<void> {
    this.closing ??= this.closeOnce();
    return this.closing;
  }

  private async closeOnce(): Promise<void> {
    await this.checkpointChain;
    this.closed = true;
    const results = await Promise.allSettled(
      this.shards.map(async (s) => {
        if (s.dead !== undefined) return;
        s.closing = true;
        await this.call(s, InternalOp.SHARD_CLOSE);
      }),
    );
    await Promise.all(
      this.shards.map(async (s) => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
        await Promise.race([s.exited, timeout]);
        clearTimeout(timer);
        await s.link.terminate().catch(() => undefined);
      }),
    );
    await this.localDir.release();
    await this.store.close().catch(() => undefined);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const crashed = this.shards.find((s) => s.dead !== undefined && s.dead.code !== 'CLOSED');
    if (crashed) throw crashed.dead;
  }
}

const EMPTY = new Uint8Array(0);

/** An instance listed in an old layout may never have been created (a failed start): nothing to retire. */
function ignoreMissingInstance(e: unknown): void {
  if (!isFloeError(e, 'INVALID_ARGUMENT')) throw e;
}
/** A finished page with no entries: cursor 0, done, count 0. */
const EMPTY_PAGE = Uint8Array.of(0, 0, 0, 0, 1, 0, 0, 0, 0);

/** Byte offset just past the first `count` entries of a shard page (u8 done, u32 count, entries...). */
function entriesEnd(page: Uint8Array, count: number): number {
  let at = 5;
  for (let i = 0; i < count; i++) {
    at += 2;
    at += 4 + readU32(page, at);
    at += 4 + readU32(page, at);
  }
  return at;
}

