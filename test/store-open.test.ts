/** openObjectStore: URI validation and the stack it builds (backend → [inject] → retry → metrics). */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { isFloeError } from '../lib/errors.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { dropMemStore, openMemStore } from '../lib/store/mem.js';
import { ACCEPTED_SCHEMES, openObjectStore, parseStoreUri } from '../lib/store/open.js';
import { Random } from '../lib/util/random.js';
import { AutoClock } from './support/manual-clock.js';
import { sameBytes } from './support/store-contract.js';

t.test('open: malformed URIs are CONFIG errors naming the URI and the accepted forms', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    ['   ', /empty/],
    ['data/floe', /relative paths are not accepted; write an absolute file URI such as file:\/\//],
    ['./data', /relative paths are not accepted/],
    ['/var/lib/floe', /a bare path has no scheme; write file:\/\/\/var\/lib\/floe/],
    ['file://data/floe', /reads as a host name.*file:\/\/\/data\/floe/],
    ['file:relative', /three slashes/],
    ['file:///', /filesystem root/],
    ['file:///tmp/x?mode=1', /no query/],
    ['mem://', /needs a name/],
    ['mem://bad name', /not valid/],
    ['mem://a/b', /needs a name|not valid/],
    ['s3://', /needs a bucket/],
    ['s3:///prefix', /needs a bucket/],
    ['hdfs://', /namenode host/],
    ['ftp://host/path', /scheme ftp: is not supported/],
    ['gs://bucket', /scheme gs: is not supported/],
    [' mem://x', /whitespace/],
  ];
  for (const [uri, why] of cases) {
    try {
      await openObjectStore(uri);
      t.fail(`${JSON.stringify(uri)} should be rejected`);
    } catch (error) {
      const ok = isFloeError(error, 'CONFIG');
      t.ok(ok, `${JSON.stringify(uri)} is a CONFIG error`);
      const message = (error as Error).message;
      t.match(message, why, `${JSON.stringify(uri)}: the message says what is wrong`);
      t.ok(message.includes(JSON.stringify(uri)), `${JSON.stringify(uri)}: the message names the URI`);
      t.ok(message.includes(ACCEPTED_SCHEMES), `${JSON.stringify(uri)}: the message lists the accepted schemes`);
    }
  }
});

t.test('open: well-formed URIs parse', async (t) => {
  t.same(parseStoreUri('file:///var/lib/floe'), { scheme: 'file', root: '/var/lib/floe' }, 'file:///abs');
  t.same(parseStoreUri('file://localhost/var/lib/floe'), { scheme: 'file', root: '/var/lib/floe' }, 'file://localhost/abs');
  t.same(parseStoreUri('file:///tmp/with%20space'), { scheme: 'file', root: '/tmp/with space' }, 'percent-escapes are decoded');
  t.same(parseStoreUri('mem://store-1'), { scheme: 'mem', name: 'store-1' }, 'mem://name');
  t.same(parseStoreUri('MEM://store-1'), { scheme: 'mem', name: 'store-1' }, 'schemes are case-insensitive');
  t.same(parseStoreUri('s3://bucket/prefix/x'), { scheme: 's3', uri: 's3://bucket/prefix/x' }, 's3 is passed on to its backend');
  t.same(parseStoreUri('hdfs://nn:9870/floe'), { scheme: 'hdfs', uri: 'hdfs://nn:9870/floe' }, 'hdfs is passed on to its backend');
});

t.test('open: file:// builds local → retry → metrics, and metrics count', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-store-open-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const uri = pathToFileURL(join(dir, 'primary')).href;
  const { store, metrics } = await openObjectStore(uri);
  t.equal(store, metrics, 'the metrics wrapper is the top of the stack');
  t.equal(store.uri, uri, 'uri passes through the wrappers');
  await store.put('sst/a.sst', Uint8Array.from([1, 2, 3]));
  sameBytes(t, await store.get('sst/a.sst'), Uint8Array.from([1, 2, 3]), 'round trip through the stack');
  t.match(metrics.snapshot(), { gets: 1, puts: 1, bytesRead: 3, bytesWritten: 3 }, 'metrics count the calls');
  await store.close();
});

t.test('open: local and mem stores are not probed for conditional writes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-store-open-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const local = await openObjectStore(pathToFileURL(join(dir, 'primary')).href);
  const memory = await openObjectStore('mem://open-probe-test');
  t.teardown(() => {
    dropMemStore('open-probe-test');
  });
  for (const [what, opened] of [['file://', local], ['mem://', memory]] as const) {
    t.equal(opened.conditionalWrites, 'not-probed', `${what}: create-if-absent is enforced by our own code`);
    t.same(await opened.store.list(''), [], `${what}: no probe object was written`);
    await opened.store.close();
  }
});

t.test('open: unsafeAllowUnconditionalWrites must be a boolean (checked before any request)', async (t) => {
  for (const [uri, options] of [
    ['s3://floe-no-such-bucket/x', { s3: { unsafeAllowUnconditionalWrites: 'yes' as unknown as boolean } }],
    ['hdfs://127.0.0.1:1/x', { hdfs: { unsafeAllowUnconditionalWrites: 1 as unknown as boolean } }],
  ] as const) {
    try {
      await openObjectStore(uri, options);
      t.fail(`${uri}: a non-boolean option was accepted`);
    } catch (error) {
      t.ok(isFloeError(error, 'CONFIG'), `${uri}: CONFIG (${(error as Error).message})`);
      t.match((error as Error).message, /unsafeAllowUnconditionalWrites must be true or false/, `${uri}: the message names the option`);
    }
  }
});

t.test('open: mem:// shares the named store; inject puts faults under the retry layer', async (t) => {
  const clock = new AutoClock();
  let faults: FaultInjectingObjectStore | undefined;
  const { store, metrics } = await openObjectStore('mem://open-test', {
    clock,
    random: new Random(1),
    inject: (backend) => (faults = new FaultInjectingObjectStore(backend, { seed: 1, clock, rules: [{ ops: ['put'], times: 2 }] })),
  });
  await store.put('x', Uint8Array.from([9]));
  t.equal(faults?.injected().error, 2, 'two injected failures happened');
  t.match(metrics.snapshot(), { puts: 1, errors: 0 }, 'the retry layer hid them: one successful put counted');
  sameBytes(t, await openMemStore('open-test').get('x'), Uint8Array.from([9]), 'the same name opened directly sees the object');
  const noRetry = await openObjectStore('mem://open-test', { retry: false, inject: (b) => new FaultInjectingObjectStore(b, { seed: 1, clock, rules: [{ ops: ['get'], times: 1 }] }) });
  try {
    await noRetry.store.get('x');
    t.fail('without retries the injected failure surfaces');
  } catch (error) {
    t.ok(isFloeError(error, 'IO'), 'retry: false builds no retry layer');
  }
  dropMemStore('open-test');
});

t.test('open: a file root that cannot be used is a CONFIG error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-store-open-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  try {
    await openObjectStore(pathToFileURL(join(dir, 'missing')).href, { local: { create: false } });
    t.fail('should fail');
  } catch (error) {
    t.ok(isFloeError(error, 'CONFIG'), 'a missing root with create: false');
  }
});
