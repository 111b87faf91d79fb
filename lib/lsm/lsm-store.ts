/**
 * One LSM instance over an object store: the embedded `Store`.
 *
 * Writes go to the live memtable; a full memtable is frozen and flushed to L0 SSTs on primary storage by a
 * single background flush loop; a single background compaction loop keeps levels in shape. Every change of
 * the file set is one new manifest (create-if-absent, so a newer writer fences this one). Reads merge the
 * memtables with the current Version. Writers stall (never grow memory without bound) when frozen
 * memtables or L0 files pile up faster than flush/compaction drain them.
 *
 * The first background failure is sticky: writes fail with it until reopen; reads keep working.
 * REQUIRES: used from one thread (the event loop that opened it).
 */
import type { CheckpointHandle, DeleteRangeOptions, EmbeddedStore, IteratorEntry, IteratorOptions, KeyGroupOption, ReadOptions, ScanEntry, SnapshotScanOptions, Snapshot, StoreStats, WriteOp, WriteOptions } from '../api.js';
import type { BlockCache } from '../cache/block-cache.js';
import type { DiskCache } from '../cache/disk-cache.js';
import { FloeError, isFloeError } from '../errors.js';
import { checkKey, checkValue, physicalKey, resolveKeyGroup, toBytes, checkKeyGroup } from '../keys.js';
import type { ResolvedOptions } from '../options.js';
import { EntryKind } from '../sst/entry.js';
import type { ObjectStore } from '../store/object-store.js';
import { sstFileId, sstPath } from '../store/paths.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { Semaphore } from '../util/semaphore.js';
import { NOT_CACHED, filterHash, type FilterHash, type SstReader } from '../sst/reader.js';
import { concatParts, keyToString, Memtable } from './memtable.js';
import { PointResolver } from './merge-values.js';
import { inClip, type FileMeta } from './file-meta.js';
import { writeManifest, type ManifestState } from './manifest.js';
import { checkNotFenced } from './fencing.js';
import type { WalLog } from '../wal/log.js';
import { WAL_RANGE_DELETE, type WalOp, type WalRecord } from '../wal/format.js';
import { checkTtlMs, liveValue, readTtl, refreshedTtl, writeTtl, type TtlConfig, type TtlSegments, type TtlVisibility } from './ttl.js';

/** How one read treats TTL: the store's setting or the read's override. */
type ReadTtl = Pick<TtlConfig, 'visibility' | 'update'>;
import { coveringSeq, maxTombstoneSeq } from './range-tombstones.js';
import { deleteKeyGroupsRange, deleteRangeRanges } from './range-delete-ops.js';
import { LeaseHolder } from '../checkpoint/leases.js';
import { registerPins } from '../checkpoint/pins.js';
import { pendingCompactionBytes, pickCompaction, type CompactionJob } from './compaction-picker.js';
import type { RewriteExecutor } from './rewrite-executor.js';
import type { RewriteIo, RewriteResult, RewriteSource, RewriteTask } from './compaction-rewrite.js';
import { MergeScan } from './scan.js';
import { groupRange, scanBoundedGroups } from './scan-groups.js';
import { ScanIterator, ScanViews, type PinnedView } from './scan-iterator.js';
import { TableCache } from './table-cache.js';
import { asStoreSnapshot, getAtView, StoreSnapshot } from './snapshot.js';
import { planIterator, StoreIterator } from './iterator.js';
import type { ScanView } from './scan.js';
import { deletionOf, type VersionEdit } from './version.js';

/** Everything an LSM instance uses but does not own the configuration of. */
export interface LsmDeps {
  store: ObjectStore;
  remoteStats: () => StoreStats['remote'];
  blockCache: BlockCache | undefined;
  diskCache: DiskCache | undefined;
  executor: RewriteExecutor;
  clock: Clock;
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

/** Attempts of one flush or compaction rewrite that fails with retryable errors, and the first backoff. */
const REWRITE_ATTEMPTS = 4;
const REWRITE_RETRY_MS = 50;

export class LsmStore implements EmbeddedStore {
  private mem: Memtable;
  /** Frozen memtables, newest first. */
  private imm: Memtable[] = [];
  private state: ManifestState;
  /** Highest write sequence handed out. */
  private lastSeq: number;
  /** Highest write sequence applied to the memtable (visible to reads); below lastSeq while WAL appends wait. */
  private appliedSeq: number;
  /** The write-ahead log (durability 'wal'). */
  private readonly wal: WalLog | undefined;
  private readonly tables: TableCache;
  private closed = false;
  private closing: Promise<void> | undefined;
  private backgroundError: FloeError | undefined;
  private flushLoop: Promise<void> | undefined;
  private compactionLoop: Promise<void> | undefined;
  private manifestLock: Promise<void> = Promise.resolve();
  private roomWaiters: Array<() => void> = [];
  private stalls = 0;
  /** Open scan views (scan-iterator.ts) and the files they pin, count per file id. */
  private readonly scanPins = new Map<string, number>();
  private readonly views = new ScanViews(this.scanPins);
  private scanRanges = 0;
  /** New SSTs uploaded but not yet named by a manifest. */
  private readonly uploading = new Set<string>();
  private gcRunning: Promise<void> | undefined;
  private lastGcAt = 0;
  private readonly unreferencedSince = new Map<string, number>();
  private readonly pins: { has(fileId: string): boolean };
  private readonly unregisterPins: () => void;
  private readonly lease: LeaseHolder;

  constructor(
    readonly options: ResolvedOptions,
    state: ManifestState,
    private readonly deps: LsmDeps,
  ) {
    this.state = state;
    this.lastSeq = state.lastSequence;
    this.appliedSeq = state.lastSequence;
    this.wal = deps.wal;
    this.mem = new Memtable(deps.random.fork());
    this.tables = new TableCache(deps.store, new Semaphore(options.readConcurrency), deps.blockCache, deps.diskCache);
    this.pins = { has: (id) => this.scanPins.has(id) || this.uploading.has(id) || this.currentFiles().has(id) };
    this.unregisterPins = registerPins(deps.store.uri, this.pins);
    this.lease = new LeaseHolder(deps.store, { leaseId: `${state.instanceId}-${state.epoch}-${state.writer || 'w'}`, instanceId: state.instanceId, epoch: state.epoch }, deps.clock);
  }

  /** Files open scans read that `version` no longer references: what this store's read lease must name. */
  private droppedButRead(files: Set<string>): string[] {
    return [...this.scanPins.keys()].filter((id) => !files.has(id)).sort();
  }

  get instanceId(): string {
    return this.state.instanceId;
  }

  get keyGroups(): [number, number] {
    return this.state.keyGroups;
  }

  private currentFilesOf: { version: unknown; ids: Set<string> } | undefined;
  /** Set by restoreStore({ warmUp: true }): resolves to the bytes prefetched into the disk cache. */
  warmUp: Promise<number> | undefined;

  /** File ids of the current version (cached per version). GC consults it at deletion time, so a file
   * committed while a GC pass runs is never taken for garbage even with a zero grace period. */
  private currentFiles(): Set<string> {
    const version = this.state.version;
    if (this.currentFilesOf?.version !== version) {
      this.currentFilesOf = { version, ids: new Set(version.allFiles().map((f) => f.fileId)) };
    }
    return this.currentFilesOf.ids;
  }

  /** Internal state for lib/checkpoint and tests. Not part of the public API. */
  internals(): LsmInternals {
    return {
      state: this.state,
      options: this.options,
      store: this.deps.store,
      clock: this.deps.clock,
      random: this.deps.random,
      cachedRanges: (fileId) => this.deps.diskCache?.cachedRanges(fileId) ?? [],
      settleCache: async () => this.deps.diskCache?.settle(),
      pinnedFiles: this.pins,
      unreferencedSince: this.unreferencedSince,
      lease: this.lease,
      scanRanges: () => this.scanRanges,
    };
  }

  // ---------------------------------------------------------------- writes

  async put(key: Uint8Array | string, value: Uint8Array | string, options?: WriteOptions): Promise<void> {
    const pk = this.physical(key, options);
    const v = ownBytes(checkValue(value));
    await this.applyWrites([withTtl({ key: pk, kind: EntryKind.Put, value: v }, this.ttlOf(v, options?.ttlMs, 'put(): ttlMs'))]);
  }

  async delete(key: Uint8Array | string, options?: KeyGroupOption): Promise<void> {
    await this.applyWrites([{ key: this.physical(key, options), kind: EntryKind.Delete, value: EMPTY }]);
  }

  async merge(key: Uint8Array | string, operand: Uint8Array | string, options?: WriteOptions): Promise<void> {
    const pk = this.physical(key, options);
    const v = ownBytes(checkValue(operand, 'merge operand'));
    await this.applyWrites([withTtl({ key: pk, kind: EntryKind.Merge, value: v }, this.ttlOf(v, options?.ttlMs, 'merge(): ttlMs'))]);
  }

  /** TTL metadata of a put or merge of `value` (lib/lsm/ttl.ts): its own ttlMs, else the store's default. */
  private ttlOf(value: Uint8Array, ttlMs: unknown, where: string): TtlSegments | undefined {
    const ms = ttlMs === undefined ? this.options.ttl.defaultTtlMs : checkTtlMs(ttlMs, where);
    return writeTtl(value.length, ms, this.deps.clock.now());
  }

  /** Range delete (range-delete-ops.ts): a tombstone per key group, or one for all when unbounded. */
  async deleteRange(options: DeleteRangeOptions): Promise<void> {
    this.checkOpen();
    const ranges = deleteRangeRanges(options, this.state);
    await this.applyWrites(ranges.map((r) => ({ kind: WAL_RANGE_DELETE, key: r.start, value: r.end })));
  }

  /** Deletes every key of key groups first..last (inclusive, owned by this store) as one range tombstone. */
  async deleteKeyGroups(range: [number, number]): Promise<void> {
    this.checkOpen();
    const r = deleteKeyGroupsRange(range, this.state);
    await this.applyWrites([{ kind: WAL_RANGE_DELETE, key: r.start, value: r.end }]);
  }

  /** Atomic batch: every op is validated before any is applied, and all are applied in one step. */
  async write(ops: WriteOp[]): Promise<void> {
    if (!Array.isArray(ops)) throw new FloeError('INVALID_ARGUMENT', 'write() takes an array of { type, key, value?, keyGroup? } operations');
    const prepared: WalOp[] = [];
    for (const [i, op] of ops.entries()) {
      if (op === null || typeof op !== 'object') throw new FloeError('INVALID_ARGUMENT', `write(): operation ${i} must be an object`);
      const pk = this.physical(op.key, op, `operation ${i}: `);
      switch (op.type) {
        case 'put':
        case 'merge': {
          const v = ownBytes(checkValue(op.value, `operation ${i} value`));
          const kind = op.type === 'put' ? EntryKind.Put : EntryKind.Merge;
          prepared.push(withTtl({ key: pk, kind, value: v }, this.ttlOf(v, op.ttlMs, `write(): operation ${i} ttlMs`)));
          break;
        }
        case 'delete':
          prepared.push({ key: pk, kind: EntryKind.Delete, value: EMPTY });
          break;
        default:
          throw new FloeError('INVALID_ARGUMENT', `write(): operation ${i} has type ${JSON.stringify((op as { type: unknown }).type)}; use 'put', 'delete' or 'merge'`);
      }
    }
    await this.applyWrites(prepared);
  }

  /**
   * Applies validated writes as one atomic step with consecutive sequence numbers. With the WAL, the step
   * waits until the log holds them (group commit) and only then reaches the memtable, so nothing a reader
   * sees can be lost by a crash; the log acknowledges in sequence order, so memtable order is preserved.
   */
  private async applyWrites(ops: WalOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.admitWrite();
    await this.sequenceAndApply(ops);
  }

  /**
   * Gives `ops` their sequence numbers now (synchronously, so nothing written after this call can precede
   * them) and applies them, after the WAL holds them when there is one.
   */
  private async sequenceAndApply(ops: WalOp[]): Promise<void> {
    const first = this.lastSeq + 1;
    this.lastSeq += ops.length;
    if (this.wal !== undefined) {
      try {
        await this.wal.append(first, ops);
      } catch (e) {
        this.fail(e, 'WAL append');
        throw this.backgroundError ?? e;
      }
    }
    for (let i = 0; i < ops.length; i++) this.applyOp(ops[i]!, first + i);
    this.appliedSeq = first + ops.length - 1;
    this.afterWrite();
  }

  private physical(key: unknown, options: KeyGroupOption | undefined, where = ''): Uint8Array {
    this.checkOpen();
    let k: Uint8Array;
    try {
      k = checkKey(key);
    } catch (e) {
      throw where && isFloeError(e) ? new FloeError(e.code, where + e.message) : e;
    }
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new FloeError('INVALID_ARGUMENT', `${where}options must be an object like { keyGroup: 3 }`);
    }
    const kg = resolveKeyGroup(k, options?.keyGroup, this.state.maxKeyGroups);
    const [lo, hi] = this.state.keyGroups;
    if (kg < lo || kg > hi) {
      throw new FloeError('INVALID_ARGUMENT', `${where}key group ${kg} is outside this store's key-group range [${lo}, ${hi}]; route the key to the store that owns it`);
    }
    return physicalKey(kg, k);
  }

  private checkOpen(): void {
    if (this.closed) throw new FloeError('CLOSED', 'the store is closed; open a new one with openStore()');
  }

  /** Waits while writes must stall; fails with the sticky background error. */
  private async admitWrite(): Promise<void> {
    if (this.backgroundError) throw this.backgroundError;
    if (!this.mustStall()) return;
    this.stalls++;
    while (this.mustStall()) {
      if (this.backgroundError) throw this.backgroundError;
      this.ensureDrainingWork();
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
      this.checkOpen();
    }
    if (this.backgroundError) throw this.backgroundError;
  }

  private mustStall(): boolean {
    return (
      this.backgroundError === undefined &&
      (this.imm.length >= this.options.maxImmutableMemtables ||
        this.state.version.levels[0]!.length >= this.options.l0StopWritesTrigger ||
        (this.wal !== undefined && this.wal.bufferedBytes >= this.options.memtableBytes))
    );
  }

  /**
   * PROMISES: while writers stall, work that will release them is in progress: a flush for frozen memtables,
   * a compaction for L0 files (a restored or reopened store can start with too many).
   */
  private ensureDrainingWork(): void {
    if (this.imm.length > 0) this.startFlushLoop();
    this.startCompactionLoop();
  }

  /**
   * Applies records replayed from the write-ahead log at open. REQUIRES: before any write; records in
   * ascending sequence order, all above the manifest's lastSequence.
   */
  replayLog(records: WalRecord[]): void {
    for (const r of records) {
      r.ops.forEach((op, i) => {
        this.applyOp({ ...op, value: new Uint8Array(op.value) }, r.firstSeq + i);
      });
      this.lastSeq = this.appliedSeq = r.firstSeq + r.ops.length - 1;
      if (this.mem.approximateBytes >= this.options.memtableBytes) this.freeze();
    }
  }

  private applyOp(op: WalOp, seq: number): void {
    if (op.kind === WAL_RANGE_DELETE) this.mem.deleteRange(op.key, op.value, seq);
    else this.mem.apply(op.key, op.kind, op.value, seq, op.ttl);
  }

  /** Starts the compaction the opened shape needs (called once the store is open or restored). */
  startBackgroundWork(): void {
    this.startCompactionLoop();
  }

  private wakeWriters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  private afterWrite(): void {
    if (this.mem.approximateBytes >= this.options.memtableBytes) this.freeze();
    // Writers stalled on the WAL buffer wait for acknowledgements, which arrive here.
    if (this.wal !== undefined && this.roomWaiters.length > 0) this.wakeWriters();
  }

  private freeze(): void {
    if (this.mem.isEmpty) return;
    this.imm.unshift(this.mem);
    this.mem = new Memtable(this.deps.random.fork());
    this.startFlushLoop();
  }

  // ---------------------------------------------------------------- reads

  get(key: Uint8Array | string, options?: ReadOptions): Promise<Uint8Array | undefined> {
    let pk: Uint8Array;
    let ttl: ReadTtl;
    try {
      pk = this.readKey(key, options);
      ttl = readTtl(options, this.options.ttl);
      if (options?.snapshot !== undefined) {
        const now = this.ttlNow(ttl.visibility);
        return asStoreSnapshot(options.snapshot).read(this.views, (view) => getAtView(view, pk, now));
      }
    } catch (e) {
      return Promise.reject(e); // a promise-returning API fails by rejecting, never by throwing
    }
    return this.getPhysical(pk, ttl);
  }

  async multiGet(keys: Array<Uint8Array | string>, options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    if (!Array.isArray(keys)) throw new FloeError('INVALID_ARGUMENT', 'multiGet() takes an array of keys');
    const pks = keys.map((k) => this.readKey(k, options));
    const ttl = readTtl(options, this.options.ttl);
    if (options?.snapshot !== undefined) {
      const now = this.ttlNow(ttl.visibility);
      return asStoreSnapshot(options.snapshot).read(this.views, (view) => Promise.all(pks.map((pk) => getAtView(view, pk, now))));
    }
    // Lookups run concurrently: identical block fetches coalesce in the table readers and remote reads
    // are bounded by the in-flight budget, so this issues at most one GET per distinct missing block.
    return Promise.all(pks.map((pk) => this.getPhysical(pk, ttl)));
  }

  private readKey(key: unknown, options: KeyGroupOption | undefined): Uint8Array {
    this.checkOpen();
    const k = checkKey(key);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new FloeError('INVALID_ARGUMENT', 'options must be an object like { keyGroup: 3 }');
    }
    return physicalKey(resolveKeyGroup(k, options?.keyGroup, this.state.maxKeyGroups), k);
  }

  /**
   * Point lookup. Synchronous while everything it needs is in memory (memtables, open table readers, cached
   * blocks, searched in place); the first table open or block read continues in `getFromFiles`.
   */
  private getPhysical(pk: Uint8Array, ttl: ReadTtl): Promise<Uint8Array | undefined> {
    try {
      const readFrom = this.lastSeq;
      const resolver = new PointResolver(this.coveredSeq(pk));
      const frozen = this.imm;
      if (!this.mem.isEmpty || frozen.length > 0) {
        const ks = keyToString(pk);
        let v = this.mem.lookupString(ks);
        if (v !== undefined && resolver.push(v.kind, copyOut(v.parts), v.ttl, v.seq)) return Promise.resolve(this.finishGet(resolver, pk, readFrom, ttl));
        for (const m of frozen) {
          v = m.lookupString(ks);
          if (v !== undefined && resolver.push(v.kind, copyOut(v.parts), v.ttl, v.seq)) return Promise.resolve(this.finishGet(resolver, pk, readFrom, ttl));
        }
      }
      const files = this.state.version.filesForKey(pk);
      const hash = filterHash(pk);
      for (let i = 0; i < files.length; i++) {
        const f = files[i]!;
        if (!inClip(f, pk)) continue;
        const reader = this.tables.peek(f.fileId);
        if (reader === undefined) return this.getFromFiles(pk, hash, resolver, files.slice(i), false, readFrom, ttl);
        if (!reader.mayContainHash(hash)) continue;
        const bi = reader.blockFor(pk);
        if (bi < 0) continue;
        const e = reader.getCached(bi, pk);
        if (e === NOT_CACHED) return this.getFromFiles(pk, hash, resolver, files.slice(i), true, readFrom, ttl);
        if (e !== undefined && resolver.push(e.kind, e.value, e.ttl, e.seq)) break;
      }
      return Promise.resolve(this.finishGet(resolver, pk, readFrom, ttl));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The rest of a lookup over `files` (newest first); `firstMissed`: the first file's block just missed the cache. */
  private async getFromFiles(
    pk: Uint8Array,
    hash: FilterHash,
    resolver: PointResolver,
    files: FileMeta[],
    firstMissed: boolean,
    readFrom: number,
    ttl: ReadTtl,
  ): Promise<Uint8Array | undefined> {
    let readers: Array<SstReader | undefined> = files.map((f) => this.tables.peek(f.fileId));
    // Tables not open yet (first reads after open or restore) are opened together: one round trip.
    if (readers.includes(undefined)) readers = await Promise.all(files.map((f) => this.tables.get(f)));
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (!inClip(f, pk)) continue;
      const reader = readers[i]!;
      if (!reader.mayContainHash(hash)) continue;
      const bi = reader.blockFor(pk);
      if (bi < 0) continue;
      let e = i === 0 && firstMissed ? NOT_CACHED : reader.getCached(bi, pk);
      if (e === NOT_CACHED) e = (await reader.readBlock(bi, CACHE_CHECKED)).get(pk);
      if (e !== undefined && resolver.push(e.kind, e.value, e.ttl, e.seq)) break;
    }
    return this.finishGet(resolver, pk, readFrom, ttl);
  }

  /** The time expiry is judged at for a read with `visibility` (undefined: expired values are returned). */
  private ttlNow(visibility: TtlVisibility): number | undefined {
    return visibility === 'NeverReturnExpired' ? this.deps.clock.now() : undefined;
  }

  /** Highest seq of the range tombstones covering `pk` in the memtables and the version (0: none). */
  private coveredSeq(pk: Uint8Array): number {
    // The common case (no range deletes anywhere) costs three length checks and no allocation.
    let seq = this.state.version.rangeTombstones.length === 0 ? 0 : coveringSeq(this.state.version.rangeTombstones, pk);
    if (this.mem.rangeTombstones.length > 0) seq = Math.max(seq, coveringSeq(this.mem.rangeTombstones, pk));
    for (const m of this.imm) if (m.rangeTombstones.length > 0) seq = Math.max(seq, coveringSeq(m.rangeTombstones, pk));
    return seq;
  }

  /** The value a point read returns, by the store's TTL visibility; renews the TTL on read when configured. */
  private finishGet(resolver: PointResolver, pk: Uint8Array, readFrom: number, ttl: ReadTtl): Uint8Array | undefined {
    const raw = resolver.rawValue();
    if (raw === undefined || raw.ttl === undefined) return raw?.value;
    const now = this.deps.clock.now();
    const live = liveValue(raw.value, raw.ttl, now);
    if (live !== undefined && ttl.update === 'OnReadAndWrite') this.refreshOnRead(pk, live, readFrom, now);
    return ttl.visibility === 'NeverReturnExpired' ? live?.value : raw.value;
  }

  /**
   * OnReadAndWrite: rewrites the value just read with renewed expiry, unless the key was written (or range
   * deleted) after the read began, or writes are still on their way to the WAL: then a newer write decides
   * and the renewal is skipped. Best effort: a renewal that fails leaves the old expiry.
   */
  private refreshOnRead(pk: Uint8Array, live: { value: Uint8Array; ttl: TtlSegments | undefined }, readFrom: number, now: number): void {
    const ttl = refreshedTtl(live.ttl, now);
    if (ttl === undefined || this.closed || this.backgroundError !== undefined || this.appliedSeq !== this.lastSeq) return;
    const ks = keyToString(pk);
    for (const m of [this.mem, ...this.imm]) {
      if ((m.lookupString(ks)?.seq ?? 0) > readFrom) return;
      if (m.rangeTombstones.length > 0 && coveringSeq(m.rangeTombstones, pk) > readFrom) return;
    }
    this.sequenceAndApply([{ key: pk, kind: EntryKind.Put, value: live.value, ttl }]).catch(() => undefined);
  }

  scan(options: SnapshotScanOptions = {}): AsyncIterableIterator<ScanEntry> {
    this.checkOpen();
    if (options === null || typeof options !== 'object') throw new FloeError('INVALID_ARGUMENT', 'scan() takes an options object');
    const maxKg = this.state.maxKeyGroups;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw new FloeError('INVALID_ARGUMENT', `scan(): limit must be a non-negative number, got ${JSON.stringify(options.limit)}`);
    }
    const gte = options.gte === undefined ? undefined : toBytes(options.gte, 'scan gte');
    const lt = options.lt === undefined ? undefined : toBytes(options.lt, 'scan lt');
    const prefix = options.prefix === undefined ? undefined : toBytes(options.prefix, 'scan prefix');
    const bounds = { gte, lt, prefix };
    const keyGroup = options.keyGroup === undefined ? undefined : checkKeyGroup(options.keyGroup, maxKg);
    // Snapshot now (not at first next()): the scan sees exactly the writes acknowledged before it began.
    // Short scans (a typical block holds ~100 small entries) read ahead nothing: every source would
    // otherwise fetch blocks the scan never reaches.
    const { visibility } = readTtl({ ttlVisibility: options.ttlVisibility }, this.options.ttl);
    const pinned = this.openView(limit <= SHORT_SCAN_ENTRIES ? 0 : 4, this.snapshotView(options.snapshot), visibility);
    const counted = (): void => {
      this.scanRanges++;
    };
    // The producer must not reference the iterator (see scan-iterator.ts): it gets the view as argument.
    return new ScanIterator(pinned, (view) => {
      if (keyGroup === undefined && gte === undefined && lt === undefined && prefix === undefined) {
        counted();
        return new MergeScan(view, groupRange(0, maxKg - 1, bounds)!, limit); // one contiguous physical range
      }
      if (keyGroup === undefined) return scanBoundedGroups(view, bounds, maxKg, limit, counted);
      const range = groupRange(keyGroup, keyGroup, bounds);
      if (range === undefined) return [];
      counted();
      return new MergeScan(view, range, limit);
    });
  }

  /**
   * A positioned iterator (lib/lsm/iterator.ts) over a view pinned now, or over the named snapshot's view
   * (pinned again, so the iterator may outlive the snapshot).
   */
  iterator<O extends IteratorOptions = IteratorOptions>(options?: O): StoreIterator<IteratorEntry<O>> {
    this.checkOpen();
    const plan = planIterator(options, this.state.maxKeyGroups, () => {
      this.scanRanges++;
    });
    return new StoreIterator<IteratorEntry<O>>(this.openView(plan.limit <= SHORT_SCAN_ENTRIES ? 0 : 4, this.snapshotView(options?.snapshot)), plan);
  }

  /** An explicit snapshot (lib/lsm/snapshot.ts): a read view pinned until released. */
  snapshot(): Snapshot {
    this.checkOpen();
    return new StoreSnapshot(this.views, this.openView(4));
  }

  private snapshotView(snapshot: Snapshot | undefined): ScanView | undefined {
    return snapshot === undefined ? undefined : asStoreSnapshot(snapshot).viewFor(this.views);
  }

  /**
   * A consistent read view: pins the memtables' snapshot and the files of the current version (or of
   * `base`, a view that is still pinned) until the view is released (see scan-iterator.ts for what
   * releases it; close() releases every open one). Expiry (state TTL) is judged at the time it opens.
   */
  private openView(prefetchBlocks: number, base?: ScanView, visibility: TtlVisibility = this.options.ttl.visibility): PinnedView {
    const snapshot = base?.snapshot ?? this.appliedSeq;
    const memtables = base?.memtables ?? [this.mem, ...this.imm];
    const unpins = memtables.map((m) => m.pinSnapshot(snapshot));
    const version = base?.version ?? this.state.version;
    const files = version.allFiles().map((f) => f.fileId);
    const rangeTombstones = [...version.rangeTombstones, ...memtables.flatMap((m) => m.rangeTombstones.filter((t) => t.seq <= snapshot))];
    const ttlNow = this.ttlNow(visibility);
    return this.views.pin(
      { snapshot, memtables, version, tables: this.tables, prefetchBlocks, rangeTombstones, ...(ttlNow !== undefined ? { ttlNow } : {}) },
      files,
      () => {
        for (const u of unpins) u();
      },
      (released) => {
        // Readers of files only this view still used are dropped now rather than at the next commit.
        const current = this.currentFiles();
        if (released.some((f) => !current.has(f) && !this.scanPins.has(f))) {
          this.tables.retain(new Set([...current, ...this.scanPins.keys()]));
        }
        // Withdraw (or shrink) the read lease; best effort: an unneeded lease only delays collection. Most
        // scans end with no lease at all, and then there is nothing to compute on this path.
        if (this.lease.held) this.lease.update(this.droppedButRead(current)).catch(() => undefined);
      },
    );
  }

  // ---------------------------------------------------------------- flush

  /** Makes every write acknowledged before the call durable on primary storage. */
  async flush(): Promise<void> {
    this.checkOpen();
    await this.flushInternal();
  }

  /**
   * Waits until the memtables frozen so far (this call freezes the active one) are flushed. Not for the
   * flush loop to go idle: under a steady write load later memtables keep it busy, and waiting for those
   * too starved flush (and checkpoints, close) for as long as the load lasted. Flushes go oldest first,
   * so once the newest memtable frozen here is gone from `imm`, every older one is gone too.
   */
  private async flushInternal(): Promise<void> {
    if (this.backgroundError) throw this.backgroundError;
    this.freeze();
    const newest = this.imm[0];
    // Woken after every flushed memtable and on a background failure (wakeWriters).
    while (newest !== undefined && this.imm.includes(newest) && this.backgroundError === undefined) {
      await new Promise<void>((resolve) => this.roomWaiters.push(resolve));
    }
    if (this.backgroundError) throw this.backgroundError;
  }

  private startFlushLoop(): void {
    if (this.flushLoop !== undefined) return;
    this.flushLoop = this.runFlushes().finally(() => {
      this.flushLoop = undefined;
      // A memtable frozen while the loop was finishing still needs a flush.
      if (this.imm.length > 0 && this.backgroundError === undefined) this.startFlushLoop();
    });
  }

  private async runFlushes(): Promise<void> {
    while (this.imm.length > 0 && this.backgroundError === undefined) {
      const oldest = this.imm[this.imm.length - 1]!;
      try {
        await this.flushMemtable(oldest, () => {
          this.imm.pop();
        });
      } catch (e) {
        this.fail(e, 'flush');
        return;
      }
      this.wakeWriters();
      this.startCompactionLoop();
      // The flushed writes are in SSTs now: their log segments are redundant (best effort).
      this.wal?.truncate(this.state).catch(() => undefined);
    }
  }

  /** Writes `m` as L0 SSTs; `retire` runs in the same synchronous step that installs the new version. */
  private async flushMemtable(m: Memtable, retire: () => void): Promise<void> {
    const packed = await m.packAsync(); // in slices: writers keep going meanwhile
    // The memtable applied its own range deletes to its keys; the version takes them for older data.
    const addedTombstones = m.rangeTombstones.slice();
    await this.rewriteAndCommit(
      { ...this.rewriteShape(), runs: [[{ kind: 'packed', bytes: packed }]], bottommost: false },
      (added) => ({ deleted: [], added: added.map((file) => ({ level: 0, file })), ...(addedTombstones.length > 0 ? { addedTombstones } : {}) }),
      { lastSequence: m.lastSequence, onInstalled: retire, rangeDelSeq: maxTombstoneSeq(addedTombstones) },
    );
  }

  private rewriteShape(): Omit<RewriteTask, 'runs' | 'bottommost'> {
    const o = this.options;
    return { targetFileBytes: o.targetFileBytes, blockBytes: o.blockBytes, compression: o.compression, memoryBytes: o.compactionMemoryBytes, now: this.deps.clock.now() };
  }

  /**
   * Runs a rewrite (its outputs stream to primary storage as they are built) and commits the edit built
   * from its outputs. Until the manifest names them, the new files are pinned so a GC pass of this process
   * cannot take them for garbage (other processes are kept off by the GC grace period).
   */
  private async rewriteAndCommit(task: RewriteTask, edit: (added: FileMeta[]) => VersionEdit, extra: Parameters<LsmStore['commit']>[1] & { rangeDelSeq?: number }): Promise<void> {
    const pinned: string[] = [];
    try {
      const files = await this.rewriteWithRetries(task, pinned);
      const added = files.map(({ fileId, info }) => ({
        fileId,
        size: info.size,
        metaOffset: info.metaOffset,
        entries: info.entries,
        smallestKey: info.smallestKey,
        largestKey: info.largestKey,
        minSeq: info.minSeq,
        maxSeq: info.maxSeq,
        ...(extra.rangeDelSeq ? { rangeDelSeq: extra.rangeDelSeq } : {}),
      }));
      await this.commit(edit(added), extra);
    } finally {
      for (const id of pinned) this.uploading.delete(id);
    }
  }

  /**
   * A streamed output cannot be replayed by the store's retry layer (its bytes are not kept), so a rewrite
   * that fails with a retryable error is run again from its immutable inputs, after the failed attempt's
   * outputs (named by no manifest) are deleted. Output ids are allocated here and pinned into `pinned`.
   */
  private async rewriteWithRetries(task: RewriteTask, pinned: string[]): Promise<RewriteResult['files']> {
    const store = this.deps.store;
    const cache = this.deps.diskCache;
    for (let attempt = 1; ; attempt++) {
      const ids: string[] = [];
      const io: RewriteIo = {
        store,
        allocate: () => {
          const fileId = sstFileId(this.state.instanceId, this.state.epoch, this.allocateFileNumber());
          this.uploading.add(fileId);
          pinned.push(fileId);
          ids.push(fileId);
          return Promise.resolve(fileId);
        },
        source: (f) => this.tables.source(f),
        describe: (fileId) => `${store.uri}/${sstPath(fileId)}`,
        ...(cache ? { admit: (fileId: string, offset: number, bytes: Uint8Array) => cache.admit(fileId, bytes, offset) } : {}),
      };
      try {
        return (await this.deps.executor.run(task, io)).files;
      } catch (e) {
        for (const id of ids) {
          await store.delete(sstPath(id)).catch(() => undefined); // best effort: GC removes what is left
          await cache?.forget(id).catch(() => undefined);
        }
        if (!isFloeError(e) || !e.retryable || attempt >= REWRITE_ATTEMPTS || this.closed) throw e;
        await this.deps.clock.sleep(REWRITE_RETRY_MS * 2 ** (attempt - 1));
      }
    }
  }

  private nextFileNumber = -1;
  private allocateFileNumber(): number {
    if (this.nextFileNumber < 0) this.nextFileNumber = this.state.nextFileNumber;
    return this.nextFileNumber++;
  }

  /**
   * Writes the next manifest with `edit` applied to the CURRENT version (flush and compaction commit
   * concurrently; their edits commute: flush only adds L0 files, compaction removes exactly its inputs).
   */
  private commit(
    edit: VersionEdit,
    extra: { lastSequence?: number; compactPointer?: { level: number; key: string }; onInstalled?: () => void },
  ): Promise<void> {
    const run = async (): Promise<void> => {
      const prev = this.state;
      const compactPointers = prev.compactPointers.slice();
      if (extra.compactPointer) compactPointers[extra.compactPointer.level] = extra.compactPointer.key;
      const lastSequence = Math.max(prev.lastSequence, extra.lastSequence ?? 0);
      const next: ManifestState = {
        ...prev,
        seq: prev.seq + 1,
        nextFileNumber: Math.max(prev.nextFileNumber, this.nextFileNumber),
        lastSequence,
        version: prev.version.apply(edit),
        compactPointers,
        ...(this.wal !== undefined ? { walSeq: this.wal.nextSequence, walFloor: this.wal.floorFor(lastSequence) } : {}),
      };
      // Readers elsewhere learn of files our open scans still need BEFORE the manifest stops naming them.
      const stillRead = this.droppedButRead(new Set(next.version.allFiles().map((f) => f.fileId)));
      if (stillRead.length > 0) await this.lease.update(stillRead);
      await writeManifest(this.deps.store, next, this.deps.clock.now());
      await checkNotFenced(this.deps.store, next.instanceId, next.epoch, `manifest ${next.seq}`);
      // Installing the version and retiring what it replaces happen in one synchronous step, so no reader
      // sees both (a flushed memtable and its SST would apply merge operands twice).
      this.state = next;
      extra.onInstalled?.();
      this.tables.retain(new Set([...next.version.allFiles().map((f) => f.fileId), ...this.scanPins.keys()]));
    };
    const p = this.manifestLock.then(run);
    this.manifestLock = p.catch(() => undefined);
    return p;
  }

  private fail(e: unknown, what: string): void {
    if (this.backgroundError) return;
    const err = isFloeError(e)
      ? new FloeError(e.code, `background ${what} failed: ${e.message}. Writes are refused until the store is reopened; reads keep working.`, {
          cause: e,
          retryable: false,
          ...(e.path ? { path: e.path } : {}),
        })
      : new FloeError('IO', `background ${what} failed: ${String(e)}. Writes are refused until the store is reopened.`, { cause: e });
    this.backgroundError = err;
    this.wakeWriters();
  }

  // ---------------------------------------------------------------- compaction

  private startCompactionLoop(): void {
    if (this.compactionLoop !== undefined || this.closed) return;
    this.compactionLoop = this.runCompactions().finally(() => {
      this.compactionLoop = undefined;
    });
  }

  private async runCompactions(): Promise<void> {
    for (;;) {
      if (this.backgroundError || this.closed) return;
      const job = pickCompaction(this.state.version, this.options, this.state.compactPointers);
      if (job === undefined) break;
      try {
        await this.runCompaction(job);
      } catch (e) {
        this.fail(e, 'compaction');
        return;
      }
      this.wakeWriters();
    }
    this.maybeCollectGarbage();
  }

  /** Runs compactions until no level needs one (tests and tools). */
  async compactUntilIdle(): Promise<void> {
    this.checkOpen();
    this.startCompactionLoop();
    while (this.compactionLoop !== undefined) await this.compactionLoop;
    if (this.backgroundError) throw this.backgroundError;
  }

  private async runCompaction(job: CompactionJob): Promise<void> {
    const pointer = { level: job.level, key: job.nextPointer };
    if (job.trivialMove) {
      const f = job.inputs[0]!;
      await this.commit({ deleted: [deletionOf(job.level, f)], added: [{ level: job.outputLevel, file: f }] }, { compactPointer: pointer });
      return;
    }
    const source = (f: FileMeta): RewriteSource => ({
      kind: 'sst',
      fileId: f.fileId,
      size: f.size,
      metaOffset: f.metaOffset,
      ...(f.clip ? { clip: f.clip } : {}),
    });
    const runs: RewriteSource[][] = [];
    if (job.level === 0) for (const f of job.inputs) runs.push([source(f)]);
    else runs.push(job.inputs.map(source));
    if (job.overlapping.length > 0) runs.push(job.overlapping.map(source));
    const rangeTombstones = this.state.version.rangeTombstones.slice();
    await this.rewriteAndCommit(
      { ...this.rewriteShape(), runs, bottommost: job.bottommost, ...(rangeTombstones.length > 0 ? { rangeTombstones } : {}) },
      (outputs) => ({
        deleted: [
          ...job.inputs.map((f) => deletionOf(job.level, f)),
          ...job.overlapping.map((f) => deletionOf(job.outputLevel, f)),
        ],
        added: outputs.map((file) => ({ level: job.outputLevel, file })),
      }),
      { compactPointer: pointer, rangeDelSeq: maxTombstoneSeq(rangeTombstones) },
    );
  }

  private maybeCollectGarbage(): void {
    const now = this.deps.clock.now();
    if (this.gcRunning !== undefined || now - this.lastGcAt < GC_INTERVAL_MS || this.closed) return;
    this.lastGcAt = now;
    this.gcRunning = this.deps.checkpoints
      .collectGarbage(this)
      .catch(() => {
        // GC is best effort: a failed pass deletes nothing wrongly and the next pass retries.
      })
      .finally(() => {
        this.gcRunning = undefined;
      });
  }

  /**
   * Fetches byte ranges of live files into the disk cache (warm-up after restore), hottest first as
   * given, at most the disk cache's capacity in total, within the in-flight read budget. Files no longer
   * live are skipped. Resolves to the bytes fetched; errors are not fatal (warm-up is an optimization).
   */
  async prefetch(ranges: Array<{ fileId: string; offset: number; length: number }>): Promise<number> {
    const cache = this.deps.diskCache;
    if (cache === undefined) return 0;
    const live = new Map(this.state.version.allFiles().map((f) => [f.fileId, f]));
    let budget = cache.stats().capacity;
    const work: Array<Promise<number>> = [];
    for (const r of ranges) {
      const file = live.get(r.fileId);
      if (file === undefined || r.length > budget || r.offset + r.length > file.size) continue;
      budget -= r.length;
      if (cache.isCached(r.fileId, r.offset, r.length)) continue;
      work.push(
        this.tables
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
    this.checkOpen();
    await this.flushInternal();
    // Serialize with manifest commits so the checkpoint names one consistent version.
    let handle!: CheckpointHandle;
    const p = this.manifestLock.then(async () => {
      handle = await this.deps.checkpoints.checkpoint(this);
      await checkNotFenced(this.deps.store, this.state.instanceId, this.state.epoch, `checkpoint ${handle.checkpointId}`);
    });
    this.manifestLock = p.catch(() => undefined);
    await p;
    return handle;
  }

  async releaseCheckpoint(handle: CheckpointHandle): Promise<void> {
    this.checkOpen();
    await this.deps.checkpoints.release(this, handle);
  }

  /** Runs one GC pass now (tools and tests). */
  async collectGarbage(): Promise<void> {
    this.checkOpen();
    await this.deps.checkpoints.collectGarbage(this);
  }

  // ---------------------------------------------------------------- stats and close

  stats(): StoreStats {
    const levels = this.state.version.levels.map((files) => ({ files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) }));
    const emptyCache = { capacity: 0, bytes: 0, hits: 0, misses: 0 };
    return {
      remote: this.deps.remoteStats(),
      blockCache: this.deps.blockCache ? this.deps.blockCache.stats() : emptyCache,
      diskCache: this.deps.diskCache ? this.deps.diskCache.stats() : emptyCache,
      lsm: {
        memtableBytes: this.mem.approximateBytes + this.imm.reduce((n, m) => n + m.approximateBytes, 0),
        levels,
        pendingCompactionBytes: pendingCompactionBytes(this.state.version, this.options),
        stalls: this.stalls,
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
    let flushError: unknown;
    try {
      await this.wal?.drain(); // writes already in the log reach the memtable, so the final flush has them
      await this.flushInternal();
      // Writes that were already under way may have frozen later memtables: close leaves no flush running.
      while (this.flushLoop !== undefined) await this.flushLoop;
      if (this.backgroundError) throw this.backgroundError;
      await this.wal?.truncate(this.state);
    } catch (e) {
      flushError = e;
    }
    const notDurable = this.unflushedSummary();
    this.closed = true;
    this.views.revokeAll();
    this.wakeWriters();
    while (this.compactionLoop !== undefined) await this.compactionLoop;
    if (this.gcRunning !== undefined) await this.gcRunning;
    await this.manifestLock;
    await this.lease.close().catch(() => undefined);
    this.unregisterPins();
    await this.deps.onClose();
    if (flushError !== undefined) {
      const cause = isFloeError(flushError) ? flushError : new FloeError('IO', String(flushError), { cause: flushError });
      throw new FloeError(
        cause.code,
        `close(): ${notDurable} were not made durable on ${this.deps.store.uri} (instance ${this.instanceId}): ${cause.message} ` +
          'Writes made durable earlier (by flush, checkpoint or a completed background flush) are safe; reopen the store to continue.',
        { cause, retryable: false, ...(cause.path ? { path: cause.path } : {}) },
      );
    }
  }

  /** What the memtables hold that is not yet durable, for error messages. */
  private unflushedSummary(): string {
    const tables = [this.mem, ...this.imm];
    const keys = tables.reduce((n, m) => n + m.size, 0);
    const bytes = tables.reduce((n, m) => n + m.approximateBytes, 0);
    return keys === 0 ? 'no pending writes (but earlier background work failed)' : `writes to ${keys} key(s) (about ${bytes} bytes) held in memtables`;
  }
}

const GC_INTERVAL_MS = 60_000;
const SHORT_SCAN_ENTRIES = 200;
const CACHE_CHECKED = { cacheChecked: true } as const;
const EMPTY = new Uint8Array(0);

function withTtl(op: WalOp, ttl: TtlSegments | undefined): WalOp {
  if (ttl !== undefined) op.ttl = ttl;
  return op;
}

/** Copies caller-owned bytes so later mutation by the caller cannot change stored data. */
function ownBytes(b: Uint8Array): Uint8Array {
  return new Uint8Array(b); // a plain copy: several times cheaper than slice() through Buffer's species
}

/** Memtable values are returned as fresh copies, so callers cannot mutate the memtable. */
function copyOut(parts: Uint8Array[]): Uint8Array {
  const v = concatParts(parts);
  return parts.length === 1 ? new Uint8Array(v) : v;
}


