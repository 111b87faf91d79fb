/**
 * Client CPU per ranged 4 KiB S3 GET: the AWS SDK's GetObjectCommand against the S3 backend's lean path
 * (lean SigV4 signer + undici keep-alive Pool, lib/store/s3-get.ts), and the lean path signed by the SDK's
 * SignatureV4 instead (lib/store/s3-sign.ts explains the difference), 64 GETs in flight, measured in one
 * run and printed as ratios.
 *
 *   node dist/bench/s3-get-cost.js [--requests 3000] [--inflight 64] [--rounds 3]
 *
 * Two servers:
 * - moto (the S3-protocol test server; FLOE_TEST_S3_ENDPOINT, or started from the venv of
 *   test/support/install-moto.sh). moto closes the connection after every response, so each GET here also
 *   pays a TCP connect on both paths.
 * - a keep-alive stub in a child process that answers every GET with the requested bytes (no S3 logic),
 *   which isolates the client's per-request cost on reused connections, as in production.
 * CPU is this process's user+system time (process.cpuUsage), i.e. the client alone; the servers run in other
 * processes. Variants run interleaved over several rounds; the median round is reported.
 */
import { spawn } from 'node:child_process';
import { Agent as HttpAgent } from 'node:http';
import { createInterface } from 'node:readline';
import { CreateBucketCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createS3Store, type S3ObjectStore } from '../lib/store/s3.js';
import { CredentialCache, S3RangeReader } from '../lib/store/s3-get.js';
import { systemClock } from '../lib/util/clock.js';
import { Random } from '../lib/util/random.js';
import { startMoto, type MotoServer } from '../test/support/moto.js';

const OBJECT_BYTES = 1 << 20;
const GET_BYTES = 4096;
const credentials = { accessKeyId: 'bench', secretAccessKey: 'bench-secret' };

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

interface Variant {
  name: string;
  get(offset: number): Promise<Uint8Array>;
}

interface Sample {
  cpuUsPerGet: number;
  getsPerSec: number;
}

/** Runs `count` GETs of random 4 KiB ranges with `inflight` outstanding; returns client CPU and wall rate. */
async function measure(v: Variant, count: number, inflight: number, rand: Random): Promise<Sample> {
  const offsets = Array.from({ length: count }, () => rand.int(OBJECT_BYTES - GET_BYTES));
  let next = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < count) {
      const offset = offsets[next++]!;
      const bytes = await v.get(offset);
      if (bytes.length !== GET_BYTES) throw new Error(`${v.name}: got ${bytes.length} bytes, wanted ${GET_BYTES}`);
    }
  };
  await Promise.all(Array.from({ length: inflight }, worker));
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { cpuUsPerGet: (cpu.user + cpu.system) / count, getsPerSec: count / wallS };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A keep-alive HTTP server in a child process that serves `Range` slices of a fixed object. */
async function startStub(): Promise<{ endpoint: string; stop(): void }> {
  const code = `
    import { createServer } from 'node:http';
    const object = Buffer.alloc(${OBJECT_BYTES}, 7);
    const server = createServer((req, res) => {
      req.resume();
      const m = /^bytes=(\\d+)-(\\d+)$/.exec(req.headers.range ?? '');
      if (req.method === 'HEAD') { res.writeHead(200, { 'content-length': 0 }); res.end(); return; }
      if (!m) { res.writeHead(200, { 'content-length': object.length }); res.end(object); return; }
      const a = Number(m[1]), b = Math.min(Number(m[2]), object.length - 1);
      res.writeHead(206, { 'content-length': b - a + 1, 'content-range': 'bytes ' + a + '-' + b + '/' + object.length, etag: '"x"' });
      res.end(object.subarray(a, b + 1));
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => console.log('PORT ' + server.address().port));
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve(Number(line.split(' ')[1])));
    child.once('exit', (c) => reject(new Error(`stub server exited with ${c}`)));
  });
  return { endpoint: `http://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
}

async function variantsFor(endpoint: string, bucket: string, inflight: number): Promise<{ variants: Variant[]; close(): Promise<void> }> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: inflight });
  const sdk = new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { httpAgent: agent },
  });
  const store: S3ObjectStore = await createS3Store(`s3://${bucket}`, {
    endpoint,
    forcePathStyle: true,
    credentials,
    maxSockets: inflight,
    verifyBucket: false,
  });
  const jsReader = new S3RangeReader({
    bucketUrl: new URL(`${endpoint}/${bucket}`),
    signingRegion: 'us-east-1',
    signingService: 's3',
    credentials: new CredentialCache(async () => credentials, systemClock),
    connections: inflight,
    requestTimeoutMs: 30_000,
    clock: systemClock,
    signer: 'sdk',
  });
  const variants: Variant[] = [
    {
      name: 'SDK GetObjectCommand',
      get: async (offset) => {
        const out = await sdk.send(new GetObjectCommand({ Bucket: bucket, Key: 'obj', Range: `bytes=${offset}-${offset + GET_BYTES - 1}` }));
        return out.Body!.transformToByteArray();
      },
    },
    { name: 'lean path (store.get)', get: (offset) => store.get('obj', { offset, length: GET_BYTES }) },
    {
      name: 'lean path, SDK SignatureV4 signer',
      get: async (offset) => {
        const r = await jsReader.get('obj', offset, GET_BYTES);
        if (r.kind !== 'bytes') throw new Error(`SDK-signer reader: ${r.kind}`);
        return r.bytes;
      },
    },
  ];
  return {
    variants,
    close: async () => {
      sdk.destroy();
      agent.destroy();
      await store.close();
      await jsReader.close();
    },
  };
}

async function run(label: string, endpoint: string, bucket: string, requests: number, inflight: number, rounds: number): Promise<void> {
  const { variants, close } = await variantsFor(endpoint, bucket, inflight);
  const rand = new Random(0xbe7c);
  const samples = new Map<string, Sample[]>(variants.map((v) => [v.name, []]));
  try {
    for (const v of variants) await measure(v, Math.min(300, requests), inflight, rand); // warm-up
    for (let r = 0; r < rounds; r++) {
      for (const v of variants) samples.get(v.name)!.push(await measure(v, requests, inflight, rand));
    }
  } finally {
    await close();
  }
  console.log(`\n## ${label}: ${requests} GETs of ${GET_BYTES} B per round, ${inflight} in flight, median of ${rounds} rounds`);
  console.log('| client | CPU µs per GET (client) | GETs/s (wall) |');
  console.log('|---|---|---|');
  const cpu = new Map<string, number>();
  for (const v of variants) {
    const s = samples.get(v.name)!;
    const c = median(s.map((x) => x.cpuUsPerGet));
    cpu.set(v.name, c);
    console.log(`| ${v.name} | ${c.toFixed(0)} | ${median(s.map((x) => x.getsPerSec)).toFixed(0)} |`);
  }
  const sdkCpu = cpu.get(variants[0]!.name)!;
  const leanCpu = cpu.get(variants[1]!.name)!;
  const sdkSignerCpu = cpu.get(variants[2]!.name)!;
  console.log(`ratio SDK / lean CPU per GET: ${(sdkCpu / leanCpu).toFixed(2)}x`);
  console.log(`ratio SDK SignatureV4 / lean signer (lean path otherwise): ${(sdkSignerCpu / leanCpu).toFixed(2)}x`);
}

async function main(): Promise<void> {
  const requests = arg('requests', 3000);
  const inflight = arg('inflight', 64);
  const rounds = arg('rounds', 3);
  let moto: MotoServer | undefined;
  let endpoint = process.env.FLOE_TEST_S3_ENDPOINT;
  if (endpoint === undefined || endpoint === '') {
    moto = await startMoto();
    endpoint = moto.endpoint;
  }
  const stub = await startStub();
  try {
    const bucket = `floe-bench-${process.pid}`;
    const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
    admin.destroy();
    const store = await createS3Store(`s3://${bucket}`, { endpoint, forcePathStyle: true, credentials });
    await store.put('obj', new Random(1).bytes(OBJECT_BYTES));
    await store.close();
    console.log(`# s3-get-cost: node ${process.version}`);
    await run('moto (closes the connection after each response)', endpoint, bucket, Math.min(requests, 1500), inflight, rounds);
    await run('keep-alive stub server (client cost on reused connections)', stub.endpoint, bucket, requests, inflight, rounds);
  } finally {
    stub.stop();
    await moto?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
