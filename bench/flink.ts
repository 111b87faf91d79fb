/**
 * The Flink benchmark (issue 11): one keyed Flink 2.3.0 job — word count, parallelism 1, on a local
 * MiniCluster — run on each state backend one after the other, one JVM per backend
 * (flink/bench/, io.floe.bench.FlinkBench; it prints one `FLINKBENCH-RESULT {json}` line):
 *
 *   heap         state.backend.type=hashmap, sync state API
 *   rocksdb      flink-statebackend-rocksdb, sync API, local dir
 *   forst-sync   flink-statebackend-forst, sync API (state kept in the local dir: sync.enforce-local)
 *   forst-async  flink-statebackend-forst, async State V2, state on a local-folder primary (file://),
 *                ForSt's local file cache of 1 GiB (as the Floe daemon's default disk cache)
 *   floe         io.floe.flink.FloeStateBackendFactory, a Floe daemon (dist/bin/floe.js) over its Unix
 *                socket, primary file:// in a local folder; async State V2 when the backend implements
 *                AsyncKeyedStateBackend, else the sync API (floeServesAsync)
 *   floe-10ms    the same with every primary request delayed by 10 ms (FLOE_INJECT_LATENCY_MS=10)
 *
 * Per backend and distribution (uniform, Zipf s = 0.99 over the same keys): a fresh job counts `events`
 * words over `keys` 16-byte keys; records/s excludes job start-up and checkpoints. On the uniform run the
 * job also stops at events/5 and at the end for a checkpoint (two state sizes; timed from trigger to
 * completion); each checkpoint is then restored into a new job: restore time is Flink's JobInitialization
 * span (the slowest task's state initialization), followed by 2,000 more records whose emitted counts are
 * checked against counts recomputed from the event stream (a mismatch fails the benchmark).
 *
 * Sizes: --keys (default 1,000,000) keys, FLINK_BENCH_EVENTS events per distribution (default 2,000,000;
 * --quick: 100,000 over ≤ 40,000 keys), managed memory FLINK_BENCH_MANAGED (default 16m) and the same
 * budget for Floe's memory caches together: its JVM value cache (state.backend.floe.cache-size,
 * FLINK_BENCH_FLOE_JVM_CACHE, default half the budget) plus the daemon's block cache (the rest), so the
 * state (~1M keys) is several times every backend's memory cache (the local disk caches, ForSt's and
 * Floe's, are 1 GiB and hold it all).
 * Each distribution has FLINK_BENCH_MAX_SECONDS (default 60), split between its checkpoint phases by their
 * event counts; a phase out of time reports the rate it reached and checkpoints where it got to.
 * --systems and --workloads (uniform, zipf) filter. Needs `mvn` and Java 17; Flink's artifacts come from
 * Maven Central on the first run.
 */
import { type DaemonChild, processCpuSeconds, startDaemonChild, stopDaemonChild } from './daemon-child.js';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { barChartSvg } from './plot.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const benchPom = join(repoRoot, 'flink', 'bench', 'pom.xml');
const floePom = join(repoRoot, 'flink', 'pom.xml');
const floeFactorySource = join(repoRoot, 'flink', 'src', 'main', 'java', 'io', 'floe', 'flink', 'FloeStateBackendFactory.java');
const floeBackendDir = join(repoRoot, 'flink', 'src', 'main', 'java', 'io', 'floe', 'flink');
const _floeBin = fileURLToPath(new URL('../bin/floe.js', import.meta.url));

/**
 * Whether this tree's Floe backend serves Flink's async State V2 API natively (implements
 * AsyncKeyedStateBackend). If not, the Floe runs use the sync API: on the async API Flink would wrap the
 * backend in AsyncKeyedStateBackendAdaptor, which answers every request with a blocking call.
 */
function floeServesAsync(): boolean {
  if (!existsSync(floeBackendDir)) return false;
  return readdirSync(floeBackendDir).some((f) => f.endsWith('.java') && /implements[^{]*\bAsyncKeyedStateBackend\b/.test(readFileSync(join(floeBackendDir, f), 'utf8')));
}

export const SYSTEMS = ['floe', 'floe-10ms', 'forst-async', 'forst-sync', 'rocksdb', 'heap'] as const;
type SystemId = (typeof SYSTEMS)[number];
/** Run order: the peers first (they need nothing from this branch), then Floe. */
const RUN_ORDER: SystemId[] = ['heap', 'rocksdb', 'forst-sync', 'forst-async', 'floe', 'floe-10ms'];
const DISTRIBUTIONS = ['uniform', 'zipf'] as const;
const LATENCY_MS = 10;
const VERIFY_EVENTS = 2000;
/** A backend's JVM is killed after this long (the whole benchmark stays bounded). */
const JVM_TIMEOUT_MS = 8 * 60_000;

/** What FlinkBench prints (flink/bench/src/main/java/io/floe/bench/FlinkBench.java). */
interface JvmResult {
  backend: string;
  api: string;
  keys: number;
  events: number;
  configuration: Record<string, string>;
  jvmCpuSecondsTotal?: number;
  runs: Array<{
    distribution: string;
    events: number;
    seconds: number;
    recordsPerSec: number;
    jvmCpuSeconds: number;
    stoppedBy: 'count' | 'time';
    checkpoints: Array<{ events: number; distinctKeys: number; ms: number; path: string; directoryBytes: number; span: Record<string, unknown> | null }>;
    restores: Array<{
      events: number;
      distinctKeys: number;
      submitToOpenMs: number;
      span: Record<string, unknown> | null;
      verifyEvents: number;
      verifySeconds: number;
      verifyMismatches: number;
    }>;
  }>;
}

function envNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const v = Number(raw.replace(/_/g, ''));
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return v;
}

/** Runs mvn; throws with its output when it fails. */
function maven(args: string[], log: (l: string) => void): void {
  log(`[flink] mvn ${args.join(' ')}`);
  const r = spawnSync('mvn', ['-q', '-B', ...args], { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.error) throw new Error(`could not run mvn (install Maven and Java 17): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`mvn ${args.join(' ')} failed (exit ${r.status}):\n${(r.stdout + r.stderr).slice(-4000)}`);
}

/** Compiles flink/bench (and flink/ when Floe runs) and returns the JVM classpath. */
function buildClasspath(withFloe: boolean, log: (l: string) => void): string {
  const cpFile = join(repoRoot, 'flink', 'bench', 'target', 'classpath.txt');
  maven(['-f', benchPom, 'compile', 'dependency:build-classpath', `-Dmdep.outputFile=${cpFile}`], log);
  const parts = [join(repoRoot, 'flink', 'bench', 'target', 'classes')];
  if (withFloe) {
    const floeCp = join(repoRoot, 'flink', 'target', 'bench-classpath.txt');
    maven(['-f', floePom, 'compile', 'dependency:build-classpath', '-Dmdep.includeScope=runtime', `-Dmdep.outputFile=${floeCp}`], log);
    parts.push(join(repoRoot, 'flink', 'target', 'classes'));
    // The backend has no runtime dependencies besides Flink (provided): Maven then may write no file.
    const extra = existsSync(floeCp) ? readFileSync(floeCp, 'utf8').trim() : '';
    if (extra) parts.push(extra);
  }
  parts.push(readFileSync(cpFile, 'utf8').trim());
  return parts.join(':');
}

/**
 * `floe daemon` with a file:// primary in dir; with latencyMs every primary request waits that long, and the
 * daemon gets the disk cache a remote (s3://, hdfs://) primary gets by default, `remoteDiskCacheBytes`: a
 * file:// primary defaults to none, and without it every block-cache miss of the 10 ms primary was a GET.
 */
function startDaemon(dir: string, blockCacheBytes: number, latencyMs: number | undefined, remoteDiskCacheBytes: number): Promise<DaemonChild> {
  const config = { primary: 'file://./data', localDir: './cache', blockCacheBytes, ...(latencyMs === undefined ? {} : { diskCacheBytes: remoteDiskCacheBytes }) };
  return startDaemonChild(dir, config, latencyMs === undefined ? {} : { latencyMs });
}

async function stopDaemon(d: DaemonChild): Promise<void> {
  await stopDaemonChild(d);
}

/** One backend's JVM; resolves with its parsed result. */
function runJvm(classpath: string, jvmArgs: string[], log: (l: string) => void): Promise<JvmResult> {
  return new Promise((resolve, reject) => {
    // FLINK_BENCH_JAVA_OPTS: extra JVM options for profiling runs (e.g. a JFR recording); committed runs leave it unset.
    const extra = (process.env.FLINK_BENCH_JAVA_OPTS ?? '').split(' ').filter((o) => o !== '');
    const child = spawn('java', ['-Xmx2g', ...extra, '-cp', classpath, 'io.floe.bench.FlinkBench', ...jvmArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let result: JvmResult | undefined;
    let error: string | undefined;
    const timer = setTimeout(() => {
      error = `killed after ${JVM_TIMEOUT_MS / 1000} s`;
      child.kill('SIGKILL');
    }, JVM_TIMEOUT_MS);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('FLINKBENCH-RESULT ')) result = JSON.parse(line.slice('FLINKBENCH-RESULT '.length)) as JvmResult;
      else if (line.startsWith('FLINKBENCH-ERROR ')) error = line.slice('FLINKBENCH-ERROR '.length);
      else log(`[flink] ${line}`);
    });
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('SLF4J:')) return;
      tail.push(line);
      if (tail.length > 60) tail.shift();
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (result !== undefined && code === 0) resolve(result);
      else reject(new Error(`FlinkBench ${jvmArgs.join(' ')} failed (exit ${code}): ${error ?? 'no result line'}\n${tail.join('\n')}`));
    });
  });
}

const SIZE_MODES = ['smaller state', 'larger state'];
const kKeys = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M keys` : `${Math.round(n / 1000)}k keys`);

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = Date.now();
  const machine = machineFacts();
  const env = process.env;
  const keys = args.quick ? Math.min(args.keys, 40_000) : args.keys;
  const events = Math.floor(envNumber(env, 'FLINK_BENCH_EVENTS', args.quick ? 100_000 : 2_000_000));
  const managed = env.FLINK_BENCH_MANAGED ?? '16m';
  const managedBytes = parseSize(managed);
  // Floe's JVM value cache is memory too: it comes out of the same budget as the daemon's block cache.
  const floeJvmCache = env.FLINK_BENCH_FLOE_JVM_CACHE === undefined ? Math.floor(managedBytes / 2) : parseSize(env.FLINK_BENCH_FLOE_JVM_CACHE);
  if (floeJvmCache >= managedBytes) throw new Error(`FLINK_BENCH_FLOE_JVM_CACHE must be less than FLINK_BENCH_MANAGED (${managed}): the daemon's block cache gets the rest`);
  const maxSeconds = envNumber(env, 'FLINK_BENCH_MAX_SECONDS', args.quick ? 30 : 60);
  // floe-10ms's disk cache (the 1 GiB default of a remote primary); FLINK_BENCH_FLOE_10MS_DISK_CACHE=0 turns it off.
  const remoteDiskCache = env.FLINK_BENCH_FLOE_10MS_DISK_CACHE === undefined ? 1024 * 2 ** 20 : parseSize(env.FLINK_BENCH_FLOE_10MS_DISK_CACHE);
  const checkpointAt = Math.floor(events / 5);
  const dists = DISTRIBUTIONS.filter((d) => args.workloads === undefined || args.workloads.includes(d));
  if (dists.length === 0) throw new Error(`--workloads must name uniform and/or zipf, got ${args.workloads?.join(',')}`);
  const wanted = RUN_ORDER.filter((s) => args.systems === undefined || args.systems.includes(s));
  const notes: string[] = [];
  const floeReady = existsSync(floeFactorySource);
  const floeSystems = wanted.filter((s) => s.startsWith('floe'));
  if (!floeReady && floeSystems.length > 0) {
    notes.push(`${floeSystems.join(' and ')} did not run: the Floe state backend (${floeFactorySource.slice(repoRoot.length)}) is not in this tree.`);
  }
  const toRun = wanted.filter((s) => floeReady || !s.startsWith('floe'));
  const floeApi = floeServesAsync() ? 'async' : 'sync';
  if (floeReady && floeSystems.length > 0) {
    notes.push(
      floeApi === 'async'
        ? 'floe runs the async State V2 job (its backend implements AsyncKeyedStateBackend), like forst-async.'
        : 'floe runs the sync-API job (like heap, rocksdb, forst-sync): this tree\'s Floe backend serves only the classic synchronous state API, so the async State V2 job would run through Flink\'s AsyncKeyedStateBackendAdaptor (a blocking call per request).',
    );
  }
  if (floeReady && floeSystems.length > 0) {
    const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
    notes.push(`floe memory: JVM value cache ${mib(floeJvmCache)} + daemon block cache ${mib(managedBytes - floeJvmCache)} = the ${managed} managed memory the other backends get.`);
  }
  const classpath = buildClasspath(floeReady && floeSystems.length > 0, args.log);

  const measurements: Measurement[] = [];
  const raw: Record<string, unknown> = {};
  const failures: string[] = [];
  for (const system of toRun) {
    const dir = await mkdtemp(join(tmpdir(), `floe-bench-flink-${system}-`));
    let daemon: DaemonChild | undefined;
    try {
      const jvmArgs = [
        '--backend', system.startsWith('floe') ? 'floe' : system,
        '--keys', String(keys),
        '--events', String(events),
        '--checkpoint-at', String(checkpointAt),
        '--dists', dists.join(','),
        '--checkpoint-dists', 'uniform',
        '--verify', String(VERIFY_EVENTS),
        '--max-seconds', String(maxSeconds),
        '--managed-memory', managed,
        '--seed', String(args.seed),
        '--work-dir', dir,
      ];
      if (system.startsWith('floe')) {
        jvmArgs.push('--api', floeApi);
        daemon = await startDaemon(dir, managedBytes - floeJvmCache, system === 'floe-10ms' ? LATENCY_MS : undefined, remoteDiskCache);
        jvmArgs.push('--floe-socket', daemon.socket, '--conf.state.backend.floe.cache-size', `${floeJvmCache}b`);
      }
      args.log(`[flink] ${system}: ${events.toLocaleString('en-US')} events × ${dists.join(', ')} over ${keys.toLocaleString('en-US')} keys (${dir})`);
      const t0 = Date.now();
      const daemonCpu0 = processCpuSeconds(daemon?.child.pid);
      const result = await runJvm(classpath, jvmArgs, args.log);
      const daemonCpu1 = processCpuSeconds(daemon?.child.pid);
      const wall = (Date.now() - t0) / 1000;
      args.log(`[flink] ${system}: done in ${wall.toFixed(1)} s`);
      raw[system] = {
        ...summarize(result),
        // The whole JVM run (both distributions, checkpoints, restores): the JVM's own CPU, and for Floe the
        // daemon's, a separate process the JVM's figure does not include.
        wallSeconds: Math.round(wall * 10) / 10,
        jvmCpuSecondsTotal: result.jvmCpuSecondsTotal,
        daemonCpuSeconds: daemonCpu0 !== undefined && daemonCpu1 !== undefined ? Math.round((daemonCpu1 - daemonCpu0) * 100) / 100 : undefined,
      };
      measurements.push(...toMeasurements(system, result, loadavg()[0]!, failures));
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      failures.push(`${system}: ${msg.split('\n')[0]}`);
      args.log(`[flink] ${system} FAILED: ${msg}`);
    } finally {
      if (daemon !== undefined) await stopDaemon(daemon);
      await rm(dir, { recursive: true, force: true });
    }
  }
  if (failures.length > 0) notes.push(...failures.map((f) => `FAILED ${f}`));
  notes.push(...targetNotes(measurements, raw));
  const systems = SYSTEMS.filter((s) => toRun.includes(s));
  const report: BenchReport = {
    name: 'flink',
    title: 'Flink 2.3 word count: Floe vs ForSt, RocksDB, heap',
    command: args.command,
    startedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: { ...machine, loadAvgEnd: Math.round(loadavg()[0]! * 100) / 100 },
    subject: systems.includes('floe') ? 'floe' : (systems[0] ?? 'floe'),
    systems,
    settings: {
      flink: '2.3.0 (Maven Central), local MiniCluster in one JVM per backend (-Xmx2g), parallelism 1',
      job: 'DataGeneratorSource → keyBy(word) → KeyedProcessFunction (ValueState<Long> count: read, +1, write, emit) → DiscardingSink',
      keys,
      keyBytes: 16,
      eventsPerDistribution: events,
      distributions: dists,
      zipfExponent: 0.99,
      managedMemory: managed,
      floeApi: floeReady ? floeApi : undefined,
      floeDaemon: { primary: 'file:// (local folder)', blockCacheBytes: managedBytes - floeJvmCache, jvmValueCacheBytes: floeJvmCache, injectedLatencyMs: { floe: 0, 'floe-10ms': LATENCY_MS }, diskCacheBytes: { floe: 0, 'floe-10ms': remoteDiskCache } },
      checkpoints: `incremental, retained; taken at ${checkpointAt.toLocaleString('en-US')} and ${events.toLocaleString('en-US')} events of the uniform run`,
      restore: `Flink's JobInitialization span (max initializeStateDurationMs), then ${VERIFY_EVENTS} records checked against recomputed counts`,
      maxSecondsPerPhase: maxSeconds,
      jvmTimeoutSeconds: JVM_TIMEOUT_MS / 1000,
      seed: args.seed,
      runs: raw,
    },
    measurements,
    ratios: [],
    notes,
  };
  // The peers' numbers are kept even when a backend failed; the failure is in the notes and the exit code.
  if (failures.length > 0) process.exitCode = 1;
  return report;
}

function parseSize(text: string): number {
  const m = /^(\d+)\s*([kmg]?)b?$/i.exec(text.trim());
  if (m === null) throw new Error(`FLINK_BENCH_MANAGED must look like 16m, got ${JSON.stringify(text)}`);
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}


/** The per-backend facts worth keeping in the JSON (no checkpoint paths: they point into a deleted folder). */
function summarize(r: JvmResult) {
  return {
    api: r.api,
    configuration: r.configuration,
    runs: r.runs.map((run) => ({
      distribution: run.distribution,
      events: run.events,
      seconds: run.seconds,
      recordsPerSec: Math.round(run.recordsPerSec),
      jvmCpuSeconds: run.jvmCpuSeconds,
      stoppedBy: run.stoppedBy,
      checkpoints: run.checkpoints.map((c) => ({
        events: c.events,
        distinctKeys: c.distinctKeys,
        ms: Math.round(c.ms),
        directoryBytes: c.directoryBytes,
        fullSize: c.span?.fullSize,
        checkpointedSize: c.span?.checkpointedSize,
        maxSyncCheckpointDurationMs: c.span?.maxSyncCheckpointDurationMs,
        maxAsyncCheckpointDurationMs: c.span?.maxAsyncCheckpointDurationMs,
      })),
      restores: run.restores.map((x) => ({
        events: x.events,
        distinctKeys: x.distinctKeys,
        initializeStateMs: typeof x.span?.maxInitializeStateDurationMs === 'number' ? x.span.maxInitializeStateDurationMs : undefined,
        submitToOpenMs: Math.round(x.submitToOpenMs),
        span: x.span,
        verifyEvents: x.verifyEvents,
        verifySeconds: x.verifySeconds,
        verifyMismatches: x.verifyMismatches,
      })),
    })),
  };
}

function toMeasurements(system: SystemId, r: JvmResult, load: number, failures: string[]): Measurement[] {
  const out: Measurement[] = [];
  const loadAvg1m = Math.round(load * 100) / 100;
  const timed = (workload: string, mode: string, unit: string, ms: number): void => {
    out.push({ workload, mode, system, unit, ops: 1, seconds: ms / 1000, opsPerSec: 1000 / ms, stoppedBy: 'count', loadAvg1m });
  };
  for (const run of r.runs) {
    out.push({
      workload: `word count ${run.distribution}`,
      mode: 'parallelism 1',
      system,
      unit: 'record',
      ops: run.events,
      seconds: run.seconds,
      opsPerSec: run.recordsPerSec,
      stoppedBy: run.stoppedBy,
      loadAvg1m,
    });
    // Rows by state size rank (a backend out of time checkpoints a smaller state: the key counts are in the
    // notes and the JSON).
    for (const [i, c] of run.checkpoints.entries()) timed('checkpoint', SIZE_MODES[i] ?? `state ${i + 1}`, 'checkpoint, trigger → complete', c.ms);
    run.restores.forEach((x, i) => {
      const mode = SIZE_MODES[i] ?? `state ${i + 1}`;
      const init = x.span?.maxInitializeStateDurationMs;
      if (typeof init === 'number') timed('restore', mode, 'restore: state initialization', Math.max(init, 1));
      else failures.push(`${system}: no JobInitialization span after restoring ${x.events} events`);
      timed(`first ${x.verifyEvents} records after restore`, mode, `${x.verifyEvents} records`, x.verifySeconds * 1000);
      if (x.verifyMismatches !== 0) failures.push(`${system}: ${x.verifyMismatches} wrong counts after restoring ${x.events} events`);
    });
  }
  return out;
}

/** The targets, met or not, from this run's numbers. */
function targetNotes(ms: Measurement[], raw: Record<string, unknown>): string[] {
  const rate = (system: string, workload: string): number | undefined => ms.find((m) => m.system === system && m.workload === workload)?.opsPerSec;
  const notes: string[] = [];
  for (const d of DISTRIBUTIONS) {
    const w = `word count ${d}`;
    const floe = rate('floe', w);
    const forst = rate('forst-async', w);
    const slow = rate('floe-10ms', w);
    const rocks = rate('rocksdb', w);
    if (floe !== undefined && forst !== undefined) {
      notes.push(`target ${d}: floe ≥ forst-async (both on a local-folder primary): ${Math.round(floe)} vs ${Math.round(forst)} records/s = ${(floe / forst).toFixed(2)}× — ${floe >= forst ? 'met' : 'NOT met'}`);
    }
    if (slow !== undefined && rocks !== undefined) {
      notes.push(`target ${d}: floe-10ms ≥ 0.83 × rocksdb: ${Math.round(slow)} vs ${Math.round(rocks)} records/s = ${(slow / rocks).toFixed(2)}× — ${slow >= 0.83 * rocks ? 'met' : 'NOT met'}`);
    }
  }
  for (const s of SYSTEMS) {
    const r = raw[s] as ReturnType<typeof summarize> | undefined;
    const run = r?.runs.find((x) => x.checkpoints.length === 2);
    if (run === undefined) continue;
    const [c1, c2] = run.checkpoints as [(typeof run.checkpoints)[0], (typeof run.checkpoints)[0]];
    const [r1, r2] = run.restores;
    const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? `${(b / a).toFixed(2)}×` : '–');
    notes.push(
      `${s}: checkpoint ${c1.ms} ms at ${kKeys(c1.distinctKeys)}, ${c2.ms} ms at ${kKeys(c2.distinctKeys)} (${ratio(c1.ms, c2.ms)}); ` +
        `restore ${r1?.initializeStateMs ?? '–'} ms, ${r2?.initializeStateMs ?? '–'} ms (${ratio(r1?.initializeStateMs, r2?.initializeStateMs)})`,
    );
  }
  return notes;
}

/** records/s per distribution; checkpoint, restore and post-restore times per state size. */
export function plots(report: BenchReport): Array<{ suffix: string; svg: string }> {
  const subtitle = `${report.machine.nproc} cores · ${report.startedAt.slice(0, 10)} · Flink 2.3.0 MiniCluster, parallelism 1, one JVM per backend`;
  const byWorkload = (pred: (m: Measurement) => boolean): string[] => [...new Set(report.measurements.filter(pred).map((m) => `${m.workload} @ ${m.mode}`))];
  const value = (cat: string, system: string, f: (m: Measurement) => number): number | undefined => {
    const m = report.measurements.find((x) => `${x.workload} @ ${x.mode}` === cat && x.system === system);
    return m === undefined ? undefined : f(m);
  };
  const rateCats = byWorkload((m) => m.workload.startsWith('word count'));
  const timeCats = byWorkload((m) => !m.workload.startsWith('word count'));
  return [
    {
      suffix: 'records',
      svg: barChartSvg({
        title: `${report.title}: records/s`,
        subtitle,
        categories: rateCats.map((c) => c.replace(' @ parallelism 1', '')),
        series: report.systems.map((s) => ({ name: s, values: rateCats.map((c) => value(c, s, (m) => m.opsPerSec)) })),
        valueLabel: 'records per second (higher is better)',
        scale: 'log',
      }),
    },
    {
      suffix: 'checkpoint',
      svg: barChartSvg({
        title: `${report.title}: checkpoint and restore time by state size`,
        subtitle,
        categories: timeCats,
        series: report.systems.map((s) => ({ name: s, values: timeCats.map((c) => value(c, s, (m) => m.seconds * 1000)) })),
        valueLabel: 'milliseconds (lower is better)',
        scale: 'log',
        formatValue: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`),
      }),
    },
  ];
}
