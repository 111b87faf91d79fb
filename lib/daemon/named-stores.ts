/**
 * The daemon's named stores (docs/protocol.md, "Named stores"): each is one or more parts, each an LSM
 * instance owning a contiguous sub-range of the store's key groups and placed in a slot of its own shard
 * thread (a Target, lib/daemon/shard-host.ts; named-parts.ts splits and places), found by name through the
 * registry on primary storage (named-registry.ts), and shared by the connections bound to it (reference
 * counts). The parts of a store are opened, closed, fenced and retired together.
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
import { NamedStore, type NamedStoreContext } from './named-store.js';
import { newParts, partCount, partMemtableBytes, placeParts } from './named-parts.js';
import type { ObjectStore } from '../store/object-store.js';
import { shardLocalDirName } from '../store/paths.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { namedInstanceId, partsOf, readAllNamedRecords, readNamedRecord, writeNamedRecord, type NamedPart, type NamedRecord } from './named-registry.js';
import { ignoreMissingInstance } from './router-open.js';
import type { LogFn, Shard, ShardBus, Target } from './shard-bus.js';

export { NamedStore } from './named-store.js';
import type { ShardInit } from './shard-service.js';

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

/** A named store in STATS (`shard`, `instanceId`: its first part's; `parts` lists every part). */
export interface NamedStoreSummary {
  name: string;
  shard: number;
  instanceId: string;
  keyGroups: [number, number];
  connections: number;
  ephemeral: boolean;
  parts: Array<{ shard: number; instanceId: string; keyGroups: [number, number] }>;
}

export class NamedStores {
  private readonly live = new Map<string, NamedStore>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** What the stores' whole-store requests (checkpoints) need. */
  readonly storeContext: NamedStoreContext;

  constructor(private readonly ctx: NamedStoresContext) {
    this.storeContext = { bus: ctx.bus, store: ctx.store, primary: ctx.options.primary, clock: ctx.clock, random: ctx.random.fork(), log: ctx.log };
  }

  /** Open named stores, for STATS. */
  describe(): NamedStoreSummary[] {
    return [...this.live.values()].map((s) => {
      const parts = partsOf(s.record).map((p, i) => ({ shard: s.targets[i]!.shard.index, instanceId: p.instanceId, keyGroups: p.keyGroups }));
      return {
        name: s.name,
        shard: parts[0]!.shard,
        instanceId: s.record.instanceId,
        keyGroups: s.record.keyGroups,
        connections: s.refs.size,
        ephemeral: s.ephemeral,
        parts,
      };
    });
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
          await this.retireParts(r, ignoreMissingInstance);
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
      const parts = store.targets.map((t) => ({ shard: t.shard.index, keyGroups: t.keyGroups }));
      const result: OpenStoreResult = {
        name: req.name,
        shard: parts[0]!.shard,
        maxKeyGroups: store.record.maxKeyGroups,
        keyGroups: store.record.keyGroups,
        restored: req.restore !== undefined,
        created,
        // A one-part store answers exactly as before parts existed.
        ...(parts.length > 1 ? { parts } : {}),
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
      // A fenced store was retired by the restore that fenced it; a superseded one's instances are the
      // reopened store's now (retiring them here would lose that store's data).
      if (store.refs.size > 0 || store.fenced !== undefined || store.superseded) return;
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
    const live = await this.liveStore(req.name);
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
    const live = await this.liveStore(req.name);
    const previous = live?.record ?? (await readNamedRecord(this.ctx.store, this.ctx.options.instanceId, req.name));
    const record = this.nextRecord(previous, req, handles.map((h) => h.checkpointId));
    const store = await this.start(record, req.ephemeral === true, handles.length > 0 ? 'restore' : 'fresh', handles);
    await this.commit(store);
    if (live !== undefined) await this.fence(live);
    else if (previous !== undefined && previous.dropped === undefined) {
      // The name's previous instances are not open here: they are unreachable from now on.
      await this.retireParts(previous, ignoreMissingInstance);
    }
    return { store, created: true };
  }

  /** Writes the record of a newly started store and makes it the live one (undoing the start on failure). */
  private async commit(store: NamedStore): Promise<void> {
    try {
      await writeNamedRecord(this.ctx.store, this.ctx.options.instanceId, store.record);
    } catch (e) {
      await this.closeTargets(store.targets, new FloeError('CLOSED', 'the store could not be registered')).catch(() => undefined);
      await this.retireParts(store.record, () => undefined);
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
    await this.closeTargets(old.targets, old.fenced).catch((e: unknown) => this.ctx.log('warn', 'named_store_close_failed', { name: old.name, error: (e as Error).message }));
    await this.retireParts(old.record, ignoreMissingInstance);
  }

  private async retireOrClose(store: NamedStore): Promise<void> {
    const retire = store.ephemeral || store.dropped;
    await this.closeTargets(store.targets, new FloeError('CLOSED', `named store ${JSON.stringify(store.name)} is closed; open it again`));
    if (!retire) {
      this.ctx.log('info', 'named_store_closed', { name: store.name, instanceId: store.record.instanceId });
      return;
    }
    await this.retireParts(store.record, ignoreMissingInstance);
    const latest = await readNamedRecord(this.ctx.store, this.ctx.options.instanceId, store.name);
    // Only if the name still points at this instance (a restore may have moved it on meanwhile).
    if (latest?.instanceId === store.record.instanceId && latest.dropped === undefined) {
      await writeNamedRecord(this.ctx.store, this.ctx.options.instanceId, { ...latest, seq: latest.seq + 1, createdAt: this.now(), dropped: true });
    }
    this.ctx.log('info', 'named_store_retired', { name: store.name, instanceId: store.record.instanceId });
  }

  /** Retires every part instance of `record`; `onError` decides about a failure (rethrow or ignore). */
  private async retireParts(record: NamedRecord, onError: (e: unknown) => void): Promise<void> {
    for (const p of partsOf(record)) await retireOn(this.ctx.store, p.instanceId, this.ctx.clock, this.ctx.random.fork()).catch(onError);
  }

  /**
   * Closes the parts' instances after every request already sent to them; later requests fail with `why`.
   * PROMISES: every target is marked gone and removed from its shard, even when a close fails (rejects
   * with the first failure).
   */
  private async closeTargets(targets: readonly Target[], why: FloeError): Promise<void> {
    const results = await Promise.allSettled(
      targets.map(async (t) => {
        try {
          if (t.gone === undefined && t.shard.dead === undefined) await this.ctx.bus.call(t, InternalOp.SHARD_CLOSE);
        } finally {
          t.gone ??= why;
          t.shard.targets.delete(t);
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /**
   * Opens every part of `record` in a new slot of its shard (named-parts.ts places them).
   * PROMISES: on failure no part is left open (and the instances a fresh start or restore created are retired).
   */
  private async start(record: NamedRecord, ephemeral: boolean, mode: 'fresh' | 'existing' | 'restore', handles: CheckpointHandle[] = []): Promise<NamedStore> {
    const parts = partsOf(record);
    const shards = placeParts(this.ctx.shards, parts.length, record.name);
    const targets = parts.map((p, i) => shards[i]!.addTarget(p.keyGroups));
    const opened = await Promise.allSettled(parts.map((p, i) => this.openPart(record, p, parts.length, targets[i]!, mode, handles)));
    const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed === undefined) return new NamedStore(record, targets, ephemeral);
    const why = new FloeError('CLOSED', 'the store failed to open');
    await this.closeTargets(
      targets.filter((_, i) => opened[i]!.status === 'fulfilled'),
      why,
    ).catch(() => undefined);
    for (const [i, t] of targets.entries()) {
      if (opened[i]!.status === 'rejected') {
        t.shard.targets.delete(t);
        t.gone = why;
      }
    }
    if (mode !== 'existing') await this.retireParts(record, () => undefined);
    throw failed.reason;
  }

  /** Opens one part's instance in `target`'s slot. */
  private async openPart(record: NamedRecord, part: NamedPart, count: number, target: Target, mode: 'fresh' | 'existing' | 'restore', handles: CheckpointHandle[]): Promise<void> {
    const shard = target.shard;
    const init: ShardInit = {
      shard: shard.index,
      what: count === 1 ? `named store ${JSON.stringify(record.name)}` : `part [${part.keyGroups[0]}, ${part.keyGroups[1]}] of named store ${JSON.stringify(record.name)}`,
      options: {
        ...this.ctx.baseOptions,
        instanceId: part.instanceId,
        localDir: join(this.ctx.localPath, shardLocalDirName(shard.index)),
        maxKeyGroups: record.maxKeyGroups,
        diskCacheBytes: this.ctx.shardBytes,
        // The store's memtable budget is split over its parts (one part: the daemon's option, as always).
        ...(count > 1 ? { memtableBytes: partMemtableBytes(this.ctx.options.memtableBytes, count) } : {}),
      },
      keyGroups: part.keyGroups,
      expectExisting: mode === 'existing',
      // Each part restores every handle clipped to its own sub-range (restoreStore with keyGroups).
      ...(mode === 'restore' ? { restore: { handles } } : {}),
    };
    await this.ctx.bus.call(shard.host, InternalOp.SHARD_STORE_OPEN, (w) => writeJson(w, { slot: target.slot, init }));
  }

  private nextRecord(previous: NamedRecord | undefined, req: OpenStoreRequest, restoredFrom: string[] | undefined): NamedRecord {
    const seq = (previous?.seq ?? 0) + 1;
    const live = this.ctx.shards.filter((s) => s.dead === undefined).length;
    const parts = newParts(namedInstanceId(req.name, seq, this.ctx.random), req.keyGroups, partCount(req.keyGroups, live, req.parts));
    return {
      name: req.name,
      seq,
      maxKeyGroups: req.maxKeyGroups,
      keyGroups: req.keyGroups,
      instanceId: parts[0]!.instanceId,
      ephemeral: req.ephemeral === true,
      createdAt: this.now(),
      ...(restoredFrom !== undefined ? { restoredFrom } : {}),
      ...(parts.length > 1 ? { parts } : {}),
    };
  }

  /**
   * The live store of `name`. One that can no longer serve (a part lost with its shard thread) is
   * forgotten, and its surviving parts closed first: reopening the name opens every part afresh.
   */
  private async liveStore(name: string): Promise<NamedStore | undefined> {
    const live = this.live.get(name);
    if (live === undefined || !live.lost) return live;
    this.live.delete(name);
    live.superseded = true;
    const why = live.failure!;
    await this.closeTargets(live.targets, why).catch((e: unknown) => this.ctx.log('warn', 'named_store_close_failed', { name, error: (e as Error).message }));
    return undefined;
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
  const parts = partsOf(record).length;
  if (req.parts !== undefined && req.parts !== parts) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `named store ${JSON.stringify(req.name)} exists with ${parts} part(s), but the request asks for ${req.parts}; omit "parts" to open it as it is, or restore (open with "restore") to split it anew`,
    );
  }
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
