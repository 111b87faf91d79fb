/**
 * Error mapping of the S3 backend (lib/store/s3-errors.ts), URI validation (lib/store/s3-uri.ts), and the
 * key encoding and credential cache of the lean GET path (lib/store/s3-get.ts), without an S3 server: a table test of the classification, and end-to-end checks through a real S3ObjectStore
 * against a scripted local HTTP server that answers what moto cannot be made to (throttling, 5xx, a wrong
 * region, hung and reset connections, a server that ignores Range).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { FloeError, isFloeError, type FloeErrorCode } from '../lib/errors.js';
import { createS3Store, type S3ObjectStore } from '../lib/store/s3.js';
import { s3Error, type S3ErrorContext, type S3Failure } from '../lib/store/s3-errors.js';
import { CredentialCache, encodeKey, type S3Identity } from '../lib/store/s3-get.js';
import type { Clock } from '../lib/util/clock.js';
import { parseS3Uri } from '../lib/store/s3-uri.js';

const ctx: S3ErrorContext = {
  op: 'GET',
  storeUri: 's3://bkt/pre',
  path: 'sst/x.sst',
  bucket: 'bkt',
  endpoint: 'http://127.0.0.1:9',
  region: 'us-east-1',
  objectLevel: true,
};

void t.test('classification table', async (t) => {
  const cases: Array<[string, S3Failure, Partial<S3ErrorContext>, FloeErrorCode, boolean, string]> = [
    ['connection refused', { transport: 'ECONNREFUSED' }, {}, 'IO', true, 'is the endpoint reachable?'],
    ['reset', { transport: 'ECONNRESET' }, {}, 'IO', true, 'http://127.0.0.1:9'],
    ['headers timeout', { transport: 'UND_ERR_HEADERS_TIMEOUT' }, {}, 'IO', true, 'timed out'],
    ['sdk timeout', { transport: 'TimeoutError' }, {}, 'IO', true, 'timed out'],
    ['slow down', { status: 503, code: 'SlowDown' }, {}, 'IO', true, 'throttling'],
    ['429', { status: 429 }, {}, 'IO', true, 'throttling'],
    ['500', { status: 500, code: 'InternalError' }, {}, 'IO', true, 'server error'],
    ['no such bucket', { status: 404, code: 'NoSuchBucket' }, {}, 'CONFIG', false, 'bucket bkt does not exist'],
    ['no such key', { status: 404, code: 'NoSuchKey' }, {}, 'NOT_FOUND', false, 's3://bkt/pre'],
    ['404 without code', { status: 404 }, {}, 'NOT_FOUND', false, 'sst/x.sst'],
    ['access denied', { status: 403, code: 'AccessDenied' }, {}, 'CONFIG', false, 'check credentials'],
    ['bad key', { status: 403, code: 'InvalidAccessKeyId' }, {}, 'CONFIG', false, 'check credentials'],
    ['bad signature', { status: 403, code: 'SignatureDoesNotMatch' }, {}, 'CONFIG', false, 'check credentials'],
    ['no credentials at all', { code: 'CredentialsProviderError' }, {}, 'CONFIG', false, 'set s3.credentials'],
    ['clock skew', { status: 403, code: 'RequestTimeTooSkewed' }, {}, 'CONFIG', false, 'clock'],
    ['wrong region', { status: 301, code: 'PermanentRedirect', bucketRegion: 'eu-west-1' }, {}, 'CONFIG', false, "set s3.region to 'eu-west-1'"],
    ['wrong region (400)', { status: 400, code: 'AuthorizationHeaderMalformed' }, {}, 'CONFIG', false, 's3.region'],
    ['conditional 412', { status: 412, code: 'PreconditionFailed' }, { op: 'PUT', conditional: true }, 'ALREADY_EXISTS', false, 'already exists'],
    ['conditional 409', { status: 409, code: 'ConditionalRequestConflict' }, { op: 'PUT', conditional: true }, 'ALREADY_EXISTS', false, 'already exists'],
    ['412 on a plain request', { status: 412, code: 'PreconditionFailed' }, {}, 'IO', false, 'not expected to succeed'],
    ['400 other', { status: 400, code: 'InvalidArgument' }, {}, 'IO', false, 'InvalidArgument'],
    ['unexpected client failure', { code: 'TypeError' }, {}, 'IO', false, 'unexpected'],
  ];
  for (const [what, failure, extra, code, retryable, fragment] of cases) {
    const e = s3Error(failure, { ...ctx, ...extra });
    t.ok(e instanceof FloeError && e.code === code && e.retryable === retryable, `${what} → ${code}${retryable ? ' (retryable)' : ''}: ${e.message}`);
    t.match(e.message, fragment, `${what}: the message says ${JSON.stringify(fragment)}`);
    t.match(e.message, 's3://bkt/pre', `${what}: the message names the URI`);
  }
});

void t.test('URI validation and normalisation', async (t) => {
  t.same(parseS3Uri('s3://my-bucket'), { bucket: 'my-bucket', prefix: '', uri: 's3://my-bucket' });
  t.same(parseS3Uri('s3://my-bucket/'), { bucket: 'my-bucket', prefix: '', uri: 's3://my-bucket' });
  t.same(parseS3Uri('s3://my.bucket.1/a/b/'), { bucket: 'my.bucket.1', prefix: 'a/b/', uri: 's3://my.bucket.1/a/b' });
  t.same(parseS3Uri('s3://abc/floe'), { bucket: 'abc', prefix: 'floe/', uri: 's3://abc/floe' });
  const bad = [
    'http://bucket/x',
    's3://',
    's3:///x',
    's3://ab/x',
    's3://Bucket/x',
    's3://my_bucket/x',
    's3://-bucket/x',
    's3://bucket-/x',
    's3://my..bucket/x',
    's3://192.168.1.1/x',
    's3://xn--bucket/x',
    's3://bucket-s3alias/x',
    `s3://${'a'.repeat(64)}/x`,
    's3://bucket/a//b',
    's3://bucket/a/../b',
    's3://bucket/./b',
    's3://bucket/x?versionId=1',
    's3://bucket/x#frag',
    's3://bucket/a\\b',
  ];
  for (const uri of bad) {
    try {
      parseS3Uri(uri);
      t.fail(`${uri} was accepted`);
    } catch (e) {
      t.ok(isFloeError(e, 'CONFIG') && e.message.includes(JSON.stringify(uri)), `${uri} → CONFIG (${(e as Error).message})`);
    }
  }
  try {
    await createS3Store('s3://ok-bucket/x', { endpoint: 'ftp://host', verifyBucket: false });
    t.fail('an ftp endpoint was accepted');
  } catch (e) {
    t.ok(isFloeError(e, 'CONFIG'), 'a non-http endpoint → CONFIG');
  }
  try {
    await createS3Store('s3://ok-bucket/x', { endpoint: 'http://h', multipartPartBytes: 1024, verifyBucket: false });
    t.fail('a 1 KiB part size was accepted');
  } catch (e) {
    t.ok(isFloeError(e, 'CONFIG') && e.message.includes('multipartPartBytes'), 'a part size under 5 MiB → CONFIG');
  }
});

void t.test('object keys are percent-encoded once, RFC 3986 style', async (t) => {
  t.equal(encodeKey('pre/sst/000001.sst'), 'pre/sst/000001.sst');
  t.equal(encodeKey('a b/c+d'), 'a%20b/c%2Bd');
  t.equal(encodeKey("x!'()*~-_."), 'x%21%27%28%29%2A~-_.');
  t.equal(encodeKey('é/%'), '%C3%A9/%25');
});

void t.test('credential cache: resolves once, refreshes near expiry, single flight', async (t) => {
  let now = 1_000_000_000_000;
  const clock: Clock = { now: () => now, sleep: async () => {} };
  let calls = 0;
  let fail = false;
  const provider = async (): Promise<S3Identity> => {
    calls++;
    await new Promise((r) => setTimeout(r, 5));
    if (fail) throw new Error('provider down');
    return { accessKeyId: `key-${calls}`, secretAccessKey: 's', expiration: new Date(now + 60 * 60_000) };
  };
  const cache = new CredentialCache(provider, clock);
  const first = await Promise.all([cache.get(), cache.get(), cache.get()]);
  t.equal(calls, 1, 'three concurrent callers share one resolution');
  t.ok(first.every((c) => c.accessKeyId === 'key-1'), 'and get the same identity');
  now += 50 * 60_000; // 10 minutes left: still fresh
  t.equal((await cache.get()).accessKeyId, 'key-1', 'fresh credentials are reused');
  t.equal(calls, 1, 'without calling the provider');
  now += 6 * 60_000; // 4 minutes left: refresh
  t.equal((await cache.get()).accessKeyId, 'key-2', 'credentials within 5 minutes of expiry are refreshed');
  now += 58 * 60_000;
  fail = true;
  try {
    await cache.get();
    t.fail('a failing provider was hidden');
  } catch (e) {
    t.equal((e as Error).message, 'provider down', 'a failing refresh rejects with the provider error');
  }
  fail = false;
  t.equal((await cache.get()).accessKeyId, 'key-4', 'the next call tries the provider again');
  const statics = new CredentialCache(async () => ({ accessKeyId: 'static', secretAccessKey: 's' }), clock);
  await statics.get();
  now += 365 * 24 * 3600_000;
  t.equal((await statics.get()).accessKeyId, 'static', 'credentials without expiration are resolved once');
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A local HTTP server whose answer to each request is decided by the current handler. */
async function scripted(): Promise<{ server: Server; endpoint: string; handle(h: Handler): void; close(): Promise<void> }> {
  let handler: Handler = (_req, res) => res.end();
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => handler(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    endpoint: `http://127.0.0.1:${port}`,
    handle: (h) => {
      handler = h;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const xmlError = (code: string, message: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>r1</RequestId></Error>`;

void t.test('end to end against a scripted server', async (t) => {
  const fake = await scripted();
  t.teardown(() => fake.close());
  const open = (extra = {}): Promise<S3ObjectStore> =>
    createS3Store('s3://scripted-bucket/pre', {
      endpoint: fake.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
      verifyBucket: false,
      requestTimeoutMs: 400,
      ...extra,
    });
  const store = await open();
  t.teardown(() => store.close());

  const expectError = async (what: string, p: Promise<unknown>, code: FloeErrorCode, retryable: boolean, fragment: string): Promise<void> => {
    try {
      await p;
      t.fail(`${what}: succeeded`);
    } catch (e) {
      const ok = isFloeError(e, code) && e.retryable === retryable && e.message.includes(fragment) && e.message.includes('s3://scripted-bucket/pre');
      t.ok(ok, `${what} → ${code}${retryable ? ' retryable' : ''} mentioning ${JSON.stringify(fragment)} (${e instanceof Error ? e.message : String(e)})`);
    }
  };

  const requests: Array<{ method?: string; url?: string; range?: string; auth?: string }> = [];
  fake.handle((req, res) => {
    requests.push({ method: req.method, url: req.url, range: req.headers.range, auth: req.headers.authorization });
    res.writeHead(503, { 'content-type': 'application/xml' });
    res.end(xmlError('SlowDown', 'Please reduce your request rate.'));
  });
  await expectError('lean GET on 503 SlowDown', store.get('sst/a.sst', { offset: 10, length: 5 }), 'IO', true, 'throttling');
  t.equal(requests.length, 1, 'one request: the backend does not retry');
  t.equal(requests[0]?.url, '/scripted-bucket/pre/sst/a.sst', 'path-style URL with the prefix');
  t.equal(requests[0]?.range, 'bytes=10-14', 'Range header for offset 10, length 5');
  t.match(requests[0]?.auth ?? '', /^AWS4-HMAC-SHA256 Credential=AKIDTEST\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/, 'SigV4 signed');
  await expectError('PUT on 503 SlowDown', store.put('sst/a.sst', new Uint8Array(4)), 'IO', true, 'throttling');
  t.equal(requests.length, 2, 'one PUT request: the SDK does not retry (maxAttempts 1)');

  fake.handle((_req, res) => {
    res.writeHead(500, { 'content-type': 'application/xml' });
    res.end(xmlError('InternalError', 'We encountered an internal error.'));
  });
  await expectError('lean GET on 500', store.get('k'), 'IO', true, 'server error');
  await expectError('LIST on 500', store.list(''), 'IO', true, 'server error');

  fake.handle((_req, res) => {
    res.writeHead(429, { 'content-type': 'application/xml' });
    res.end(xmlError('TooManyRequests', 'slow down'));
  });
  await expectError('lean GET on 429', store.get('k'), 'IO', true, 'throttling');

  fake.handle((_req, res) => {
    res.writeHead(301, { 'content-type': 'application/xml', 'x-amz-bucket-region': 'eu-central-1' });
    res.end(xmlError('PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.'));
  });
  await expectError('lean GET in the wrong region', store.get('k'), 'CONFIG', false, "set s3.region to 'eu-central-1'");

  fake.handle((_req, res) => {
    res.writeHead(403, { 'content-type': 'application/xml' });
    res.end(xmlError('AccessDenied', 'Access Denied'));
  });
  await expectError('lean GET denied', store.get('k'), 'CONFIG', false, 'check credentials');
  await expectError('DELETE denied', store.delete('k'), 'CONFIG', false, 'check credentials');

  // A server that ignores Range and sends the whole object with 200: the backend cuts the range out.
  const whole = Buffer.from('0123456789abcdefghij');
  fake.handle((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(whole.length) });
    res.end(whole);
  });
  t.equal(Buffer.from(await store.get('k', { offset: 5, length: 4 })).toString(), '5678', 'a 200 answer to a ranged GET is cut to the range');
  t.equal((await store.get('k', { offset: 25, length: 4 })).length, 0, 'and past its end it is empty');

  // A server that accepts the request and never answers: timeouts are retryable IO naming the endpoint.
  fake.handle(() => {});
  await expectError('lean GET that hangs', store.get('k'), 'IO', true, 'timed out');
  await expectError('PUT that hangs', store.put('k', new Uint8Array(4)), 'IO', true, fake.endpoint);

  // A server that drops the connection.
  fake.handle((req) => req.socket.destroy());
  await expectError('lean GET on a dropped connection', store.get('k'), 'IO', true, 'is the endpoint reachable?');
  await expectError('HEAD on a dropped connection', store.head('k'), 'IO', true, 'is the endpoint reachable?');

  // An abort signal rejects with its reason, not a FloeError.
  fake.handle(() => {});
  const controller = new AbortController();
  const pending = store.get('k', undefined, { signal: controller.signal });
  setTimeout(() => controller.abort(new Error('cancelled')), 50);
  try {
    await pending;
    t.fail('an aborted GET succeeded');
  } catch (e) {
    t.equal((e as Error).message, 'cancelled', 'an aborted lean GET rejects with the abort reason');
  }
});
