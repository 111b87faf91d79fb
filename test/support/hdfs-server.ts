/**
 * Standalone HDFS test server for `make test` (test/support/run-tests.ts starts it): runs the MiniDFSCluster
 * launcher (test/support/hdfs, built by install-hdfs.sh; one namenode, one datanode, WebHDFS on, bound to
 * 127.0.0.1), waits until WebHDFS serves a create/read round trip, and prints exactly one stdout line
 *
 *   READY {"FLOE_TEST_HDFS_URL":"hdfs://127.0.0.1:HTTPPORT/floe-test","FLOE_TEST_HDFS_USER":"floe"}
 *
 * The port in the URI is the namenode's HTTP (WebHDFS) port, not its RPC port: Floe's HDFS backend speaks
 * WebHDFS, so that is the port a client needs (docs/hdfs.md). The RPC port is printed on stderr for humans.
 *
 * It stops the JVM (SIGTERM, then SIGKILL after a grace period) on SIGTERM/SIGINT and when its parent goes
 * away; the JVM also stops by itself when this process dies, because it watches its stdin pipe. If the JVM
 * exits on its own this script exits non-zero. The cluster's files live in a fresh temp dir that the
 * launcher deletes on the way out.
 *
 * Run by hand: bash test/support/install-hdfs.sh; node dist/test/support/hdfs-server.js
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { HDFS_TEST_ROOT, HDFS_TEST_USER, HDFS_URL_VAR, HDFS_USER_VAR } from './hdfs-env.js';

/** dist/test/support/hdfs-server.js → the repository root. */
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const launcherDir = join(repoRoot, 'test', 'support', 'hdfs');
const launcherJar = join(launcherDir, 'target', 'hdfs-launcher.jar');
const READY_TIMEOUT_MS = 240_000;
const STOP_GRACE_MS = 20_000;

/**
 * JVM flags. The heap stays small (one namenode + one datanode with a handful of test files); the serial
 * collector avoids GC threads on a 2-core machine. Java 17 needs no --add-opens for this cluster (checked:
 * the launcher starts and serves without them, and logs no illegal-access warnings).
 */
const JVM_FLAGS = ['-Xmx512m', '-Xss1m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Djava.net.preferIPv4Stack=true'];

function ensureBuilt(): void {
  if (existsSync(launcherJar)) return;
  process.stderr.write('hdfs-server: launcher not built; running test/support/install-hdfs.sh\n');
  const r = spawnSync('bash', [join(repoRoot, 'test', 'support', 'install-hdfs.sh')], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0 || !existsSync(launcherJar)) {
    throw new Error(`install-hdfs.sh failed (exit ${r.status}); ${launcherJar} is missing`);
  }
}

async function main(): Promise<void> {
  ensureBuilt();
  const classpath = `${launcherJar}:${join(launcherDir, 'target', 'lib', '*')}`;
  const jvm = spawn('java', [...JVM_FLAGS, '-cp', classpath, 'floe.test.HdfsLauncher', '--base-dir', tmpdir(), '--user', HDFS_TEST_USER], {
    cwd: launcherDir,
    // stdin stays an open pipe: when this process dies, the pipe closes and the launcher shuts down.
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const tail: string[] = [];
  createInterface({ input: jvm.stderr! }).on('line', (line) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
    process.stderr.write(`[hdfs] ${line}\n`);
  });

  let stopping = false;
  let exited = false;
  const exitedPromise = new Promise<number | null>((resolve) => {
    jvm.on('exit', (code) => {
      exited = true;
      resolve(code);
    });
    jvm.on('error', (error) => {
      // spawn itself failed (no `java` on PATH): there is no JVM to wait for.
      process.stderr.write(`hdfs-server: cannot start java: ${error.message}; install Java 17 (apt-get install openjdk-17-jdk-headless)\n`);
      exited = true;
      resolve(null);
    });
  });
  const stop = async (code: number): Promise<never> => {
    if (!stopping) {
      stopping = true;
      if (!exited) {
        jvm.kill('SIGTERM');
        const timer = setTimeout(() => jvm.kill('SIGKILL'), STOP_GRACE_MS);
        await exitedPromise;
        clearTimeout(timer);
      }
    }
    process.exit(code);
  };
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void stop(0));
  // An orphaned server would keep a JVM alive: leave when the parent that started us is gone.
  const parent = process.ppid;
  const watchdog = setInterval(() => {
    if (process.ppid !== parent) void stop(0);
  }, 2_000);
  watchdog.unref();

  const ready = await new Promise<{ httpPort: number; rpcPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the launcher printed no READY line within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    createInterface({ input: jvm.stdout! }).on('line', (line) => {
      if (!line.startsWith('READY ')) return;
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line.slice(6)) as { httpPort: number; rpcPort: number });
      } catch (error) {
        reject(new Error(`unreadable READY line from the launcher: ${line} (${String(error)})`));
      }
    });
    void exitedPromise.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the launcher exited with code ${code} before it was ready`));
    });
  }).catch(async (error: unknown) => {
    process.stderr.write(`hdfs-server: ${error instanceof Error ? error.message : String(error)}; last output:\n${tail.join('\n')}\n`);
    return stop(1);
  });

  void exitedPromise.then((code) => {
    if (stopping) return;
    process.stderr.write(`hdfs-server: the HDFS launcher exited unexpectedly (code ${code}); last output:\n${tail.join('\n')}\n`);
    void stop(1);
  });
  process.stderr.write(`hdfs-server: MiniDFSCluster up: WebHDFS http://127.0.0.1:${ready.httpPort}/webhdfs/v1, namenode RPC 127.0.0.1:${ready.rpcPort}\n`);
  const env = { [HDFS_URL_VAR]: `hdfs://127.0.0.1:${ready.httpPort}${HDFS_TEST_ROOT}`, [HDFS_USER_VAR]: HDFS_TEST_USER };
  process.stdout.write(`READY ${JSON.stringify(env)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`hdfs-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
