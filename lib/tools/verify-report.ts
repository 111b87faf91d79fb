/**
 * What `floe verify` found (lib/tools/verify.ts): counts of what was checked, and problems, each naming the
 * object path, what is wrong, and what an operator should do. Errors make the store "broken" (exit 1);
 * info items (garbage awaiting GC, objects that vanished while a running store collected them) do not.
 */

export type Severity = 'error' | 'info';

export interface VerifyProblem {
  severity: Severity;
  /** Object path relative to the store root (e.g. `sst/a-1-00000003.sst`). */
  path: string;
  /** What is wrong, in one or two sentences. */
  problem: string;
  /** What to do about it. */
  action: string;
}

export interface VerifyCounts {
  instances: number;
  liveInstances: number;
  retiredInstances: number;
  manifests: number;
  fencingRecords: number;
  walSegments: number;
  walBytes: number;
  checkpoints: number;
  layouts: number;
  /** Live SSTs (referenced by a live manifest or a checkpoint record) read whole. */
  ssts: number;
  sstBytes: number;
  dataBlocks: number;
  entries: number;
  /** SSTs nothing references (garbage awaiting GC): listed as info. */
  unreferencedSsts: number;
  unreferencedBytes: number;
}

export interface VerifyReport {
  uri: string;
  /** True when no problem is an error. */
  ok: boolean;
  startedAt: string;
  elapsedMs: number;
  counts: VerifyCounts;
  problems: VerifyProblem[];
}

export function emptyCounts(): VerifyCounts {
  return {
    instances: 0,
    liveInstances: 0,
    retiredInstances: 0,
    manifests: 0,
    fencingRecords: 0,
    walSegments: 0,
    walBytes: 0,
    checkpoints: 0,
    layouts: 0,
    ssts: 0,
    sstBytes: 0,
    dataBlocks: 0,
    entries: 0,
    unreferencedSsts: 0,
    unreferencedBytes: 0,
  };
}

/** Collects problems and counts while the checks run (the checks run concurrently; JS is single-threaded). */
export class Findings {
  readonly counts = emptyCounts();
  readonly problems: VerifyProblem[] = [];

  error(path: string, problem: string, action: string): void {
    this.problems.push({ severity: 'error', path, problem, action });
  }

  info(path: string, problem: string, action: string): void {
    this.problems.push({ severity: 'info', path, problem, action });
  }

  report(uri: string, startedAt: number, now: number): VerifyReport {
    // Errors first, then by path, so the report reads the same on every run.
    const rank = (p: VerifyProblem): number => (p.severity === 'error' ? 0 : 1);
    const problems = [...this.problems].sort((a, b) => rank(a) - rank(b) || a.path.localeCompare(b.path) || a.problem.localeCompare(b.problem));
    return {
      uri,
      ok: problems.every((p) => p.severity !== 'error'),
      startedAt: new Date(startedAt).toISOString(),
      elapsedMs: now - startedAt,
      counts: { ...this.counts },
      problems,
    };
  }
}

/** Info items of one kind shown in full in the human report; the rest are summarized (all are in --json). */
const INFO_SHOWN = 20;

function mib(bytes: number): string {
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  if (bytes < 2 ** 30) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** The human-readable report: what was checked, then each problem with its path and what to do. */
export function formatReport(r: VerifyReport): string {
  const c = r.counts;
  const lines: string[] = [];
  lines.push(`floe verify ${r.uri}`);
  lines.push(
    `  instances:   ${c.instances} (${c.liveInstances} live, ${c.retiredInstances} retired); ${c.manifests} manifest(s), ` +
      `${c.fencingRecords} fencing record(s), ${c.walSegments} WAL segment(s) (${mib(c.walBytes)})`,
  );
  lines.push(`  checkpoints: ${c.checkpoints} record(s); shard layouts: ${c.layouts}`);
  lines.push(`  SSTs:        ${c.ssts} live file(s) read whole, ${mib(c.sstBytes)}, ${c.dataBlocks} data block(s), ${c.entries} entries`);
  lines.push(`  garbage:     ${c.unreferencedSsts} unreferenced SST(s), ${mib(c.unreferencedBytes)} (awaiting GC)`);
  const errors = r.problems.filter((p) => p.severity === 'error');
  const infos = r.problems.filter((p) => p.severity === 'info');
  if (errors.length > 0) {
    lines.push('', `BROKEN: ${errors.length} problem(s):`);
    for (const p of errors) lines.push(`  ERROR ${p.path}`, `        ${p.problem}`, `        what to do: ${p.action}`);
  }
  if (infos.length > 0) {
    lines.push('', `${infos.length} note(s):`);
    for (const p of infos.slice(0, INFO_SHOWN)) lines.push(`  info  ${p.path}: ${p.problem}`);
    if (infos.length > INFO_SHOWN) lines.push(`  ... and ${infos.length - INFO_SHOWN} more (see --json)`);
  }
  lines.push('', r.ok ? `OK: no problems found (${r.elapsedMs} ms)` : `BROKEN: ${errors.length} problem(s) found (${r.elapsedMs} ms)`);
  return lines.join('\n') + '\n';
}
