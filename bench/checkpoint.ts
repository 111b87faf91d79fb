/**
 * The checkpoint benchmark: what checkpoints, restores and rescales cost as state grows, against a
 * download-based restore measured in the same run.
 *
 * Primary storage is file:// in a temp folder behind a FaultInjectingObjectStore that adds 10 ms to every
 * request (a remote store's latency; its bandwidth is the local disk's, which favours the download baseline).
 * For each state size (default 100 MiB and 1 GiB; --quick: 16 and 64 MiB; 10 GiB only when asked for with
 * --workloads 10GiB) it:
 *   1. builds the state: 16-byte keys with 4 KiB incompressible values, written in physical-key order
 *      (key group i·128/N) in batches through 64 MiB memtables, then flush + compaction until idle;
 *   2. times checkpoint() of the settled state, then of the state plus 1% new writes (the flush included);
 *   3. restore: restoreStore() of the checkpoint into a new instance (empty local folder) + the first get;
 *   4. rescale to 2 and to 4 key-group ranges: the instances restored concurrently, each with its first
 *      get; the time is until the last first read returns;
 *   (steps 2-4 and 6 run ROUNDS times each, every time into new instances; the median is reported, all
 *   samples are kept in the JSON: the machine is shared and single samples of ~100 ms are noisy)
 *   5. counts SST bytes written to the primary by steps 3-4 (listing sst/ before and after: must be 0);
 *   6. the baseline: download every SST of the checkpoint (16 at a time, through the same latency-wrapped
 *      store) and the record into a local folder (no fsync: the baseline's best case), then open the copy
 *      as a store and do the same first get.
 * Every first get is checked against the value written last for its key.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { CheckpointHandle, StoreOptions } from '../lib/api.js';
import { readCheckpointRecord } from '../lib/checkpoint/checkpoint-record.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { openObjectStore } from '../lib/store/open.js';
import { checkpointPath, SST_PREFIX, sstPath } from '../lib/store/paths.js';
import { Random } from '../lib/util/random.js';
import { compactNumber, lineChartSvg, barChartSvg } from './plot.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { benchKey, ObservedObjectStore, ValuePool, type RequestRecord } from './workload.js';

const MiB = 2 ** 20;
const GiB = 2 ** 30;
const VALUE_BYTES = 4096;
const LATENCY_MS = 10;
const MAX_KEY_GROUPS = 128;
const WRITE_BATCH = 256;
const DOWNLOAD_PARALLEL = 16;
const DELTA_SHARE = 0.01;
const ROUNDS = 3;

export const SIZES: Record<string, number> = { '16MiB': 16 * MiB, '64MiB': 64 * MiB, '100MiB': 100 * MiB, '1GiB': GiB, '10GiB': 10 * GiB };
const DEFAULT_SIZES = ['100MiB', '1GiB'];
const QUICK_SIZES = ['16MiB', '64MiB'];

const SYSTEM = 'floe (by reference)';
const BASELINE = 'download baseline';

export interface SizeResult {
  size: string;
  targetBytes: number;
  stateBytes: number;
  entries: number;
  files: number;
  buildSeconds: number;
  /** checkpoint() of the settled state (nothing to flush). */
  checkpointMs: number;
  /** checkpoint() after 1% new writes, the flush included (median; samples below). */
  checkpointDeltaMs: number;
  checkpointDeltaSamples: number[];
  deltaBytes: number;
  /** Medians over ROUNDS; the samples follow. */
  restoreMs: number;
  restoreSamples: number[];
  /** Requests the median restore (+ first read) sent to the primary, by kind, and its sequential round trips. */
  restoreRequests: Record<string, number>;
  restoreRoundTrips: number;
  rescale2Ms: number;
  rescale2Samples: number[];
  /** Per-part times of the median rescale-to-2 round. */
  rescale2PartsMs: number[];
  rescale4Ms: number;
  rescale4Samples: number[];
  rescale4PartsMs: number[];
  /** New SST objects / bytes on the primary after all restores and rescales (must be 0). */
  newSstObjects: number;
  newSstBytes: number;
  /** What the restored instances wrote (manifests only) and read, summed over all restores and rescales. */
  restoredInstances: number;
  restoredBytesWritten: number;
  restoredPuts: number;
  restoredGets: number;
  restoredBytesRead: number;
  downloadMs: number;
  downloadSamples: number[];
  downloadBytes: number;
  /** SSTs the restored checkpoint references (the settled state's files plus the 1% deltas' L0 files). */
  checkpointFiles: number;
  /** downloadMs / restoreMs (medians) */
  speedup: number;
}

const round = (v: number, d = 1): number => Math.round(v * 10 ** d) / 10 ** d;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function latencyWrapper(seed: number, trace?: RequestTrace): (b: ObjectStore) => ObjectStore {
  return (b) => {
    const slow = new FaultInjectingObjectStore(b, { latency: LATENCY_MS, seed });
    return trace === undefined ? slow : new ObservedObjectStore(slow, (r) => trace.push(r));
  };
}

/** Every request a traced restore sent to the primary. */
type RequestTrace = RequestRecord[];

/**
 * Requests by kind, and the number of sequential waves: maximal groups of overlapping requests, i.e. the
 * round trips on the critical path (each costs at least the injected latency).
 */
function summarizeTrace(trace: RequestTrace): { requests: Record<string, number>; waves: number } {
  const requests: Record<string, number> = {};
  for (const r of trace) requests[r.op] = (requests[r.op] ?? 0) + 1;
  const spans = [...trace].sort((a, b) => a.start - b.start);
  let waves = 0;
  let end = -Infinity;
  for (const r of spans) {
    if (r.start >= end) waves++;
    end = Math.max(end, r.end);
  }
  return { requests, waves };
}

/** SST objects on the primary (path → size), listed without latency. */
async function listSsts(primary: string): Promise<Map<string, number>> {
  const { store } = await openObjectStore(primary);
  try {
    return new Map((await store.list(SST_PREFIX)).map((o) => [o.path, o.size]));
  } finally {
    await store.close();
  }
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const chosen = args.workloads ?? (args.quick ? QUICK_SIZES : DEFAULT_SIZES);
  const unknown = chosen.filter((s) => SIZES[s] === undefined);
  if (unknown.length || chosen.length === 0) throw new Error(`unknown state size(s) ${unknown.join(', ')}; known: ${Object.keys(SIZES).join(', ')}`);
  const sizes = [...chosen].sort((a, b) => SIZES[a]! - SIZES[b]!);
  const notes: string[] = [];
  const note = (line: string): void => {
    notes.push(line);
    args.log(`  · ${line}`);
  };
  const values = new ValuePool(args.seed, VALUE_BYTES);
  const scratch = await mkdtemp(join(tmpdir(), 'floe-cpbench-'));
  const results: SizeResult[] = [];
  let seed = args.seed;
  try {
    for (const size of sizes) {
      const r = await measureSize(size, SIZES[size]!, join(scratch, size), values, () => ++seed, args.log);
      results.push(r);
      args.log(
        `  ${size}: state ${(r.stateBytes / MiB).toFixed(0)} MiB in ${r.files} SSTs (built in ${r.buildSeconds} s); checkpoint ${r.checkpointMs} ms ` +
          `(+1% writes: ${r.checkpointDeltaMs} ms); restore+first read ${r.restoreMs} ms (${r.restoreRoundTrips} round trips: ${JSON.stringify(r.restoreRequests)}); rescale×2 ${r.rescale2Ms} ms; rescale×4 ${r.rescale4Ms} ms; ` +
          `download baseline ${r.downloadMs} ms (${r.speedup.toFixed(1)}× slower); new SST bytes ${r.newSstBytes}`,
      );
      await rm(join(scratch, size), { recursive: true, force: true });
    }
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }

  const measurements: Measurement[] = [];
  const load = round(loadavg()[0]!, 2);
  const timed = (workload: string, size: string, system: string, ms: number, unit: string): void => {
    measurements.push({ workload, mode: size, system, unit, ops: 1, seconds: ms / 1000, opsPerSec: 1000 / ms, stoppedBy: 'count', loadAvg1m: load });
  };
  for (const r of results) {
    timed('checkpoint', r.size, SYSTEM, r.checkpointMs, 'one checkpoint');
    timed('checkpoint +1% writes', r.size, SYSTEM, r.checkpointDeltaMs, 'one checkpoint');
    timed('restore + first read', r.size, SYSTEM, r.restoreMs, 'one restore');
    timed('restore + first read', r.size, BASELINE, r.downloadMs, 'one restore');
    timed('rescale to 2 + first reads', r.size, SYSTEM, r.rescale2Ms, 'one rescale');
    timed('rescale to 4 + first reads', r.size, SYSTEM, r.rescale4Ms, 'one rescale');
  }
  if (results.length > 0) {
    const first = results[0]!;
    const last = results[results.length - 1]!;
    const flat = (f: (r: SizeResult) => number): string => (f(last) / f(first)).toFixed(2);
    note(
      `from ${first.size} to ${last.size} (${(last.stateBytes / first.stateBytes).toFixed(1)}× the state): restore time ×${flat((r) => r.restoreMs)}, ` +
        `rescale×2 ×${flat((r) => r.rescale2Ms)}, rescale×4 ×${flat((r) => r.rescale4Ms)}, download baseline ×${flat((r) => r.downloadMs)} (target: restore/rescale within 2×)`,
    );
    note(`download baseline ÷ restore by reference at ${last.size}: ${last.speedup.toFixed(1)}× (target ≥ 100× at 1 GiB)`);
    for (const r of results) {
      note(
        `${r.size}: a restore + first read sent ${Object.entries(r.restoreRequests).map(([k, v]) => `${v} ${k}`).join(', ')} to the primary in ` +
          `${r.restoreRoundTrips} sequential round trips (${r.checkpointFiles} SSTs in the checkpoint)`,
      );
    }
    note(`SST bytes written to the primary by all restores and rescales: ${results.map((r) => `${r.size} ${r.newSstBytes}`).join(', ')} (target 0)`);
    if (!sizes.includes('10GiB')) note('10 GiB was not run: building it takes far longer than the ~10 minute budget on this 2-core machine (pass --workloads 10GiB to run it)');
  }

  const report: BenchReport & { details: { sizes: SizeResult[] } } = {
    name: 'checkpoint',
    title: `Checkpoint, restore and rescale vs state size (${LATENCY_MS} ms per request)`,
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
    machine: { ...machine, loadAvgEnd: load },
    subject: SYSTEM,
    systems: [SYSTEM, BASELINE],
    settings: {
      sizes,
      valueBytes: VALUE_BYTES,
      keyBytes: 16,
      latencyMs: LATENCY_MS,
      primary: 'file:// (temp folder) + FaultInjectingObjectStore latency 10 ms on every request',
      memtableBytes: 64 * MiB,
      deltaShare: DELTA_SHARE,
      downloadParallel: DOWNLOAD_PARALLEL,
      restoredStore: { blockCacheBytes: 16 * MiB, diskCacheBytes: 64 * MiB },
      seed: args.seed,
    },
    measurements,
    ratios: [],
    notes,
    details: { sizes: results },
  };
  return report;
}

/** Builds one state size and measures everything on it. */
async function measureSize(
  size: string,
  target: number,
  dir: string,
  values: ValuePool,
  nextSeed: () => number,
  log: (l: string) => void,
): Promise<SizeResult> {
  const primary = pathToFileURL(join(dir, 'primary')).href;
  const entries = Math.max(1000, Math.round(target / (VALUE_BYTES + 16)));
  const keyGroupOf = (i: number): number => Math.floor((i * MAX_KEY_GROUPS) / entries);
  const generation = new Map<number, number>();
  const base: StoreOptions = { primary, maxKeyGroups: MAX_KEY_GROUPS, blockCacheBytes: 16 * MiB };

  // 1. build
  log(`  ${size}: building ${entries.toLocaleString('en-US')} entries of ${VALUE_BYTES} B on ${primary} (+${LATENCY_MS} ms per request)`);
  const tb = performance.now();
  const store = await openLsmStore({ ...base, localDir: join(dir, 'build'), diskCacheBytes: 0, memtableBytes: 64 * MiB }, { inject: latencyWrapper(nextSeed()) });
  let handle!: CheckpointHandle;
  let checkpointMs: number;
  const checkpointDeltaSamples: number[] = [];
  let deltaBytes = 0;
  let stateBytes: number;
  let files: number;
  let buildSeconds: number;
  try {
    for (let i = 0; i < entries; i += WRITE_BATCH) {
      const ops = [];
      for (let j = i; j < Math.min(entries, i + WRITE_BATCH); j++) ops.push({ type: 'put' as const, key: benchKey(j), value: values.value(j), keyGroup: keyGroupOf(j) });
      await store.write(ops);
    }
    await store.flush();
    await store.compactUntilIdle();
    buildSeconds = round((performance.now() - tb) / 1000);
    const st = store.stats();
    stateBytes = st.lsm.levels.reduce((s, l) => s + l.bytes, 0);
    files = st.lsm.levels.reduce((s, l) => s + l.files, 0);

    // 2. checkpoints: the settled state, then ROUNDS times 1% new writes + checkpoint (each releases the previous)
    let t = performance.now();
    let previous = await store.checkpoint();
    checkpointMs = round(performance.now() - t);
    const random = new Random(nextSeed());
    const delta = Math.max(1, Math.floor(entries * DELTA_SHARE));
    for (let gen = 1; gen <= ROUNDS; gen++) {
      const ops = [];
      for (let k = 0; k < delta; k++) {
        const i = random.int(entries);
        generation.set(i, gen);
        ops.push({ type: 'put' as const, key: benchKey(i), value: values.value(i, gen), keyGroup: keyGroupOf(i) });
      }
      for (let k = 0; k < ops.length; k += WRITE_BATCH) await store.write(ops.slice(k, k + WRITE_BATCH));
      deltaBytes = delta * (VALUE_BYTES + 16);
      t = performance.now();
      handle = await store.checkpoint();
      checkpointDeltaSamples.push(round(performance.now() - t));
      await store.releaseCheckpoint(previous);
      previous = handle;
    }
  } finally {
    await store.close();
  }
  // A JSON round trip, as a handle stored by a job manager would be.
  handle = JSON.parse(JSON.stringify(handle)) as CheckpointHandle;

  /** The index of a key in key-group range [a, b], and a check of the value a restored store returns for it. */
  const probe = (range: [number, number]): { key: Buffer; keyGroup: number; check: (v: Uint8Array | undefined) => void } => {
    const i = Math.min(entries - 1, Math.floor((((range[0] + range[1] + 1) / 2) * entries) / MAX_KEY_GROUPS));
    const kg = keyGroupOf(i);
    if (kg < range[0] || kg > range[1]) throw new Error(`probe key ${i} is in key group ${kg}, outside [${range[0]}, ${range[1]}]`);
    const want = values.value(i, generation.get(i) ?? 0);
    return {
      key: benchKey(i),
      keyGroup: kg,
      check: (v) => {
        if (v === undefined || !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(want)) {
          throw new Error(`${size}: the restored store returned ${v === undefined ? 'nothing' : 'other bytes'} for key ${i}`);
        }
      },
    };
  };

  const before = await listSsts(primary);
  const restoredStats = { bytesWritten: 0, puts: 0, gets: 0, bytesRead: 0 };
  let restoreCount = 0;
  /** Restores `range` into a new instance with an empty local folder and reads one key; returns ms and the store. */
  const restoreOne = async (range: [number, number], trace?: RequestTrace): Promise<{ ms: number; lsm: LsmStore }> => {
    const id = `r${++restoreCount}`;
    const p = probe(range);
    const localDir = join(dir, `local-${id}`);
    const t = performance.now();
    const lsm = await restoreStore(
      { ...base, localDir, diskCacheBytes: 64 * MiB, instanceId: id },
      [handle],
      { keyGroups: range },
      { inject: latencyWrapper(nextSeed(), trace) },
    );
    p.check(await lsm.get(p.key, { keyGroup: p.keyGroup }));
    return { ms: round(performance.now() - t), lsm };
  };
  const closeAll = async (stores: LsmStore[]): Promise<void> => {
    for (const s of stores) {
      const r = s.stats().remote;
      restoredStats.bytesWritten += r.bytesWritten;
      restoredStats.puts += r.puts;
      restoredStats.gets += r.gets;
      restoredStats.bytesRead += r.bytesRead;
      await s.close();
    }
  };
  const ranges = (k: number): Array<[number, number]> =>
    Array.from({ length: k }, (_, j) => [Math.floor((j * MAX_KEY_GROUPS) / k), Math.floor(((j + 1) * MAX_KEY_GROUPS) / k) - 1] as [number, number]);
  const rescale = async (k: number): Promise<{ ms: number; parts: number[] }> => {
    const t = performance.now();
    const parts = await Promise.all(ranges(k).map((r) => restoreOne(r)));
    const ms = round(performance.now() - t);
    await closeAll(parts.map((p) => p.lsm));
    return { ms, parts: parts.map((p) => p.ms) };
  };

  // 3-4. restore and rescales, ROUNDS times each (interleaved), into new instances every time
  const restoreSamples: number[] = [];
  const restoreTraces: Array<ReturnType<typeof summarizeTrace>> = [];
  const rescale2: Array<{ ms: number; parts: number[] }> = [];
  const rescale4: Array<{ ms: number; parts: number[] }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const trace: RequestTrace = [];
    const one = await restoreOne([0, MAX_KEY_GROUPS - 1], trace);
    restoreSamples.push(one.ms);
    restoreTraces.push(summarizeTrace(trace));
    await closeAll([one.lsm]);
    rescale2.push(await rescale(2));
    rescale4.push(await rescale(4));
  }
  const medianRound = (rs: Array<{ ms: number; parts: number[] }>): { ms: number; parts: number[] } => {
    const m = median(rs.map((x) => x.ms));
    return rs.find((x) => x.ms === m) ?? rs.slice().sort((x, y) => x.ms - y.ms)[Math.floor(rs.length / 2)]!;
  };

  // 5. nothing copied
  const after = await listSsts(primary);
  let newSstObjects = 0;
  let newSstBytes = 0;
  for (const [path, bytes] of after) {
    if (before.get(path) !== bytes) {
      newSstObjects++;
      newSstBytes += bytes;
    }
  }

  // 6. download baseline, ROUNDS times (each into a fresh folder)
  const downloads: Array<{ ms: number; bytes: number; files: number }> = [];
  for (let r = 0; r < ROUNDS; r++) {
    const target = join(dir, `download-${r}`);
    downloads.push(await downloadRestore(primary, handle, target, base, probe([0, MAX_KEY_GROUPS - 1]), nextSeed()));
    await rm(target, { recursive: true, force: true });
  }
  const restoreMs = median(restoreSamples);
  const downloadMs = median(downloads.map((d) => d.ms));
  const r2 = medianRound(rescale2);
  const r4 = medianRound(rescale4);

  return {
    size,
    targetBytes: target,
    stateBytes,
    entries,
    files,
    buildSeconds,
    checkpointMs,
    checkpointDeltaMs: median(checkpointDeltaSamples),
    checkpointDeltaSamples,
    deltaBytes,
    restoreMs,
    restoreSamples,
    restoreRequests: restoreTraces[restoreSamples.indexOf(restoreMs)]?.requests ?? {},
    restoreRoundTrips: restoreTraces[restoreSamples.indexOf(restoreMs)]?.waves ?? 0,
    rescale2Ms: r2.ms,
    rescale2Samples: rescale2.map((x) => x.ms),
    rescale2PartsMs: r2.parts,
    rescale4Ms: r4.ms,
    rescale4Samples: rescale4.map((x) => x.ms),
    rescale4PartsMs: r4.parts,
    newSstObjects,
    newSstBytes,
    restoredInstances: restoreCount,
    restoredBytesWritten: restoredStats.bytesWritten,
    restoredPuts: restoredStats.puts,
    restoredGets: restoredStats.gets,
    restoredBytesRead: restoredStats.bytesRead,
    downloadMs,
    downloadSamples: downloads.map((d) => d.ms),
    downloadBytes: downloads[0]!.bytes,
    checkpointFiles: downloads[0]!.files,
    speedup: round(downloadMs / restoreMs, 2),
  };
}

/**
 * The download-based restore: every SST of the checkpoint and its record fetched through the latency-wrapped
 * primary into a local folder, then the copy opened as a store (restored from the copied record, no latency)
 * and one key read.
 */
async function downloadRestore(
  primary: string,
  handle: CheckpointHandle,
  dir: string,
  base: StoreOptions,
  p: { key: Buffer; keyGroup: number; check: (v: Uint8Array | undefined) => void },
  seed: number,
): Promise<{ ms: number; bytes: number; files: number }> {
  const copyUri = pathToFileURL(join(dir, 'copy')).href;
  const t = performance.now();
  const { store: remote } = await openObjectStore(primary, { inject: latencyWrapper(seed) });
  const { store: local } = await openObjectStore(copyUri, { local: { durable: false } });
  let bytes = 0;
  let files = 0;
  try {
    const recordPath = checkpointPath(handle.checkpointId);
    const record = await readCheckpointRecord(remote, recordPath);
    const ids = [...record.files];
    files = ids.length;
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const path = sstPath(ids[next++]!);
        const b = await remote.get(path);
        bytes += b.length;
        await local.put(path, b);
      }
    };
    await Promise.all(Array.from({ length: DOWNLOAD_PARALLEL }, worker));
    await local.put(recordPath, await remote.get(recordPath));
  } finally {
    await remote.close();
    await local.close();
  }
  const lsm = await restoreStore({ ...base, primary: copyUri, localDir: join(dir, 'local'), diskCacheBytes: 0, instanceId: 'downloaded' }, [{ ...handle, primary: copyUri }]);
  try {
    p.check(await lsm.get(p.key, { keyGroup: p.keyGroup }));
    return { ms: round(performance.now() - t), bytes, files };
  } finally {
    await lsm.close();
  }
}

/** The checkpoint benchmark's own plots: time against state size, and the download baseline's slowdown. */
export function plots(report: BenchReport): Array<{ suffix: string; svg: string }> {
  const sizes = ((report as BenchReport & { details?: { sizes?: SizeResult[] } }).details?.sizes ?? []).slice();
  if (sizes.length === 0) return [];
  const subtitle = `${report.machine.nproc} cores · Node ${report.machine.node} · ${report.startedAt.slice(0, 10)} · file:// + ${LATENCY_MS} ms per request · same run`;
  const pts = (f: (r: SizeResult) => number): Array<[number, number]> => sizes.map((r) => [r.stateBytes / MiB, f(r) / 1000]);
  const fmtS = (v: number): string => (v >= 1 ? `${compactNumber(v)} s` : `${compactNumber(v * 1000)} ms`);
  return [
    {
      suffix: 'time',
      svg: lineChartSvg({
        title: 'Restore and rescale time vs state size',
        subtitle,
        xLabel: 'state size (MiB)',
        yLabel: 'seconds until the first read returns',
        xScale: 'log',
        yScale: 'log',
        formatY: fmtS,
        series: [
          { name: 'restore (Floe, by reference)', points: pts((r) => r.restoreMs) },
          { name: 'rescale to 2', points: pts((r) => r.rescale2Ms) },
          { name: 'rescale to 4', points: pts((r) => r.rescale4Ms) },
          { name: 'checkpoint', points: pts((r) => r.checkpointMs) },
          { name: 'download baseline', points: pts((r) => r.downloadMs) },
        ],
      }),
    },
    {
      suffix: 'speedup',
      svg: barChartSvg({
        title: 'Download-based restore time ÷ restore by reference',
        subtitle,
        categories: sizes.map((r) => `${r.size} (${(r.stateBytes / MiB).toFixed(0)} MiB state)`),
        series: [{ name: 'download ÷ by reference', values: sizes.map((r) => r.speedup) }],
        valueLabel: 'times faster to restore by reference',
        scale: 'log',
        referenceLine: { value: 100, label: 'target 100×' },
        formatValue: (v) => `${v >= 10 ? v.toFixed(0) : v.toFixed(1)}×`,
      }),
    },
  ];
}
