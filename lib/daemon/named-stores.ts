/**
 * The daemon's named stores (docs/protocol.md, "Named stores"): each is one LSM instance placed in one shard
 * thread (a Target in a slot of that shard, lib/daemon/shard-host.ts), found by name through the registry
 * on primary storage (named-registry.ts), and shared by the connections bound to it (reference counts).
 *
 * - Open without restore: join the live store, else reopen the registered instance, else create one.
 * - Open with restore: a new instance restored from the handles (clipped to the key groups), a new record;
 *   then the previous holder of the name is fenced (its connections get FENCED), closed and retired.
 * - Release (CLOSE_STORE or a disconnect): when the last binding goes, a persistent store is flushed and
 *   closed; an ephemeral (or dropped) one is closed, retired (its files become GC garbage unless a
 *   checkpoint references them) and the name forgotten (a `dropped` record).
 *
 * Every open and release of one name runs under that name's lock, in arrival order, so a release and an
 * open racing on a name never see a half-closed store.
 */
import { join } from 'node:path';
import type { CheckpointHandle, StoreOptions } from '../api.js';
import { validateHandle } from '../checkpoint/handle.js';
import { retireOn } from '../checkpoint/retire.js';
import { FloeError, isFloeError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import { InternalOp, writeJson } from '../protocol/protocol.js';
import type { OpenStoreRequest, OpenStoreResult } from '../protocol/named-store.js';
import type { ObjectStore } from '../store/object-store.js';
import { shardLocalDirName } from '../store/paths.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { namedInstanceId, nameKey, readAllNamedRecords, readNamedRecord, writeNamedRecord, type NamedRecord } from './named-registry.js';
import type { StoreRoute } from './route-keyed.js';
import { ignoreMissingInstance } from './router-open.js';
import type { LogFn, Shard, ShardBus, Target } from './shard-bus.js';
import type { ShardInit } from './shard-service.js';

/** One open named store: what the connections bound to it share. */
export class NamedStore {
  /** The sessions (connections) bound to it. */
  readonly refs = new Set<object>();
  /** Set when a restore took the name over: every request of a binding to this store fails with it. */
  fenced: FloeError | undefined;
  /** CLOSE_STORE asked to drop it: retire when the last binding goes. */
  dropped = false;
  readonly route: StoreRoute;

  constructor(
    readonly record: NamedRecord,
    readonly target: Target,
    /** Retire when unreferenced (the opener that started this instance decided). */
    readonly ephemeral: boolean,
  ) {
    const [lo, hi] = record.keyGroups;
    const describe = `named store ${JSON.stringify(record.name)}`;
    this.route = {
      maxKeyGroups: record.maxKeyGroups,
      targets: [target],
      targetOf(kg: number, where = ''): number {
        if (kg < lo || kg > hi) {
          throw new FloeError('INVALID_ARGUMENT', `${where}key group ${kg} is outside the key groups [${lo}, ${hi}] of ${describe}; send only key groups this store owns`);
        }
        return 0;
      },
    };
  }

  get name(): string {
    return this.record.name;
  }

  /** The store can no longer serve (closed, fenced, or its shard thread died). */
  get lost(): boolean {
    return this.target.gone !== undefined || this.target.shard.dead !== undefined;
  }
}

export interface NamedStoresContext {
  bus: ShardBus;
  shards: readonly Shard[];
  store: ObjectStore;
  options: ResolvedOptions;
  /** The daemon's store options without `shards`: the base of every named store's options. */
  baseOptions: StoreOptions;
  localPath: string;
  shardBytes: number;
  clock: Clock;
  random: Random;
  log: LogFn;
}

export class NamedStores {
  private readonly live = new Map<string, NamedStore>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly ctx: NamedStoresContext) {}

  /** Open named stores, for STATS. */
  describe(): Array<{ name: string; shard: number; instanceId: string; keyGroups: [number, number]; connections: number; ephemeral: boolean }> {
    return [...this.live.values()].map((s) => ({
      name: s.name,
      shard: s.target.shard.index,
      instanceId: s.record.instanceId,
      keyGroups: s.record.keyGroups,
      connections: s.refs.size,
      ephemeral: s.ephemeral,
    }));
  }

  /**
   * Retires the ephemeral stores an earlier run of this daemon left open (it stopped without its
   * connections closing them: a crash or kill). Run once at start, before any OPEN_STORE. Returns their names.
   */
  async sweepEphemeral(): Promise<string[]> {
    const records = await readAllNamedRecords(this.ctx.store, this.ctx.options.instanceId);
    const left = records.filter((r) => r.ephemeral && r.dropped === undefined);
    for (const r of left) {
      try {
        await this.locked(r.name, async () => {
          await retireOn(this.ctx.store, r.instanceId, this.ctx.clock, this.ctx.random.fork()).catch(ignoreMissingInstance);
          await writeNamedRecord(this.ctx.store, this.ctx.options.instanceId, { ...r, seq: r.seq + 1, createdAt: this.now(), dropped: true });
        });
        this.ctx.log('info', 'named_store_retired', { name: r.name, instanceId: r.instanceId, reason: 'left open by an earlier run' });
      } catch (e) {
        this.ctx.log('warn', 'named_store_retire_failed', { name: r.name, instanceId: r.instanceId, error: (e as Error).message });
      }
    }
    return left.map((r) => r.name);
  }

  /** Binds `session` to the store `req` names (see the file comment). PROMISES: on failure nothing is bound. */
  open(session: object, req: OpenStoreRequest): Promise<{ store: NamedStore; result: OpenStoreResult }> {
    return this.locked(req.name, async () => {
      const { store, created } = req.restore !== undefined ? await this.openRestored(req, req.restore) : await this.openExisting(req);
      store.refs.add(session);
      const result: OpenStoreResult = {
        name: req.name,
        shard: store.target.shard.index,
        maxKeyGroups: store.record.maxKeyGroups,
        keyGroups: store.record.keyGroups,
        restored: req.restore !== undefined,
        created,
      };
      this.ctx.log('info', 'named_store_opened', { ...result, instanceId: store.record.instanceId, connections: store.refs.size });
      return { store, result };
    });
  }

  /** Drops `session`'s binding; the last one closes (and maybe retires) the store. */
  release(session: object, store: NamedStore, drop: boolean): Promise<void> {
    return this.locked(store.name, async () => {
      store.refs.delete(session);
      if (drop) store.dropped = true;
      if (store.refs.size > 0 || store.fenced !== undefined) return;
      if (this.live.get(store.name) === store) this.live.delete(store.name);
      await this.retireOrClose(store);
    });
  }

  /** Closes every open named store (the daemon is stopping): ephemeral ones are retired. */
  async closeAll(): Promise<void> {
    await Promise.all([...this.locks.values()].map((p) => p.catch(() => undefined)));
    const stores = [...this.live.values()];
    this.live.clear();
    const results = await Promise.allSettled(stores.map((s) => this.locked(s.name, () => this.retireOrClose(s))));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  private async openExisting(req: OpenStoreRequest): Promise<{ store: NamedStore; created: boolean }> {
    const live = this.liveStore(req.name);
    if (live !== undefined) {
      checkSameShape(live.record, req);
      return { store: live, created: false };
    }
    const previous = await readNamedRecord(this.ctx.store, this.ctx.options.instanceId, req.name);
    if (previous !== undefined && previous.dropped === undefined) {
      checkSameShape(previous, req);
      const store = await this.start(previous, req.ephemeral === true, 'existing');
      this.live.set(req.name, store);
      return { store, created: false };
    }
    const record = this.nextRecord(previous, req, undefined);
    const store = await this.start(record, req.ephemeral === true, 'fresh');
    await this.commit(store);
    return { store, created: true };
  }

  private async openRestored(req: OpenStoreRequest, handles: CheckpointHandle[]): Promise<{ store: NamedStore; created: boolean }> {
    for (const h of handles) checkHandle(h, this.ctx.options.primary, req.maxKeyGroups);
    const live = this.liveStore(req.name);
    const previous = live?.record ?? (await readNamedRecord(this.ctx.store, this.ctx.options.instanceId, req.name));
    const record = this.nextRecord(previous, req, handles.map((h) => h.checkpointId));
    const store = await this.start(record, req.ephemeral === true, handles.length > 0 ? 'restore' : 'fresh', handles);
    await this.commit(store);
    if (live !== undefined) await this.fence(live);
    else if (previous !== undefined && previous.dropped === undefined) {
      // The name's previous instance is not open here: it is unreachable from now on.
      await retireOn(this.ctx.store, previous.instanceId, this.ctx.clock, this.ctx.random.fork()).catch(ignoreMissingInstance);
    }
    return { store, created: true };
  }

  /** Writes the record of a newly started store and makes it the live one (undoing the start on failure). */
  private async commit(store: NamedStore): Promise<void> {
    try {
      await writeNamedRecord(this.ctx.store, this.ctx.options.instanceId, store.record);
    } catch (e) {
      await this.closeTarget(store, new FloeError('CLOSED', 'the store could not be registered')).catch(() => undefined);
      await retireOn(this.ctx.store, store.record.instanceId, this.ctx.clock, this.ctx.random.fork()).catch(() => undefined);
      throw e;
    }
    this.live.set(store.name, store);
  }

  /** A restore took the name over: `old`'s bindings fail with FENCED; it is closed and retired. */
  private async fence(old: NamedStore): Promise<void> {
    old.fenced = new FloeError(
      'FENCED',
      `named store ${JSON.stringify(old.name)} was taken over by a restore on another connection; this binding is stale: send CLOSE_STORE (a restarted task owns the store now)`,
    );
    this.ctx.log('warn', 'named_store_fenced', { name: old.name, instanceId: old.record.instanceId, connections: old.refs.size });
    await this.closeTarget(old, old.fenced).catch((e: unknown) => this.ctx.log('warn', 'named_store_close_failed', { name: old.name, error: (e as Error).message }));
    await retireOn(this.ctx.store, old.record.instanceId, this.ctx.clock, this.ctx.random.fork()).catch(ignoreMissingInstance);
  }

  private async retireOrClose(store: NamedStore): Promise<void> {
    const retire = store.ephemeral || store.dropped;
    await this.closeTarget(store, new FloeError('CLOSED', `named store ${JSON.stringify(store.name)} is closed; open it again`));
    if (!retire) {
      this.ctx.log('info', 'named_store_closed', { name: store.name, instanceId: store.record.instanceId });
      return;
    }
    await retireOn(this.ctx.store, store.record.instanceId, this.ctx.clock, this.ctx.random.fork()).catch(ignoreMissingInstance);
    const latest = await readNamedRecord(this.ctx.store, this.ctx.options.instanceId, store.name);
    // Only if the name still points at this instance (a restore may have moved it on meanwhile).
    if (latest?.instanceId === store.record.instanceId && latest.dropped === undefined) {
      await writeNamedRecord(this.ctx.store, this.ctx.options.instanceId, { ...latest, seq: latest.seq + 1, createdAt: this.now(), dropped: true });
    }
    this.ctx.log('info', 'named_store_retired', { name: store.name, instanceId: store.record.instanceId });
  }

  /** Closes the store's instance after every request already sent to it; later requests fail with `why`. */
  private async closeTarget(store: NamedStore, why: FloeError): Promise<void> {
    const t = store.target;
    try {
      if (!store.lost) await this.ctx.bus.call(t, InternalOp.SHARD_CLOSE);
    } finally {
      t.gone ??= why;
      t.shard.targets.delete(t);
    }
  }

  /** Opens `record`'s instance in a new slot of the least loaded shard. */
  private async start(record: NamedRecord, ephemeral: boolean, mode: 'fresh' | 'existing' | 'restore', handles: CheckpointHandle[] = []): Promise<NamedStore> {
    const shard = this.place(record.name);
    const target = shard.addTarget();
    const init: ShardInit = {
      shard: shard.index,
      what: `named store ${JSON.stringify(record.name)}`,
      options: {
        ...this.ctx.baseOptions,
        instanceId: record.instanceId,
        localDir: join(this.ctx.localPath, shardLocalDirName(shard.index)),
        maxKeyGroups: record.maxKeyGroups,
        diskCacheBytes: this.ctx.shardBytes,
      },
      keyGroups: record.keyGroups,
      expectExisting: mode === 'existing',
      ...(mode === 'restore' ? { restore: { handles } } : {}),
    };
    try {
      await this.ctx.bus.call(shard.host, InternalOp.SHARD_STORE_OPEN, (w) => writeJson(w, { slot: target.slot, init }));
    } catch (e) {
      shard.targets.delete(target);
      target.gone = new FloeError('CLOSED', 'the store failed to open');
      throw e;
    }
    return new NamedStore(record, target, ephemeral);
  }

  /** The shard with the fewest named stores (ties: a hash of the name), among live shards. */
  private place(name: string): Shard {
    const alive = this.ctx.shards.filter((s) => s.dead === undefined);
    if (alive.length === 0) throw new FloeError('IO', 'every shard of this daemon is down; restart the daemon', { retryable: true });
    const load = (s: Shard): number => s.targets.size;
    const least = Math.min(...alive.map(load));
    const candidates = alive.filter((s) => load(s) === least);
    return candidates[Number.parseInt(nameKey(name).slice(0, 8), 16) % candidates.length]!;
  }

  private nextRecord(previous: NamedRecord | undefined, req: OpenStoreRequest, restoredFrom: string[] | undefined): NamedRecord {
    const seq = (previous?.seq ?? 0) + 1;
    return {
      name: req.name,
      seq,
      maxKeyGroups: req.maxKeyGroups,
      keyGroups: req.keyGroups,
      instanceId: namedInstanceId(req.name, seq, this.ctx.random),
      ephemeral: req.ephemeral === true,
      createdAt: this.now(),
      ...(restoredFrom !== undefined ? { restoredFrom } : {}),
    };
  }

  /** The live store of `name`, forgetting one that was lost with its shard thread. */
  private liveStore(name: string): NamedStore | undefined {
    const live = this.live.get(name);
    if (live?.lost) {
      this.live.delete(name);
      return undefined;
    }
    return live;
  }

  private now(): string {
    return new Date(this.ctx.clock.now()).toISOString();
  }

  /** Runs `fn` after every earlier operation on `name`. */
  private locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const before = this.locks.get(name) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const tail = run.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(name, tail);
    void tail.then(() => {
      if (this.locks.get(name) === tail) this.locks.delete(name);
    });
    return run;
  }
}

function checkSameShape(record: NamedRecord, req: OpenStoreRequest): void {
  const [lo, hi] = record.keyGroups;
  if (record.maxKeyGroups !== req.maxKeyGroups || lo !== req.keyGroups[0] || hi !== req.keyGroups[1]) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `named store ${JSON.stringify(req.name)} exists with maxKeyGroups ${record.maxKeyGroups} and keyGroups [${lo}, ${hi}], but the request says maxKeyGroups ${req.maxKeyGroups} and keyGroups [${req.keyGroups[0]}, ${req.keyGroups[1]}]; ` +
        'open it with its own shape, or restore (open with "restore") to give the name a new one',
    );
  }
}

/** A handle the daemon can restore from: INVALID_ARGUMENT (naming it) for any mismatch. */
function checkHandle(h: CheckpointHandle, primary: string, maxKeyGroups: number): void {
  try {
    validateHandle(h, primary, maxKeyGroups);
  } catch (e) {
    if (isFloeError(e, 'CONFIG')) throw new FloeError('INVALID_ARGUMENT', `restore: ${e.message}`);
    throw e;
  }
}
