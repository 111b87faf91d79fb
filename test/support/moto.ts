/**
 * Starts and stops a moto S3-protocol server (PyPI `moto[server]`, installed by test/support/install-moto.sh
 * into test/support/.servers/moto-venv) on a free loopback port. Used by the standalone s3-server script and
 * by tests that need a private server (e.g. one with authentication switched on).
 *
 * Why moto: it enforces create-if-absent (`If-None-Match: *`) on PutObject and CompleteMultipartUpload,
 * which s3rver ignores (docs/s3.md).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Where install-moto.sh puts the venv; FLOE_MOTO_VENV overrides. */
export function motoVenv(): string {
  const env = process.env.FLOE_MOTO_VENV;
  if (env !== undefined && env !== '') return env;
  // here = <repo>/<dist dir>/test/support
  return join(here, '..', '..', '..', 'test', 'support', '.servers', 'moto-venv');
}

export interface MotoServer {
  endpoint: string;
  port: number;
  /** Last lines moto printed (for failure messages). */
  tail(): string[];
  /** Stops moto (SIGTERM, then SIGKILL after 5 s). Idempotent. */
  stop(): Promise<void>;
  /** Resolves when moto exits for any reason, with its exit code (or signal name). */
  readonly exited: Promise<string>;
}

export interface StartMotoOptions {
  /** Extra environment for moto (e.g. INITIAL_NO_AUTH_ACTION_COUNT). */
  env?: Record<string, string>;
  /** How long to wait for moto to answer (default 60 s). */
  timeoutMs?: number;
}

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/**
 * Starts moto and waits until it answers HTTP. Rejects with a message that says how to install it when the
 * venv is missing, and with moto's last output when it does not come up.
 */
export async function startMoto(options: StartMotoOptions = {}): Promise<MotoServer> {
  const venv = motoVenv();
  const python = join(venv, 'bin', 'python');
  if (!existsSync(python)) {
    throw new Error(`moto is not installed (no ${python}); run: bash test/support/install-moto.sh`);
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  let lastError: Error | undefined;
  // A port picked free can be taken before moto binds it; try a few.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    try {
      return await launch(python, port, options.env ?? {}, timeoutMs);
    } catch (err) {
      lastError = err as Error;
    }
  }
  throw lastError ?? new Error('moto did not start');
}

async function launch(python: string, port: number, env: Record<string, string>, timeoutMs: number): Promise<MotoServer> {
  const child: ChildProcess = spawn(python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env, PYTHONUNBUFFERED: '1' },
  });
  const lines: string[] = [];
  const remember = (data: Buffer): void => {
    for (const line of data.toString('utf8').split('\n')) {
      if (line.trim() === '') continue;
      lines.push(line);
      if (lines.length > 40) lines.shift();
    }
  };
  // Keep draining both pipes for the server's whole life: a full pipe would stall moto.
  child.stdout!.on('data', remember);
  child.stderr!.on('data', remember);
  let exitedCode: string | undefined;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedCode = code === null ? String(signal) : String(code);
      resolve(exitedCode);
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (exitedCode !== undefined) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    })();
    return stopping;
  };
  const server: MotoServer = { endpoint, port, tail: () => [...lines], stop, exited };

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitedCode !== undefined) {
      throw new Error(`moto exited with ${exitedCode} before it answered on ${endpoint}; last output:\n${lines.join('\n')}`);
    }
    try {
      // Any HTTP answer means it serves; the moto-api endpoint needs no bucket and no auth.
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      return server;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto did not answer on ${endpoint} within ${timeoutMs} ms; last output:\n${lines.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends one IAM query-API call to moto (unauthenticated while moto's auth is off). Returns the XML. */
async function iamCall(endpoint: string, params: Record<string, string>): Promise<string> {
  const res = await fetch(`${endpoint}/`, {
    method: 'POST',
    body: new URLSearchParams({ Version: '2010-05-08', ...params }).toString(),
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      // moto routes a request to a service by the credential scope of its Authorization header.
      authorization: 'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`moto IAM ${params.Action} failed with HTTP ${res.status}: ${text}`);
  return text;
}

/**
 * Switches on authentication in a (private) moto server: creates an IAM user allowed s3:*, then makes moto
 * check every later request's access key and SigV4 signature. Returns the user's credentials.
 * REQUIRES: `setup` runs before authentication starts (e.g. creating buckets) and needs no credentials.
 */
export async function enableMotoAuth(
  server: MotoServer,
  setup: () => Promise<void> = async () => {},
): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  await iamCall(server.endpoint, { Action: 'CreateUser', UserName: 'floe-test' });
  const xml = await iamCall(server.endpoint, { Action: 'CreateAccessKey', UserName: 'floe-test' });
  const policy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 's3:*', Resource: '*' }] });
  await iamCall(server.endpoint, { Action: 'PutUserPolicy', UserName: 'floe-test', PolicyName: 'floe-test-s3', PolicyDocument: policy });
  const accessKeyId = /<AccessKeyId>([^<]+)<\/AccessKeyId>/.exec(xml)?.[1];
  const secretAccessKey = /<SecretAccessKey>([^<]+)<\/SecretAccessKey>/.exec(xml)?.[1];
  if (accessKeyId === undefined || secretAccessKey === undefined) throw new Error(`moto CreateAccessKey answered without a key: ${xml}`);
  await setup();
  // From now on every request is authenticated (moto counts unauthenticated actions up to this number).
  const res = await fetch(`${server.endpoint}/moto-api/reset-auth`, { method: 'POST', body: '0' });
  if (res.status !== 200) throw new Error(`moto reset-auth failed with HTTP ${res.status}: ${await res.text()}`);
  return { accessKeyId, secretAccessKey };
}
