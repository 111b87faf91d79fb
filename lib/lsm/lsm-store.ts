/**
 * One LSM instance over an object store: the embedded `Store`.
 *
 * Writes go to the live memtable; a full memtable is frozen and flushed to L0 SSTs on primary storage by a
 * single background flush loop; a single background compaction loop keeps levels in shape. Every change of
 * the file set is one new manifest (create-if-absent, so a newer writer fences this one). Reads merge the
 * memtables with the current Version. Writers stall (never grow memory without bound) when frozen
 * memtables or L0 files pile up faster than flush/compaction drain them.
 *
 * This class wires the parts, each one job over the shared state (lsm-core.ts): the write path
 * (lsm-writes.ts), flush and compaction scheduling (lsm-background.ts) over rewrites and manifest commits
 * (lsm-commit.ts), point reads (lsm-reads.ts) and read views (lsm-views.ts). It keeps what spans them:
 * checkpoints, warm-up prefetch, stats and close.
 *
 * The first background failure is sticky: writes fail with it until reopen; reads keep working.
 * REQUIRES: used from one thread (the event loop that opened it).
 */
import type { CheckpointHandle, DeleteRangeOptions, EmbeddedStore, IteratorEntry, IteratorOptions, KeyGroupOption, ReadOptions, ScanEntry, SnapshotScanOptions, Snapshot, StoreStats, WriteOp, WriteOptions } from '../api.js';
import type { BlockCache } from '../cache/block-cache.js';
import type { DiskCache } from '../cache/disk-cache.js';
import { FloeError, isFloeError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { ObjectStore } from '../store/object-store.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { WalLog } from '../wal/log.js';
import type { WalRecord } from '../wal/format.js';
import type { LeaseHolder } from '../checkpoint/leases.js';
import { registerPins } from '../checkpoint/pins.js';
import { pendingCompactionBytes } from './compaction-picker.js';
import { checkNotFenced } from './fencing.js';
import type { StoreIterator } from './iterator.js';
import { BackgroundWork } from './lsm-background.js';
import { ManifestCommitter } from './lsm-commit.js';
import { LsmCore } from './lsm-core.js';
import { PointReads } from './lsm-reads.js';
import { ReadViews } from './lsm-views.js';
import { WritePath } from './lsm-writes.js';
import type { ManifestState } from './manifest.js';
import type { RewriteExecutor } from './rewrite-executor.js';

/** Everything an LSM instance uses but does not own the configuration of. */
export interface LsmDeps {
  store: ObjectStore;
  remoteStats: () => StoreStats['remote'];
  blockCache: BlockCache | undefined;
  diskCache: DiskCache | undefined;
  executor: RewriteExecutor;
  clock: Clock;
  /** The clock TTLs are measured on (lib/embedded.ts OpenInternals.ttlClock): expiry, renewal, compaction filter. */
  ttlClock: Clock;
  random: Random;
  /** Called after the store closed, to release what the opener created (pools, caches, store). */
  onClose: () => Promise<void>;
  /** Checkpoint and GC operations, supplied by lib/checkpoint (kept out of this module). */
  checkpoints: CheckpointOps;
  /** The write-ahead log, with durability 'wal' (opened and replayed by lib/embedded.ts). */
  wal?: WalLog;
}

export interface CheckpointOps {
  checkpoint(store: LsmStore): Promise<CheckpointHandle>;
  release(store: LsmStore, handle: CheckpointHandle): Promise<void>;
  collectGarbage(store: LsmStore): Promise<void>;
}

/** Views of internal state for checkpointing (lib/checkpoint) and tests. */
export interface LsmInternals {
  state: ManifestState;
  options: ResolvedOptions;
  store: ObjectStore;
  clock: Clock;
  random: Random;
  /** Disk-cached ranges of a file (empty without a disk cache); call after `settleCache()`. */
  cachedRanges(fileId: string): Array<[number, number]>;
  settleCache(): Promise<void>;
  /** Live view of files this store needs that may not be in a manifest (see lib/checkpoint/gc.ts). */
  pinnedFiles: { has(fileId: string): boolean };
  /** GC bookkeeping kept across passes: when each file was first seen unreferenced. */
  unreferencedSince: Map<string, number>;
  /** This store's read lease (files its open scans read after its version dropped them). */
  lease: LeaseHolder;
  /** Range scans over the merged sources started so far (one per key group a scan or iterator visits; tests). */
  scanRanges(): number;
}

export class LsmStore implements EmbeddedStore {
  private readonly core: LsmCore;
  private readonly committer: ManifestCommitter;
  private readonly background: BackgroundWork;
  private readonly writes: WritePath;
  private readonly reads: PointReads;
  private readonly readViews: ReadViews;
  private closing: Promise<void> | undefined;
  private readonly unreferencedSince = new Map<string, number>();
  private readonly unregisterPins: () => void;
  /** Set by restoreStore({ warmUp: true }): resolves to the bytes prefetched into the disk cache. */
  warmUp: Promise<number> | undefined;

  constructor(
    readonly options: ResolvedOptions,
    state: ManifestState,
    private readonly deps: LsmDeps,
  ) {
    const core = new LsmCore(options, state, deps);
    this.core = core;
    this.committer = new ManifestCommitter(core);
    this.background = new BackgroundWork(core, this.committer, () => deps.checkpoints.collectGarbage(this));
    this.writes = new WritePath(core, this.background);
    this.reads = new PointReads(core, this.writes);
    this.readViews = new ReadViews(core);
    this.unregisterPins = registerPins(deps.store.uri, core.pins);
  }

  get instanceId(): string {
    return this.core.state.instanceId;
  }

  get keyGroups(): [number, number] {
    return this.core.state.keyGroups;
  }

  /** The sticky background failure, if any (simulation checks read it). */
  private get backgroundError(): FloeError | undefined {
    return this.core.backgroundError;
  }

  /** Internal state for lib/checkpoint and tests. Not part of the public API. */
  internals(): LsmInternals {
    const core = this.core;
    return {
      state: core.state,
      options: this.options,
      store: this.deps.store,
      clock: this.deps.clock,
      random: this.deps.random,
      cachedRanges: (fileId) => this.deps.diskCache?.cachedRanges(fileId) ?? [],
      settleCache: async () => this.deps.diskCache?.settle(),
      pinnedFiles: core.pins,
      unreferencedSince: this.unreferencedSince,
      lease: core.lease,
      scanRanges: () => core.scanRanges,
    };
  }

  // ---------------------------------------------------------------- writes (lsm-writes.ts)

  put(key: Uint8Array | string, value: Uint8Array | string, options?: WriteOptions): Promise<void> {
    return this.writes.put(key, value, options);
  }

  delete(key: Uint8Array | string, options?: KeyGroupOption): Promise<void> {
    return this.writes.delete(key, options);
  }

  merge(key: Uint8Array | string, operand: Uint8Array | string, options?: WriteOptions): Promise<void> {
    return this.writes.merge(key, operand, options);
  }

  /** Range delete (range-delete-ops.ts): a tombstone per key group, or one for all when unbounded. */
  deleteRange(options: DeleteRangeOptions): Promise<void> {
    return this.writes.deleteRange(options);
  }

  /** Deletes every key of key groups first..last (inclusive, owned by this store) as one range tombstone. */
  deleteKeyGroups(range: [number, number]): Promise<void> {
    return this.writes.deleteKeyGroups(range);
  }

  /** Atomic batch: every op is validated before any is applied, and all are applied in one step. */
  write(ops: WriteOp[]): Promise<void> {
    return this.writes.write(ops);
  }

  /**
   * Applies records replayed from the write-ahead log at open. REQUIRES: before any write; records in
   * ascending sequence order, all above the manifest's lastSequence.
   */
  replayLog(records: WalRecord[]): void {
    this.writes.replayLog(records);
  }

  /** Starts the compaction the opened shape needs (called once the store is open or restored). */
  startBackgroundWork(): void {
    this.background.startCompactionLoop();
  }

  // ---------------------------------------------------------------- reads (lsm-reads.ts, lsm-views.ts)

  get(key: Uint8Array | string, options?: ReadOptions): Promise<Uint8Array | undefined> {
    return this.reads.get(key, options);
  }

  multiGet(keys: Array<Uint8Array | string>, options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    return this.reads.multiGet(keys, options);
  }

  scan(options: SnapshotScanOptions = {}): AsyncIterableIterator<ScanEntry> {
    return this.readViews.scan(options);
  }

  /**
   * A positioned iterator (lib/lsm/iterator.ts) over a view pinned now, or over the named snapshot's view
   * (pinned again, so the iterator may outlive the snapshot).
   */
  iterator<O extends IteratorOptions = IteratorOptions>(options?: O): StoreIterator<IteratorEntry<O>> {
    return this.readViews.iterator(options);
  }

  /** An explicit snapshot (lib/lsm/snapshot.ts): a read view pinned until released. */
  snapshot(): Snapshot {
    return this.readViews.snapshot();
  }

  // ---------------------------------------------------------------- flush and compaction (lsm-background.ts)

  /** Makes every write acknowledged before the call durable on primary storage. */
  async flush(): Promise<void> {
    this.core.checkOpen();
    await this.background.flushFrozen();
  }

  /** Runs compactions until no level needs one (tests and tools). */
  async compactUntilIdle(): Promise<void> {
    this.core.checkOpen();
    await this.background.compactUntilIdle();
  }

  /**
   * Fetches byte ranges of live files into the disk cache (warm-up after restore), hottest first as
   * given, at most the disk cache's capacity in total, within the in-flight read budget. Files no longer
   * live are skipped. Resolves to the bytes fetched; errors are not fatal (warm-up is an optimization).
   */
  async prefetch(ranges: Array<{ fileId: string; offset: number; length: number }>): Promise<number> {
    const cache = this.deps.diskCache;
    if (cache === undefined) return 0;
    const live = new Map(this.core.state.version.allFiles().map((f) => [f.fileId, f]));
    let budget = cache.stats().capacity;
    const work: Array<Promise<number>> = [];
    for (const r of ranges) {
      const file = live.get(r.fileId);
      if (file === undefined || r.length > budget || r.offset + r.length > file.size) continue;
      budget -= r.length;
      if (cache.isCached(r.fileId, r.offset, r.length)) continue;
      work.push(
        this.core.tables
          .source(file)
          .read(r.offset, r.length)
          .then(
            (b) => b.length,
            () => 0,
          ),
      );
    }
    const fetched = (await Promise.all(work)).reduce((a, b) => a + b, 0);
    await cache.settle();
    return fetched;
  }

  // ---------------------------------------------------------------- checkpoints

  async checkpoint(): Promise<CheckpointHandle> {
    this.core.checkOpen();
    await this.background.flushFrozen();
    // Serialize with manifest commits so the checkpoint names one consistent version.
    return this.committer.serialized(async () => {
      const handle = await this.deps.checkpoints.checkpoint(this);
      const state = this.core.state;
      await checkNotFenced(this.deps.store, state.instanceId, state.epoch, `checkpoint ${handle.checkpointId}`);
      return handle;
    });
  }

  async releaseCheckpoint(handle: CheckpointHandle): Promise<void> {
    this.core.checkOpen();
    await this.deps.checkpoints.release(this, handle);
  }

  /** Runs one GC pass now (tools and tests). */
  async collectGarbage(): Promise<void> {
    this.core.checkOpen();
    await this.deps.checkpoints.collectGarbage(this);
  }

  // ---------------------------------------------------------------- stats and close

  stats(): StoreStats {
    const core = this.core;
    const levels = core.state.version.levels.map((files) => ({ files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) }));
    const emptyCache = { capacity: 0, bytes: 0, hits: 0, misses: 0 };
    return {
      remote: this.deps.remoteStats(),
      blockCache: this.deps.blockCache ? this.deps.blockCache.stats() : emptyCache,
      diskCache: this.deps.diskCache ? this.deps.diskCache.stats() : emptyCache,
      lsm: {
        memtableBytes: core.mem.approximateBytes + core.imm.reduce((n, m) => n + m.approximateBytes, 0),
        levels,
        pendingCompactionBytes: pendingCompactionBytes(core.state.version, this.options),
        stalls: core.stalls,
      },
    };
  }

  /** Flushes and releases resources. Idempotent; concurrent calls share one close. */
  close(): Promise<void> {
    if (this.closing === undefined) this.closing = this.closeOnce();
    return this.closing;
  }

  /**
   * PROMISES: resolves only if every acknowledged write is durable. After a background error (sticky) or a
   * failed final flush it still releases resources, then rejects with an error that says what was not made
   * durable, so a caller (and the daemon's exit code) never mistakes a lossy close for a clean one.
   */
  private async closeOnce(): Promise<void> {
    const core = this.core;
    let flushError: unknown;
    try {
      await core.wal?.drain(); // writes already in the log reach the memtable, so the final flush has them
      await this.background.flushFrozen();
      // Writes that were already under way may have frozen later memtables: close leaves no flush running.
      await this.background.flushesIdle();
      if (this.backgroundError) throw this.backgroundError;
      await core.wal?.truncate(core.state);
    } catch (e) {
      flushError = e;
    }
    const notDurable = this.unflushedSummary();
    core.closed = true;
    core.views.revokeAll();
    core.wakeWriters();
    await this.background.compactionAndGcIdle();
    await this.committer.idle();
    await core.lease.close().catch(() => undefined);
    this.unregisterPins();
    await this.deps.onClose();
    if (flushError !== undefined) throw this.closeError(flushError, notDurable);
  }

  /** The error a lossy close rejects with: what was not made durable, where, and why. */
  private closeError(flushError: unknown, notDurable: string): FloeError {
    const cause = isFloeError(flushError) ? flushError : new FloeError('IO', String(flushError), { cause: flushError });
    return new FloeError(
      cause.code,
      `close(): ${notDurable} were not made durable on ${this.deps.store.uri} (instance ${this.instanceId}): ${cause.message} ` +
        'Writes made durable earlier (by flush, checkpoint or a completed background flush) are safe; reopen the store to continue.',
      { cause, retryable: false, ...(cause.path ? { path: cause.path } : {}) },
    );
  }

  /** What the memtables hold that is not yet durable, for error messages. */
  private unflushedSummary(): string {
    const tables = [this.core.mem, ...this.core.imm];
    const keys = tables.reduce((n, m) => n + m.size, 0);
    const bytes = tables.reduce((n, m) => n + m.approximateBytes, 0);
    return keys === 0 ? 'no pending writes (but earlier background work failed)' : `writes to ${keys} key(s) (about ${bytes} bytes) held in memtables`;
  }
}
