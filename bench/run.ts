/**
 * `make bench` entry point: runs the named benchmarks (default: every registered one whose module exists),
 * prints each result as a table with ratios against the peers measured in the same run, writes the result
 * as JSON (+ a Markdown table) and draws SVG plots.
 *
 *   node dist/bench/run.js [NAME ...] [--keys N] [--quick] [--seconds S] [--seed N]
 *                          [--systems a,b] [--workloads x,y] [--profile DIR] [--out DIR]
 *   node dist/bench/run.js --replot [NAME ...]   redraw docs/img/<name>-*.svg from bench/results/<name>.json
 *   make bench BENCH=embedded            make bench BENCH="embedded --quick"
 *
 * Environment equivalents: BENCH_KEYS, BENCH_QUICK=1, BENCH_SECONDS, BENCH_SEED.
 *
 * Where results go: a full run (no --quick, no --systems/--workloads filter) writes the committed files
 * bench/results/<name>.json, bench/results/<name>.md and docs/img/<name>-*.svg. A quick or filtered run
 * writes the same files under <tmp>/floe-bench/ instead, so a smoke run never overwrites cited results;
 * so does a report whose settings say `experimental: true` (e.g. embedded with FLOE_BENCH_OPTIONS).
 * --out DIR sends everything to DIR. Plots are SVG; a PNG copy is added when `rsvg-convert` is installed.
 *
 * Adding a benchmark: write bench/<name>.ts exporting `run(args: BenchArgs): Promise<BenchReport>`
 * (types in bench/report.ts) and add an entry to REGISTRY below.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { barChartSvg, PALETTE, tint, type BarSeries } from './plot.js';
import {
  deriveRatios,
  formatRatio,
  markdownTable,
  rowLabel,
  rows,
  TABLE_FOOTNOTE,
  textTable,
  type BenchArgs,
  type BenchReport,
} from './report.js';

export interface BenchModule {
  run(args: BenchArgs): Promise<BenchReport>;
  /** Optional: the module's own plots, drawn instead of the generic ones (e.g. time against state size). */
  plots?(report: BenchReport): Array<{ suffix: string; svg: string }>;
}

/**
 * Every benchmark by name, in the order a default run executes them. The module is bench/<name>.ts; an
 * entry whose module does not exist yet is skipped by a default run and reported by a named one.
 */
export const REGISTRY: Readonly<Record<string, { description: string }>> = {
  embedded: { description: 'Floe embedded (file://) vs RocksDB vs LevelDB: puts, batches, gets, scans' },
  remote: { description: 'Floe on remote primary storage: mem:// and an S3-protocol server with 10 ms injected latency, cold/warm caches, vs the in-flight limit and SlateDB (embedded and through the daemon)' },
  checkpoint: { description: 'checkpoint, restore and rescale time vs state size, vs a download-based restore' },
  daemon: { description: 'Floe daemon over its socket protocol, vs embedded and vs Redis on a Unix socket (put, get, awaited get, multiGet, batch)' },
  wal: { description: 'durable puts with the WAL, 256 writers, 10 ms per primary request, vs the store without WAL and RocksDB sync writes' },
  'compaction-memory': { description: 'peak RSS during one compaction of ~1 GiB of L0 input (streaming, bounded by compactionMemoryBytes)' },
  flink: { description: 'Flink 2.3 word count (uniform, Zipf) on heap, RocksDB, ForSt sync/async and Floe (local primary, 10 ms primary): records/s, checkpoint and restore time' },
  wordcount: { description: 'Zipf(0.99) word count, read-modify-write per event, state 10x the caches: Floe behind 10 ms vs RocksDB on local disk' },
  verify: { description: 'floe verify vs a plain read of the same live SSTs: MiB/s and peak RSS' },
};

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function moduleFile(name: string): string {
  return fileURLToPath(new URL(`./${name}.js`, import.meta.url));
}

async function loadModule(name: string): Promise<BenchModule> {
  const mod = (await import(pathToFileURL(moduleFile(name)).href)) as Partial<BenchModule>;
  if (typeof mod.run !== 'function') throw new Error(`bench/${name}.ts must export run(args: BenchArgs): Promise<BenchReport>`);
  return mod as BenchModule;
}

export interface Parsed {
  names: string[];
  /** Redraw the plots of the committed results (bench/results/<name>.json) without running anything. */
  replot: boolean;
  args: Omit<BenchArgs, 'log'>;
  outDir: string | undefined;
  fullRun: boolean;
}

export function parseArgs(argv: string[], env: NodeJS.ProcessEnv): Parsed {
  const names: string[] = [];
  const flags = new Map<string, string>();
  const booleans = new Set(['quick', 'replot']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--')) {
      // `make bench BENCH="embedded --quick"` arrives as separate words already; tolerate commas too.
      names.push(...a.split(',').filter(Boolean));
      continue;
    }
    const [flag, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
    if (booleans.has(flag)) flags.set(flag, inline ?? '1');
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${flag} needs a value`);
      flags.set(flag, v);
    }
  }
  const known = new Set(['quick', 'keys', 'seconds', 'seed', 'systems', 'workloads', 'profile', 'out', 'replot']);
  for (const f of flags.keys()) if (!known.has(f)) throw new Error(`unknown option --${f}; known: ${[...known].map((k) => `--${k}`).join(' ')}`);
  const quick = flags.has('quick') ? flags.get('quick') !== '0' : env.BENCH_QUICK === '1';
  const number = (flag: string, envName: string, fallback: number): number => {
    const raw = flags.get(flag) ?? env[envName];
    if (raw === undefined || raw === '') return fallback;
    const v = Number(raw.replace(/_/g, ''));
    if (!Number.isFinite(v) || v <= 0) throw new Error(`--${flag} must be a positive number, got ${JSON.stringify(raw)}`);
    return v;
  };
  const list = (flag: string): string[] | undefined => flags.get(flag)?.split(',').filter(Boolean);
  const systems = list('systems');
  const workloads = list('workloads');
  const profileDir = flags.get('profile');
  return {
    names,
    replot: flags.has('replot'),
    outDir: flags.get('out'),
    fullRun: !quick && systems === undefined && workloads === undefined && profileDir === undefined,
    args: {
      keys: Math.floor(number('keys', 'BENCH_KEYS', quick ? 40_000 : 1_000_000)),
      quick,
      seconds: number('seconds', 'BENCH_SECONDS', quick ? 1.5 : 10),
      seed: Math.floor(number('seed', 'BENCH_SEED', 20260101)) >>> 0,
      systems,
      workloads,
      profileDir,
      command: ['node', 'dist/bench/run.js', ...argv].join(' '),
    },
  };
}

/** The plots of a key-value style report: ops/s per workload and system, subject/peer ratios, latency. */
export function plots(report: BenchReport): Array<{ suffix: string; svg: string }> {
  const rs = rows(report.measurements);
  const categories = rs.map(rowLabel);
  const subtitle = `${report.machine.nproc} cores · Node ${report.machine.node} · ${report.startedAt.slice(0, 10)} · same run, same data`;
  const out: Array<{ suffix: string; svg: string }> = [];
  out.push({
    suffix: 'ops',
    svg: barChartSvg({
      title: `${report.title}: throughput`,
      subtitle,
      categories,
      series: report.systems.map((s) => ({ name: s, values: rs.map((r) => r.bySystem.get(s)?.opsPerSec) })),
      valueLabel: 'operations per second (batch = 100 puts, scan = 100 entries)',
      scale: 'log',
    }),
  });
  const peers = report.systems.filter((s) => s !== report.subject);
  if (peers.length > 0 && report.ratios.length > 0) {
    out.push({
      suffix: 'ratio',
      svg: barChartSvg({
        title: `${report.title}: ${report.subject} throughput relative to each peer`,
        subtitle,
        categories,
        series: peers.map((p) => ({
          name: `${report.subject} / ${p}`,
          values: rs.map((r) => report.ratios.find((x) => x.workload === r.workload && x.mode === r.mode && x.peer === p)?.ratio),
        })),
        valueLabel: `${report.subject} ops/s ÷ peer ops/s (right of the line: ${report.subject} faster)`,
        scale: 'log',
        referenceLine: { value: 1, label: 'parity' },
        formatValue: (v) => `${formatRatio(v)}×`,
      }),
    });
  }
  const latencyRows = rs.filter((r) => [...r.bySystem.values()].some((m) => m.latencyUs !== undefined));
  if (latencyRows.length > 0) {
    const series: BarSeries[] = [];
    report.systems.forEach((s, i) => {
      // One hue per system: p50 solid, p99 a lighter tint of it.
      const color = PALETTE[i % PALETTE.length]!;
      for (const p of ['p50', 'p99'] as const) {
        series.push({ name: `${s} ${p}`, color: p === 'p50' ? color : tint(color, 0.55), values: latencyRows.map((r) => r.bySystem.get(s)?.latencyUs?.[p]) });
      }
    });
    out.push({
      suffix: 'latency',
      svg: barChartSvg({
        title: `${report.title}: latency of awaited operations`,
        subtitle,
        categories: latencyRows.map(rowLabel),
        series,
        valueLabel: 'microseconds per operation',
        scale: 'log',
        formatValue: (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v < 10 ? v.toFixed(1) : Math.round(v)} µs`),
      }),
    });
  }
  return out;
}

function save(report: BenchReport, parsed: Parsed, log: (l: string) => void, mod?: BenchModule): void {
  const base = parsed.outDir ?? (parsed.fullRun ? undefined : join(tmpdir(), 'floe-bench'));
  const resultsDir = base ?? join(repoRoot, 'bench', 'results');
  const imgDir = base ?? join(repoRoot, 'docs', 'img');
  mkdirSync(resultsDir, { recursive: true });
  mkdirSync(imgDir, { recursive: true });
  const json = join(resultsDir, `${report.name}.json`);
  writeFileSync(json, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(join(resultsDir, `${report.name}.md`), `${markdownTable(report)}\n\n${TABLE_FOOTNOTE}\n`);
  log(`wrote ${json} and ${report.name}.md`);
  for (const p of mod?.plots?.(report) ?? plots(report)) {
    const file = join(imgDir, `${report.name}-${p.suffix}.svg`);
    writeFileSync(file, p.svg);
    log(`wrote ${file}${svgToPng(file) ? ' (+ .png)' : ''}`);
  }
}

/** The commit measured and how many files under lib/ differed from it (read-only git queries). */
function sourceState(): { commit: string; uncommittedLibFiles: number } {
  const git = (...a: string[]): string => {
    const r = spawnSync('git', a, { cwd: repoRoot, encoding: 'utf8' });
    return r.status === 0 ? r.stdout.trim() : '';
  };
  const commit = git('rev-parse', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'lib');
  return { commit, uncommittedLibFiles: dirty === '' ? 0 : dirty.split('\n').length };
}

/**
 * Also renders `file` as PNG when rsvg-convert is installed (it is optional: SVG is the committed format).
 * Returns whether a PNG was written.
 */
function svgToPng(file: string): boolean {
  const r = spawnSync('rsvg-convert', ['--background-color=white', '-o', file.replace(/\.svg$/, '.png'), file], { stdio: 'ignore' });
  return r.status === 0;
}

async function main(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2), process.env);
  const log = (line: string): void => {
    process.stderr.write(line + '\n');
  };
  const unknown = parsed.names.filter((n) => !(n in REGISTRY));
  if (unknown.length) throw new Error(`unknown benchmark(s) ${unknown.join(', ')}; registered: ${Object.keys(REGISTRY).join(', ')}`);
  let names = parsed.names;
  if (names.length === 0) {
    names = Object.keys(REGISTRY).filter((n) => existsSync(moduleFile(n)));
    const missing = Object.keys(REGISTRY).filter((n) => !names.includes(n));
    if (missing.length) log(`not written yet, skipped: ${missing.join(', ')}`);
  }
  let failed = 0;
  if (parsed.replot) {
    for (const name of names) {
      const json = join(repoRoot, 'bench', 'results', `${name}.json`);
      if (!existsSync(json)) {
        log(`[${name}] no ${json} to replot`);
        failed++;
        continue;
      }
      const report = JSON.parse(readFileSync(json, 'utf8')) as BenchReport;
      const imgDir = parsed.outDir ?? join(repoRoot, 'docs', 'img');
      mkdirSync(imgDir, { recursive: true });
      for (const p of plots(report)) {
        const file = join(imgDir, `${report.name}-${p.suffix}.svg`);
        writeFileSync(file, p.svg);
        log(`wrote ${file}${svgToPng(file) ? ' (+ .png)' : ''}`);
      }
    }
    if (failed > 0) process.exitCode = 1;
    return;
  }
  for (const name of names) {
    if (!existsSync(moduleFile(name))) {
      log(`[${name}] bench/${name}.ts does not exist yet (registered: ${REGISTRY[name]!.description})`);
      failed++;
      continue;
    }
    log(`[${name}] ${REGISTRY[name]!.description}`);
    try {
      const mod = await loadModule(name);
      const report = await mod.run({ ...parsed.args, log });
      report.ratios = deriveRatios(report);
      report.source = sourceState();
      process.stdout.write(`\n== ${report.title} (${report.durationSeconds} s, ${report.machine.nproc} cores, Node ${report.machine.node}) ==\n`);
      process.stdout.write(`${textTable(report)}\n${TABLE_FOOTNOTE}\n`);
      if (report.notes.length) process.stdout.write(report.notes.map((n) => `- ${n}`).join('\n') + '\n');
      save(report, parsed, log, mod);
    } catch (e) {
      failed++;
      log(`[${name}] FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    }
  }
  if (failed > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 2;
  });
}
