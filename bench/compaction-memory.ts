/**
 * The compaction-memory benchmark: peak process RSS while one compaction rewrites ~1 GiB of L0 input.
 *
 * For each mode (pool: compactionWorkers 1, the rewrite in a piscina thread that opens the store itself;
 * inline: compactionWorkers 0) it:
 *   1. builds the input on file:// in a temp folder: 64 KiB incompressible values, compression 'none',
 *      64 MiB memtables flushed one by one into 16 L0 files (compaction held off by a high L0 trigger);
 *   2. reopens the store with l0CompactionTrigger 2 (and an L1 large enough that nothing goes deeper), so
 *      compactUntilIdle() runs exactly one L0→L1 compaction of every L0 file;
 *   3. runs the compaction in a fresh child process (so no garbage of the build phase sits in the heap for
 *      the compaction to reuse unseen), sampling its RSS (which includes pool threads: they are threads of
 *      that process) every 50 ms from a sampler thread of its own (so a busy main thread cannot hide a
 *      peak), from just before compactUntilIdle() until it returns; reports the peak above the RSS sampled
 *      just before (the store open, nothing compacted yet);
 *   4. checks a sample of keys and deletes the folder.
 * The store is opened with default options except those above, so compactionMemoryBytes is its default
 * (32 MiB) — and the same file runs unchanged on code that predates the option (the "before" figures).
 * `--workloads budget-8MiB,budget-128MiB` also runs the compaction with those budgets (pool mode only).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { StoreOptions } from '../lib/api.js';
import { openLsmStore } from '../lib/embedded.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { ValuePool } from './workload.js';

const MiB = 2 ** 20;
const VALUE_BYTES = 64 * 1024;
const MEMTABLE_BYTES = 64 * MiB;
const SAMPLE_MS = 50;
const SIZES: Record<string, number> = { '128MiB': 128 * MiB, '1GiB': 1024 * MiB };
const MODES: Record<string, number> = { pool: 1, inline: 0 };
const BUDGETS: Record<string, number> = { 'budget-4MiB': 4 * MiB, 'budget-8MiB': 8 * MiB, 'budget-128MiB': 128 * MiB };

interface ModeResult {
  mode: string;
  inputBytes: number;
  inputFiles: number;
  buildSeconds: number;
  compactSeconds: number;
  baselineRss: number;
  peakRss: number;
  samples: number;
}

/** A thread that samples process RSS every SAMPLE_MS until told to stop; replies { max, samples }. */
export function startSampler(): { stop(): Promise<{ max: number; samples: number }> } {
  const code = `
    const { parentPort } = require('node:worker_threads');
    let max = process.memoryUsage.rss(), samples = 1;
    const timer = setInterval(() => { const r = process.memoryUsage.rss(); if (r > max) max = r; samples++; }, ${SAMPLE_MS});
    parentPort.on('message', () => { clearInterval(timer); const r = process.memoryUsage.rss(); if (r > max) max = r; parentPort.postMessage({ max, samples: samples + 1 }); });
  `;
  const w = new Worker(code, { eval: true });
  return {
    stop: () =>
      new Promise((resolve, reject) => {
        w.once('message', (m: { max: number; samples: number }) => {
          void w.terminate();
          resolve(m);
        });
        w.once('error', reject);
        w.postMessage('stop');
      }),
  };
}

async function measureMode(
  mode: string,
  budget: number | undefined,
  inputBytes: number,
  dir: string,
  values: ValuePool,
  log: (l: string) => void,
): Promise<ModeResult> {
  const base: StoreOptions = {
    primary: `file://${join(dir, 'data')}`,
    localDir: join(dir, 'local'),
    compression: 'none',
    memtableBytes: MEMTABLE_BYTES,
    targetFileBytes: 64 * MiB,
    levelBaseBytes: 64 * 1024 * MiB,
    blockCacheBytes: 8 * MiB,
    compactionWorkers: MODES[mode]!,
    ...(budget === undefined ? {} : { compactionMemoryBytes: budget }),
  };
  const t0 = performance.now();
  const build = await openLsmStore({ ...base, l0CompactionTrigger: 1000, l0StopWritesTrigger: 2000 });
  const count = Math.ceil(inputBytes / VALUE_BYTES);
  for (let i = 0; i < count; i++) await build.put(key(i), values.value(i));
  await build.flush();
  const l0 = build.stats().lsm.levels[0]!;
  await build.close();
  const buildSeconds = (performance.now() - t0) / 1000;
  log(`  ${mode}: built ${l0.files} L0 files, ${(l0.bytes / MiB).toFixed(0)} MiB in ${buildSeconds.toFixed(1)} s`);

  // The compaction runs in a fresh process, so its RSS baseline holds no garbage of the build phase that
  // the compaction could reuse without RSS growing.
  const child = spawnSync(process.execPath, [fileURLToPath(import.meta.url), CHILD_FLAG, JSON.stringify({ ...base, l0CompactionTrigger: 2 })], {
    encoding: 'utf8',
    maxBuffer: 16 * MiB,
  });
  if (child.status !== 0) throw new Error(`compaction child failed (status ${child.status}): ${child.stderr}`);
  const m = JSON.parse(child.stdout.trim().split('\n').pop()!) as { baselineRss: number; peakRss: number; samples: number; compactSeconds: number };
  const check = await openLsmStore(base);
  const levels = check.stats().lsm.levels;
  if (levels[0]!.files !== 0) throw new Error(`compaction left L0 files: ${JSON.stringify(levels)}`);
  for (let i = 0; i < count; i += Math.max(1, Math.floor(count / 64))) {
    const v = await check.get(key(i));
    if (v === undefined || Buffer.compare(v, values.value(i)) !== 0) throw new Error(`key ${i} has a wrong value after compaction`);
  }
  await check.close();
  return { mode, inputBytes: l0.bytes, inputFiles: l0.files, buildSeconds, ...m };
}

const CHILD_FLAG = '--compact-child';

/** Child process: opens the store, samples RSS from just before compactUntilIdle() to its end, prints JSON. */
async function compactChild(options: StoreOptions): Promise<void> {
  const store = await openLsmStore(options);
  const baselineRss = process.memoryUsage.rss();
  const sampler = startSampler();
  const t1 = performance.now();
  await store.compactUntilIdle();
  const compactSeconds = (performance.now() - t1) / 1000;
  const { max, samples } = await sampler.stop();
  await store.close();
  process.stdout.write(`${JSON.stringify({ baselineRss, peakRss: max, samples, compactSeconds })}\n`);
}

if (process.argv[2] === CHILD_FLAG && process.argv[1] === fileURLToPath(import.meta.url)) {
  compactChild(JSON.parse(process.argv[3]!) as StoreOptions).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
      process.exit(1);
    },
  );
}

function key(i: number): string {
  return `key-${String(i).padStart(10, '0')}`;
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const size = args.quick ? '128MiB' : '1GiB';
  const modes = args.systems ?? Object.keys(MODES);
  const unknown = modes.filter((m) => MODES[m] === undefined);
  if (unknown.length) throw new Error(`unknown mode(s) ${unknown.join(', ')}; known: ${Object.keys(MODES).join(', ')} (pass with --systems)`);
  const values = new ValuePool(args.seed, VALUE_BYTES, 16 * MiB);
  const notes: string[] = [];
  const measurements: Measurement[] = [];
  const results: Array<ModeResult & { budget: string }> = [];
  const budgets: Array<string | undefined> = [undefined];
  for (const w of args.workloads ?? []) {
    if (BUDGETS[w] === undefined) throw new Error(`unknown workload ${w}; known: ${Object.keys(BUDGETS).join(', ')}`);
    budgets.push(w);
  }
  for (const budget of budgets) {
    for (const mode of budget === undefined ? modes : ['pool']) {
      const dir = await mkdtemp(join(tmpdir(), 'floe-cmembench-'));
      try {
        const r = await measureMode(mode, budget === undefined ? undefined : BUDGETS[budget], SIZES[size]!, dir, values, args.log);
        results.push({ ...r, budget: budget ?? 'default' });
        const mib = r.inputBytes / MiB;
        const line =
          `${mode}, ${budget ?? 'default budget (32 MiB)'}: compacted ${mib.toFixed(0)} MiB in ${r.inputFiles} L0 files in ${r.compactSeconds.toFixed(1)} s; ` +
          `RSS before ${(r.baselineRss / MiB).toFixed(0)} MiB, peak ${(r.peakRss / MiB).toFixed(0)} MiB, ` +
          `peak above baseline ${((r.peakRss - r.baselineRss) / MiB).toFixed(0)} MiB (${r.samples} samples every ${SAMPLE_MS} ms)`;
        notes.push(line);
        args.log(`  · ${line}`);
        measurements.push({
          workload: `compact-${size}${budget === undefined ? '' : `-${budget}`}`,
          mode: 'one compaction',
          system: `floe ${mode}`,
          unit: 'MiB of input compacted',
          ops: Math.round(mib),
          seconds: r.compactSeconds,
          opsPerSec: mib / r.compactSeconds,
          stoppedBy: 'count',
          loadAvg1m: loadavg()[0]!,
        });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  }
  return {
    name: 'compaction-memory',
    title: `Peak RSS during one compaction of ${size} of L0 input (file://)`,
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: (performance.now() - t0) / 1000,
    machine: { ...machine, loadAvgEnd: loadavg()[0]! },
    subject: `floe ${modes[0]}`,
    systems: modes.map((m) => `floe ${m}`),
    settings: {
      inputBytes: SIZES[size],
      valueBytes: VALUE_BYTES,
      memtableBytes: MEMTABLE_BYTES,
      compression: 'none',
      compactionMemoryBytes: budgets.map((b) => b ?? 'default (32 MiB)'),
      sampleMs: SAMPLE_MS,
      results: results.map((r) => ({ ...r, peakAboveBaselineBytes: r.peakRss - r.baselineRss })),
    },
    measurements,
    ratios: [],
    notes,
  };
}
