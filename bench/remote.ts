/**
 * The remote-storage benchmark: Floe reading from a primary store that answers every request after an
 * injected 10 ms (FaultInjectingObjectStore below the retry layer, the way openLsmStore's `inject` hook
 * places it), with a disk cache of 10% and a block cache of 3% of the state, on two backends:
 *   mem + 10 ms        the in-process store: measures the engine against the latency alone
 *   s3 server + 10 ms  the S3 backend (lean signed GET path) against an in-memory S3-protocol server in a
 *                     child process that injects the 10 ms itself (bench/s3-latency-server.ts; moto is far
 *                     too slow to measure against), so SlateDB's native client pays the same delay
 *
 * Peer (s3 only): SlateDB through its Node binding (bench/slatedb-peer.ts: what differs is listed there and
 * in the report's settings), loaded with the same keys and values into the same server, doing the same
 * cold uniform gets (the same key sequence from the same position, 256 in flight), with its default memory
 * cache (cold at the start; it cannot be sized from the binding and is larger than the data set).
 *
 * Data: N keys (default 1,000,000) of 16 bytes with 100-byte incompressible values, written once to
 * mem:// without latency (flush + compaction to a settled LSM shape), then served as is: the mem runs read
 * those very objects; for S3 the manifests and the live SSTs are copied byte for byte into a fresh bucket.
 *
 * Workloads (each on a store opened with an EMPTY local folder, so it starts with cold caches):
 *   uniform get       256 concurrent callers of get(), keys uniform over all N
 *   uniform multiget  multiGet() batches of 64 keys, 4 batches in flight (256 keys outstanding)
 *   zipf get/multiget the same with Zipf(0.99) keys (hot ranks scattered over the key space)
 * each run twice back to back: "cold" (fresh caches) and "warm" (the same store right after). The uniform
 * cold run is the uncached case: the caches hold ~13% of the data, so ~9 in 10 gets miss both.
 *   uniform get, no disk cache  the uniform cold get run with diskCacheBytes 0 (block cache only): an
 *                     ablation that separates the disk cache's cost per miss from the rest of the read path
 *
 * Per run it records ops/s, remote GETs (stats().remote.gets) and bytes, block loads (block-cache misses
 * that read a block from below: counted by a wrapper around the block cache's insert), disk-cache page
 * hits/misses, process CPU per remote GET, and the largest on-disk size of the local folder sampled every
 * 250 ms. GETs per miss past both caches is reported conservatively as (GETs − table opens) / (block loads
 * − disk-cache page hits): every block load served from disk needs at least one page hit, so the
 * denominator is a lower bound of the true miss count and the ratio an upper bound of the true GETs per
 * miss. Table opens (one GET per file and store for footer + index + filter, then pinned) are counted as
 * the SST paths a fresh store GETs for the first time, and reported separately.
 *
 * The limit: min(C / latency, bare ranged GETs/s with C in flight through the same wrapped backend, in
 * the same run, of the size the engine's uncached GETs had). Floe's uncached ops/s ÷ that limit is the
 * headline ratio (target ≥ 0.8); it is also given for remote GETs/s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StoreOptions } from '../lib/api.js';
import type { BlockCache, BlockCacheStats, CacheFileKey } from '../lib/cache/block-cache.js';
import { SharedBlockCache } from '../lib/cache/shared-block-cache.js';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { dropMemStore } from '../lib/store/mem.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { openObjectStore } from '../lib/store/open.js';
import { INSTANCES_PREFIX, SST_PREFIX, sstPath } from '../lib/store/paths.js';
import { Random } from '../lib/util/random.js';
import type { S3TestConfig } from '../test/support/s3-env.js';
import { startLatencyS3Server, type LatencyS3Server } from './s3-latency-server.js';
import { daemonColdGets } from './remote-daemon.js';
import { loadSlateDb, runSlateDbChild, SLATEDB_CONFIGS, type SlateDbConfig, type SlateDbRunResult } from './slatedb-peer.js';
import { Profiler, formatHotSpots, hotSpots } from './cpu-profile.js';
import { barChartSvg } from './plot.js';
import { runInFlight, type RunResult } from './measure.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { benchKey, FolderSampler, indexSequence, ObservedObjectStore, ValuePool, type Distribution } from './workload.js';

const MiB = 2 ** 20;
const VALUE_BYTES = 100;
const LATENCY_MS = 10;
/** The in-flight budget C (readConcurrency); Floe's default. */
const READ_CONCURRENCY = 64;
const CALLERS = 256;
const MGET_BATCH = 64;
const MGET_INFLIGHT = CALLERS / MGET_BATCH;
const DISK_CACHE_SHARE = 0.1;
const BLOCK_CACHE_SHARE = 0.03;
const ZIPF_S = 0.99;
const WRITE_BATCH = 1000;
const SEQUENCE_LENGTH = 1 << 21;
/** Untimed gets on a throwaway store before the first measured run of each backend (see warmUpProcess). */
const WARMUP_SECONDS = 2;
/** SlateDB attempts (fresh child process each) and the grace past the run's seconds before one counts as hung. */
const SLATEDB_ATTEMPTS = 3;
const SLATEDB_GRACE_S = 45;
/**
 * Data block size of the remote tables (StoreOptions.blockBytes at build time): Floe's default 16 KiB, or
 * BENCH_REMOTE_BLOCK_BYTES (e.g. 4096: a miss then GETs 4 KiB instead of 16 KiB; index and filter grow).
 */
const BLOCK_BYTES = Number(process.env.BENCH_REMOTE_BLOCK_BYTES ?? 16 * 1024);

export const BACKENDS = ['mem', 's3'] as const;
type Backend = (typeof BACKENDS)[number];
const LABEL: Record<Backend, string> = { mem: 'mem + 10 ms', s3: 's3 server + 10 ms' };
export const WORKLOADS = ['uniform-get', 'uniform-get-nodisk', 'uniform-multiget', 'zipf-get', 'zipf-multiget'] as const;
type WorkloadId = (typeof WORKLOADS)[number];

/** Counts what the store does with its block cache: lookups, hits, and inserts (= blocks loaded from below). */
class CountingBlockCache implements BlockCache {
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

/** One measured run, with everything the docs table needs. */
export interface RemoteRun {
  backend: Backend;
  workload: WorkloadId;
  phase: 'cold' | 'warm';
  keys: number;
  seconds: number;
  keysPerSec: number;
  remoteGets: number;
  remoteGetsPerSec: number;
  bytesPerGet: number;
  blockLoads: number;
  diskPageHits: number;
  diskPageMisses: number;
  /** Lower bound of block-cache misses that also missed the disk cache (see the module comment). */
  missesPastDisk: number;
  /** Tables opened in the run: one GET each (footer + index + filter), once per file per store. */
  tableOpens: number;
  /** (remoteGets − tableOpens) / missesPastDisk: an upper bound of GETs per data-block miss of both caches. */
  getsPerMiss: number | null;
  /** Share of get()s answered without a remote GET: 1 − GETs / keys. */
  servedLocally: number;
  cpuUsPerGet: number | null;
  cpuUsPerKey: number;
  loadAvg1m: number;
}

export interface BareGetRun {
  backend: Backend;
  bytes: number;
  inflight: number;
  gets: number;
  seconds: number;
  getsPerSec: number;
  cpuUsPerGet: number;
  /** min(C / latency, getsPerSec) */
  limit: number;
}

export interface RemoteDetails {
  build: { seconds: number; stateBytes: number; files: number; levels: Array<{ files: number; bytes: number }> };
  copyToS3Seconds: number | null;
  diskCacheBytes: number;
  blockCacheBytes: number;
  diskUsage: Array<{ backend: Backend; workload: WorkloadId; maxAllocated: number; maxApparent: number; samples: number; budget: number }>;
  runs: RemoteRun[];
  bare: BareGetRun[];
  ratios: Array<{ backend: Backend; workload: WorkloadId; opsRatio: number; getsRatio: number }>;
  profiles: Array<{ backend: Backend; file: string; top: string }>;
  peers: SlateDbRun[];
  daemon?: import('./remote-daemon.js').DaemonColdRun;
}

/** One SlateDB run of cold uniform gets. */
export interface SlateDbRun {
  system: SlateDbConfig;
  keys: number;
  seconds: number;
  keysPerSec: number;
  /** GETs the server answered during the run ÷ keys read. */
  getsPerKey: number;
  /** Object bytes the server sent in GET responses during the run ÷ those GETs. */
  bytesPerGet: number;
  cpuUsPerKey: number;
  loadAvg1m: number;
}

const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

/**
 * The 10 ms wrapper; with `seen`, also remembers every path GET'd. A fresh store's first GET of an SST is
 * the table open (footer + index + filter in one read: SstReader.open reads before any block), so new SST
 * paths in a run = tables opened.
 */
function latencyWrapper(backend: Backend, seed: number, seen?: Set<string>): (b: ObjectStore) => ObjectStore {
  return (b) => {
    // The S3 server injects the latency itself (so every client pays it alike); mem:// gets it here.
    const slow = backend === 's3' ? b : new FaultInjectingObjectStore(b, { latency: LATENCY_MS, seed });
    return seen === undefined ? slow : new ObservedObjectStore(slow, (r) => r.op === 'get' && seen.add(r.path));
  };
}

interface S3Env {
  config: S3TestConfig;
  bucket: string;
  server: LatencyS3Server;
}

/** Starts the latency-injecting S3 server (at 0 ms until the measurements) with one bucket. */
async function startS3(): Promise<S3Env> {
  const server = await startLatencyS3Server();
  const config = { endpoint: server.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench-secret' }, forcePathStyle: true };
  const bucket = `floe-rbench-${process.pid}`;
  const r = await fetch(`${server.endpoint}/${bucket}`, { method: 'PUT' });
  if (!r.ok) throw new Error(`creating bucket ${bucket} on ${server.endpoint} failed: ${r.status}`);
  return { config, bucket, server };
}

/** Copies the manifests and the live SSTs from `from` to `to`, `parallel` objects at a time. */
async function copyObjects(from: ObjectStore, to: ObjectStore, paths: string[], parallel: number): Promise<number> {
  let next = 0;
  let bytes = 0;
  const worker = async (): Promise<void> => {
    while (next < paths.length) {
      const p = paths[next++]!;
      const b = await from.get(p);
      bytes += b.length;
      await to.put(p, b);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return bytes;
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const n = args.keys;
  const seconds = args.seconds;
  const backends = BACKENDS.filter((b) => args.systems === undefined || args.systems.includes(b));
  if (backends.length === 0) throw new Error(`--systems must name backends of this benchmark: ${BACKENDS.join(', ')} (and peers ${SLATEDB_CONFIGS.join(', ')})`);
  const peers = SLATEDB_CONFIGS.filter((p) => backends.includes('s3') && (args.systems === undefined || args.systems.includes(p)));
  const viaDaemon = backends.includes('s3') && (args.systems === undefined || args.systems.includes('floe-daemon'));
  const workloads = WORKLOADS.filter((w) => args.workloads === undefined || args.workloads.includes(w));
  const unknown = (args.workloads ?? []).filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (unknown.length || workloads.length === 0) throw new Error(`unknown or no workload(s) ${unknown.join(', ')}; known: ${WORKLOADS.join(', ')}`);

  const notes: string[] = [];
  const note = (line: string): void => {
    notes.push(line);
    args.log(`  · ${line}`);
  };
  const measurements: Measurement[] = [];
  const values = new ValuePool(args.seed, VALUE_BYTES);
  const srcName = `floe-rbench-${process.pid}`;
  const srcUri = `mem://${srcName}`;
  const scratch = await mkdtemp(join(tmpdir(), 'floe-rbench-'));
  let s3: S3Env | undefined;
  const details: RemoteDetails = {
    build: { seconds: 0, stateBytes: 0, files: 0, levels: [] },
    copyToS3Seconds: null,
    diskCacheBytes: 0,
    blockCacheBytes: 0,
    diskUsage: [],
    runs: [],
    bare: [],
    ratios: [],
    profiles: [],
    peers: [],
  };

  try {
    // ---- build once on mem:// (no latency), settle, remember the live files
    args.log(`  building ${n.toLocaleString('en-US')} keys on ${srcUri}`);
    const tb = performance.now();
    const builder = await openLsmStore({ primary: srcUri, localDir: join(scratch, 'build'), diskCacheBytes: 0, blockBytes: BLOCK_BYTES });
    for (let i = 0; i < n; i += WRITE_BATCH) {
      const ops = [];
      for (let j = i; j < Math.min(n, i + WRITE_BATCH); j++) ops.push({ type: 'put' as const, key: benchKey(j), value: values.value(j) });
      await builder.write(ops);
    }
    await builder.flush();
    await builder.compactUntilIdle();
    const built = builder.stats();
    const liveFiles = builder.internals().state.version.allFiles();
    await builder.close();
    const stateBytes = built.lsm.levels.reduce((s, l) => s + l.bytes, 0);
    details.build = { seconds: round((performance.now() - tb) / 1000), stateBytes, files: liveFiles.length, levels: built.lsm.levels.filter((l) => l.files > 0) };
    const diskCacheBytes = Math.floor(stateBytes * DISK_CACHE_SHARE);
    const blockCacheBytes = Math.floor(stateBytes * BLOCK_CACHE_SHARE);
    details.diskCacheBytes = diskCacheBytes;
    details.blockCacheBytes = blockCacheBytes;
    note(
      `data set: ${n.toLocaleString('en-US')} keys, ${(stateBytes / MiB).toFixed(1)} MiB in ${liveFiles.length} SSTs ` +
        `(levels ${details.build.levels.map((l) => `${l.files}/${(l.bytes / MiB).toFixed(0)} MiB`).join(', ')}), built in ${details.build.seconds} s; ` +
        `disk cache ${(diskCacheBytes / MiB).toFixed(1)} MiB (10%), block cache ${(blockCacheBytes / MiB).toFixed(1)} MiB (3%)`,
    );

    // ---- the S3 copy
    const primaryOf: Partial<Record<Backend, string>> = { mem: srcUri };
    if (backends.includes('s3')) {
      s3 = await startS3();
      const tc = performance.now();
      const from = (await openObjectStore(srcUri)).store;
      const to = (await openObjectStore(`s3://${s3.bucket}`, { s3: s3.config })).store;
      const manifests = (await from.list(INSTANCES_PREFIX)).map((o) => o.path);
      const bytes = await copyObjects(from, to, [...liveFiles.map((f) => sstPath(f.fileId)), ...manifests], 4);
      await from.close();
      await to.close();
      details.copyToS3Seconds = round((performance.now() - tc) / 1000);
      primaryOf.s3 = `s3://${s3.bucket}`;
      note(`copied ${(bytes / MiB).toFixed(1)} MiB (${liveFiles.length} SSTs + ${manifests.length} manifests) to ${primaryOf.s3} on ${s3.config.endpoint} in ${details.copyToS3Seconds} s`);
      if (peers.length > 0) {
        const tl = performance.now();
        const r = await fetch(`${s3.server.endpoint}/${s3.bucket}-slatedb`, { method: 'PUT' });
        if (!r.ok) throw new Error(`creating the SlateDB bucket failed: ${r.status}`);
        await loadSlateDb(s3.server.endpoint, `${s3.bucket}-slatedb`, 'db', n, values);
        note(`SlateDB: loaded the same ${n.toLocaleString('en-US')} keys into s3://${s3.bucket}-slatedb/db (WriteBatch of 1,000, WAL off, memtable flush) in ${round((performance.now() - tl) / 1000)} s`);
      }
      await s3.server.setLatency(LATENCY_MS);
    }

    const options = (backend: Backend, localDir: string): StoreOptions => ({
      primary: primaryOf[backend]!,
      localDir,
      blockCacheBytes,
      diskCacheBytes,
      readConcurrency: READ_CONCURRENCY,
      compactionWorkers: false,
      ...(backend === 's3' ? { s3: s3!.config } : {}),
    });

    let seedCounter = args.seed;
    const sequences = new Map<string, Uint32Array>();
    const sequence = (d: Distribution): Uint32Array => {
      let s = sequences.get(d);
      if (s === undefined) {
        s = indexSequence(d, n, SEQUENCE_LENGTH, args.seed ^ (d === 'zipf' ? 0x5a5a : 0x1111));
        sequences.set(d, s);
      }
      return s;
    };

    for (const backend of backends) {
      await warmUpProcess(options(backend, await mkdtemp(join(scratch, `${backend}-warmup-`))), sequence('uniform'), backend, ++seedCounter, args.log);
      let cursor = 0; // position in the index sequences; every run reads keys no earlier run of this backend read
      let uniformColdCursor: number | undefined;
      let avgColdGetBytes = 64 * 1024;
      for (const workload of workloads) {
        const [dist, api] = workload.split('-') as [Distribution, 'get' | 'multiget'];
        const seq = sequence(dist);
        const localDir = await mkdtemp(join(scratch, `${backend}-${workload}-`));
        const counting = new CountingBlockCache(SharedBlockCache.create(blockCacheBytes));
        const noDisk = workload === 'uniform-get-nodisk';
        const seen = new Set<string>();
        const lsm: LsmStore = await openLsmStore(
          { ...options(backend, localDir), ...(noDisk ? { diskCacheBytes: 0 } : {}) },
          { blockCache: counting, inject: latencyWrapper(backend, ++seedCounter, seen) },
        );
        const sampler = new FolderSampler(localDir);
        try {
          for (const phase of noDisk ? (['cold'] as const) : (['cold', 'warm'] as const)) {
            const profile = args.profileDir !== undefined && dist === 'uniform' && phase === 'cold';
            const profiler = profile ? await Profiler.start() : undefined;
            if (workload === 'uniform-get' && phase === 'cold') uniformColdCursor = cursor;
            const r = await measureRun(lsm, counting, seen, api, seq, cursor, values, seconds);
            cursor += r.keys;
            if (profiler !== undefined) {
              const file = join(args.profileDir!, `remote-${backend}-${workload}-cold.cpuprofile`);
              const top = formatHotSpots(hotSpots(await profiler.stop(file)), 15);
              details.profiles.push({ backend, file, top });
              args.log(`  profile ${file}\n${top}`);
            }
            const run: RemoteRun = { backend, workload, phase, ...r };
            details.runs.push(run);
            if (workload === 'uniform-get' && phase === 'cold' && r.remoteGets > 0) avgColdGetBytes = r.bytesPerGet;
            measurements.push({
              workload,
              mode: `${LABEL[backend]}, ${phase}`,
              system: 'floe',
              unit: 'key',
              ops: r.keys,
              seconds: r.seconds,
              opsPerSec: r.keysPerSec,
              stoppedBy: 'time',
              loadAvg1m: r.loadAvg1m,
            });
            args.log(
              `  ${LABEL[backend]} ${workload} ${phase}: ${Math.round(r.keysPerSec)} keys/s, ${Math.round(r.remoteGetsPerSec)} GETs/s ` +
                `(${Math.round(r.bytesPerGet)} B each, ${r.tableOpens} table opens), GETs/miss ${r.getsPerMiss?.toFixed(3) ?? '–'}, ` +
                `CPU ${r.cpuUsPerGet?.toFixed(0) ?? '–'} µs/GET, local ${(r.servedLocally * 100).toFixed(1)}%`,
            );
          }
        } finally {
          const usage = await sampler.stop();
          details.diskUsage.push({ backend, workload, ...usage, budget: noDisk ? 0 : diskCacheBytes });
          await lsm.close();
          await rm(localDir, { recursive: true, force: true });
        }
      }

      // ---- the peer: SlateDB, the same cold uniform gets (same keys, same order, same callers)
      if (backend === 's3' && uniformColdCursor !== undefined) {
        for (const config of peers) {
          const hung: number[] = [];
          const peer = await runSlateDb(s3!, config, n, args.seed, uniformColdCursor, seconds, hung);
          if (hung.length > 0) {
            note(
              `${config}: ${hung.length} attempt(s) HUNG (no result within ${seconds + SLATEDB_GRACE_S} s: the binding stops resuming its reads at times ` +
                `under ${CALLERS} in flight; answers left unread on its sockets, every thread asleep) and were killed`,
            );
          }
          if (peer === undefined) continue;
          details.peers.push(peer);
          measurements.push({
            workload: 'uniform-get',
            mode: `${LABEL.s3}, cold`,
            system: config,
            unit: 'key',
            ops: peer.keys,
            seconds: peer.seconds,
            opsPerSec: peer.keysPerSec,
            stoppedBy: 'time',
            loadAvg1m: peer.loadAvg1m,
          });
          const floe = details.runs.find((x) => x.backend === 's3' && x.workload === 'uniform-get' && x.phase === 'cold');
          args.log(`  ${config} uniform-get cold: ${Math.round(peer.keysPerSec)} keys/s, ${peer.getsPerKey.toFixed(2)} GETs/key (${peer.bytesPerGet} B each), CPU ${peer.cpuUsPerKey.toFixed(0)} µs/key`);
          if (floe !== undefined) note(`s3 cold uniform gets, Floe ÷ ${config}: ${(floe.keysPerSec / peer.keysPerSec).toFixed(2)} (target ≥ 1.0); ${config} ${Math.round(peer.keysPerSec)} keys/s with ${peer.getsPerKey.toFixed(2)} GETs per key, Floe ${Math.round(floe.keysPerSec)} keys/s`);
        }
      }

      // ---- Floe through the daemon: the same cold uniform gets (its own copy of the data; bench/remote-daemon.ts)
      if (backend === 's3' && viaDaemon && uniformColdCursor !== undefined) {
        const d = await daemonColdGets({
          endpoint: s3!.server.endpoint,
          bucket: s3!.bucket,
          s3: s3!.config,
          keys: n,
          values,
          seq: sequence('uniform'),
          cursor: uniformColdCursor,
          callers: CALLERS,
          seconds,
          blockCacheBytes,
          diskCacheBytes,
          readConcurrency: READ_CONCURRENCY,
          setLatency: (ms) => s3!.server.setLatency(ms),
          latencyMs: LATENCY_MS,
          log: args.log,
        });
        details.daemon = d;
        measurements.push({ workload: 'uniform-get', mode: `${LABEL.s3}, cold`, system: 'floe-daemon', unit: 'key', ops: d.keys, seconds: d.seconds, opsPerSec: d.keysPerSec, stoppedBy: 'time', loadAvg1m: d.loadAvg1m });
        args.log(`  floe-daemon uniform-get cold: ${Math.round(d.keysPerSec)} keys/s (${d.shards} shards, ${d.connections} connections), daemon CPU ${d.daemonCpuUsPerKey ?? '–'} µs/key`);
        for (const p of details.peers) {
          note(`s3 cold uniform gets through the daemon (${d.shards} shards), Floe ÷ ${p.system}: ${(d.keysPerSec / p.keysPerSec).toFixed(2)} (target ≥ 1.0); daemon ${Math.round(d.keysPerSec)} keys/s`);
        }
      }

      // ---- the limit: bare ranged GETs through the same wrapped backend, the same size as the engine's
      const bare = await bareGets(backend, primaryOf[backend]!, backend === 's3' ? s3!.config : undefined, liveFiles, avgColdGetBytes, Math.min(seconds, 6), ++seedCounter);
      details.bare.push(bare);
      args.log(`  bare ranged GETs ${LABEL[backend]}: ${Math.round(bare.getsPerSec)} GETs/s of ${bare.bytes} B with ${bare.inflight} in flight, ${bare.cpuUsPerGet.toFixed(0)} µs CPU/GET; limit ${Math.round(bare.limit)}/s`);
      for (const workload of workloads.filter((w) => w.startsWith('uniform'))) {
        const cold = details.runs.find((r) => r.backend === backend && r.workload === workload && r.phase === 'cold');
        if (cold === undefined) continue;
        measurements.push({
          workload,
          mode: `${LABEL[backend]}, cold`,
          system: 'limit',
          unit: 'key',
          ops: bare.gets,
          seconds: bare.seconds,
          opsPerSec: bare.limit,
          stoppedBy: 'time',
        });
        details.ratios.push({ backend, workload, opsRatio: round(cold.keysPerSec / bare.limit, 3), getsRatio: round(cold.remoteGetsPerSec / bare.limit, 3) });
      }
    }

    for (const r of details.ratios) {
      note(`${LABEL[r.backend]} ${r.workload} uncached: ${(r.opsRatio * 100).toFixed(0)}% of the limit in keys/s, ${(r.getsRatio * 100).toFixed(0)}% in remote GETs/s (target ≥ 80%)`);
    }
    const maxGetsPerMiss = Math.max(...details.runs.map((r) => r.getsPerMiss ?? 0));
    const opens = details.runs.reduce((sum, r) => sum + r.tableOpens, 0);
    note(
      `largest GETs per data-block miss past both caches (upper bound) over all runs: ${maxGetsPerMiss.toFixed(3)} (target ≤ 1.0); ` +
        `table opens, excluded from it, took ${opens} GETs in all (one per SST per freshly opened store)`,
    );
    for (const backend of backends) {
      const u = details.diskUsage.filter((d) => d.backend === backend);
      const max = Math.max(...u.map((d) => d.maxAllocated));
      const maxApparent = Math.max(...u.map((d) => d.maxApparent));
      note(`${LABEL[backend]}: local folder at most ${(max / MiB).toFixed(2)} MiB on disk (${(maxApparent / MiB).toFixed(2)} MiB apparent) vs a disk-cache budget of ${(diskCacheBytes / MiB).toFixed(2)} MiB, sampled every 250 ms`);
    }
    const s3Cold = details.runs.find((r) => r.backend === 's3' && r.workload === 'uniform-get' && r.phase === 'cold');
    const s3Bare = details.bare.find((b) => b.backend === 's3');
    if (s3Cold?.cpuUsPerGet != null && s3Bare !== undefined) {
      note(`S3 path CPU (this process, engine included) per remote GET, uncached gets: ${s3Cold.cpuUsPerGet.toFixed(0)} µs; bare lean GET: ${s3Bare.cpuUsPerGet.toFixed(0)} µs`);
    }
  } finally {
    dropMemStore(srcName);
    await rm(scratch, { recursive: true, force: true });
    await s3?.server.stop();
  }

  const report: BenchReport & { details: RemoteDetails } = {
    name: 'remote',
    title: `Floe on remote storage (${LATENCY_MS} ms per request), ${n.toLocaleString('en-US')} keys`,
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
    machine: { ...machine, loadAvgEnd: round(loadavg()[0]!) },
    subject: 'floe',
    systems: ['floe', 'limit', ...peers, ...(viaDaemon ? ['floe-daemon'] : [])],
    settings: {
      keys: n,
      keyBytes: 16,
      valueBytes: VALUE_BYTES,
      latencyMs: LATENCY_MS,
      blockBytes: BLOCK_BYTES,
      ...(process.env.BENCH_REMOTE_BLOCK_BYTES !== undefined ? { experimental: true } : {}),
      readConcurrency: READ_CONCURRENCY,
      callers: CALLERS,
      multiGetBatch: MGET_BATCH,
      multiGetInFlight: MGET_INFLIGHT,
      zipfS: ZIPF_S,
      diskCacheShare: DISK_CACHE_SHARE,
      blockCacheShare: BLOCK_CACHE_SHARE,
      secondsPerRun: seconds,
      seed: args.seed,
      backends,
      limit: 'min(C / latency, bare ranged GETs/s with C in flight through the same latency-wrapped backend, same run)',
      s3Server: 'bench/s3-latency-server.ts: in-memory S3 protocol in a child process, keep-alive, the 10 ms injected by the server before each answer',
      peers: {
        systems: peers,
        what: 'SlateDB 0.12.1 (@slatedb/uniffi), same server (its own bucket), same keys and values, same cold uniform key sequence from the same position, same callers in flight',
        differs:
          'memory cache not sizable from the binding: default 512 MiB blocks + 128 MiB metadata (more than the data set; cache_blocks: false and the disabled cache both hung the JS thread at 256 in flight); ' +
          'no disk cache (at the 10% budget it ran at ~170 gets/s); SlateDB SST layout (L0 SSTs from one memtable flush, 4 KiB blocks); its S3 client runs on native threads',
      },
    },
    measurements,
    ratios: [],
    notes,
    details,
  };
  return report;
}

/**
 * SlateDB (fresh Db, cold cache, in a child process: bench/slatedb-peer.ts) reading the uniform sequence from
 * `cursor` with CALLERS in flight for `seconds`, values checked. A hung attempt is killed and retried in a
 * fresh process (so again cold); its number goes to `hung`. undefined if every attempt hung.
 */
async function runSlateDb(s3: S3Env, config: SlateDbConfig, n: number, seed: number, cursor: number, seconds: number, hung: number[]): Promise<SlateDbRun | undefined> {
  const request = {
    endpoint: s3.server.endpoint,
    bucket: `${s3.bucket}-slatedb`,
    path: 'db',
    config,
    keys: n,
    valueBytes: VALUE_BYTES,
    seed,
    sequenceLength: SEQUENCE_LENGTH,
    sequenceSeed: seed ^ 0x1111,
    cursor,
    callers: CALLERS,
    seconds,
  };
  let r: SlateDbRunResult | undefined;
  let gets = 0;
  let bytes = 0;
  for (let attempt = 1; attempt <= SLATEDB_ATTEMPTS && r === undefined; attempt++) {
    await s3.server.setLatency(0); // the child opens at 0 ms and sets 10 ms itself before reading
    const c0 = await s3.server.requestCounts();
    r = await runSlateDbChild(request, (seconds + SLATEDB_GRACE_S) * 1000);
    const c1 = await s3.server.requestCounts();
    gets = (c1.GET ?? 0) - (c0.GET ?? 0);
    bytes = (c1.GET_BYTES ?? 0) - (c0.GET_BYTES ?? 0);
    if (r === undefined) hung.push(attempt);
  }
  await s3.server.setLatency(LATENCY_MS);
  if (r === undefined) return undefined;
  return {
    system: config,
    keys: r.keys,
    seconds: round(r.seconds, 3),
    keysPerSec: r.keysPerSec,
    getsPerKey: r.keys > 0 ? round(gets / r.keys, 3) : 0,
    bytesPerGet: gets > 0 ? Math.round(bytes / gets) : 0,
    cpuUsPerKey: round(r.cpuUsPerKey, 1),
    loadAvg1m: round(r.loadAvg1m),
  };
}

/**
 * Untimed: WARMUP_SECONDS of uniform gets (with the disk cache) on a throwaway store with its own empty local
 * folder and block cache, reading keys from the second half of the sequence (the runs read from its start),
 * so that the first measured run does not pay the process's one-time JIT compilation of the read path
 * (measured: the first cold run in the process cost ~90 µs more CPU per GET than the same run done later).
 */
async function warmUpProcess(opts: StoreOptions, seq: Uint32Array, backend: Backend, seed: number, log: (line: string) => void): Promise<void> {
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
async function measureRun(
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
  const missesPastDisk = Math.max(0, blockLoads - diskPageHits);
  const tableOpens = [...seen].filter((p) => p.startsWith(SST_PREFIX)).length - sstsSeen0;
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
    missesPastDisk,
    tableOpens,
    getsPerMiss: missesPastDisk > 0 ? round((gets - tableOpens) / missesPastDisk, 4) : null,
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
async function bareGets(
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

/** The remote benchmark's own plots: throughput per run, uncached throughput against the limit, CPU per GET. */
export function plots(report: BenchReport): Array<{ suffix: string; svg: string }> {
  const details = (report as BenchReport & { details?: RemoteDetails }).details;
  if (details === undefined || details.runs.length === 0) return [];
  const subtitle = `${report.machine.nproc} cores · Node ${report.machine.node} · ${report.startedAt.slice(0, 10)} · ${LATENCY_MS} ms per request, C = ${READ_CONCURRENCY} · same run, same data`;
  const label = (r: RemoteRun): string => `${r.workload} (${LABEL[r.backend]}, ${r.phase})`;
  const bareLabel = (b: BareGetRun): string => `bare ranged GETs (${LABEL[b.backend]})`;
  const out: Array<{ suffix: string; svg: string }> = [];
  out.push({
    suffix: 'ops',
    svg: barChartSvg({
      title: 'Floe on remote storage: keys read and remote GETs per second',
      subtitle,
      categories: [...details.runs.map(label), ...details.bare.map(bareLabel)],
      series: [
        { name: 'keys/s', values: [...details.runs.map((r) => r.keysPerSec), ...details.bare.map(() => undefined)] },
        { name: 'remote GETs/s', values: [...details.runs.map((r) => r.remoteGetsPerSec), ...details.bare.map((b) => b.getsPerSec)] },
      ],
      valueLabel: 'per second',
      scale: 'log',
    }),
  });
  if (details.ratios.length > 0) {
    out.push({
      suffix: 'ratio',
      svg: barChartSvg({
        title: 'Uncached reads: share of the limit min(C / latency, bare GETs/s)',
        subtitle,
        categories: details.ratios.map((r) => `${r.workload} (${LABEL[r.backend]}, cold)`),
        series: [
          { name: 'keys/s ÷ limit', values: details.ratios.map((r) => r.opsRatio) },
          { name: 'remote GETs/s ÷ limit', values: details.ratios.map((r) => r.getsRatio) },
        ],
        valueLabel: 'fraction of the limit',
        referenceLine: { value: 0.8, label: 'target 0.8' },
        formatValue: (v) => v.toFixed(2),
      }),
    });
  }
  out.push({
    suffix: 'cpu',
    svg: barChartSvg({
      title: 'Process CPU per remote GET (engine + store client; bare = store client alone)',
      subtitle,
      categories: [...details.runs.filter((r) => r.cpuUsPerGet !== null).map(label), ...details.bare.map(bareLabel)],
      series: [
        {
          name: 'CPU µs per remote GET',
          values: [...details.runs.filter((r) => r.cpuUsPerGet !== null).map((r) => r.cpuUsPerGet ?? undefined), ...details.bare.map((b) => b.cpuUsPerGet)],
        },
      ],
      valueLabel: 'microseconds of CPU (user + system, all threads of the process)',
      scale: 'log',
      formatValue: (v) => `${Math.round(v)} µs`,
    }),
  });
  return out;
}
