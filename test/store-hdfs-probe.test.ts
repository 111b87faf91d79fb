/**
 * The conditional-write probe at open for hdfs:// (lib/store/conditional-probe.ts, run by openObjectStore)
 * against the real HDFS test cluster (FLOE_TEST_HDFS_URL), and against a namenode whose create-if-absent
 * renames overwrite: the cluster behind test/support/unconditional-proxy.ts, which rewrites
 * `renameoptions=NONE` to `OVERWRITE`.
 */
import t from 'tap';
import type { HdfsOptions } from '../lib/api.js';
import { isFloeError } from '../lib/errors.js';
import { openObjectStore } from '../lib/store/open.js';
import { PROBE_PREFIX } from '../lib/store/paths.js';
import { createWebHdfsStore } from '../lib/store/webhdfs.js';
import { deleteHdfsTree, HDFS_UNAVAILABLE, hdfsRootPath, hdfsTestConfig, listHdfsTree, type HdfsTestConfig } from './support/hdfs-env.js';
import { expectCode, sameBytes } from './support/store-contract.js';
import { startRenameOverwriteProxy } from './support/unconditional-proxy.js';

const config = hdfsTestConfig();
if (config === undefined) {
  console.log(`#\n# !!! HDFS not available: ${HDFS_UNAVAILABLE}\n# !!! store-hdfs-probe tests SKIP\n#`);
  void t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`, () => {});
} else {
  await suite(config);
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

async function suite(config: HdfsTestConfig): Promise<void> {
  const folder = `${hdfsRootPath(config)}/probe-${process.pid}`;
  t.teardown(() => deleteHdfsTree(config, folder));
  const namenode = new URL(config.url.replace(/^hdfs:/, 'http:'));
  const proxy = await startRenameOverwriteProxy(namenode.origin);
  t.teardown(() => proxy.close());
  const direct = `hdfs://${namenode.host}${folder}`;
  const viaProxy = `hdfs://${new URL(proxy.endpoint).host}${folder}`;
  const hdfs: HdfsOptions = { user: config.user };
  /** Probe files (not folders) left under `sub`, read straight from WebHDFS. */
  const probeFiles = async (sub: string): Promise<string[]> => {
    const names = await listHdfsTree(config, `${folder}/${sub}`);
    return names.filter((n) => n.startsWith(PROBE_PREFIX) && n.length > PROBE_PREFIX.length);
  };

  void t.test('the rewriting proxy is a namenode whose create-if-absent renames overwrite', async (t) => {
    const plain = await createWebHdfsStore(`${direct}/fixture`, hdfs);
    const proxied = await createWebHdfsStore(`${viaProxy}/fixture`, hdfs);
    try {
      await plain.put('direct', text('first'), { ifNoneMatch: true });
      await expectCode(t, plain.put('direct', text('second'), { ifNoneMatch: true }), 'ALREADY_EXISTS', 'the namenode itself enforces renameoptions=NONE');
      const before = proxy.rewritten();
      await proxied.put('fence', text('writer A'), { ifNoneMatch: true });
      await proxied.put('fence', text('writer B'), { ifNoneMatch: true });
      sameBytes(t, await proxied.get('fence'), text('writer B'), 'through the proxy both creates succeed and the second replaced the first');
      t.equal(proxy.rewritten() - before, 2, 'the proxy rewrote both renames');
    } finally {
      await Promise.all([plain.close(), proxied.close()]);
    }
  });

  void t.test('on the cluster the probe passes and leaves no probe file', async (t) => {
    const opened = await openObjectStore(`${direct}/ok`, { hdfs });
    try {
      t.equal(opened.conditionalWrites, 'enforced');
      t.match(opened.metrics.snapshot(), { puts: 0 }, 'probe requests are not in the store metrics');
      t.same(await opened.store.list(''), [], 'the store lists nothing');
      t.same(await probeFiles('ok'), [], 'no probe file remains (the emptied folder may)');
    } finally {
      await opened.store.close();
    }
  });

  void t.test('through the proxy, open refuses with CONFIG naming the namenode', async (t) => {
    try {
      const opened = await openObjectStore(`${viaProxy}/refused`, { hdfs });
      await opened.store.close();
      t.fail('open succeeded on a namenode whose create-if-absent renames overwrite');
    } catch (e) {
      t.ok(isFloeError(e, 'CONFIG') && !e.retryable, `CONFIG (${(e as Error).message})`);
      const message = (e as Error).message;
      t.match(message, `WebHDFS namenode ${proxy.endpoint}`, 'names the namenode');
      t.match(message, 'renameoptions=NONE', 'names the mechanism');
      t.match(message, 'hdfs.unsafeAllowUnconditionalWrites: true', 'names the unsafe option');
      t.match(message, 'docs/hdfs.md', 'points at the documentation');
    }
    t.same(await probeFiles('refused'), [], 'the probe file was deleted');
  });

  void t.test('hdfs.unsafeAllowUnconditionalWrites opens anyway', async (t) => {
    const opened = await openObjectStore(`${viaProxy}/unsafe`, { hdfs: { ...hdfs, unsafeAllowUnconditionalWrites: true } });
    try {
      t.equal(opened.conditionalWrites, 'not-enforced');
      t.same(await probeFiles('unsafe'), [], 'no probe file remains');
    } finally {
      await opened.store.close();
    }
  });
}
