/**
 * The verify benchmark: how fast `floe verify` reads a store, and how much memory it holds, against the
 * floor of reading the same bytes without verifying them.
 *
 *   1. builds a store on file:// in a temp folder: 16 KiB incompressible values, compression 'none',
 *      64 MiB memtables flushed into ~64 MiB SSTs (512 MiB in all; 64 MiB with --quick), then a checkpoint;
 *   2. in a fresh child process per run (so the peak RSS is that run's alone), either
 *      - `floe verify` (verifyStore) with its defaults (4 files at a time, 4 MiB windows) or with
 *        P files at a time and W MiB windows ("verify-PxWMiB"), or
 *      - the peer "plain read": every live SST read in the same 4 MiB ranges, 4 files at a time, through
 *        the same object store, checking nothing;
 *      and reports MiB/s of live SST bytes and the peak RSS above the RSS just before the run (sampled every
 *      50 ms by a thread of its own: bench/compaction-memory.ts `startSampler`).
 * The OS page cache holds the files after the build (the machine has the memory), so this measures CPU
 * cost of verifying, not the disk.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openLsmStore } from '../lib/embedded.js';
import { readLatestManifest } from '../lib/lsm/manifest.js';
import { openObjectStore } from '../lib/store/open.js';
import { sstPath } from '../lib/store/paths.js';
import { verifyStore } from '../lib/tools/verify.js';
import { Semaphore } from '../lib/util/semaphore.js';
import { startSampler } from './compaction-memory.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { ValuePool } from './workload.js';

const MiB = 2 ** 20;
const VALUE_BYTES = 16 * 1024;
const RUNS: Record<string, { system: string; parallel: number; windowBytes: number; verify: boolean }> = {
  verify: { system: 'floe verify', parallel: 4, windowBytes: 4 * MiB, verify: true },
  'verify-1x4MiB': { system: 'floe verify', parallel: 1, windowBytes: 4 * MiB, verify: true },
  'verify-4x1MiB': { system: 'floe verify', parallel: 4, windowBytes: 1 * MiB, verify: true },
  'verify-1x1MiB': { system: 'floe verify', parallel: 1, windowBytes: 1 * MiB, verify: true },
  'plain-read': { system: 'plain read', parallel: 4, windowBytes: 4 * MiB, verify: false },
};
const CHILD_FLAG = '--verify-child';

interface ChildResult {
  seconds: number;
  bytes: number;
  files: number;
  ok: boolean;
  baselineRss: number;
  peakRss: number;
}

/** Child process: one run against the store at `uri`; prints ChildResult as JSON. */
async function child(uri: string, run: string): Promise<void> {
  const r = RUNS[run]!;
  const { store } = await openObjectStore(uri, { skipProbe: true });
  const baselineRss = process.memoryUsage.rss();
  const sampler = startSampler();
  const t0 = performance.now();
  let bytes = 0;
  let files = 0;
  let ok = true;
  if (r.verify) {
    const report = await verifyStore(store, { parallel: r.parallel, windowBytes: r.windowBytes });
    bytes = report.counts.sstBytes;
    files = report.counts.ssts;
    ok = report.ok;
  } else {
    const latest = (await readLatestManifest(store, 'bench'))!;
    const pool = new Semaphore(r.parallel);
    await Promise.all(
      latest.version.allFiles().map((f) =>
        pool.run(async () => {
          for (let at = 0; at < f.size; at += r.windowBytes) {
            const got = await store.get(sstPath(f.fileId), { offset: at, length: Math.min(r.windowBytes, f.size - at) });
            bytes += got.length; // after the await: `bytes += await …` would lose concurrent updates
          }
          files++;
        }),
      ),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  const peakRss = (await sampler.stop()).max;
  await store.close();
  process.stdout.write(`${JSON.stringify({ seconds, bytes, files, ok, baselineRss, peakRss } satisfies ChildResult)}\n`);
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] === fileURLToPath(import.meta.url)) {
  child(process.argv[3]!, process.argv[4]!).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

async function build(dir: string, bytes: number, seed: number): Promise<string> {
  const primary = `file://${join(dir, 'data')}`;
  const store = await openLsmStore({
    primary,
    localDir: join(dir, 'local'),
    instanceId: 'bench',
    compression: 'none',
    memtableBytes: 64 * MiB,
    targetFileBytes: 64 * MiB,
    levelBaseBytes: 64 * 1024 * MiB,
    l0CompactionTrigger: 1000,
    l0StopWritesTrigger: 2000,
  });
  const values = new ValuePool(seed, VALUE_BYTES, 16 * MiB);
  const count = Math.ceil(bytes / VALUE_BYTES);
  for (let i = 0; i < count; i++) await store.put(`key-${String(i).padStart(10, '0')}`, values.value(i));
  await store.flush();
  await store.checkpoint();
  await store.close();
  return primary;
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const size = args.quick ? 64 * MiB : 512 * MiB;
  const runs = args.workloads ?? Object.keys(RUNS);
  const unknown = runs.filter((w) => RUNS[w] === undefined);
  if (unknown.length) throw new Error(`unknown workload(s) ${unknown.join(', ')}; known: ${Object.keys(RUNS).join(', ')}`);
  const dir = await mkdtemp(join(tmpdir(), 'floe-verifybench-'));
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  const results: Array<ChildResult & { run: string }> = [];
  try {
    const b0 = performance.now();
    const uri = await build(dir, size, args.seed);
    args.log(`  built ${(size / MiB).toFixed(0)} MiB in ${((performance.now() - b0) / 1000).toFixed(1)} s`);
    for (const name of runs) {
      const c = spawnSync(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG, uri, name], { encoding: 'utf8', maxBuffer: 16 * MiB });
      if (c.status !== 0) throw new Error(`${name} child failed (status ${c.status}): ${c.stderr}`);
      const r = JSON.parse(c.stdout.trim().split('\n').pop()!) as ChildResult;
      if (!r.ok) throw new Error(`${name}: the store did not verify clean`);
      results.push({ ...r, run: name });
      const mib = r.bytes / MiB;
      const line =
        `${name}: ${mib.toFixed(0)} MiB in ${r.files} live SSTs in ${r.seconds.toFixed(2)} s = ${(mib / r.seconds).toFixed(0)} MiB/s; ` +
        `RSS before ${(r.baselineRss / MiB).toFixed(0)} MiB, peak ${(r.peakRss / MiB).toFixed(0)} MiB (+${((r.peakRss - r.baselineRss) / MiB).toFixed(0)} MiB)`;
      notes.push(line);
      args.log(`  · ${line}`);
      const spec = RUNS[name]!;
      measurements.push({
        workload: spec.verify && name !== 'verify' ? name : 'read-all',
        mode: `${spec.parallel} file(s) at a time, ${spec.windowBytes / MiB} MiB ranges`,
        system: spec.system,
        unit: 'MiB of live SSTs',
        ops: Math.round(mib),
        seconds: r.seconds,
        opsPerSec: mib / r.seconds,
        stoppedBy: 'count',
        loadAvg1m: loadavg()[0]!,
      });
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    name: 'verify',
    title: `floe verify vs a plain read of ${(size / MiB).toFixed(0)} MiB of live SSTs (file://, page cache warm)`,
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: (performance.now() - t0) / 1000,
    machine: { ...machine, loadAvgEnd: loadavg()[0]! },
    subject: 'floe verify',
    systems: ['floe verify', 'plain read'],
    settings: { storeBytes: size, valueBytes: VALUE_BYTES, compression: 'none', runs: RUNS, results },
    measurements,
    ratios: [],
    notes,
  };
}
