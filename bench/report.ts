/**
 * The shape of a benchmark's result (`BenchReport`) and the derived views every benchmark shares: ratios of
 * the subject system to each peer measured in the same run, plain-text and Markdown tables, and the facts
 * about the machine a result was measured on.
 *
 * A benchmark module (bench/<name>.ts) fills `measurements`; the runner (bench/run.ts) derives ratios,
 * prints the tables, writes the JSON and draws the plots, so every benchmark reads the same way.
 */
import { cpus, loadavg, totalmem } from 'node:os';

/** One workload run against one system. */
export interface Measurement {
  /** Workload id, stable across runs (e.g. 'get-hit'). */
  workload: string;
  /** How the operations were issued (e.g. 'awaited', '64 in flight'). */
  mode: string;
  system: string;
  /** What one operation is, when it is not a single key operation (e.g. 'batch of 100 puts'). */
  unit?: string;
  /** Operations completed and the wall time they took. */
  ops: number;
  seconds: number;
  opsPerSec: number;
  /** Which bound ended the run: the operation count or the time limit. */
  stoppedBy: 'count' | 'time';
  /** Per-operation latency in microseconds (awaited runs only: with ops in flight it measures queueing). */
  latencyUs?: { p50: number; p99: number; p999: number; max: number };
  /** 1-minute load average when the run ended: on a shared machine, how busy the neighbours were. */
  loadAvg1m?: number;
}

/** Subject ops/s divided by a peer's ops/s for one workload and mode (> 1: the subject is faster). */
export interface Ratio {
  workload: string;
  mode: string;
  subject: string;
  peer: string;
  ratio: number;
}

export interface MachineFacts {
  nproc: number;
  cpuModel: string;
  node: string;
  platform: string;
  totalMemGiB: number;
  /** 1-minute load average when the run started and ended: other work on a shared machine shows here. */
  loadAvgStart: number;
  loadAvgEnd?: number;
}

export interface BenchReport {
  /** Registry name (bench/run.ts), also the results file name. */
  name: string;
  title: string;
  /** The exact command that produced it. */
  command: string;
  startedAt: string;
  durationSeconds: number;
  machine: MachineFacts;
  /** The system the ratios are about (e.g. 'floe'); listed first in `systems`. */
  subject: string;
  systems: string[];
  /** Sizes, limits and every system's options, as run. */
  settings: Record<string, unknown>;
  measurements: Measurement[];
  /** Filled by the runner from `measurements`. */
  ratios: Ratio[];
  /** Facts observed during the run worth keeping next to the numbers (settle times, level shapes, ...). */
  notes: string[];
  /** The code measured: commit and whether lib/ had uncommitted changes (filled by the runner). */
  source?: { commit: string; uncommittedLibFiles: number };
}

export function machineFacts(): MachineFacts {
  const cpu = cpus();
  return {
    nproc: cpu.length,
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAvgStart: Math.round(loadavg()[0]! * 100) / 100,
  };
}

/** Ratios of the subject to every other system, for each (workload, mode) both measured. */
export function deriveRatios(report: Pick<BenchReport, 'subject' | 'systems' | 'measurements'>): Ratio[] {
  const out: Ratio[] = [];
  for (const row of rows(report.measurements)) {
    const mine = row.bySystem.get(report.subject);
    if (mine === undefined || mine.opsPerSec <= 0) continue;
    for (const peer of report.systems) {
      if (peer === report.subject) continue;
      const theirs = row.bySystem.get(peer);
      if (theirs === undefined || theirs.opsPerSec <= 0) continue;
      out.push({ workload: row.workload, mode: row.mode, subject: report.subject, peer, ratio: mine.opsPerSec / theirs.opsPerSec });
    }
  }
  return out;
}

export interface Row {
  workload: string;
  mode: string;
  unit: string | undefined;
  bySystem: Map<string, Measurement>;
}

/** Measurements grouped by (workload, mode), in first-seen order. */
export function rows(measurements: Measurement[]): Row[] {
  const out = new Map<string, Row>();
  for (const m of measurements) {
    const id = `${m.workload}\u0000${m.mode}`;
    let row = out.get(id);
    if (row === undefined) {
      row = { workload: m.workload, mode: m.mode, unit: m.unit, bySystem: new Map() };
      out.set(id, row);
    }
    row.bySystem.set(m.system, m);
  }
  return [...out.values()];
}

export function rowLabel(row: { workload: string; mode: string }): string {
  return `${row.workload} (${row.mode})`;
}

/** 1234567 → '1,234,567'; small values keep a few significant digits. */
export function formatRate(v: number): string {
  if (v >= 100) return Math.round(v).toLocaleString('en-US');
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

export function formatRatio(v: number): string {
  return v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function formatLatency(us: number): string {
  return us >= 1000 ? `${(us / 1000).toFixed(1)} ms` : `${us.toFixed(1)} µs`;
}

/** Columns: workload, ops/s per system, subject/peer ratio per peer, subject's p50/p99 when measured. */
function tableCells(report: BenchReport): { header: string[]; body: string[][] } {
  const peers = report.systems.filter((s) => s !== report.subject);
  const header = [
    'workload',
    ...report.systems.map((s) => `${s} ops/s`),
    ...peers.map((p) => `${report.subject}/${p}`),
    ...report.systems.map((s) => `${s} p50 / p99`),
  ];
  const body: string[][] = [];
  for (const row of rows(report.measurements)) {
    const cells = [rowLabel(row) + (row.unit ? ` [${row.unit}]` : '')];
    for (const s of report.systems) {
      const m = row.bySystem.get(s);
      cells.push(m === undefined ? '–' : formatRate(m.opsPerSec) + (m.stoppedBy === 'time' ? '' : '*'));
    }
    for (const p of peers) {
      const r = report.ratios.find((x) => x.workload === row.workload && x.mode === row.mode && x.peer === p);
      cells.push(r === undefined ? '–' : formatRatio(r.ratio));
    }
    for (const s of report.systems) {
      const l = row.bySystem.get(s)?.latencyUs;
      cells.push(l === undefined ? '' : `${formatLatency(l.p50)} / ${formatLatency(l.p99)}`);
    }
    body.push(cells);
  }
  // Drop latency columns no row filled.
  const keep = header.map((_, i) => i < 1 + report.systems.length + peers.length || body.some((r) => r[i] !== ''));
  return { header: header.filter((_, i) => keep[i]), body: body.map((r) => r.filter((_, i) => keep[i])) };
}

export const TABLE_FOOTNOTE = '* = the run ended at its operation count before the time limit.';

/** Fixed-width table for the terminal. */
export function textTable(report: BenchReport): string {
  const { header, body } = tableCells(report);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** GitHub-flavoured Markdown table (pasted into docs/benchmarks.md). */
export function markdownTable(report: BenchReport): string {
  const { header, body } = tableCells(report);
  const esc = (s: string): string => s.replace(/\|/g, '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...body.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** What the runner hands every benchmark module. */
export interface BenchArgs {
  /** Data set size in keys (--keys, default 1,000,000; smaller with --quick). */
  keys: number;
  /** Small sizes and short limits for a smoke run (--quick). */
  quick: boolean;
  /** Time limit per workload and system in seconds (--seconds). */
  seconds: number;
  /** Seed of every generated key, value and access sequence (--seed). */
  seed: number;
  /** Only these systems / workloads (--systems a,b / --workloads x,y); undefined = all. */
  systems: string[] | undefined;
  workloads: string[] | undefined;
  /** Write per-workload CPU profiles of the subject system into this folder (--profile DIR). */
  profileDir: string | undefined;
  /** The exact command line, recorded in the report. */
  command: string;
  /** Progress output (stderr). */
  log(line: string): void;
}
