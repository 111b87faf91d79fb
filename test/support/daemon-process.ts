/**
 * Test helpers that run the real daemon (dist/bin/floe.js) as a child process on a temp folder, with a
 * config whose relative paths (data, cache, socket) stay inside that folder.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

export const floeBin = fileURLToPath(new URL('../../bin/floe.js', import.meta.url));

export interface DaemonProcess {
  child: ChildProcess;
  socket: string;
  events: Array<Record<string, unknown>>;
  stderr: string[];
  stdout: string[];
  exited: Promise<number | null>;
}

/** A temp folder removed when the test ends. */
export function makeDir(t: { teardown: (fn: () => void) => void }, prefix = 'floe-daemon-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes dir/floe.json: small engine settings, socket dir/d.sock, data dir/data. */
export function writeConfig(dir: string, extra: Record<string, unknown> = {}): string {
  const path = join(dir, 'floe.json');
  const config: Record<string, unknown> = {
    primary: 'file://./data',
    localDir: './cache',
    socket: './d.sock',
    shards: 2,
    maxKeyGroups: 16,
    memtableBytes: 256 * 1024,
    targetFileBytes: 256 * 1024,
    blockCacheBytes: 4 * 2 ** 20,
    compactionWorkers: 0,
    logLevel: 'debug',
    ...extra,
  };
  for (const [k, v] of Object.entries(config)) if (v === undefined) delete config[k];
  writeFileSync(path, JSON.stringify(config));
  return path;
}

function childEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.NODE_OPTIONS; // the daemon needs no test-runner hooks
  return env;
}

/**
 * Starts `floe daemon --config dir/floe.json [args]` (with `env` added to this process's environment);
 * resolves at `ready` (or at exit with expectFailure).
 */
export function startDaemon(dir: string, opts: { args?: string[]; expectFailure?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<DaemonProcess> {
  const child = spawn(process.execPath, [floeBin, 'daemon', '--config', join(dir, 'floe.json'), ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: childEnv(opts.env),
  });
  const events: Array<Record<string, unknown>> = [];
  const stderr: string[] = [];
  const stdout: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const d: DaemonProcess = { child, socket: join(dir, 'd.sock'), events, stderr, stdout, exited };
  createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line);
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        events.push(e);
        if (e.event === 'ready') resolve(d);
      } catch {
        // a human-readable line (the CLI's error message)
      }
    });
    void exited.then((code) => {
      if (opts.expectFailure) resolve(d);
      else reject(new Error(`daemon exited with ${code} before ready:\n${stderr.join('\n')}`));
    });
  });
}

export async function stopDaemon(d: DaemonProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  d.child.kill(signal);
  return d.exited;
}

/** Runs the floe CLI; resolves with its exit code and output. */
export function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [floeBin, ...args], { env: childEnv() }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
