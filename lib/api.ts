/**
 * Types of the public API (docs/architecture.md, section 1 "Public contract"). The embedded store, the
 * sharded in-process store and the socket client all implement `Store`.
 */
import type { Bytes } from './keys.js';

export interface S3Options {
  endpoint?: string;
  region?: string;
  forcePathStyle?: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Max keep-alive sockets to the endpoint (default 256). */
  maxSockets?: number;
  /** Per-request timeout in ms (default 30000). */
  requestTimeoutMs?: number;
  /**
   * UNSAFE. Open even if the endpoint does not enforce conditional writes (`If-None-Match: *`), which the
   * probe at open checks (docs/s3.md). Default false: such an endpoint is refused with CONFIG. What is lost
   * when set on such an endpoint: writer fencing (a second writer of an instance, e.g. a zombie task, silently
   * overwrites manifests instead of being FENCED), and uniqueness of checkpoint records and shard layouts (a
   * reused id overwrites). Only for deployments that guarantee a single writer per instance themselves.
   */
  unsafeAllowUnconditionalWrites?: boolean;
}

export interface HdfsOptions {
  user?: string;
  requestTimeoutMs?: number;
  /**
   * UNSAFE. Open even if the namenode does not enforce create-if-absent (`RENAME` with `renameoptions=NONE`),
   * which the probe at open checks; loses the same guarantees as `S3Options.unsafeAllowUnconditionalWrites`.
   */
  unsafeAllowUnconditionalWrites?: boolean;
}

export interface StoreOptions {
  /** 'file:///abs/path' | 'mem://name' | 's3://bucket/prefix' | 'hdfs://host:port/path' */
  primary: string;
  /**
   * Caches only: deleting it loses nothing. Its disk cache is shared by every store of this process using
   * it and locked against other processes (give each process its own). Default: a stable folder per primary
   * under the OS temp dir (`<tmp>/floe-cache/<hash of primary>`), so a restart finds its cache.
   */
  localDir?: string;
  /** Flink's max parallelism; fixed for the life of the data. Default 128. */
  maxKeyGroups?: number;
  /** In-memory block cache budget (bytes). Default 64 MiB. */
  blockCacheBytes?: number;
  /**
   * Bound for everything Floe keeps under `localDir` (bytes): cache data, index, lock; never exceeded. 0
   * disables the disk cache. Default 1 GiB for s3/hdfs primaries, 0 otherwise.
   */
  diskCacheBytes?: number;
  s3?: S3Options;
  hdfs?: HdfsOptions;
  /** Shard worker threads; when set, the store runs the router and shard workers in-process. */
  shards?: number;

  // Tuning (documented in docs/operations.md); defaults live in lib/options.ts.
  /** Bytes a memtable may hold before it is frozen and flushed. Default 32 MiB. */
  memtableBytes?: number;
  /** Frozen memtables waiting for flush before writers stall. Default 2. */
  maxImmutableMemtables?: number;
  /** Target SST size. Default 16 MiB. */
  targetFileBytes?: number;
  /** Data block size before compression. Default 4 KiB on an s3:// or hdfs:// primary, 16 KiB otherwise. */
  blockBytes?: number;
  compression?: 'none' | 'lz4' | 'zstd';
  /** L0 files that trigger compaction. Default 4. */
  l0CompactionTrigger?: number;
  /** L0 files at which writers stall until compaction catches up. Default 12. */
  l0StopWritesTrigger?: number;
  /** Size of L1; each further level is `levelMultiplier` times larger. Default 64 MiB. */
  levelBaseBytes?: number;
  levelMultiplier?: number;
  /** Concurrent remote reads per store (the in-flight budget C). Default 256 on s3/hdfs primaries, 64 elsewhere. */
  readConcurrency?: number;
  /**
   * Run flush and compaction CPU work in piscina worker pools (default true: 1 thread per lane). A number
   * is the thread count of each of the two lanes (flushes, compactions), so a process runs up to twice it.
   */
  compactionWorkers?: boolean | number;
  /**
   * Memory one flush or compaction may hold for file bytes: read-ahead of its inputs plus output bytes
   * queued for upload (inputs and outputs are streamed, so the size of a compaction does not matter).
   * At least 1 MiB. Default 32 MiB. Not counted: a flush's memtable, and the backend's own multipart
   * part buffers (s3 `multipartPartBytes` × its part concurrency).
   */
  compactionMemoryBytes?: number;
  /** Unreferenced SSTs younger than this are never collected (ms). Default 10 minutes. */
  gcGraceMs?: number;
  /** Instance id to open (reopen after close). Default: the store's single instance under `primary`. */
  instanceId?: string;
  /**
   * 'checkpoint' (default): writes are durable once flush(), checkpoint() or close() resolves (a Flink state
   * backend's recovery point is its checkpoint). 'wal': every acknowledged write is durable — each write
   * resolves only once its write-ahead-log segment is on primary storage (group commit).
   */
  durability?: 'checkpoint' | 'wal';
  /**
   * State TTL (docs/architecture.md "State TTL"): the TTL of every put and merge that does not give its own
   * `ttlMs`, in ms; 0 (default) = never expires.
   */
  defaultTtlMs?: number;
  /**
   * 'NeverReturnExpired' (default): an expired value is never returned. 'ReturnExpiredIfNotCleanedUp': it
   * is returned until compaction has removed it.
   */
  ttlVisibility?: 'NeverReturnExpired' | 'ReturnExpiredIfNotCleanedUp';
  /**
   * 'OnCreateAndWrite' (default): only writes set a value's expiry. 'OnReadAndWrite': a get or multiGet
   * that returns a value with a TTL also renews it (each written part by its own TTL).
   */
  ttlUpdate?: 'OnCreateAndWrite' | 'OnReadAndWrite';
}

export interface KeyGroupOption {
  keyGroup?: number;
}

/** Options of put and merge. */
export interface WriteOptions extends KeyGroupOption {
  /** Time to live of the written bytes in ms (0 = never expire); default: the store's `defaultTtlMs`. */
  ttlMs?: number;
}

export type WriteOp =
  | { type: 'put'; key: Bytes; value: Bytes; keyGroup?: number; ttlMs?: number }
  | { type: 'delete'; key: Bytes; keyGroup?: number }
  | { type: 'merge'; key: Bytes; value: Bytes; keyGroup?: number; ttlMs?: number };

/**
 * A range delete: every key of `keyGroup` with `gte <= key < lt` (bounds optional). Without `keyGroup`, the
 * same user-key range in every key group the store owns.
 */
export interface DeleteRangeOptions {
  keyGroup?: number;
  gte?: Bytes;
  lt?: Bytes;
}

export interface ScanOptions {
  keyGroup?: number;
  gte?: Bytes;
  lt?: Bytes;
  prefix?: Bytes;
  limit?: number;
}

export interface ScanEntry {
  keyGroup: number;
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * A consistent read view of an embedded store (`store.snapshot()`): reads that name it (get, multiGet, scan,
 * iterator) see exactly the writes acknowledged before it was taken. It pins what it reads like an open scan
 * (memtable versions, and the files of its version against garbage collection, with a read lease for other
 * processes) until `release()`. Closing the store releases it.
 */
export interface Snapshot {
  /** The write sequence the snapshot reads at. */
  readonly sequence: number;
  readonly released: boolean;
  /** Releases what the snapshot pins; reads in flight finish first. Idempotent. */
  release(): void;
}

/**
 * Options of an embedded store's get and multiGet. The store's TTL read behaviour can be overridden per
 * read (a Flink job has one TTL configuration per state, many states per store).
 */
export interface ReadOptions extends KeyGroupOption {
  snapshot?: Snapshot;
  ttlVisibility?: StoreOptions['ttlVisibility'];
  ttlUpdate?: StoreOptions['ttlUpdate'];
}

export interface SnapshotScanOptions extends ScanOptions {
  snapshot?: Snapshot;
  /** Overrides the store's `ttlVisibility` for this scan (scans never renew TTLs). */
  ttlVisibility?: StoreOptions['ttlVisibility'];
}

/**
 * Options of `store.iterator()`. Bounds are on user keys; as in abstract-level, gte wins over gt and lte
 * over lt when both are given. With `keyGroup` the iterator covers that group; without it, every key group,
 * in (keyGroup, key) order (descending with `reverse`), the bounds applying within each group, as in `scan()`.
 */
export interface IteratorOptions {
  keyGroup?: number;
  gt?: Bytes;
  gte?: Bytes;
  lt?: Bytes;
  lte?: Bytes;
  /** Descending key order. */
  reverse?: boolean;
  /** Most entries the iterator yields over its life (seek does not reset it). Default unlimited. */
  limit?: number;
  /** Yield keys (default true). */
  keys?: boolean;
  /** Yield values (default true). */
  values?: boolean;
  /** Read at this snapshot instead of one taken when the iterator is created. */
  snapshot?: Snapshot;
}

/** What an iterator yields: `key` and `value` are present unless `keys: false` / `values: false`. */
export type IteratorEntry<O extends IteratorOptions = IteratorOptions> = { keyGroup: number } & (O['keys'] extends true | undefined
  ? { key: Uint8Array }
  : { key?: Uint8Array }) &
  (O['values'] extends true | undefined ? { value: Uint8Array } : { value?: Uint8Array });

/**
 * A positioned iterator (`store.iterator()`), in the style of `abstract-level` iterators. Calls must not
 * overlap (an overlapping call rejects with BUSY). `close()` must be called unless the iterator was
 * consumed by `all()` or a `for await` loop, which close it.
 */
export interface FloeIterator<E = IteratorEntry> extends AsyncIterable<E> {
  /** The next entry, or undefined at the end of the range (or after `limit` entries). */
  next(): Promise<E | undefined>;
  /** Up to `size` next entries; an empty array at the end. */
  nextv(size: number): Promise<E[]>;
  /** All remaining entries; closes the iterator. */
  all(): Promise<E[]>;
  /**
   * Repositions: the next entries are those at or after `target` (at or before it with `reverse`), within
   * the iterator's bounds; a target outside the bounds ends the iterator (as in abstract-level). Without a `keyGroup` option on the iterator, `target` is in `options.keyGroup`,
   * else in the key's default group (the group `put(target)` would use).
   */
  seek(target: Bytes, options?: KeyGroupOption): void;
  /** Releases the iterator's read view. Idempotent; waits for a call in progress. */
  close(): Promise<void>;
  /** Entries yielded so far. */
  readonly count: number;
}

/**
 * The `Store` contract extended with state TTL per write, range deletes, iterators and snapshots: what an
 * embedded store offers, and what the daemon client and the in-process sharded store offer over protocol
 * version 2 (docs/protocol.md). Over the protocol, per-read TTL options (`ttlVisibility`, `ttlUpdate`) and
 * scans at a snapshot are not carried (INVALID_ARGUMENT), and a snapshot's `sequence` is 0 (a sharded
 * snapshot has one sequence per shard).
 */
export interface ExtendedStore extends Store {
  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<void>;
  merge(key: Bytes, operand: Bytes, options?: WriteOptions): Promise<void>;
  deleteRange(options: DeleteRangeOptions): Promise<void>;
  deleteKeyGroups(range: [number, number]): Promise<void>;
  get(key: Bytes, options?: ReadOptions): Promise<Uint8Array | undefined>;
  multiGet(keys: Bytes[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>>;
  iterator<O extends IteratorOptions = IteratorOptions>(options?: O): FloeIterator<IteratorEntry<O>>;
  snapshot(): Snapshot;
}

/** A store that runs in this process (what `openStore` returns without `shards`): iterators and snapshots. */
export interface EmbeddedStore extends ExtendedStore {
  /** With `ttlMs` (state TTL; docs/architecture.md "State TTL"). */
  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<void>;
  merge(key: Bytes, operand: Bytes, options?: WriteOptions): Promise<void>;
  /** Range delete: a range tombstone per key group (docs/architecture.md "Range deletes"). */
  deleteRange(options: DeleteRangeOptions): Promise<void>;
  /** Deletes key groups first..last inclusive (owned by the store) as one range tombstone; no SST rewrite. */
  deleteKeyGroups(range: [number, number]): Promise<void>;
  get(key: Bytes, options?: ReadOptions): Promise<Uint8Array | undefined>;
  multiGet(keys: Bytes[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>>;
  scan(options?: SnapshotScanOptions): AsyncIterable<ScanEntry>;
  iterator<O extends IteratorOptions = IteratorOptions>(options?: O): FloeIterator<IteratorEntry<O>>;
  /** Takes a snapshot now (synchronously: a write issued after this call is not in it). */
  snapshot(): Snapshot;
  stats(): StoreStats;
}

/** JSON-serialisable; the fields are below, validated by lib/checkpoint/handle.ts (docs/architecture.md, section 1). */
export interface CheckpointHandle {
  format: 'floe-checkpoint';
  version: number;
  checkpointId: string;
  primary: string;
  maxKeyGroups: number;
  createdAt: string;
  instances: Array<{
    instanceId: string;
    manifestSeq: number;
    keyGroups: [number, number];
    lastSequence: number;
  }>;
}

export interface StoreStats {
  remote: { gets: number; puts: number; lists: number; deletes: number; bytesRead: number; bytesWritten: number };
  blockCache: { capacity: number; bytes: number; hits: number; misses: number };
  /**
   * `missedReads` (present when the store has a disk cache): reads that found a page missing, i.e. the
   * misses of both caches; remote GETs per miss = remote.gets ÷ missedReads.
   */
  diskCache: { capacity: number; bytes: number; hits: number; misses: number; missedReads?: number };
  lsm: {
    memtableBytes: number;
    levels: Array<{ files: number; bytes: number }>;
    pendingCompactionBytes: number;
    stalls: number;
  };
}

export interface Store {
  put(key: Bytes, value: Bytes, options?: KeyGroupOption): Promise<void>;
  get(key: Bytes, options?: KeyGroupOption): Promise<Uint8Array | undefined>;
  delete(key: Bytes, options?: KeyGroupOption): Promise<void>;
  merge(key: Bytes, operand: Bytes, options?: KeyGroupOption): Promise<void>;
  /** A batch op's `ttlMs` is honoured by embedded stores, and over protocol version 2 (docs/protocol.md). */
  write(ops: WriteOp[]): Promise<void>;
  multiGet(keys: Bytes[], options?: KeyGroupOption): Promise<Array<Uint8Array | undefined>>;
  scan(options?: ScanOptions): AsyncIterable<ScanEntry>;
  flush(): Promise<void>;
  checkpoint(): Promise<CheckpointHandle>;
  releaseCheckpoint(handle: CheckpointHandle): Promise<void>;
  /** Sync for embedded stores; the socket client returns a Promise (await works for both). */
  stats(): StoreStats | Promise<StoreStats>;
  close(): Promise<void>;
}

export interface RestoreOptions {
  /** Inclusive key-group range [start, end] to keep. Default: everything in the handles. */
  keyGroups?: [number, number];
  /**
   * 'no-claim' (default): the checkpoints stay retained and owned by their creator.
   * 'claim': the restored store takes over the checkpoints' files and releases the checkpoint records.
   */
  mode?: 'claim' | 'no-claim';
  /**
   * Prefetch, in the background, the byte ranges that were in the checkpointing store's disk cache into
   * this store's disk cache (within its budget). Reads never wait for it. Default false: files are
   * fetched lazily on first use.
   */
  warmUp?: boolean;
}
