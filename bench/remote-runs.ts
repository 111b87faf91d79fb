/**
 * The remote benchmark's measured pieces (bench/remote.ts runs them): one workload run on an open store
 * with its counts, the bare ranged GETs that set the limit, the untimed JIT warm-up, and the block cache
 * wrapper that counts block loads.
 */
import { rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import type { StoreOptions } from '../lib/api.js';
import type { BlockCache, BlockCacheStats, CacheFileKey } from '../lib/cache/block-cache.js';
import { SharedBlockCache } from '../lib/cache/shared-block-cache.js';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { openObjectStore } from '../lib/store/open.js';
import { SST_PREFIX, sstPath } from '../lib/store/paths.js';
import { Random } from '../lib/util/random.js';
import type { S3TestConfig } from '../test/support/s3-env.js';
import { runInFlight, type RunResult } from './measure.js';
import {
  CALLERS,
  LABEL,
  LATENCY_MS,
  MGET_BATCH,
  MGET_INFLIGHT,
  MiB,
  READ_CONCURRENCY,
  WARMUP_SECONDS,
  latencyWrapper,
  round,
  type Backend,
  type BareGetRun,
  type RemoteRun,
} from './remote-common.js';
import { benchKey, type ValuePool } from './workload.js';

/** Counts what the store does with its block cache: lookups, hits, and inserts (= blocks loaded from below). */
export class CountingBlockCache implements BlockCache {
  lookups = 0;
  hits = 0;
  inserts = 0;
  constructor(private readonly inner: BlockCache) {}
  get capacity(): number {
    return this.inner.capacity;
  }
  lookup(file: CacheFileKey, offset: number): Uint8Array | undefined {
    this.lookups++;
    const b = this.inner.lookup(file, offset);
    if (b !== undefined) this.hits++;
    return b;
  }
  insert(file: CacheFileKey, offset: number, block: Uint8Array): void {
    this.inserts++;
    this.inner.insert(file, offset, block);
  }
  stats(): BlockCacheStats {
    return this.inner.stats();
  }
}

/**
 * Untimed: WARMUP_SECONDS of uniform gets (with the disk cache) on a throwaway store with its own empty local
 * folder and block cache, reading keys from the second half of the sequence (the runs read from its start),
 * so that the first measured run does not pay the process's one-time JIT compilation of the read path
 * (measured: the first cold run in the process cost ~90 µs more CPU per GET than the same run done later).
 */
export async function warmUpProcess(opts: StoreOptions, seq: Uint32Array, backend: Backend, seed: number, log: (line: string) => void): Promise<void> {
  const lsm = await openLsmStore(opts, { blockCache: SharedBlockCache.create(opts.blockCacheBytes ?? MiB), inject: latencyWrapper(backend, seed) });
  try {
    const base = seq.length >>> 1;
    const r = await runInFlight(
      async (i) => {
        await lsm.get(benchKey(seq[(base + i) % seq.length]!));
      },
      { count: Number.MAX_SAFE_INTEGER, seconds: WARMUP_SECONDS },
      CALLERS,
    );
    log(`  warm-up (untimed, throwaway store) ${LABEL[backend]}: ${r.ops} gets in ${r.seconds.toFixed(1)} s`);
  } finally {
    await lsm.close();
    await rm(opts.localDir!, { recursive: true, force: true });
  }
}

/** Runs one workload on an open store until the time limit and returns its figures. */
export async function measureRun(
  lsm: LsmStore,
  counting: CountingBlockCache,
  seen: Set<string>,
  api: 'get' | 'multiget',
  seq: Uint32Array,
  cursor: number,
  values: ValuePool,
  seconds: number,
): Promise<Omit<RemoteRun, 'backend' | 'workload' | 'phase'>> {
  const s0 = lsm.stats();
  const inserts0 = counting.inserts;
  const sstsSeen0 = [...seen].filter((p) => p.startsWith(SST_PREFIX)).length;
  const cpu0 = process.cpuUsage();
  const check = (index: number, v: Uint8Array | undefined): void => {
    const want = values.value(index);
    if (v === undefined || !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(want)) {
      throw new Error(`key ${index}: expected its ${want.length}-byte value, got ${v === undefined ? 'nothing' : `${v.byteLength} other bytes`}`);
    }
  };
  const at = (i: number): number => seq[(cursor + i) % seq.length]!;
  let result: RunResult;
  let keys: number;
  if (api === 'get') {
    result = await runInFlight(
      async (i) => {
        const index = at(i);
        check(index, await lsm.get(benchKey(index)));
      },
      { count: Number.MAX_SAFE_INTEGER, seconds },
      CALLERS,
    );
    keys = result.ops;
  } else {
    result = await runInFlight(
      async (b) => {
        const idx = Array.from({ length: MGET_BATCH }, (_, j) => at(b * MGET_BATCH + j));
        const got = await lsm.multiGet(idx.map((x) => benchKey(x)));
        idx.forEach((x, j) => {
          check(x, got[j]);
        });
      },
      { count: Number.MAX_SAFE_INTEGER, seconds },
      MGET_INFLIGHT,
    );
    keys = result.ops * MGET_BATCH;
  }
  const cpu = process.cpuUsage(cpu0);
  const s1 = lsm.stats();
  const gets = s1.remote.gets - s0.remote.gets;
  const bytes = s1.remote.bytesRead - s0.remote.bytesRead;
  const blockLoads = counting.inserts - inserts0;
  const diskPageHits = s1.diskCache.hits - s0.diskCache.hits;
  const diskPageMisses = s1.diskCache.misses - s0.diskCache.misses;
  const tableOpens = [...seen].filter((p) => p.startsWith(SST_PREFIX)).length - sstsSeen0;
  const missed0 = s0.diskCache.missedReads;
  const missed1 = s1.diskCache.missedReads;
  const missesPastBoth = missed0 !== undefined && missed1 !== undefined ? missed1 - missed0 : blockLoads + tableOpens;
  const cpuUs = cpu.user + cpu.system;
  return {
    keys,
    seconds: round(result.seconds, 3),
    keysPerSec: keys / result.seconds,
    remoteGets: gets,
    remoteGetsPerSec: gets / result.seconds,
    bytesPerGet: gets > 0 ? bytes / gets : 0,
    blockLoads,
    diskPageHits,
    diskPageMisses,
    missesPastBoth,
    tableOpens,
    getsPerMiss: missesPastBoth > 0 ? round(gets / missesPastBoth, 4) : null,
    servedLocally: keys > 0 ? round(1 - gets / keys, 4) : 0,
    cpuUsPerGet: gets > 0 ? round(cpuUs / gets, 1) : null,
    cpuUsPerKey: keys > 0 ? round(cpuUs / keys, 1) : 0,
    loadAvg1m: round(loadavg()[0]!),
  };
}

/**
 * Ranged GETs of `bytes` at random page-aligned offsets of the live SSTs, READ_CONCURRENCY in flight,
 * through the same stack the engine uses (backend → latency → retry → metrics), for `seconds`.
 */
export async function bareGets(
  backend: Backend,
  primary: string,
  s3: S3TestConfig | undefined,
  files: Array<{ fileId: string; size: number }>,
  bytes: number,
  seconds: number,
  seed: number,
): Promise<BareGetRun> {
  const size = Math.max(4096, Math.round(bytes / 4096) * 4096);
  const { store } = await openObjectStore(primary, { ...(s3 ? { s3 } : {}), inject: latencyWrapper(backend, seed) });
  const random = new Random(seed);
  const usable = files.filter((f) => f.size >= size);
  if (usable.length === 0) throw new Error(`no SST is ${size} bytes or larger; use more keys`);
  const total = usable.reduce((s, f) => s + f.size, 0);
  const pick = (): { path: string; offset: number } => {
    let x = random.int(total);
    for (const f of usable) {
      if (x < f.size) {
        const pages = Math.floor((f.size - size) / 65536) + 1;
        return { path: sstPath(f.fileId), offset: random.int(pages) * 65536 };
      }
      x -= f.size;
    }
    return { path: sstPath(usable[0]!.fileId), offset: 0 };
  };
  try {
    const cpu0 = process.cpuUsage();
    const r = await runInFlight(
      async () => {
        const { path, offset } = pick();
        const b = await store.get(path, { offset, length: size });
        if (b.length !== size) throw new Error(`bare GET of ${path} returned ${b.length} bytes, wanted ${size}`);
      },
      { count: Number.MAX_SAFE_INTEGER, seconds },
      READ_CONCURRENCY,
    );
    const cpu = process.cpuUsage(cpu0);
    const getsPerSec = r.opsPerSec;
    return {
      backend,
      bytes: size,
      inflight: READ_CONCURRENCY,
      gets: r.ops,
      seconds: round(r.seconds, 3),
      getsPerSec: round(getsPerSec, 1),
      cpuUsPerGet: round((cpu.user + cpu.system) / Math.max(1, r.ops), 1),
      limit: round(Math.min(READ_CONCURRENCY / (LATENCY_MS / 1000), getsPerSec), 1),
    };
  } finally {
    await store.close();
  }
}
