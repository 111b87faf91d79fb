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
 * 250 ms. GETs per miss past both caches is exact: the disk cache counts its `missedReads` (reads that found
 * a page missing; behind the block cache every block load and every table open is one read), and without a
 * disk cache every block load and table open is a read of the primary. GETs per miss = remote GETs ÷ those
 * misses; a miss that waits for a fetch another read started costs no GET of its own. Table opens (one GET per
 * file and store for footer + index + filter, then pinned) are counted as the SST paths a fresh store GETs for
 * the first time, and reported separately.
 *
 * The limit: min(C / latency, bare ranged GETs/s with C in flight through the same wrapped backend, in
 * the same run, of the size the engine's uncached GETs had). Floe's uncached ops/s ÷ that limit is the
 * headline ratio (target ≥ 0.8); it is also given for remote GETs/s.
 *
 * Modules: settings, types and the 10 ms wrapper in remote-common.ts; one measured run, the bare GETs and the
 * warm-up in remote-runs.ts; plots in remote-plots.ts; the daemon run in remote-daemon.ts; SlateDB in
 * slatedb-peer.ts. This file builds the data, runs the workloads and peers in order and writes the report.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { StoreOptions } from '../lib/api.js';
import { SharedBlockCache } from '../lib/cache/shared-block-cache.js';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { dropMemStore } from '../lib/store/mem.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { openObjectStore } from '../lib/store/open.js';
import { INSTANCES_PREFIX, sstPath } from '../lib/store/paths.js';
import type { S3TestConfig } from '../test/support/s3-env.js';
import { startLatencyS3Server, type LatencyS3Server } from './s3-latency-server.js';
import { daemonColdGets } from './remote-daemon.js';
import { loadSlateDb, runSlateDbChild, SLATEDB_CONFIGS, type SlateDbConfig, type SlateDbRunResult } from './slatedb-peer.js';
import { Profiler, formatHotSpots, hotSpots } from './cpu-profile.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { benchKey, FolderSampler, indexSequence, ValuePool, type Distribution } from './workload.js';
import {
  BACKENDS,
  BLOCK_BYTES,
  BLOCK_CACHE_SHARE,
  CALLERS,
  DISK_CACHE_SHARE,
  LABEL,
  LATENCY_MS,
  MGET_BATCH,
  MGET_INFLIGHT,
  MiB,
  READ_CONCURRENCY,
  SEQUENCE_LENGTH,
  SLATEDB_ATTEMPTS,
  SLATEDB_GRACE_S,
  VALUE_BYTES,
  WORKLOADS,
  WRITE_BATCH,
  ZIPF_S,
  latencyWrapper,
  round,
  type Backend,
  type RemoteDetails,
  type RemoteRun,
  type SlateDbRun,
} from './remote-common.js';
import { CountingBlockCache, bareGets, measureRun, warmUpProcess } from './remote-runs.js';

export { BACKENDS, WORKLOADS } from './remote-common.js';
export type { BareGetRun, RemoteDetails, RemoteRun, SlateDbRun } from './remote-common.js';
export { plots } from './remote-plots.js';


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
      `largest GETs per miss of both caches (exact count) over all runs: ${maxGetsPerMiss.toFixed(3)} (target ≤ 1.0); ` +
        `table opens (counted on both sides of it) took ${opens} GETs in all (one per SST per freshly opened store)`,
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
      ...(process.env.BENCH_REMOTE_BLOCK_BYTES !== undefined || process.env.BENCH_REMOTE_READ_CONCURRENCY !== undefined ? { experimental: true } : {}),
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
