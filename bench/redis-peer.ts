/**
 * Redis as the in-memory peer of the daemon benchmark: `redis-server` (Debian's package, 7.0.x) on a Unix
 * socket with persistence off (`--port 0 --unixsocket PATH --save '' --appendonly no`), driven from this
 * process by `ioredis` with `enableAutoPipelining: true`, one client per connection (the same connection
 * count and requests in flight per connection as Floe's clients).
 *
 * Installs the package when `redis-server` is missing (`apt-get install -y redis-server`, through sudo when
 * not root); when that fails the caller gets the reason and skips the peer.
 *
 * The operations, each the natural Redis equivalent of the Floe one:
 *   put          SET key value                        get / awaited get   GET key
 *   multiget     MGET of the batch's keys            batch               MSET of the batch's pairs (atomic,
 *                                                                         like Floe's write batch)
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export interface RedisServer {
  socket: string;
  pid: number;
  version: string;
  /** Clients on the server's socket, auto-pipelining on. */
  connect(count: number): Promise<Redis[]>;
  stop(): Promise<void>;
}

function found(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * Makes sure `redis-server` is installed. PROMISES: { ok: true } when it is on PATH now, else the reason it
 * could not be installed (the benchmark then skips the peer and says so).
 */
export function ensureRedisInstalled(log: (line: string) => void): { ok: true } | { ok: false; reason: string } {
  if (found('redis-server')) return { ok: true };
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const prefix = root ? [] : found('sudo') ? ['sudo', '-n'] : undefined;
  if (prefix === undefined) return { ok: false, reason: 'redis-server is not installed and installing it needs root (no sudo found)' };
  log('  installing redis-server (apt-get install -y redis-server)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const steps = [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', 'redis-server'],
  ];
  for (const step of steps) {
    const cmd = [...prefix, ...step];
    const r = spawnSync(cmd[0]!, cmd.slice(1), { env, encoding: 'utf8' });
    if (r.status !== 0) return { ok: false, reason: `\`${cmd.join(' ')}\` failed (${r.status ?? r.signal}): ${(r.stderr || r.stdout || '').trim().split('\n').slice(-2).join(' ')}` };
  }
  return found('redis-server') ? { ok: true } : { ok: false, reason: 'apt-get install redis-server succeeded but redis-server is still not on PATH' };
}

/** Starts redis-server on `dir`/redis.sock, in memory only; resolves once it answers PING. */
export async function startRedis(dir: string): Promise<RedisServer> {
  const socket = join(dir, 'redis.sock');
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', '0', '--unixsocket', socket, '--unixsocketperm', '700', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  const probe = new Redis({ path: socket, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  const deadline = Date.now() + 10_000;
  let version = 'unknown';
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}) before it answered: ${stderr}`);
    try {
      await probe.connect();
      await probe.ping();
      version = /redis_version:(\S+)/.exec(await probe.info('server'))?.[1] ?? version;
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on ${socket} did not answer within 10 s: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.disconnect();
  const clients: Redis[] = [];
  return {
    socket,
    pid: child.pid!,
    version,
    async connect(count) {
      const out: Redis[] = [];
      for (let i = 0; i < count; i++) {
        const c = new Redis({ path: socket, enableAutoPipelining: true, maxRetriesPerRequest: 0 });
        await c.ping();
        out.push(c);
        clients.push(c);
      }
      return out;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
