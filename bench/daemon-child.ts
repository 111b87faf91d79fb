/**
 * A `floe daemon` child process for benchmarks: started with a config written into its folder, ready once
 * it logs `ready`, stopped with SIGTERM; and the CPU time a process has used, for per-operation CPU.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const floeBin = fileURLToPath(new URL('../bin/floe.js', import.meta.url));

export interface DaemonChild {
  child: ChildProcess;
  /** The daemon's socket: `d.sock` in its folder. */
  socket: string;
  exited: Promise<number | null>;
  /** The last 40 lines of its log. */
  tail: string[];
}

export interface DaemonChildOptions {
  /** Config file name within `dir` (default floe.json); a fresh name per start keeps earlier ones. */
  configName?: string;
  /** FLOE_INJECT_LATENCY_MS for the child (test and bench only); unset by default. */
  latencyMs?: number;
  /** Named in the error if it exits before it is ready. */
  label?: string;
}

/** Writes `config` (plus socket `./d.sock` and logLevel info) into `dir` and starts the daemon on it. */
export async function startDaemonChild(dir: string, config: Record<string, unknown>, options: DaemonChildOptions = {}): Promise<DaemonChild> {
  const file = join(dir, options.configName ?? 'floe.json');
  // FLOE_BENCH_DAEMON_CONFIG='{"blockBytes":4096}': settings merged over the bench's (for experiments; the
  // committed runs leave it unset).
  const extra = process.env.FLOE_BENCH_DAEMON_CONFIG;
  const merged = extra === undefined || extra === '' ? config : { ...config, ...(JSON.parse(extra) as Record<string, unknown>) };
  await writeFile(file, JSON.stringify({ ...merged, socket: './d.sock', logLevel: 'info' }));
  const env = { ...process.env };
  delete env.NODE_OPTIONS; // no test-runner or profiler hooks in the daemon
  if (options.latencyMs !== undefined) env.FLOE_INJECT_LATENCY_MS = String(options.latencyMs);
  else delete env.FLOE_INJECT_LATENCY_MS;
  // FLOE_BENCH_DAEMON_PROF=DIR: V8 CPU profiles of the daemon's threads (main and every shard worker, one
  // .cpuprofile each, written when it exits), summarised by `node dist/bench/cpu-profile.js FILE`.
  const profDir = process.env.FLOE_BENCH_DAEMON_PROF;
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '200'] : [];
  const child = spawn(process.execPath, [...prof, floeBin, 'daemon', '--config', file], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const tail: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const d: DaemonChild = { child, socket: join(dir, 'd.sock'), exited, tail };
  return new Promise((resolve, reject) => {
    // Reading every line also keeps the pipe drained, so the daemon never blocks on its log.
    createInterface({ input: child.stderr! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (line.includes('"event":"ready"')) resolve(d);
    });
    const what = options.label === undefined ? 'floe daemon' : `floe daemon (${options.label})`;
    void exited.then((code) => reject(new Error(`${what} exited with ${code} before it was ready:\n${tail.join('\n')}`)));
  });
}

/** SIGTERM (unless it already exited); resolves with its exit code. */
export async function stopDaemonChild(d: DaemonChild): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  d.child.kill('SIGTERM');
  return d.exited;
}

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat (Linux; clock
 * ticks assumed 100 per second, the kernel's USER_HZ). undefined where /proc is unavailable.
 */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}
