/**
 * The router: runs N shards, each owning one LSM instance of a contiguous key-group range — worker threads
 * (workers/shard-worker.ts), or the router's own thread for a single shard (lib/daemon/shard-link.ts) —
 * and executes protocol frames against them. It is the engine of both the
 * daemon (lib/daemon/server.ts hands it socket frames) and the in-process sharded store
 * (lib/daemon/sharded-store.ts hands it frames it encodes itself).
 *
 * Modules: opening the shards (router-open.ts), the link to them (shard-bus.ts: request ids, batching,
 * crashes), keyed requests (route-keyed.ts), scans (route-scan.ts); this file dispatches frames and runs
 * the whole-store operations (flush, checkpoint, stats, close).
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
 * Checkpoints: new writes are held in the router (and, to keep per-shard order, everything queued behind a
 * held write), every shard checkpoints after the requests already sent to it, the per-shard records are
 * folded into ONE record whose handle lists every shard instance, then held requests are released.
 *
 * A crashed shard: see shard-bus.ts (restarted in place with the WAL, else the daemon shuts down).
 */
import { HOLD } from './direct-sync.js';
import type { CheckpointHandle, StoreStats } from '../api.js';
import type { ShardedLocalDir } from '../cache/disk-cache-registry.js';
import type { SharedBlockCache } from '../cache/shared-block-cache.js';
import { validateHandle } from '../checkpoint/handle.js';
import { FloeError, isFloeError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { asFloeError, ERROR_OP, errorPayload, InternalOp, Op, opName, parseJson, writeJson } from '../protocol/protocol.js';
import { FRAME_HEADER_BYTES, protocolError, readU32 } from '../protocol/wire.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkpointPath } from '../store/paths.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { ShardLayout } from './layout.js';
import { combinedCheckpoint } from './checkpoint-combine.js';
import { sumStats } from './stats-sum.js';
import { multiGet, singleKey, writeBatch, type StoreRoute } from './route-keyed.js';
import { NamedStores } from './named-stores.js';
import { RouterSession, settle, type SessionHost } from './router-session.js';
import { openRouterParts, type RouterOptions } from './router-open.js';
import type { ShardMapEntry } from '../protocol/shard-map.js';
import { ShardBus, type Answer, type LogFn, type Reply, type Shard } from './shard-bus.js';
import type { KeyGroupRange, ShardMap } from './shard-map.js';

export type { Answer, LogFn, Reply } from './shard-bus.js';
export type { RouterOptions } from './router-open.js';
export { RouterSession } from './router-session.js';
export { sumStats } from './stats-sum.js';

const CLOSE_TIMEOUT_MS = 60_000;

export class Router implements SessionHost {
  private checkpointChain: Promise<unknown> = Promise.resolve();
  private checkpointBusy = false;
  private closing: Promise<void> | undefined;
  private closed = false;
  /** Extra fields for STATS answers (the daemon adds its own section). */
  extraStats: (() => Record<string, unknown>) | undefined;
  readonly bus: ShardBus;
  /** The store spanning every shard: what a connection uses unless it binds a named store. */
  readonly defaultRoute: StoreRoute;
  /** The named stores placed on the shards (OPEN_STORE). */
  readonly named: NamedStores;
  /** Releases of named stores still running (the router waits for them before closing the shards). */
  private readonly releases = new Set<Promise<unknown>>();
  readonly options: ResolvedOptions;
  readonly layout: ShardLayout;
  readonly map: ShardMap;
  private readonly shards: Shard[];
  private readonly store: ObjectStore;
  private readonly cache: SharedBlockCache | undefined;
  private readonly localDir: ShardedLocalDir;
  /** Set while a checkpoint is cut: writes arriving on the shards' own sockets wait (direct-server.ts). */
  private readonly directHold: Int32Array;
  private readonly random: Random;
  private readonly clock: Clock;
  readonly log: LogFn;

  private constructor(parts: Awaited<ReturnType<typeof openRouterParts>>, onShardCrash: RouterOptions['onShardCrash']) {
    ({ options: this.options, layout: this.layout, map: this.map, shards: this.shards, store: this.store } = parts);
    ({ cache: this.cache, localDir: this.localDir, random: this.random, clock: this.clock, log: this.log, directHold: this.directHold } = parts);
    this.bus = new ShardBus(this.shards, { options: this.options, cache: this.cache, localDir: this.localDir, clock: this.clock, log: this.log, onShardCrash, directSync: this.directHold });
    const map = this.map;
    this.defaultRoute = { maxKeyGroups: this.options.maxKeyGroups, targets: this.shards.map((s) => s.main), targetOf: (kg) => map.shardOf(kg) };
    this.named = new NamedStores({
      bus: this.bus,
      shards: this.shards,
      store: this.store,
      options: this.options,
      baseOptions: parts.baseOptions,
      localPath: parts.localPath,
      shardBytes: this.localDir.shardBytes,
      clock: this.clock,
      random: this.random.fork(),
      log: this.log,
    });
  }

  /**
   * Opens (or creates, or restores) the sharded store described by `o` and starts its shard threads.
   * PROMISES: on failure every started thread is stopped and nothing is left open.
   */
  static async open(o: RouterOptions): Promise<Router> {
    const router = new Router(await openRouterParts(o), o.onShardCrash);
    for (const s of router.shards) {
      if (s.link.directError !== undefined) router.log('warn', 'shard_socket_failed', { shard: s.index, error: s.link.directError, note: 'clients reach this shard through the daemon socket' });
    }
    // Ephemeral named stores of an earlier run that ended without closing them (a crash) retire now. A
    // failure only delays that to the next start (their files stay until then): it must not stop the daemon.
    await router.named.sweepEphemeral().catch((e: unknown) => router.log('warn', 'named_store_sweep_failed', { error: asFloeError(e).message }));
    return router;
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

  /** SHARD_MAP: each shard's key groups and its own socket (when it serves one and is up). */
  shardMap(): ShardMapEntry[] {
    return this.shards.map((s) => ({ keyGroups: [s.keyGroups[0], s.keyGroups[1]], socket: s.dead === undefined ? s.link.directSocket : undefined }));
  }

  openSession(): RouterSession {
    return new RouterSession(this);
  }

  // ---------------------------------------------------------------- dispatch

  /** See RouterSession.dispatch. */
  dispatch(session: RouterSession, frame: Buffer, tagged: Reply, tag: number): void {
    const op = frame[4]!;
    try {
      if (this.closed || session.closed) throw new FloeError('CLOSED', 'the store is closed; open a new one');
      if (frame.length < FRAME_HEADER_BYTES || readU32(frame, 0) !== frame.length - 4) throw protocolError('frame length does not match its bytes');
      const bound = session.binding;
      // A fenced store, or one missing a part (its shard thread died): every request but CLOSE_STORE fails.
      if (bound !== undefined && op !== Op.CLOSE_STORE) {
        const failure = bound.failure;
        if (failure !== undefined) throw failure;
      }
      const route = bound === undefined ? this.defaultRoute : bound.route;
      // The hot single-key requests pass the caller's Reply and tag straight through (no allocation).
      if (op === Op.PUT || op === Op.MERGE || op === Op.GET || op === Op.DELETE) return singleKey(this.bus, route, op, frame, tagged, tag);
      const payload = frame.subarray(FRAME_HEADER_BYTES);
      const reply: Answer = (rop, p) => tagged(rop, p, tag);
      switch (op) {
        case Op.WRITE:
          return writeBatch(this.bus, route, payload, session.version, reply);
        case Op.MULTI_GET:
          return multiGet(this.bus, route, payload, reply);
        case Op.SCAN:
          return session.scans.open(route, payload, reply);
        case Op.SCAN_NEXT:
          return session.scans.next(payload, reply);
        case Op.SCAN_CLOSE:
          return session.scans.close(payload, reply);
        case Op.OPEN_STORE:
          return session.openStore(payload, reply);
        case Op.CLOSE_STORE:
          return session.closeStore(payload, reply);
        default:
          if (session.handles.dispatch(session.version, route, op, payload, reply)) return;
          if (bound !== undefined && session.namedControl(bound, op, payload, reply)) return;
          return this.dispatchControl(op, payload, reply);
      }
    } catch (e) {
      tagged(ERROR_OP, errorPayload(asFloeError(e)), tag);
    }
  }

  private dispatchControl(op: number, payload: Uint8Array, reply: Answer): void {
    switch (op) {
      case Op.FLUSH:
        return settle(this.flush(), reply, op, () => undefined);
      case Op.CHECKPOINT:
        return settle(this.checkpoint(), reply, op, (w, h) => writeJson(w, h));
      case Op.RELEASE_CHECKPOINT:
        return settle(this.releaseCheckpoint(payload, this.options.maxKeyGroups), reply, op, () => undefined);
      case Op.STATS:
        return settle(this.stats(), reply, op, (w, s) => writeJson(w, this.statsAnswer(s)));
      default:
        throw protocolError(`opcode ${opName(op)} is not a request this daemon serves`);
    }
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
    const suffix = this.random.nextU32().toString(16).padStart(8, '0');
    const now = this.clock.now();
    const handle = await combinedCheckpoint({
      bus: this.bus,
      store: this.store,
      targets: this.defaultRoute.targets,
      checkpointId: `${this.layout.name}-L${this.layout.seq}-${now.toString(36)}-${suffix}`,
      primary: this.options.primary,
      maxKeyGroups: this.options.maxKeyGroups,
      now,
      what: 'shard',
      log: this.log,
      onHold: () => Atomics.store(this.directHold, HOLD, 1),
      onRelease: () => {
        Atomics.store(this.directHold, HOLD, 0);
        Atomics.notify(this.directHold, HOLD);
      },
    });
    this.log('info', 'checkpoint', { checkpointId: handle.checkpointId, shards: handle.instances.length });
    return handle;
  }

  /** STATS of a store plus the daemon's own section (if any). */
  statsAnswer(stats: StoreStats): Record<string, unknown> {
    return { ...stats, ...(this.extraStats ? { daemon: this.extraStats() } : {}) };
  }

  track(p: Promise<unknown>): void {
    const tracked = p.then(
      () => undefined,
      (e: unknown) => this.log('warn', 'named_store_release_failed', { error: asFloeError(e).message }),
    );
    this.releases.add(tracked);
    void tracked.then(() => this.releases.delete(tracked));
  }

  /** RELEASE_CHECKPOINT of a store of `maxKeyGroups` (the handle's payload is JSON). */
  async releaseCheckpoint(payload: Uint8Array | CheckpointHandle, maxKeyGroups = this.options.maxKeyGroups): Promise<void> {
    this.checkOpen();
    const handle = payload instanceof Uint8Array ? parseJson<CheckpointHandle>(payload, 'checkpoint handle') : payload;
    validateHandle(handle, this.options.primary, maxKeyGroups);
    try {
      await this.store.delete(checkpointPath(handle.checkpointId));
    } catch (e) {
      if (!isFloeError(e, 'NOT_FOUND')) throw e;
    }
  }

  /** Every shard's stats summed; the one shared block cache counted once. */
  async stats(): Promise<StoreStats> {
    this.checkOpen();
    const all = (await this.callAll(InternalOp.SHARD_STATS)).map((p) => parseJson<StoreStats>(p, 'shard stats'));
    return sumStats(all, this.cache ? this.cache.stats() : { capacity: 0, bytes: 0, hits: 0, misses: 0 });
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

  private callAll(op: number): Promise<Uint8Array[]> {
    return Promise.all(this.shards.map((s) => this.bus.call(s.main, op)));
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
    // Named stores first (their releases, then the rest): the shards' threads close with their own instance.
    while (this.releases.size > 0) await Promise.all([...this.releases]);
    const namedClosed = await this.named.closeAll().then(
      () => undefined,
      (e: unknown) => e,
    );
    this.bus.closed = true;
    const results = await Promise.allSettled(
      this.shards.map(async (s) => {
        if (s.dead !== undefined) return;
        s.closing = true;
        await this.bus.call(s.main, InternalOp.SHARD_CLOSE);
      }),
    );
    await Promise.all(this.shards.map((s) => waitExit(s)));
    await this.localDir.release();
    await this.store.close().catch(() => undefined);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    if (namedClosed !== undefined) throw namedClosed;
    const crashed = this.shards.find((s) => s.dead !== undefined && s.dead.code !== 'CLOSED');
    if (crashed) throw crashed.dead;
  }
}

/** Waits (bounded) for a closed shard's thread to exit, then makes sure it is gone. */
async function waitExit(s: Shard): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)));
  await Promise.race([s.exited, timeout]);
  clearTimeout(timer);
  await s.link.terminate().catch(() => undefined);
}
