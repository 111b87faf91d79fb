/**
 * An in-memory S3-protocol server for the remote benchmarks, with the latency injected IN THE SERVER, so that
 * every client (Floe's lean signed GETs and SDK calls, SlateDB's native `object_store` client) pays the same
 * delay per request on the same wire. moto, the correctness server, closes the connection after every
 * response and serves only ~70–300 GETs/s (FACTS.md): useless as a performance peer. This one keeps
 * connections alive and does no more than the protocol needs.
 *
 * Run as a child process (startLatencyS3Server below); it prints one line
 *   READY {"endpoint":"http://127.0.0.1:PORT"}
 * and serves until its parent goes away or it gets SIGTERM. `POST /?latency=MS` (any method on the root with
 * that query) sets the delay for later requests: loads run at 0 ms, measurements at 10 ms. `GET /?stats`
 * answers the request counts as JSON.
 *
 * Implements what Floe's S3 backend and SlateDB's object_store client use, path-style only, no auth checks:
 * - buckets: PUT /b (create), HEAD /b
 * - objects: PUT (If-None-Match: * → 412 if present; If-Match: etag → 412 unless it matches; copy with
 *   x-amz-copy-source), GET (Range: a-b, a-, -n → 206; If-Match / If-None-Match), HEAD, DELETE,
 *   POST /b?delete (DeleteObjects)
 * - multipart: POST ?uploads, PUT ?partNumber&uploadId, POST ?uploadId (complete, If-None-Match honoured),
 *   DELETE ?uploadId
 * - ListObjectsV2: prefix, delimiter (CommonPrefixes), max-keys, continuation-token, start-after,
 *   encoding-type=url
 * Not a test fixture for S3 semantics (moto is): only the benchmarks use it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

interface StoredObject {
  bytes: Buffer;
  etag: string;
  modified: string;
}

interface Upload {
  bucket: string;
  key: string;
  parts: Map<number, Buffer>;
}

const buckets = new Map<string, Map<string, StoredObject>>();
const uploads = new Map<string, Upload>();
let latencyMs = 0;
let uploadCounter = 0;
const counts: Record<string, number> = {};

const xmlEscape = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function etagOf(bytes: Buffer): string {
  return `"${createHash('md5').update(bytes).digest('hex')}"`;
}

function store(bucket: Map<string, StoredObject>, key: string, bytes: Buffer): StoredObject {
  const o = { bytes, etag: etagOf(bytes), modified: new Date().toUTCString() };
  bucket.set(key, o);
  return o;
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body?: Buffer | string, headers: Record<string, string | number> = {}): void {
  const b = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : body;
  res.writeHead(status, { 'content-length': b?.length ?? 0, ...headers });
  res.end(b);
}

function error(res: ServerResponse, status: number, code: string, message: string, head = false): void {
  const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error>`;
  if (head) send(res, status);
  else send(res, status, xml, { 'content-type': 'application/xml' });
}

/** The ETag precondition of a write or read: undefined if it holds, else the failing status. */
function precondition(req: IncomingMessage, current: StoredObject | undefined, forRead: boolean): number | undefined {
  const ifMatch = req.headers['if-match'];
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifMatch !== undefined && (current === undefined || (ifMatch !== '*' && ifMatch !== current.etag))) return current === undefined && forRead ? 404 : 412;
  if (ifNoneMatch !== undefined && current !== undefined && (ifNoneMatch === '*' || ifNoneMatch === current.etag)) return forRead ? 304 : 412;
  return undefined;
}

function objectHeaders(o: StoredObject): Record<string, string | number> {
  return { etag: o.etag, 'last-modified': o.modified, 'accept-ranges': 'bytes' };
}

function getObject(req: IncomingMessage, res: ServerResponse, o: StoredObject | undefined, head: boolean): void {
  if (o === undefined) return error(res, 404, 'NoSuchKey', 'The specified key does not exist.', head);
  const failed = precondition(req, o, true);
  if (failed !== undefined) return error(res, failed, failed === 304 ? 'NotModified' : 'PreconditionFailed', 'precondition failed', head);
  const size = o.bytes.length;
  const range = req.headers.range;
  if (range === undefined) {
    if (head) return send(res, 200, undefined, { ...objectHeaders(o), 'content-length': size });
    counts.GET_BYTES = (counts.GET_BYTES ?? 0) + size;
    return send(res, 200, o.bytes, objectHeaders(o));
  }
  const m = /^bytes=(\d*)-(\d*)$/.exec(range);
  if (m === null || (m[1] === '' && m[2] === '')) return error(res, 416, 'InvalidRange', `unsupported range ${range}`);
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || end < start) return error(res, 416, 'InvalidRange', `range ${range} is outside ${size} bytes`);
  const headers = { ...objectHeaders(o), 'content-range': `bytes ${start}-${end}/${size}` };
  if (head) return send(res, 206, undefined, { ...headers, 'content-length': end - start + 1 });
  counts.GET_BYTES = (counts.GET_BYTES ?? 0) + (end - start + 1);
  send(res, 206, o.bytes.subarray(start, end + 1), headers);
}

function list(res: ServerResponse, bucketName: string, bucket: Map<string, StoredObject>, q: URLSearchParams): void {
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const maxKeys = Math.min(1000, Number(q.get('max-keys') ?? 1000));
  const token = q.get('continuation-token');
  const after = token !== null ? Buffer.from(token, 'base64url').toString() : (q.get('start-after') ?? '');
  const enc = q.get('encoding-type') === 'url' ? (s: string) => encodeURIComponent(s).replace(/%2F/g, '/') : (s: string) => s;
  const keys = [...bucket.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
  const contents: string[] = [];
  const prefixes: string[] = [];
  const seenPrefixes = new Set<string>();
  let last = '';
  let truncated = false;
  for (const k of keys) {
    const cut = delimiter === '' ? -1 : k.indexOf(delimiter, prefix.length);
    const p = cut >= 0 ? k.slice(0, cut + delimiter.length) : undefined;
    if (p !== undefined && seenPrefixes.has(p)) {
      last = k; // a common prefix is one entry: every key under it is consumed with it
      continue;
    }
    if (contents.length + prefixes.length >= maxKeys) {
      truncated = true;
      break;
    }
    last = k;
    if (p !== undefined) {
      seenPrefixes.add(p);
      prefixes.push(`<CommonPrefixes><Prefix>${xmlEscape(enc(p))}</Prefix></CommonPrefixes>`);
      continue;
    }
    const o = bucket.get(k)!;
    contents.push(
      `<Contents><Key>${xmlEscape(enc(k))}</Key><LastModified>${new Date(o.modified).toISOString()}</LastModified>` +
        `<ETag>${xmlEscape(o.etag)}</ETag><Size>${o.bytes.length}</Size><StorageClass>STANDARD</StorageClass></Contents>`,
    );
  }
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>${xmlEscape(bucketName)}</Name><Prefix>${xmlEscape(enc(prefix))}</Prefix><KeyCount>${contents.length + prefixes.length}</KeyCount>` +
    `<MaxKeys>${maxKeys}</MaxKeys>${delimiter ? `<Delimiter>${xmlEscape(enc(delimiter))}</Delimiter>` : ''}` +
    `${q.get('encoding-type') === 'url' ? '<EncodingType>url</EncodingType>' : ''}<IsTruncated>${truncated}</IsTruncated>` +
    `${truncated ? `<NextContinuationToken>${Buffer.from(last).toString('base64url')}</NextContinuationToken>` : ''}` +
    `${contents.join('')}${prefixes.join('')}</ListBucketResult>`;
  send(res, 200, xml, { 'content-type': 'application/xml' });
}

async function putObject(req: IncomingMessage, res: ServerResponse, bucket: Map<string, StoredObject>, key: string, q: URLSearchParams): Promise<void> {
  const body = await readBody(req);
  const uploadId = q.get('uploadId');
  if (uploadId !== null) {
    const u = uploads.get(uploadId);
    if (u === undefined) return error(res, 404, 'NoSuchUpload', `no upload ${uploadId}`);
    u.parts.set(Number(q.get('partNumber')), body);
    return send(res, 200, undefined, { etag: etagOf(body) });
  }
  const failed = precondition(req, bucket.get(key), false);
  if (failed !== undefined) return error(res, failed, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
  const copySource = req.headers['x-amz-copy-source'];
  if (typeof copySource === 'string') {
    const src = decodeURIComponent(copySource.replace(/^\//, ''));
    const slash = src.indexOf('/');
    const from = buckets.get(src.slice(0, slash))?.get(src.slice(slash + 1));
    if (from === undefined) return error(res, 404, 'NoSuchKey', `copy source ${src} does not exist`);
    const o = store(bucket, key, from.bytes);
    return send(res, 200, `<CopyObjectResult><ETag>${xmlEscape(o.etag)}</ETag><LastModified>${new Date(o.modified).toISOString()}</LastModified></CopyObjectResult>`);
  }
  const o = store(bucket, key, body);
  send(res, 200, undefined, { etag: o.etag });
}

async function post(req: IncomingMessage, res: ServerResponse, bucket: Map<string, StoredObject>, bucketName: string, key: string, q: URLSearchParams): Promise<void> {
  const body = (await readBody(req)).toString();
  if (key === '' && q.has('delete')) {
    const deleted: string[] = [];
    for (const m of body.matchAll(/<Key>([^<]*)<\/Key>/g)) {
      const k = m[1]!.replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d))).replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'");
      bucket.delete(k);
      deleted.push(`<Deleted><Key>${xmlEscape(k)}</Key></Deleted>`);
    }
    return send(res, 200, `<?xml version="1.0" encoding="UTF-8"?><DeleteResult>${deleted.join('')}</DeleteResult>`, { 'content-type': 'application/xml' });
  }
  if (q.has('uploads')) {
    const id = `u${++uploadCounter}`;
    uploads.set(id, { bucket: bucketName, key, parts: new Map() });
    return send(res, 200, `<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>${xmlEscape(bucketName)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId></InitiateMultipartUploadResult>`, {
      'content-type': 'application/xml',
    });
  }
  const uploadId = q.get('uploadId');
  if (uploadId !== null) {
    const u = uploads.get(uploadId);
    if (u === undefined) return error(res, 404, 'NoSuchUpload', `no upload ${uploadId}`);
    const failed = precondition(req, bucket.get(key), false);
    if (failed !== undefined) return error(res, failed, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    const numbers = [...body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]));
    const parts = numbers.map((n) => u.parts.get(n));
    if (parts.some((p) => p === undefined)) return error(res, 400, 'InvalidPart', 'a listed part was not uploaded');
    uploads.delete(uploadId);
    const o = store(bucket, key, Buffer.concat(parts as Buffer[]));
    return send(res, 200, `<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><Bucket>${xmlEscape(bucketName)}</Bucket><Key>${xmlEscape(key)}</Key><ETag>${xmlEscape(o.etag)}</ETag></CompleteMultipartUploadResult>`, {
      'content-type': 'application/xml',
    });
  }
  error(res, 400, 'InvalidRequest', `unsupported POST ${req.url}`);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams;
  const method = req.method ?? 'GET';
  counts[method] = (counts[method] ?? 0) + 1;
  const path = url.pathname.slice(1);
  if (path === '') {
    if (q.has('latency')) {
      latencyMs = Number(q.get('latency'));
      return send(res, 200, JSON.stringify({ latencyMs }));
    }
    if (q.has('stats')) return send(res, 200, JSON.stringify({ latencyMs, counts }));
    return send(res, 200, '<ListAllMyBucketsResult><Buckets></Buckets></ListAllMyBucketsResult>');
  }
  const slash = path.indexOf('/');
  const bucketName = decodeURIComponent(slash < 0 ? path : path.slice(0, slash));
  const key = slash < 0 ? '' : decodeURIComponent(path.slice(slash + 1));
  if (latencyMs > 0) await new Promise((r) => setTimeout(r, latencyMs));
  const bucket = buckets.get(bucketName);
  if (key === '' && method === 'PUT') {
    await readBody(req);
    if (bucket === undefined) buckets.set(bucketName, new Map());
    return send(res, 200, undefined, { location: `/${bucketName}` });
  }
  if (bucket === undefined) return error(res, 404, 'NoSuchBucket', `bucket ${bucketName} does not exist`, method === 'HEAD');
  switch (method) {
    case 'GET':
      if (key === '') return list(res, bucketName, bucket, q);
      return getObject(req, res, bucket.get(key), false);
    case 'HEAD':
      if (key === '') return send(res, 200);
      return getObject(req, res, bucket.get(key), true);
    case 'PUT':
      return putObject(req, res, bucket, key, q);
    case 'POST':
      return post(req, res, bucket, bucketName, key, q);
    case 'DELETE': {
      const uploadId = q.get('uploadId');
      if (uploadId !== null) uploads.delete(uploadId);
      else bucket.delete(key);
      return send(res, 204);
    }
    default:
      return error(res, 405, 'MethodNotAllowed', `${method} is not supported`);
  }
}

function serve(): void {
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) error(res, 500, 'InternalError', e instanceof Error ? e.message : String(e));
      else res.destroy();
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    process.stdout.write(`READY ${JSON.stringify({ endpoint: `http://127.0.0.1:${port}` })}\n`);
  });
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(0);
  }, 1000).unref();
  process.on('SIGTERM', () => process.exit(0));
}

/** A running server (in a child process): its endpoint, a latency knob and a stop. */
export interface LatencyS3Server {
  endpoint: string;
  pid: number;
  setLatency(ms: number): Promise<void>;
  requestCounts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

/** Starts the server in a child process and resolves once it listens. */
export async function startLatencyS3Server(): Promise<LatencyS3Server> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`S3 latency server exited (${code}) before it was ready`)));
    lines.once('line', (line) => {
      if (!line.startsWith('READY ')) reject(new Error(`S3 latency server said ${line}`));
      else resolve((JSON.parse(line.slice(6)) as { endpoint: string }).endpoint);
    });
  });
  const call = async (query: string): Promise<string> => {
    const r = await fetch(`${endpoint}/?${query}`, { method: 'POST' });
    return r.text();
  };
  return {
    endpoint,
    pid: child.pid!,
    setLatency: async (ms) => void (await call(`latency=${ms}`)),
    requestCounts: async () => (JSON.parse(await call('stats')) as { counts: Record<string, number> }).counts,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) serve();
