/**
 * The router's link layer: the shard threads it talks to, the requests in flight to them, and what
 * happens when one dies.
 *
 * Data path: a request is registered (`frameTo`: a fresh request id, its Reply in `pending`) and its frame
 * written into the shard's outgoing Writer; all Writers are posted once per event-loop turn as one
 * transferred ArrayBuffer per shard. Responses come back the same way (`onResponses`) and are handed to
 * the request's Reply as views.
 *
 * Holding (checkpoints): while a shard is `holding`, new writes to it — and, to keep its order, everything
 * queued behind a held write — go to its `held` Writer instead, released by `releaseHolds`.
 *
 * A crashed shard: its pending requests fail with an IO error naming the shard; later requests to it fail
 * the same way. With durability 'wal' it restarts in place (bounded); otherwise it stays down and
 * `onShardCrash` tells the daemon, which shuts down so its supervisor restarts it (docs/operations.md).
 */
import { crossWriteStarted } from './direct-sync.js';
import type { SharedBlockCache } from '../cache/shared-block-cache.js';
import type { ShardedLocalDir } from '../cache/disk-cache-registry.js';
import { FloeError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { decodeError, ERROR_OP, errorPayload } from '../protocol/protocol.js';
import { Coalescer, FRAME_HEADER_BYTES, readU32, Writer, writeU32 } from '../protocol/wire.js';
import type { Clock } from '../util/clock.js';
import type { ShardInit } from './shard-service.js';
import type { DirectSocketInit } from './direct-server.js';
import { startInlineShard, startWorkerShard, type ShardLink } from './shard-link.js';
import type { KeyGroupRange } from './shard-map.js';

/**
 * Receives a response: opcode (request | 0x80, or ERROR_OP), payload view, and the `tag` given with the
 * request (lets a caller use one Reply for many requests). Called exactly once per request.
 */
export type Reply = (op: number, payload: Uint8Array, tag: number) => void;
/** A Reply without the tag, for requests whose caller keeps its own context. */
export type Answer = (op: number, payload: Uint8Array) => void;

export type LogFn = (level: 'debug' | 'info' | 'warn' | 'error', event: string, fields?: Record<string, unknown>) => void;

/** The slot addressing a shard thread itself (SHARD_STORE_OPEN), not one of its stores. */
export const HOST_SLOT = 0xffffffff;

const RESTART_WINDOW_MS = 60_000;
const RESTARTS_PER_WINDOW = 5;

export const EMPTY = new Uint8Array(0);

/**
 * One store's queue into a shard thread: the shard's own instance (slot 0) or a named store placed on it
 * (lib/daemon/named-stores.ts). Frames for a target go into its `out` Writer; a shard's targets are posted
 * together as sections of one batch (see flushShards).
 */
export class Target {
  readonly out: Writer;
  /** Frames held during a checkpoint (and everything behind them, to keep order). */
  held: Writer | null = null;
  /** New writes are held (a checkpoint of this target's store is being cut). */
  holding = false;
  /** The store behind this target is closed or was fenced: requests fail with this at once. */
  gone: FloeError | undefined;

  constructor(
    readonly shard: Shard,
    /** The store's slot in the shard thread (0: the shard's own instance). */
    readonly slot: number,
    /** The key groups the instance behind this target owns (a named store's part owns a sub-range of the store's). */
    readonly keyGroups: KeyGroupRange,
    outBytes = 64 * 1024,
  ) {
    this.out = new Writer(outBytes);
  }
}

export class Shard {
  /** The shard's own instance (slot 0): its part of the default store. */
  readonly main: Target;
  /** Addresses the shard thread itself (opening stores), not a store in it. */
  readonly host: Target;
  /** Every open target of this shard, main included. */
  readonly targets = new Set<Target>();
  private nextSlot = 1;
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
    readonly reopen: { init: ShardInit; inline: boolean; direct?: DirectSocketInit },
  ) {
    this.main = new Target(this, 0, keyGroups);
    this.host = new Target(this, HOST_SLOT, keyGroups, 1024);
    this.targets.add(this.main);
    this.resetExited();
  }

  /** A new target in a fresh slot for an instance owning `keyGroups` (the shard thread opens it on SHARD_STORE_OPEN). */
  addTarget(keyGroups: KeyGroupRange): Target {
    const slot = this.nextSlot;
    this.nextSlot = slot + 1 >= HOST_SLOT ? 1 : slot + 1;
    const t = new Target(this, slot, keyGroups, 16 * 1024);
    this.targets.add(t);
    return t;
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

export interface BusContext {
  options: ResolvedOptions;
  cache: SharedBlockCache | undefined;
  localDir: ShardedLocalDir;
  clock: Clock;
  log: LogFn;
  onShardCrash: ((shard: number, error: FloeError) => void) | undefined;
  /** The memory shared with the shards' own sockets (direct-sync.ts): cross-shard writes are counted there. */
  directSync?: Int32Array;
}

export class ShardBus {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  /** The id of the request `frameTo` registered last (the frame's request id). */
  lastId = 0;
  private readonly flusher = new Coalescer(() => this.flushShards());
  /** Set once the router is closed: no restarts any more. */
  closed = false;
  private nextWorkerCursor = 1;

  constructor(
    readonly shards: readonly Shard[],
    private readonly ctx: BusContext,
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

  /**
   * Registers a request to shard `s` and returns the writer its frame goes into (its id is `this.lastId`),
   * or undefined after answering the request with the shard's death. `write` marks requests held during
   * checkpoints; `bypassHold` is for the checkpoint's own frames.
   */
  frameTo(t: Target, write: boolean, reply: Reply, tag = 0, bypassHold = false): Writer | undefined {
    const s = t.shard;
    const failure = s.dead ?? t.gone;
    if (failure !== undefined) {
      reply(ERROR_OP, errorPayload(failure), tag);
      return undefined;
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0 || 1;
    this.nextId = (id + 1) >>> 0 || 1;
    this.lastId = id;
    this.pending.set(id, { shard: s.index, reply, tag });
    if (!bypassHold && (t.held !== null || (write && t.holding))) return (t.held ??= new Writer(16 * 1024));
    this.flusher.schedule();
    return t.out;
  }

  /**
   * Sends one frame to shard `s` (payload written by `encode`). The hot single-key paths use frameTo.
   * PROMISES: `reply` is called exactly once (at once if the shard is dead).
   */
  send(t: Target, op: number, encode: ((w: Writer) => void) | undefined, reply: Reply, write = false, bypassHold = false): void {
    const w = this.frameTo(t, write, reply, 0, bypassHold);
    if (w === undefined) return;
    const start = w.beginFrame(op, this.lastId);
    encode?.(w);
    w.endFrame(start);
  }

  /** Sends one internal request to a shard; resolves with a copy of the response payload. */
  call(t: Target, op: number, payload?: (w: Writer) => void, bypassHold = false): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      this.send(t, op, payload, (rop, p) => (rop === ERROR_OP ? reject(decodeError(p)) : resolve(p.slice())), false, bypassHold);
    });
  }

  /** Sends one frame per part (all in this turn, so at one point of every shard's order) and gathers. */
  fanOut(
    parts: Array<{ target: Target; write: boolean; encode: (w: Writer) => void }>,
    op: number,
    done: (results: Array<{ index: number; op: number; payload: Uint8Array }>) => void,
  ): void {
    const results: Array<{ index: number; op: number; payload: Uint8Array }> = new Array(parts.length);
    let left = parts.length;
    // A write to several shards: multiGet parts on the shard sockets must be able to tell (direct-sync.ts).
    const sync = this.ctx.directSync;
    const crossDone = sync !== undefined && parts.length > 1 && parts.some((p) => p.write) ? crossWriteStarted(sync) : undefined;
    parts.forEach((part, index) => {
      const gather: Reply = (rop, payload) => {
        results[index] = { index, op: rop, payload };
        if (--left === 0) {
          crossDone?.();
          done(results);
        }
      };
      this.send(part.target, op, part.encode, gather, part.write);
    });
  }

  /** A fresh shard-side scan cursor id (unique among this router's shards). */
  nextCursorId(): number {
    const id = this.nextWorkerCursor;
    this.nextWorkerCursor = (id + 1) >>> 0 || 1;
    return id;
  }

  /** Stops holding `targets` and sends what was held, in order. */
  releaseHolds(targets: readonly Target[]): void {
    for (const t of targets) {
      t.holding = false;
      const held = t.held;
      t.held = null;
      if (held === null || held.length === 0 || t.shard.dead !== undefined) continue;
      t.out.raw(held.view());
      this.flusher.schedule();
    }
  }

  /** Posts each shard's pending frames as one batch: sections of (u32 slot, u32 bytes, frames). */
  private flushShards(): void {
    for (const s of this.shards) {
      let bytes = s.host.out.length > 0 ? 8 + s.host.out.length : 0;
      for (const t of s.targets) if (t.out.length > 0) bytes += 8 + t.out.length;
      if (bytes === 0) continue;
      const batch = new Uint8Array(bytes);
      let at = s.host.out.length > 0 ? appendSection(batch, 0, s.host) : 0;
      for (const t of s.targets) if (t.out.length > 0) at = appendSection(batch, at, t);
      if (s.dead === undefined) s.link.post(batch.buffer);
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
      this.ctx.log('error', 'reply_failed', { error: (e as Error).message });
    }
  }

  // ---------------------------------------------------------------- crashes

  private shardDied(s: Shard, reason: string | undefined): void {
    if (s.dead !== undefined) return;
    const restarting = reason !== undefined && this.mayRestart(s);
    s.dead = deathError(s, reason, restarting);
    // Named stores on this thread are gone with it (a restart reopens only the shard's own instance):
    // their connections must open them again.
    for (const t of s.targets) {
      t.held = null;
      if (t !== s.main) {
        t.gone ??= new FloeError('IO', `the named store on ${s.describe()} is gone: the shard's thread died (${reason ?? 'closed'}); open the store again`, { retryable: true });
        s.targets.delete(t);
      }
    }
    const payload = errorPayload(s.dead);
    for (const [id, p] of this.pending) {
      if (p.shard !== s.index) continue;
      this.pending.delete(id);
      this.safeReply(p, ERROR_OP, payload);
    }
    if (reason !== undefined) {
      this.ctx.log('error', 'shard_crashed', { shard: s.index, instanceId: s.instanceId, reason, restarting });
      if (restarting) void this.restart(s, s.dead);
      else this.ctx.onShardCrash?.(s.index, s.dead);
    }
  }

  /**
   * With the WAL every acknowledged write of a crashed shard is on primary storage, so the shard can come
   * back in place (reopening its instance fences the dead writer and replays its log) while the other
   * shards keep serving. Without it the writes since the last flush are gone: fail loudly instead. A shard
   * that crashes again and again stays down (at most RESTARTS_PER_WINDOW restarts per window).
   */
  private mayRestart(s: Shard): boolean {
    if (this.ctx.options.durability !== 'wal' || this.closed || s.closing) return false;
    const now = this.ctx.clock.now();
    while (s.restarts.length > 0 && now - s.restarts[0]! > RESTART_WINDOW_MS) s.restarts.shift();
    return s.restarts.length < RESTARTS_PER_WINDOW;
  }

  private async restart(s: Shard, crash: FloeError): Promise<void> {
    const { cache, localDir, log } = this.ctx;
    s.restarts.push(this.ctx.clock.now());
    await s.link.terminate().catch(() => undefined);
    s.dead = new FloeError('IO', `${s.describe()} is restarting after a crash; retry the request`, { retryable: true });
    try {
      const { init, inline, direct } = s.reopen;
      // The terminated thread could not release its folder's lock; a shard in this thread shares its registry entry.
      if (!inline) await localDir.clearShardLock(s.index);
      const link = inline ? await startInlineShard(init, cache, this.ctx.clock) : await startWorkerShard(init, cache?.shareable(), s.describe(), direct);
      if (this.closed) {
        await link.terminate().catch(() => undefined);
        return;
      }
      s.resetExited();
      s.link = link;
      this.attach(s, link);
      s.dead = undefined;
      log('warn', 'shard_restarted', { shard: s.index, instanceId: s.instanceId, restarts: s.restarts.length });
    } catch (e) {
      s.dead = crash;
      log('error', 'shard_restart_failed', { shard: s.index, instanceId: s.instanceId, error: (e as Error).message });
      this.ctx.onShardCrash?.(s.index, crash);
    }
  }
}

/** Copies `t`'s frames into `batch` at `at` as one section and empties `t.out`; returns the end. */
function appendSection(batch: Uint8Array, at: number, t: Target): number {
  const n = t.out.length;
  writeU32(batch, at, t.slot);
  writeU32(batch, at + 4, n);
  batch.set(t.out.buf.subarray(0, n), at + 8);
  t.out.reset();
  return at + 8 + n;
}

function deathError(s: Shard, reason: string | undefined, restarting: boolean): FloeError {
  if (reason === undefined) return new FloeError('CLOSED', `${s.describe()} is closed`);
  if (restarting) {
    return new FloeError(
      'IO',
      `${s.describe()} crashed: ${reason}. Requests in flight to it failed (they may or may not have been applied); ` +
        'it restarts in place from its write-ahead log (no acknowledged write is lost): retry',
      { retryable: true },
    );
  }
  return new FloeError(
    'IO',
    `${s.describe()} crashed: ${reason}. Requests in flight to it failed (they may or may not have been applied) and the shard stays down; ` +
      `restart the store or daemon (writes to this shard since its last flush are lost)`,
  );
}
