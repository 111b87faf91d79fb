/**
 * The daemon benchmark: YCSB-style key-value workloads through `floe daemon`'s Unix socket (the real daemon
 * binary in a child process, pipelined clients from lib/client/client.ts) with 1 and 2 shards, against the
 * same workloads on the embedded store (openStore in this process) with the same number of operations in
 * flight. All three systems are open at once; each (workload, connections) step runs on every system in
 * turn (the first system rotates), so neighbouring measurements share the machine's load.
 *
 * Data: `keys` keys (default 100,000) of 16 bytes (bench/workload.ts benchKey) with 100-byte values cut
 * from a seeded incompressible pool, preloaded in batches of 1,000 and flushed before anything is timed.
 *
 * Workloads (uniform random keys over the preloaded set):
 *   ycsb-a  50% get / 50% put (update of an existing key)
 *   ycsb-b  95% get /  5% put
 *   ycsb-c 100% get
 * each with 1, 8 and 64 client connections, every connection keeping PIPELINE (16) requests in flight.
 * The embedded store gets connections × PIPELINE concurrent operations in one process.
 *
 * Latency is the time from issuing an operation to its result, recorded per operation in an HDR histogram
 * also with requests in flight: it therefore includes queueing behind the other requests in flight (which
 * is what a pipelined caller sees). Every get checks it found a 100-byte value.
 *
 * Single operations vs Redis (bench/daemon-ops.ts, bench/redis-peer.ts): put, get, awaited get, multiGet and
 * batch on every Floe system and on `redis-server` over a Unix socket (ioredis, auto-pipelining), the same
 * connections and requests in flight; the runner derives daemon-2-shards ÷ redis for each. When
 * redis-server is missing and cannot be installed, the peer is skipped and a note says why.
 *
 * Sizes: the runner's defaults (1,000,000 keys, 10 s) are meant for the embedded benchmark; this one
 * replaces them by 100,000 keys and 3 s per run so the whole benchmark takes about 2-3 minutes. An explicit
 * --keys / --seconds other than those defaults is honoured.
 */
import { type DaemonChild, processCpuSeconds, startDaemonChild, stopDaemonChild } from './daemon-child.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import type { Store, WriteOp } from '../lib/api.js';
import { connect, type FloeClient } from '../lib/client/client.js';
import { openStore } from '../lib/index.js';
import { Random } from '../lib/util/random.js';
import type { RunResult } from './measure.js';
import { barChartSvg, PALETTE, tint, type BarSeries } from './plot.js';
import { machineFacts, rowLabel, rows, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { plots as genericPlots } from './run.js';
import { benchKey, indexSequence, mix32, ValuePool } from './workload.js';
import { measureOps, OPS_CONNS, opsMode, PEER_OPS, preloadRedis, type OpsTarget } from './daemon-ops.js';
import { ensureRedisInstalled, startRedis, type RedisServer } from './redis-peer.js';

const VALUE_BYTES = 100;
const PIPELINE = 16;
const CONNECTIONS = [1, 8, 64] as const;
const PRELOAD_BATCH = 1000;
const DEFAULT_KEYS = 100_000;
const DEFAULT_SECONDS = 3;
/** Operations a run may take at most (it normally stops at its time limit first). */
const RUN_COUNT = 50_000_000;
/** Length of each precomputed key / operation-kind sequence; runs wrap around it. */
const SEQUENCE_LENGTH = 1 << 21;
const WARMUP_SECONDS = 0.7;

export const WORKLOADS = { 'ycsb-a': 0.5, 'ycsb-b': 0.95, 'ycsb-c': 1 } as const;
type WorkloadId = keyof typeof WORKLOADS;

const SYSTEMS = ['daemon-2-shards', 'daemon-1-shard', 'embedded', 'redis'] as const;
type SystemId = (typeof SYSTEMS)[number];

const _floeBin = fileURLToPath(new URL('../bin/floe.js', import.meta.url));

const modeOf = (conns: number): string => `${conns} conn${conns === 1 ? '' : 's'} × ${PIPELINE}`;

interface Sys {
  name: SystemId;
  dir: string;
  /** One store per connection (the embedded system has one store shared by all workers). */
  stores: Store[];
  clients: FloeClient[];
  daemon?: DaemonChild;
  embedded?: Store;
}

/** Starts `floe daemon` with `shards` shards on a file:// primary in `dir`; resolves when it logs `ready`. */
function startDaemon(dir: string, shards: number): Promise<DaemonChild> {
  return startDaemonChild(dir, { primary: 'file://./data', localDir: './cache', shards }, { label: `${shards} shards` });
}

const stopDaemon = stopDaemonChild;

/**
 * `stores.length × perStore` workers; worker k issues its operations on stores[k % stores.length], one at a
 * time, so each store has `perStore` in flight. Stops at `count` operations or `seconds`, whichever is
 * first; records each operation's latency (ns) in an HDR histogram. The first failure stops the run and is
 * rethrown.
 */
async function drive(stores: Store[], perStore: number, op: (s: Store, i: number) => Promise<void>, count: number, seconds: number): Promise<RunResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 });
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let next = 0;
  let done = 0;
  let stoppedBy: RunResult['stoppedBy'] = 'count';
  let failure: { error: unknown } | undefined;
  const worker = async (store: Store): Promise<void> => {
    while (failure === undefined && next < count) {
      const t0 = performance.now();
      if (t0 >= deadline) {
        stoppedBy = 'time';
        return;
      }
      const i = next++;
      try {
        await op(store, i);
      } catch (error) {
        failure ??= { error };
        return;
      }
      histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: stores.length * perStore }, (_, k) => worker(stores[k % stores.length]!)));
    if (failure !== undefined) throw failure.error;
    const elapsed = (performance.now() - start) / 1000;
    const us = (p: number): number => Math.round(histogram.getValueAtPercentile(p) / 100) / 10;
    return {
      ops: done,
      seconds: elapsed,
      opsPerSec: done / elapsed,
      stoppedBy,
      ...(done > 0 ? { latencyUs: { p50: us(50), p99: us(99), p999: us(99.9), max: Math.round(histogram.maxValue / 100) / 10 } } : {}),
    };
  } finally {
    histogram.destroy();
  }
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const keys = args.keys === 1_000_000 ? DEFAULT_KEYS : args.keys;
  const seconds = args.seconds === 10 ? DEFAULT_SECONDS : args.seconds;
  if (keys < 1000) throw new Error(`--keys must be at least 1000 for the daemon benchmark, got ${keys}`);
  const workloadIds = Object.keys(WORKLOADS) as WorkloadId[];
  const unknownWorkloads = (args.workloads ?? []).filter((w) => !(workloadIds as string[]).includes(w) && !(PEER_OPS as readonly string[]).includes(w));
  if (unknownWorkloads.length) throw new Error(`unknown workload(s) ${unknownWorkloads.join(', ')}; known: ${[...workloadIds, ...PEER_OPS].join(', ')}`);
  const systems = SYSTEMS.filter((s) => args.systems === undefined || args.systems.includes(s));
  const unknownSystems = (args.systems ?? []).filter((s) => !(SYSTEMS as readonly string[]).includes(s));
  if (unknownSystems.length || systems.length === 0) throw new Error(`unknown or no system(s) ${unknownSystems.join(', ')}; known: ${SYSTEMS.join(', ')}`);

  const values = new ValuePool(args.seed, VALUE_BYTES);
  const keyBuf = Array.from({ length: keys }, (_, i) => benchKey(i));
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  const note = (line: string): void => {
    notes.push(line);
    args.log(`  · ${line}`);
  };
  const maxConns = Math.max(...CONNECTIONS);
  const opened: Sys[] = [];
  const cpuLines: string[] = [];
  let redis: RedisServer | undefined;
  let redisDir: string | undefined;

  try {
    // ---- open: two daemons (child processes) and the embedded store, each in its own temp folder.
    for (const name of systems) {
      if (name === 'redis') continue;
      const dir = await mkdtemp(join(tmpdir(), `floe-bench-${name}-`));
      const sys: Sys = { name, dir, stores: [], clients: [] };
      opened.push(sys);
      if (name === 'embedded') {
        sys.embedded = await openStore({ primary: pathToFileURL(join(dir, 'data')).href, localDir: join(dir, 'cache') });
      } else {
        const shards = name === 'daemon-2-shards' ? 2 : 1;
        sys.daemon = await startDaemon(dir, shards);
        // FLOE_BENCH_SHARD_AWARE=0: every request through the daemon socket and the router thread (the Java
        // client's path) instead of the shards' own sockets.
        const shardAware = process.env.FLOE_BENCH_SHARD_AWARE !== '0';
        for (let c = 0; c < maxConns; c++) sys.clients.push(await connect(sys.daemon.socket, { reconnect: false, shardAware }));
        if (name === 'daemon-2-shards') note(`daemon clients: ${shardAware ? "shard-aware (single-key requests on the shards' own sockets)" : 'daemon socket only (FLOE_BENCH_SHARD_AWARE=0)'}`);
        sys.stores = sys.clients;
        args.log(`[daemon] ${name}: pid ${sys.daemon.child.pid}, ${dir}, ${maxConns} connections`);
      }
    }

    // ---- preload every key (batches, 8 in flight), then flush so reads come from SSTs + block cache.
    for (const s of opened) {
      const store = s.embedded ?? s.stores[0]!;
      const loadStart = performance.now();
      let nextBatch = 0;
      const batches = Math.ceil(keys / PRELOAD_BATCH);
      const loader = async (): Promise<void> => {
        for (let b = nextBatch++; b < batches; b = nextBatch++) {
          const ops: WriteOp[] = [];
          for (let i = b * PRELOAD_BATCH; i < Math.min(keys, (b + 1) * PRELOAD_BATCH); i++) ops.push({ type: 'put', key: keyBuf[i]!, value: values.value(i, 0) });
          await store.write(ops);
        }
      };
      await Promise.all(Array.from({ length: 8 }, loader));
      await store.flush();
      note(`${s.name}: preloaded ${keys.toLocaleString('en-US')} keys and flushed in ${((performance.now() - loadStart) / 1000).toFixed(1)} s`);
    }

    // ---- the sequences: the same keys and operation kinds for every system.
    const keySeq = indexSequence('uniform', keys, SEQUENCE_LENGTH, mix32(args.seed ^ 0x5ca1ab1e));
    const coin = new Float32Array(SEQUENCE_LENGTH);
    const random = new Random(mix32(args.seed ^ 0x0dd5eed));
    for (let i = 0; i < SEQUENCE_LENGTH; i++) coin[i] = random.next();

    const opFor = (readFraction: number, gen: number) => async (store: Store, i: number): Promise<void> => {
      const j = i % SEQUENCE_LENGTH;
      const k = keySeq[j]!;
      if (coin[j]! < readFraction) {
        const v = await store.get(keyBuf[k]!);
        if (v === undefined || v.length !== VALUE_BYTES) throw new Error(`get of preloaded key #${k} returned ${v === undefined ? 'nothing' : `${v.length} bytes`}`);
      } else {
        await store.put(keyBuf[k]!, values.value(k, gen + i));
      }
    };
    const storesOf = (s: Sys, conns: number): { stores: Store[]; perStore: number } =>
      s.embedded !== undefined ? { stores: [s.embedded], perStore: conns * PIPELINE } : { stores: s.stores.slice(0, conns), perStore: PIPELINE };

    // ---- warm-up (JIT, caches): untimed read-only pass per system.
    for (const s of opened) {
      const { stores, perStore } = storesOf(s, 8);
      await drive(stores, perStore, opFor(1, 0), RUN_COUNT, WARMUP_SECONDS);
    }

    let step = 0;
    let gen = 1;
    for (const w of workloadIds) {
      if (args.workloads !== undefined && !args.workloads.includes(w)) continue;
      for (const conns of CONNECTIONS) {
        const first = step++ % opened.length;
        for (let n = 0; n < opened.length; n++) {
          const s = opened[(first + n) % opened.length]!;
          const { stores, perStore } = storesOf(s, conns);
          const cpu0 = process.cpuUsage();
          const child0 = processCpuSeconds(s.daemon?.child.pid);
          const r = await drive(stores, perStore, opFor(WORKLOADS[w], (gen += RUN_COUNT)), RUN_COUNT, seconds);
          const cpu1 = process.cpuUsage(cpu0);
          const child1 = processCpuSeconds(s.daemon?.child.pid);
          const benchUs = ((cpu1.user + cpu1.system) / Math.max(1, r.ops)).toFixed(1);
          const daemonUs = child0 !== undefined && child1 !== undefined ? (((child1 - child0) * 1e6) / Math.max(1, r.ops)).toFixed(1) : undefined;
          cpuLines.push(`${s.name} ${w} (${modeOf(conns)}): ${benchUs}${daemonUs !== undefined ? ` + ${daemonUs}` : ''}`);
          const loadAvg1m = Math.round(loadavg()[0]! * 100) / 100;
          const mode = modeOf(conns);
          measurements.push({ workload: w, mode, system: s.name, ...r, loadAvg1m });
          const l = r.latencyUs;
          args.log(
            `  ${s.name.padEnd(16)} ${`${w} (${mode})`.padEnd(24)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s` +
              `${l ? `  p50 ${l.p50} µs  p99 ${l.p99} µs  p99.9 ${l.p999} µs` : ''}  (load ${loadAvg1m})`,
          );
        }
      }
    }

    // ---- single operations, Floe vs Redis (same connections and requests in flight)
    const wantOps = PEER_OPS.filter((op) => args.workloads === undefined || args.workloads.includes(op));
    if (wantOps.length > 0) {
      const targets: OpsTarget[] = opened.map((s) => ({
        name: s.name,
        kind: 'floe' as const,
        stores: s.embedded ? [s.embedded] : s.stores.slice(0, OPS_CONNS),
        ...(s.daemon?.child.pid !== undefined ? { serverPid: s.daemon.child.pid } : {}),
      }));
      if (systems.includes('redis')) {
        const installed = ensureRedisInstalled(args.log);
        if (!installed.ok) note(`Redis peer SKIPPED: ${installed.reason}`);
        else {
          redisDir = await mkdtemp(join(tmpdir(), 'floe-bench-redis-'));
          redis = await startRedis(redisDir);
          const clients = await redis.connect(OPS_CONNS);
          await preloadRedis(clients, { keys, keyBuf, values });
          targets.push({ name: 'redis', kind: 'redis', clients, serverPid: redis.pid });
          note(`redis: redis-server ${redis.version} on a Unix socket, in memory (--save '' --appendonly no), ioredis with enableAutoPipelining, ${OPS_CONNS} clients; preloaded ${keys.toLocaleString('en-US')} keys`);
        }
      }
      const opsCpu: string[] = [];
      measurements.push(...(await measureOps(targets, { keys, keyBuf, values, valueBytes: VALUE_BYTES, keySeq, pipeline: PIPELINE, seconds, log: args.log, cpu: opsCpu }, wantOps)));
      note(`CPU µs per operation of the single-operation runs, benchmark process (clients, or the embedded store) + server process (daemon: all its threads; redis-server): ${opsCpu.join('; ')}`);
      for (const op of wantOps) {
        const mode = opsMode(op, PIPELINE);
        const r = measurements.find((m) => m.workload === op && m.mode === mode && m.system === 'redis');
        if (r === undefined) continue;
        const parts = opened.map((s) => {
          const m = measurements.find((x) => x.workload === op && x.mode === mode && x.system === s.name);
          return m === undefined ? undefined : `${s.name} ${(m.opsPerSec / r.opsPerSec).toFixed(2)}`;
        });
        note(`${op} (${mode}) ÷ Redis: ${parts.filter((x) => x !== undefined).join(', ')} (target ≥ 1.0)`);
      }
    }

    if (cpuLines.length > 0) notes.push(
      'CPU µs per operation, benchmark process (clients, or the embedded store) + daemon process (all its threads), ' +
        `from process.cpuUsage() and /proc/<pid>/stat: ${cpuLines.join('; ')}`,
    );
    // Ratios the runner does not derive (it derives subject = daemon-2-shards against each peer).
    const find = (w: string, mode: string, sys: SystemId): Measurement | undefined => measurements.find((m) => m.workload === w && m.mode === mode && m.system === sys);
    for (const w of workloadIds) {
      const parts: string[] = [];
      for (const conns of CONNECTIONS) {
        const mode = modeOf(conns);
        const one = find(w, mode, 'daemon-1-shard');
        const two = find(w, mode, 'daemon-2-shards');
        const emb = find(w, mode, 'embedded');
        if (emb === undefined || (one === undefined && two === undefined)) continue;
        const r = (m: Measurement | undefined): string => (m === undefined ? '–' : (m.opsPerSec / emb.opsPerSec).toFixed(2));
        parts.push(`${mode}: 1 shard ${r(one)}, 2 shards ${r(two)}`);
      }
      if (parts.length) note(`${w}: daemon ÷ embedded ops/s — ${parts.join('; ')}`);
    }
    for (const s of opened) {
      if (s.embedded === undefined) continue;
      const st = s.embedded.stats() as Awaited<ReturnType<Store['stats']>>;
      note(`embedded: LSM at the end: ${st.lsm.levels.map((l, i) => `L${i} ${l.files} files`).filter((x) => !x.endsWith(' 0 files')).join(', ') || 'memtable only'}`);
    }
  } finally {
    for (const s of opened) {
      for (const c of s.clients) await c.close().catch((e: unknown) => args.log(`  ${s.name}: client close failed: ${String(e)}`));
      if (s.embedded) await s.embedded.close().catch((e: unknown) => args.log(`  ${s.name}: close failed: ${String(e)}`));
      if (s.daemon) {
        const code = await stopDaemon(s.daemon);
        if (code !== 0) args.log(`  ${s.name}: daemon exited with ${code}:\n${s.daemon.tail.join('\n')}`);
      }
      await rm(s.dir, { recursive: true, force: true });
    }
    await redis?.stop();
    if (redisDir !== undefined) await rm(redisDir, { recursive: true, force: true });
  }

  machine.loadAvgEnd = Math.round(loadavg()[0]! * 100) / 100;
  return {
    name: 'daemon',
    title: 'Floe daemon (socket) vs embedded',
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
    machine,
    subject: 'daemon-2-shards',
    systems: [...systems],
    settings: {
      keys,
      keyBytes: 16,
      valueBytes: VALUE_BYTES,
      values: 'slices of a 4 MiB seeded random pool (incompressible)',
      seed: args.seed,
      workloads: { 'ycsb-a': '50% get / 50% put', 'ycsb-b': '95% get / 5% put', 'ycsb-c': '100% get' },
      keyDistribution: 'uniform over the preloaded keys',
      connections: [...CONNECTIONS],
      pipelinePerConnection: PIPELINE,
      embeddedInFlight: 'connections × pipelinePerConnection concurrent operations on one in-process store',
      secondsPerRun: seconds,
      warmupSeconds: WARMUP_SECONDS,
      preload: `batches of ${PRELOAD_BATCH} puts, 8 in flight, then flush()`,
      daemonConfig: { primary: 'file://./data (temp folder)', localDir: './cache', shards: '1 or 2', otherOptions: 'defaults (lib/options.ts)' },
      embedded: 'openStore({ primary: file:// temp folder, localDir }) in the benchmark process; default options',
      latency: 'per operation from issue to result, including queueing behind the other requests in flight (HDR histogram)',
      order:
        'all systems open at once; the clients of both daemons and the embedded store live in the benchmark process; every ' +
        '(workload, connections) step runs on each system in turn, the first system rotating from step to step',
      systems: {
        'daemon-2-shards': 'floe daemon child process, 2 shard worker threads, reached through its Unix socket (lib/client connect)',
        'daemon-1-shard': 'the same with 1 shard',
        embedded: 'openStore() in the benchmark process',
        redis: "redis-server (Debian's 7.0.x) on a Unix socket, in memory, ioredis clients with enableAutoPipelining (single-operation rows only)",
      },
      singleOps: {
        ops: [...PEER_OPS],
        connections: OPS_CONNS,
        inFlightPerConnection: PIPELINE,
        awaitedGet: 'one connection, one get at a time',
        multiGet: 'multiGet of 32 keys / MGET',
        batch: 'write of 100 puts / MSET of 100 pairs (both atomic)',
        embedded: `one store with ${OPS_CONNS} × ${PIPELINE} operations in flight`,
      },
    },
    measurements,
    ratios: [],
    notes,
  };
}

/**
 * The runner's throughput and ratio charts, and a latency chart of its own: p50 / p99 / p99.9 per system,
 * labelled as what it is (latency with requests in flight, queueing included), not as awaited latency.
 */
export function plots(report: BenchReport): Array<{ suffix: string; svg: string }> {
  const out = genericPlots(report).filter((p) => p.suffix !== 'latency');
  const rs = rows(report.measurements);
  const series: BarSeries[] = [];
  report.systems.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    for (const [p, shade] of [['p50', 0], ['p99', 0.45], ['p999', 0.7]] as const) {
      series.push({ name: `${s} ${p === 'p999' ? 'p99.9' : p}`, color: tint(color, shade), values: rs.map((r) => r.bySystem.get(s)?.latencyUs?.[p]) });
    }
  });
  out.push({
    suffix: 'latency',
    svg: barChartSvg({
      title: `${report.title}: latency with ${PIPELINE} requests in flight per connection`,
      subtitle: `${report.machine.nproc} cores · Node ${report.machine.node} · ${report.startedAt.slice(0, 10)} · issue to result, queueing included`,
      categories: rs.map(rowLabel),
      series,
      valueLabel: 'microseconds per operation',
      scale: 'log',
      formatValue: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v < 10 ? v.toFixed(1) : Math.round(v)} µs`),
    }),
  });
  return out;
}
