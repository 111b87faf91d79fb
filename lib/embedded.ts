/**
 * Opening an embedded store: composes the object store (backend → retry → metrics), the caches, the
 * rewrite executor and an LSM instance, and claims the instance (epoch + 1) so an older writer is fenced.
 */
import type { StoreOptions } from './api.js';
import type { BlockCache } from './cache/block-cache.js';
import { openLocalDiskCache } from './cache/disk-cache-registry.js';
import { SharedBlockCache } from './cache/shared-block-cache.js';
import { checkpointOps } from './checkpoint/checkpoint.js';
import { FloeError, isFloeError } from './errors.js';
import { LsmStore } from './lsm/lsm-store.js';
import { checkNotFenced, claimEpoch } from './lsm/fencing.js';
import { listSegments, WalLog, type WalOpenResult } from './wal/log.js';
import { readLatestManifest, writeManifest, type ManifestState } from './lsm/manifest.js';
import { createRewriteExecutor, type PoolRunner } from './lsm/rewrite-executor.js';
import { Version } from './lsm/version.js';
import { resolveOptions, type ResolvedOptions } from './options.js';
import type { ObjectStore } from './store/object-store.js';
import { openObjectStore, parseStoreUri } from './store/open.js';
import type { LocalFs } from './store/local-file.js';
import { systemClock, type Clock } from './util/clock.js';
import { Random } from './util/random.js';

/** Internal knobs for the daemon, restore and tests; not part of the public options. */
export interface OpenInternals {
  /** A block cache shared with other stores (shard workers attach one SharedArrayBuffer arena). */
  blockCache?: BlockCache;
  clock?: Clock;
  /**
   * The clock state TTLs are measured on (default: `clock`). Like Flink's TtlTimeProvider, it lets tests and
   * the simulator step TTL time on its own, apart from the time retries, leases and GC grace run on.
   */
  ttlClock?: Clock;
  /** Local file I/O of the disk cache (tests: the simulator's in-memory disk). Default: the real filesystem. */
  localFs?: LocalFs;
  random?: Random;
  /** Create the instance with this initial state if it does not exist (restore). */
  initialState?: (o: ResolvedOptions) => ManifestState;
  /** Wraps the storage backend (below retries), e.g. with latency or fault injection. */
  inject?: (backend: ObjectStore) => ObjectStore;
  /**
   * With `inject` (tests and benchmarks): the injection is a plain latency of this many ms, which a rewrite
   * pool thread can reproduce on its own backend; rewrites then run on the pool, as for a remote primary,
   * instead of on this thread. Without it an injected store rewrites on this thread.
   */
  poolLatencyMs?: number;
  /** Where rewrite pool jobs go (shard threads relay them to the main thread's pool). */
  rewriteRunner?: PoolRunner;
}

export async function openLsmStore(input: StoreOptions, internals: OpenInternals = {}): Promise<LsmStore> {
  const options = resolveOptions(input);
  const clock = internals.clock ?? systemClock;
  const random = internals.random ?? new Random((Date.now() ^ (process.pid << 8)) >>> 0);
  const { store, metrics } = await openObjectStore(options.primary, {
    s3: options.s3,
    hdfs: options.hdfs,
    clock,
    random: random.fork(),
    ...(internals.inject ? { inject: internals.inject } : {}),
  });
  const cleanups: Array<() => Promise<void>> = [() => store.close()];
  const cleanup = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    // One cache per localDir, shared by every instance using it (lib/cache/disk-cache-registry.ts). Opened
    // before the claim: a localDir held by another process must fail the open without fencing that process.
    const diskCache = await openLocalDiskCache({
      localDir: options.localDir,
      capacityBytes: options.diskCacheBytes,
      primary: store,
      clock,
      ...(internals.localFs ? { fs: internals.localFs } : {}),
    });
    if (diskCache !== undefined) cleanups.push(() => diskCache.close());
    const state = await claimInstance(store, options, clock, random.fork(), internals.initialState);
    const blockCache = internals.blockCache ?? (options.blockCacheBytes > 0 ? SharedBlockCache.create(options.blockCacheBytes) : undefined);
    // A pool thread opens the primary storage itself; mem:// stores and injected wrappers exist only here
    // (an injected plain latency is reproduced by the pool thread: poolLatencyMs).
    const poolLatency = internals.inject === undefined ? undefined : internals.poolLatencyMs;
    const spec =
      (internals.inject && poolLatency === undefined) || parseStoreUri(options.primary).scheme === 'mem'
        ? undefined
        : { uri: options.primary, s3: options.s3, hdfs: options.hdfs, ...(poolLatency !== undefined ? { latencyMs: poolLatency } : {}) };
    const executor = createRewriteExecutor(options.compactionWorkers, {
      spec,
      metrics,
      ...(internals.rewriteRunner ? { runner: internals.rewriteRunner } : {}),
    });
    cleanups.push(() => executor.release());
    const log = await openLog(store, options, state, clock);
    const lsm = new LsmStore(options, state, {
      store,
      remoteStats: () => {
        const s = metrics.snapshot();
        return { gets: s.gets, puts: s.puts, lists: s.lists, deletes: s.deletes, bytesRead: s.bytesRead, bytesWritten: s.bytesWritten };
      },
      blockCache,
      diskCache,
      executor,
      clock,
      ttlClock: internals.ttlClock ?? clock,
      random,
      onClose: cleanup,
      checkpoints: checkpointOps,
      ...(log !== undefined && options.durability === 'wal' ? { wal: log.log } : {}),
    });
    if (log !== undefined) {
      lsm.replayLog(log.replay);
      if (options.durability === 'wal' && log.replay.length > 0) {
        // Make the replayed writes durable in SSTs before the store serves (as RocksDB flushes what it
        // recovers); the log is then truncated behind them. Otherwise a crash loop of short lives, none of
        // which fills a memtable, grows the log, and every next open reads and replays all of it again.
        await lsm.flush();
      } else if (options.durability !== 'wal') {
        // Opened without the WAL over an instance that had one: make the replayed writes durable in SSTs,
        // then the log is redundant.
        await lsm.flush();
        await log.log.truncate(lsm.internals().state);
      }
    }
    lsm.startBackgroundWork();
    return lsm;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/**
 * Opens the instance's write-ahead log when the store uses one, or when an earlier writer left segments
 * (their acknowledged writes must be replayed whatever the mode). Fences earlier writers' logs.
 */
async function openLog(store: ObjectStore, o: ResolvedOptions, state: ManifestState, clock: Clock): Promise<WalOpenResult | undefined> {
  if (o.durability !== 'wal' && (await listSegments(store, state.instanceId)).length === 0) return undefined;
  const opened = await WalLog.open(store, state.instanceId, state.epoch, { walSeq: state.walSeq ?? 0, afterSequence: state.lastSequence, ...(state.walFloor !== undefined ? { walFloor: state.walFloor } : {}) }, clock, () =>
    checkNotFenced(store, state.instanceId, state.epoch, 'the write-ahead log'),
  );
  if (opened.tornTail) {
    process.emitWarning(`WAL segment ${opened.tornTail.path} ended inside a record at byte ${opened.tornTail.offset}; the torn tail was cut (it was never acknowledged)`, {
      code: 'FLOE_WAL_TORN_TAIL',
    });
  }
  return opened;
}

/**
 * The first manifest state of a new, empty instance owning `keyGroups`. The writer id is filled in by the
 * claiming writer.
 */
export function emptyInstanceState(o: ResolvedOptions, keyGroups: [number, number]): ManifestState {
  return {
    instanceId: o.instanceId,
    epoch: 1,
    seq: 1,
    nextFileNumber: 1,
    lastSequence: 0,
    maxKeyGroups: o.maxKeyGroups,
    keyGroups,
    version: Version.empty(),
    compactPointers: [],
    writer: '',
  };
}

/**
 * Claims the instance for this writer: creates the fencing record of a new epoch (lib/lsm/fencing.ts), then
 * writes the next manifest with that epoch (create-if-absent). A concurrent writer that takes the manifest
 * seq first makes us retry from its manifest; a newer claimer fences us.
 */
async function claimInstance(
  store: ObjectStore,
  o: ResolvedOptions,
  clock: Clock,
  random: Random,
  initialState: OpenInternals['initialState'],
): Promise<ManifestState> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const writer = `${random.nextU32().toString(16).padStart(8, '0')}${random.nextU32().toString(16).padStart(8, '0')}`;
    const before = await readLatestManifest(store, o.instanceId);
    if (before !== undefined) checkClaimable(store, o, before);
    const epoch = await claimEpoch(store, o.instanceId, before?.epoch ?? 0, writer, clock.now());
    // Read again after the record exists: any manifest a stale writer makes durable from now on fails its
    // fencing check, so the state read here is the state we must build on.
    const latest = await readLatestManifest(store, o.instanceId);
    if (latest !== undefined) checkClaimable(store, o, latest);
    const next: ManifestState =
      latest === undefined
        ? { ...(initialState?.(o) ?? emptyInstanceState(o, [0, o.maxKeyGroups - 1])), epoch, writer }
        : { ...latest, epoch, seq: latest.seq + 1, nextFileNumber: 1, writer };
    try {
      await writeManifest(store, next, clock.now());
      await checkNotFenced(store, o.instanceId, epoch, 'opening the store');
      return next;
    } catch (e) {
      if (!isFloeError(e, 'FENCED')) throw e;
    }
  }
  throw new FloeError('BUSY', `could not claim instance ${o.instanceId} on ${store.uri}: other writers keep claiming it; make sure only one process opens it`);
}

function checkClaimable(store: ObjectStore, o: ResolvedOptions, latest: ManifestState): void {
  if (latest.maxKeyGroups !== o.maxKeyGroups) {
    throw new FloeError(
      'CONFIG',
      `the data at ${store.uri} (instance ${o.instanceId}) was created with maxKeyGroups ${latest.maxKeyGroups}, but the options say ${o.maxKeyGroups}; maxKeyGroups is fixed for the life of the data`,
    );
  }
  if (latest.retired !== undefined) {
    throw new FloeError(
      'CONFIG',
      `instance ${o.instanceId} on ${store.uri} was retired at ${latest.retired} (its files may already be collected); ` +
        'open another instance, or restore a retained checkpoint into a new instanceId',
    );
  }
}
