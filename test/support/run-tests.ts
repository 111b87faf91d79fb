/**
 * `make test`: starts the real test servers (S3-protocol server, HDFS with WebHDFS) on loopback, runs every
 * tap test under dist/test, stops the servers, and prints the closing line `N passed, N failed, N skipped`.
 *
 * Each server is a standalone script in dist/test/support/<name>-server.js that prints one line
 * `READY {"ENV_VAR": "value", ...}` when it serves, and stops on SIGTERM. Its variables are passed to the tests.
 * A server that cannot start is reported loudly; with FLOE_REQUIRE_SERVERS=1 (set by .ci/run) that fails the run.
 * FLOE_NO_SERVERS=1 skips starting them. Extra arguments select test files.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));
const distTest = join(here, '..');
const repoRoot = join(distTest, '..', '..');

interface RunningServer {
  name: string;
  child: ChildProcess;
}

function startServer(name: string, timeoutMs: number): Promise<{ server?: RunningServer; env: Record<string, string>; error?: string }> {
  const script = join(here, `${name}-server.js`);
  if (!existsSync(script)) return Promise.resolve({ env: {}, error: `${script} does not exist` });
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [script], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let settled = false;
    const tail: string[] = [];
    const finish = (result: { server?: RunningServer; env: Record<string, string>; error?: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ env: {}, error: `no READY line within ${timeoutMs} ms; last output:\n${tail.join('\n')}` });
    }, timeoutMs);
    const remember = (line: string): void => {
      tail.push(line);
      if (tail.length > 30) tail.shift();
    };
    createInterface({ input: child.stderr! }).on('line', remember);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      remember(line);
      if (line.startsWith('READY ')) {
        finish({ server: { name, child }, env: JSON.parse(line.slice(6)) as Record<string, string> });
      }
    });
    child.on('exit', (code) => finish({ env: {}, error: `exited with code ${code} before READY; last output:\n${tail.join('\n')}` }));
  });
}

function findTests(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (statSync(full).isDirectory()) {
      if (name !== 'support') findTests(full, out);
    } else if (name.endsWith('.test.js')) {
      out.push(full);
    }
  }
  return out;
}

async function main(): Promise<number> {
  const requested = process.argv.slice(2);
  const tests = requested.length > 0 ? requested : findTests(distTest);
  const servers: RunningServer[] = [];
  const env: Record<string, string> = { ...process.env } as Record<string, string>;
  let serverFailures = 0;
  if (process.env.FLOE_NO_SERVERS !== '1') {
    const results = await Promise.all([startServer('s3', 120_000), startServer('hdfs', 300_000)]);
    for (const [i, r] of results.entries()) {
      const name = i === 0 ? 's3' : 'hdfs';
      if (r.server) {
        servers.push(r.server);
        Object.assign(env, r.env);
        console.log(`# test server ${name} ready: ${JSON.stringify(r.env)}`);
      } else {
        serverFailures++;
        console.log(`#\n# !!! TEST SERVER ${name.toUpperCase()} DID NOT START: ${r.error}\n# !!! tests that need it will SKIP\n#`);
      }
    }
  }
  const stopServers = (): void => {
    for (const s of servers) s.child.kill('SIGTERM');
  };
  process.on('SIGINT', () => {
    stopServers();
    process.exit(130);
  });

  const tapBin = join(repoRoot, 'node_modules', '.bin', 'tap');
  const args = ['--disable-coverage', '--allow-empty-coverage', '--jobs=2', '--timeout=600', ...tests];
  const summary = await new Promise<{ code: number; counts?: { total: number; pass: number; fail: number; skip: number } }>((resolve) => {
    const child = spawn(tapBin, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let counts: { total: number; pass: number; fail: number; skip: number } | undefined;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      console.log(line);
      const m = /^# \{ total: (\d+), pass: (\d+)(?:, fail: (\d+))?(?:, skip: (\d+))?/.exec(line);
      if (m) counts = { total: +m[1]!, pass: +m[2]!, fail: +(m[3] ?? 0), skip: +(m[4] ?? 0) };
    });
    child.on('exit', (code) => resolve({ code: code ?? 1, ...(counts ? { counts } : {}) }));
  });
  stopServers();

  let failed = summary.counts?.fail ?? 0;
  if (!summary.counts) {
    console.log('# tap printed no summary: counting the run as failed');
    failed = Math.max(failed, 1);
  } else if (summary.code !== 0 && failed === 0) {
    // tap failed without a failing assertion (a crashed test file): count it.
    failed = 1;
  }
  if (process.env.FLOE_REQUIRE_SERVERS === '1' && serverFailures > 0) {
    console.log(`# FLOE_REQUIRE_SERVERS=1 and ${serverFailures} test server(s) did not start`);
    failed += serverFailures;
  }
  const passed = summary.counts?.pass ?? 0;
  const skipped = summary.counts?.skip ?? 0;
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    console.log('0 passed, 1 failed');
    process.exit(1);
  },
);
