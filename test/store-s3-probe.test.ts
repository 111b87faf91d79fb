/**
 * The conditional-write probe at open (lib/store/conditional-probe.ts, run by openObjectStore for s3://)
 * against the real moto server (FLOE_TEST_S3_ENDPOINT), and against a real S3-protocol endpoint that ignores
 * conditional writes: moto behind test/support/unconditional-proxy.ts, which removes `If-None-Match` so moto
 * overwrites. On such an endpoint writer fencing, manifest and checkpoint-record uniqueness silently fail;
 * the probe must refuse to open it with CONFIG unless `s3.unsafeAllowUnconditionalWrites` is set.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { S3Options } from '../lib/api.js';
import { isFloeError } from '../lib/errors.js';
import { openObjectStore } from '../lib/store/open.js';
import { createS3Store } from '../lib/store/s3.js';
import { createTestBucket, deleteTestBucket, S3_UNAVAILABLE, s3TestConfig, type S3TestConfig } from './support/s3-env.js';
import { startStripProxy } from './support/unconditional-proxy.js';
import { expectCode, sameBytes } from './support/store-contract.js';

const config = s3TestConfig();

if (config === undefined) {
  console.log(`#\n# !!! S3 server not available: ${S3_UNAVAILABLE}\n# !!! store-s3-probe tests SKIP\n#`);
  void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
} else {
  await suite(config);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function suite(config: S3TestConfig): Promise<void> {
  const bucket = `floe-s3-probe-${process.pid}`;
  await createTestBucket(bucket, config);
  t.teardown(() => deleteTestBucket(bucket, config));
  const proxy = await startStripProxy(config.endpoint);
  t.teardown(() => proxy.close());
  const s3: S3Options = { ...config };
  const viaProxy: S3Options = { ...config, endpoint: proxy.endpoint };
  /** Every key in the bucket under `prefix`, read straight from moto (not through the store under test). */
  const keysUnder = async (prefix: string): Promise<string[]> => {
    const raw = await createS3Store(`s3://${bucket}`, s3);
    try {
      return (await raw.list(prefix)).map((i) => i.path);
    } finally {
      await raw.close();
    }
  };

  void t.test('the stripping proxy is an endpoint that ignores conditional writes', async (t) => {
    // Backend level (createS3Store runs no probe): shows the hazard the probe exists for.
    const direct = await createS3Store(`s3://${bucket}/fixture`, s3);
    const proxied = await createS3Store(`s3://${bucket}/fixture`, viaProxy);
    try {
      await direct.put('direct', text('first'), { ifNoneMatch: true });
      await expectCode(t, direct.put('direct', text('second'), { ifNoneMatch: true }), 'ALREADY_EXISTS', 'moto itself enforces If-None-Match');
      const before = proxy.rewritten();
      await proxied.put('fence', text('writer A'), { ifNoneMatch: true });
      await proxied.put('fence', text('writer B'), { ifNoneMatch: true });
      t.pass('through the proxy, two create-if-absent PUTs of one object both succeed');
      sameBytes(t, await proxied.get('fence'), text('writer B'), 'and the second silently replaced the first');
      t.equal(proxy.rewritten() - before, 2, 'the proxy removed If-None-Match from both PUTs');
    } finally {
      await Promise.all([direct.close(), proxied.close()]);
    }
  });

  void t.test('on moto the probe passes, is not counted, and leaves nothing behind', async (t) => {
    const opened = await openObjectStore(`s3://${bucket}/ok`, { s3 });
    try {
      t.equal(opened.conditionalWrites, 'enforced', 'the probe saw the second create-if-absent refused');
      t.match(opened.metrics.snapshot(), { puts: 0, errors: 0 }, 'probe requests are not in the store metrics');
      await opened.store.put('x', text('1'), { ifNoneMatch: true });
      await expectCode(t, opened.store.put('x', text('2'), { ifNoneMatch: true }), 'ALREADY_EXISTS', 'the opened store fences');
      t.same(await keysUnder('ok/'), ['ok/x'], 'no probe object remains');
    } finally {
      await opened.store.close();
    }
  });

  void t.test('through the stripping proxy, open refuses with CONFIG naming the endpoint', async (t) => {
    const before = proxy.rewritten();
    try {
      const opened = await openObjectStore(`s3://${bucket}/refused`, { s3: viaProxy });
      // Before the probe existed: open succeeded and fencing silently failed, as shown here.
      await opened.store.put('fence', text('writer A'), { ifNoneMatch: true });
      await opened.store.put('fence', text('writer B'), { ifNoneMatch: true });
      await opened.store.close();
      t.fail('open succeeded on an endpoint that ignores If-None-Match; two create-if-absent puts of one object both succeeded');
    } catch (e) {
      t.ok(isFloeError(e, 'CONFIG') && !e.retryable, `CONFIG, not retryable (${(e as Error).message})`);
      const message = (e as Error).message;
      t.match(message, proxy.endpoint, 'the message names the endpoint');
      t.match(message, `bucket ${bucket}`, 'and the bucket');
      t.match(message, `s3://${bucket}/refused`, 'and the store URI');
      t.match(message, 'If-None-Match', 'it says which condition is not enforced');
      t.match(message, /fencing/, 'and what breaks');
      t.match(message, 's3.unsafeAllowUnconditionalWrites', 'and names the unsafe option');
    }
    t.ok(proxy.rewritten() - before >= 2, 'the probe went through the proxy');
    t.same(await keysUnder('refused/'), [], 'the probe object was deleted');
  });

  void t.test('s3.unsafeAllowUnconditionalWrites opens anyway, warns once, and fencing is lost', async (t) => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => {
      if ((w as { code?: string }).code === 'FLOE_UNSAFE_UNCONDITIONAL_WRITES') warnings.push(w.message);
    };
    process.on('warning', onWarning);
    t.teardown(() => {
      process.off('warning', onWarning);
    });
    const unsafe: S3Options = { ...viaProxy, unsafeAllowUnconditionalWrites: true };
    const a = await openObjectStore(`s3://${bucket}/unsafe`, { s3: unsafe });
    const b = await openObjectStore(`s3://${bucket}/unsafe`, { s3: unsafe });
    try {
      t.equal(a.conditionalWrites, 'not-enforced', 'the probe still ran and saw the problem');
      // process.emitWarning is delivered on the next tick.
      await new Promise((r) => setImmediate(r));
      t.equal(warnings.length, 1, 'one warning for two opens of the same endpoint and store');
      t.match(warnings[0] ?? '', proxy.endpoint, 'the warning names the endpoint');
      await a.store.put('fence', text('writer A'), { ifNoneMatch: true });
      await b.store.put('fence', text('writer B'), { ifNoneMatch: true });
      sameBytes(t, await a.store.get('fence'), text('writer B'), 'what the option gives up: the second writer silently overwrote the first');
      t.same(await keysUnder('unsafe/'), ['unsafe/fence'], 'no probe object remains');
    } finally {
      await Promise.all([a.store.close(), b.store.close()]);
    }
  });

  void t.test('an endpoint that fails during the probe is the usual IO error naming it, not CONFIG', async (t) => {
    // Answers the bucket check, then drops every write's connection: the endpoint went down after open.
    const flaky = createServer((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'content-length': '0' });
        res.end();
        return;
      }
      req.socket.destroy();
    });
    await new Promise<void>((resolve) => flaky.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(flaky.address() as AddressInfo).port}`;
    t.teardown(
      () =>
        new Promise<void>((resolve) => {
          flaky.closeAllConnections();
          flaky.close(() => resolve());
        }),
    );
    try {
      await openObjectStore(`s3://${bucket}/down`, { s3: { ...config, endpoint }, retry: { maxAttempts: 2, baseDelayMs: 1 } });
      t.fail('open succeeded against an endpoint that drops every write');
    } catch (e) {
      t.ok(isFloeError(e, 'IO') && e.retryable, `retryable IO (${(e as Error).message})`);
      t.match((e as Error).message, endpoint, 'the message names the endpoint');
      t.notMatch((e as Error).message, 'unsafeAllowUnconditionalWrites', 'it is not the conditional-write refusal');
    }
  });
}
