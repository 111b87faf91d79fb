/**
 * The S3 backend against a real S3-protocol server (moto, started by test/support/run-tests.ts and passed in
 * FLOE_TEST_S3_ENDPOINT): the object-store contract suite with create-if-absent enforced, plus S3-specific
 * behaviour: prefixes, the lean GET path, multipart uploads, error mapping for a missing bucket, an
 * unreachable endpoint and wrong credentials (a private moto with authentication switched on, which also
 * verifies the SigV4 signatures of the lean GET path).
 *
 * Run alone: bash test/support/install-moto.sh; build; node dist/test/support/s3-server.js; export the
 * variable it prints; tap dist/test/store-s3.test.js.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import t, { type Test } from 'tap';
import { isFloeError } from '../lib/errors.js';
import { createS3Store, type S3ObjectStore, type S3StoreOptions } from '../lib/store/s3.js';
import { Random } from '../lib/util/random.js';
import { enableMotoAuth, freePort, startMoto } from './support/moto.js';
import {
  createTestBucket,
  deletePrefix,
  deleteTestBucket,
  pendingMultipartUploads,
  S3_UNAVAILABLE,
  s3TestConfig,
  type S3TestConfig,
} from './support/s3-env.js';
import { expectCode, randomBytes, runStoreContract, sameBytes, seedFromEnv } from './support/store-contract.js';

const MiB = 2 ** 20;
const config = s3TestConfig();

if (config === undefined) {
  console.log(`#\n# !!! S3 server not available: ${S3_UNAVAILABLE}\n# !!! store-s3 tests SKIP\n#`);
  void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
} else {
  await suite(config);
}

async function suite(config: S3TestConfig): Promise<void> {
  const seed = seedFromEnv();
  t.comment(`store-s3 seed ${seed} (replay with FLOE_SEED=${seed})`);
  const bucket = `floe-s3-test-${seed.toString(36)}-${process.pid}`;
  await createTestBucket(bucket, config);
  t.teardown(() => deleteTestBucket(bucket, config));
  const base: S3StoreOptions = { ...config, multipartPartBytes: 5 * MiB };
  const open = (prefix: string, extra: S3StoreOptions = {}): Promise<S3ObjectStore> =>
    createS3Store(`s3://${bucket}/${prefix}`, { ...base, ...extra });

  let contractRuns = 0;
  runStoreContract(
    t,
    's3 (moto)',
    async () => {
      const prefix = `contract/${contractRuns++}`;
      const store = await open(prefix);
      return { store, cleanup: () => deletePrefix(bucket, `${prefix}/`, config) };
    },
    { conditionalPut: true, mtime: true },
  );

  void t.test('the URI prefix is a folder of its own, normalised', async (t) => {
    const x = await open('iso/x');
    const x2 = await createS3Store(`s3://${bucket}/iso/x/`, base);
    const xy = await open('iso/xy');
    const root = await createS3Store(`s3://${bucket}`, base);
    try {
      t.equal(x.uri, `s3://${bucket}/iso/x`, 'uri is canonical');
      t.equal(x2.uri, `s3://${bucket}/iso/x`, 'a trailing slash is dropped from the uri');
      t.equal(root.uri, `s3://${bucket}`, 'a bucket without prefix');
      await x.put('k', Uint8Array.from([1, 2, 3]));
      sameBytes(t, await x2.get('k'), Uint8Array.from([1, 2, 3]), 's3://b/iso/x/ and s3://b/iso/x are the same root');
      t.same(await xy.list(''), [], 's3://b/iso/xy does not see the objects of s3://b/iso/x');
      t.equal(await xy.head('k'), undefined, 'nor by head');
      t.same(
        (await root.list('iso/')).map((i) => i.path),
        ['iso/x/k'],
        'the bucket root sees the object under its full key',
      );
    } finally {
      await Promise.all([x, x2, xy, root].map((s) => s.close()));
      await deletePrefix(bucket, 'iso/', config);
    }
  });

  void t.test('list follows continuation tokens across pages', async (t) => {
    const store = await open('pages', { listPageSize: 3 });
    try {
      const paths = Array.from({ length: 11 }, (_, i) => `p/${String(i).padStart(2, '0')}`);
      await Promise.all(paths.map((p, i) => store.put(p, new Uint8Array(i))));
      await store.put('q/other', new Uint8Array(1));
      const before = store.requestCounts().sdkCommands;
      const listed = await store.list('p/');
      t.same(
        listed.map((i) => i.path),
        paths,
        '11 objects listed in order through pages of 3',
      );
      t.ok(listed.every((i, n) => i.size === n), 'sizes from every page');
      t.equal(store.requestCounts().sdkCommands - before, 4, 'four ListObjectsV2 pages');
    } finally {
      await store.close();
      await deletePrefix(bucket, 'pages/', config);
    }
  });

  void t.test('ranged GETs go through the lean path (undici), not the SDK', async (t) => {
    const store = await open('lean');
    let undiciRequests = 0;
    let httpRequests = 0;
    const onUndici = (message: unknown): void => {
      const method = (message as { request?: { method?: string } }).request?.method;
      if (method === 'GET') undiciRequests++;
    };
    const onHttp = (): void => {
      httpRequests++;
    };
    try {
      const rand = new Random(seed ^ 0x51);
      const bytes = randomBytes(rand, 256 * 1024);
      await store.put('obj', bytes);
      const before = store.requestCounts();
      subscribe('undici:request:create', onUndici);
      subscribe('http.client.request.start', onHttp);
      const reads = Array.from({ length: 64 }, () => {
        const offset = rand.int(bytes.length);
        return { offset, length: rand.range(1, 8192) };
      });
      const got = await Promise.all(reads.map((r) => store.get('obj', r)));
      const whole = await store.get('obj');
      unsubscribe('undici:request:create', onUndici);
      unsubscribe('http.client.request.start', onHttp);
      const after = store.requestCounts();
      t.ok(
        got.every((g, i) => sameRange(g, bytes, reads[i]!.offset, reads[i]!.length)),
        '64 concurrent 1-8 KiB ranged GETs return the right bytes',
      );
      sameBytes(t, whole, bytes, 'a whole-object GET returns the object');
      t.equal(after.leanGets - before.leanGets, 65, 'the store counted 65 lean GETs');
      t.equal(after.sdkCommands - before.sdkCommands, 0, 'no SDK command was sent for the reads');
      t.equal(undiciRequests, 65, 'undici sent exactly 65 GET requests');
      t.equal(httpRequests, 0, 'node:http (which the SDK uses) sent no request during the reads');
    } finally {
      unsubscribe('undici:request:create', onUndici);
      unsubscribe('http.client.request.start', onHttp);
      await store.close();
      await deletePrefix(bucket, 'lean/', config);
    }
  });

  void t.test('GET at and past the end of an object', async (t) => {
    const store = await open('past-end');
    try {
      const bytes = randomBytes(new Random(seed ^ 0x52), 100);
      await store.put('obj', bytes);
      await store.put('empty', new Uint8Array(0));
      t.equal((await store.get('obj', { offset: 100 })).length, 0, 'offset = size, no length: empty');
      t.equal((await store.get('obj', { offset: 100, length: 1 })).length, 0, 'offset = size: empty');
      t.equal((await store.get('obj', { offset: 5000, length: 10 })).length, 0, 'offset far past the end: empty');
      sameBytes(t, await store.get('obj', { offset: 99, length: 10 }), bytes.subarray(99), 'a range crossing the end is clipped');
      t.equal((await store.get('empty')).length, 0, 'whole GET of an empty object');
      t.equal((await store.get('empty', { offset: 0, length: 1 })).length, 0, 'ranged GET of an empty object');
      await expectCode(t, store.get('missing', { offset: 5000, length: 10 }), 'NOT_FOUND', 'a range past the end of a missing object');
      await expectCode(t, store.get('missing', { offset: 0, length: 0 }), 'NOT_FOUND', 'a zero-length range of a missing object');
    } finally {
      await store.close();
      await deletePrefix(bucket, 'past-end/', config);
    }
  });

  void t.test('multipart putStream (> 5 MiB): byte-exact, conditional, aborted on failure', async (t) => {
    const store = await open('multipart');
    try {
      const rand = new Random(seed ^ 0x53);
      const total = 11 * MiB + 4321;
      const whole = randomBytes(rand, total);
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < total; ) {
        const n = Math.min(total - at, rand.range(1, 300 * 1024));
        chunks.push(whole.subarray(at, at + n));
        at += n;
      }
      async function* produce(): AsyncGenerator<Uint8Array> {
        for (const c of chunks) yield c;
      }
      const before = store.requestCounts().sdkCommands;
      await store.putStream('big.sst', produce());
      t.equal(store.requestCounts().sdkCommands - before, 5, 'one multipart upload: create + 3 parts (5, 5, 1 MiB) + complete');
      sameBytes(t, await store.get('big.sst'), whole, `${total} bytes in ${chunks.length} chunks round-trip exactly`);
      t.equal((await store.head('big.sst'))?.size, total, 'head reports the full size');
      for (const boundary of [5 * MiB, 10 * MiB]) {
        sameBytes(
          t,
          await store.get('big.sst', { offset: boundary - 17, length: 40 }),
          whole.subarray(boundary - 17, boundary + 23),
          `a range across the part boundary at ${boundary / MiB} MiB`,
        );
      }
      t.same(await pendingMultipartUploads(bucket, config), [], 'no multipart upload is left open');

      // Create-if-absent checked at CompleteMultipartUpload.
      await expectCode(t, store.putStream('big.sst', [whole.subarray(0, 6 * MiB)], { ifNoneMatch: true }), 'ALREADY_EXISTS', 'a multipart create of an existing object');
      t.equal((await store.head('big.sst'))?.size, total, 'the existing object is intact');
      await store.putStream('fresh.sst', [whole.subarray(0, 6 * MiB)], { ifNoneMatch: true });
      sameBytes(t, await store.get('fresh.sst'), whole.subarray(0, 6 * MiB), 'a multipart create of a new object succeeds');
      t.same(await pendingMultipartUploads(bucket, config), [], 'the refused upload was aborted');

      // A producer that fails after two parts went up: nothing visible, upload aborted.
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield whole.subarray(0, 7 * MiB);
        yield whole.subarray(7 * MiB, 11 * MiB);
        throw new Error('producer failed');
      }
      let error: unknown;
      try {
        await store.putStream('failed.sst', failing());
      } catch (e) {
        error = e;
      }
      t.equal((error as Error | undefined)?.message, 'producer failed', "putStream rejects with the producer's error");
      t.equal(await store.head('failed.sst'), undefined, 'nothing is visible after the failure');
      t.same(await pendingMultipartUploads(bucket, config), [], 'the failed multipart upload was aborted');

      // Cancelled by the caller mid-stream.
      const controller = new AbortController();
      async function* cancelled(): AsyncGenerator<Uint8Array> {
        yield whole.subarray(0, 6 * MiB);
        controller.abort(new Error('cancelled by the test'));
        yield whole.subarray(6 * MiB, 7 * MiB);
      }
      error = undefined;
      try {
        await store.putStream('cancelled.sst', cancelled(), { signal: controller.signal });
      } catch (e) {
        error = e;
      }
      t.equal((error as Error | undefined)?.message, 'cancelled by the test', 'a cancelled putStream rejects with the abort reason');
      t.equal(await store.head('cancelled.sst'), undefined, 'nothing is visible after cancelling');
      t.same(await pendingMultipartUploads(bucket, config), [], 'the cancelled upload was aborted');
    } finally {
      await store.close();
      await deletePrefix(bucket, 'multipart/', config);
    }
  });

  void t.test('a missing bucket is a CONFIG error naming the bucket', async (t) => {
    const missing = `${bucket}-missing`;
    try {
      await createS3Store(`s3://${missing}/x`, base);
      t.fail('opening a missing bucket succeeded');
    } catch (e) {
      t.ok(isFloeError(e, 'CONFIG'), `open fails with CONFIG (${(e as Error).message})`);
      t.match((e as Error).message, `bucket ${missing} does not exist`, 'the message names the bucket');
      t.match((e as Error).message, 'create it or fix the URI', 'the message says what to do');
    }
    const store = await createS3Store(`s3://${missing}/x`, { ...base, verifyBucket: false });
    try {
      await expectEach(
        t,
        [
          ['get', () => store.get('a')],
          ['ranged get', () => store.get('a', { offset: 3, length: 4 })],
          ['put', () => store.put('a', new Uint8Array(3))],
          ['putStream', () => store.putStream('a', [new Uint8Array(3)])],
          ['list', () => store.list('')],
        ],
        'fails with CONFIG naming the URI',
        (e) => isFloeError(e, 'CONFIG') && e.message.includes(`s3://${missing}/x`),
      );
    } finally {
      await store.close();
    }
  });

  void t.test('an unreachable endpoint is a retryable IO error naming the endpoint', async (t) => {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    const opts = { ...base, endpoint, requestTimeoutMs: 5_000 };
    try {
      await createS3Store(`s3://${bucket}/x`, opts);
      t.fail('opening against a closed port succeeded');
    } catch (e) {
      t.ok(isFloeError(e, 'IO') && e.retryable, `open fails with retryable IO (${(e as Error).message})`);
      t.match((e as Error).message, endpoint, 'the message names the endpoint');
      t.match((e as Error).message, 'is the endpoint reachable?', 'the message says what to check');
    }
    const store = await createS3Store(`s3://${bucket}/x`, { ...opts, verifyBucket: false });
    try {
      await expectEach(
        t,
        [
          ['get', () => store.get('a', { offset: 0, length: 10 })],
          ['put', () => store.put('a', new Uint8Array(3))],
          ['head', () => store.head('a')],
          ['list', () => store.list('')],
          ['delete', () => store.delete('a')],
        ],
        'fails with retryable IO naming the endpoint and the URI',
        (e) => isFloeError(e, 'IO') && e.retryable && e.message.includes(endpoint) && e.message.includes(`s3://${bucket}/x`),
      );
    } finally {
      await store.close();
    }
  });

  void t.test('credentials are checked (private moto with authentication on)', async (t) => {
    const moto = await startMoto();
    t.teardown(() => moto.stop());
    const authBucket = 'floe-auth-test';
    const creds = await enableMotoAuth(moto, async () => {
      await createTestBucket(authBucket, { ...config, endpoint: moto.endpoint });
    });
    const authed: S3StoreOptions = { ...base, endpoint: moto.endpoint, credentials: creds };

    // Right credentials: moto checks every signature, so this also verifies the lean path's SigV4 signing,
    // including keys that need percent-encoding.
    const good = await createS3Store(`s3://${authBucket}/p`, authed);
    try {
      const bytes = randomBytes(new Random(seed ^ 0x54), 10_000);
      const key = "odd name/+plus&amp=eq (paren)'*!~";
      await good.put(key, bytes);
      sameBytes(t, await good.get(key), bytes, 'a signed whole GET of an oddly named key');
      sameBytes(t, await good.get(key, { offset: 1234, length: 999 }), bytes.subarray(1234, 2233), 'a signed ranged GET');
      t.equal((await good.head(key))?.size, bytes.length, 'a signed HEAD');
      t.same(
        (await good.list('')).map((i) => i.path),
        [key],
        'a signed LIST',
      );
      await expectCode(t, good.put(key, bytes, { ifNoneMatch: true }), 'ALREADY_EXISTS', 'a signed conditional PUT');
      await good.delete(key);
      t.equal(await good.head(key), undefined, 'a signed DELETE');
    } finally {
      await good.close();
    }

    for (const [what, credentials] of [
      ['a wrong secret', { accessKeyId: creds.accessKeyId, secretAccessKey: `${creds.secretAccessKey}x` }],
      ['an unknown access key', { accessKeyId: 'AKIAFLOEUNKNOWNKEY00', secretAccessKey: creds.secretAccessKey }],
    ] as const) {
      try {
        await createS3Store(`s3://${authBucket}/p`, { ...authed, credentials });
        t.fail(`opening with ${what} succeeded`);
      } catch (e) {
        t.ok(isFloeError(e, 'CONFIG') && !e.retryable, `open with ${what} fails with CONFIG (${(e as Error).message})`);
        t.match((e as Error).message, 'check credentials', 'the message says to check credentials');
      }
      const store = await createS3Store(`s3://${authBucket}/p`, { ...authed, credentials, verifyBucket: false });
      try {
        await expectEach(
          t,
          [
            [`lean GET with ${what}`, () => store.get('k', { offset: 0, length: 5 })],
            [`PUT with ${what}`, () => store.put('k', new Uint8Array(1))],
            [`LIST with ${what}`, () => store.list('')],
          ],
          'fails with CONFIG naming the URI',
          (e) => isFloeError(e, 'CONFIG') && e.message.includes('check credentials') && e.message.includes(`s3://${authBucket}/p`),
        );
      } finally {
        await store.close();
      }
    }
  });

  void t.test('a closed store refuses work; close is idempotent', async (t) => {
    const store = await open('closed');
    await store.close();
    await store.close();
    await expectCode(t, store.get('a'), 'CLOSED', 'get after close');
    await expectCode(t, store.put('a', new Uint8Array(1)), 'CLOSED', 'put after close');
    await expectCode(t, store.list(''), 'CLOSED', 'list after close');
  });
}

/** Runs each operation and asserts that it rejects with an error `check` accepts. */
async function expectEach(
  t: Test,
  ops: ReadonlyArray<readonly [string, () => Promise<unknown>]>,
  expectation: string,
  check: (e: unknown) => boolean,
): Promise<void> {
  for (const [what, op] of ops) {
    try {
      await op();
      t.fail(`${what} succeeded; expected it to fail`);
    } catch (e) {
      t.ok(check(e), `${what} ${expectation} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
}

function sameRange(got: Uint8Array, whole: Uint8Array, offset: number, length: number): boolean {
  const want = whole.subarray(offset, Math.min(whole.length, offset + length));
  return got.length === want.length && Buffer.from(got).equals(want);
}
