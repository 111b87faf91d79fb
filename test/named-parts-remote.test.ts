/**
 * Named stores in parts on real remote primaries: a daemon of 2 shards over an S3-protocol server and over
 * HDFS (WebHDFS), a store of 2 parts driven by the seeded model test (batches across parts, range deletes,
 * iterators, reopen), then checkpointed and restored at 1 and 3 parts with exactly the model's contents.
 * Skips loudly when a server is not running (run through `make test`, which starts both).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreOptions } from '../lib/api.js';
import { connect } from '../lib/client/client.js';
import { seedFromEnv } from '../lib/util/random.js';
import { hdfsTestConfig, HDFS_UNAVAILABLE } from './support/hdfs-env.js';
import { startInProcessDaemon } from './support/inprocess-daemon.js';
import { modelLines, scanLines } from './support/model.js';
import { runRandomOps } from './support/random-ops.js';
import { createTestBucket, s3TestConfig, S3_UNAVAILABLE } from './support/s3-env.js';
import { SMALL_LSM } from './support/tiny-store.js';

t.setTimeout(300_000);

const MAX_KG = 8;

async function exercise(t: Test, primary: string, extra: Partial<StoreOptions>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'floe-parts-remote-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const d = await startInProcessDaemon(dir, { primary, localDir: join(dir, 'cache'), shards: 2, maxKeyGroups: MAX_KG, ...SMALL_LSM, diskCacheBytes: 256 * 1024, ...extra });
  t.teardown(() => d.stop().catch(() => undefined));
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const seed = seedFromEnv();
  const name = `remote/${process.pid}`;
  const { store, model, counts } = await runRandomOps({
    seed,
    ops: 600,
    maxKeyGroups: MAX_KG,
    keySpace: 200,
    maxValueBytes: 200,
    open: () => main.openStore({ name, maxKeyGroups: MAX_KG, keyGroups: [0, MAX_KG - 1] }),
    flush: true,
    reopen: true,
    rangeDeletes: true,
    iterators: true,
  });
  t.ok(counts.batch! > 0, `seed ${seed}: the model and the 2-part store agree on ${primary} (${JSON.stringify(counts)})`);
  const h = await store.checkpoint();
  t.equal(h.instances.length, 2, 'one handle listing both parts');
  await store.close();
  for (const parts of [1, 3]) {
    const s = await main.openStore({ name: `${name}/p${parts}`, maxKeyGroups: MAX_KG, keyGroups: [0, MAX_KG - 1], restore: [h], parts });
    t.equal(s.info.parts?.length ?? 1, parts, `restored at ${parts} part(s)`);
    t.same(await scanLines(s), modelLines(model), `restored at ${parts} part(s): exactly the model's contents`);
    await s.close({ drop: true });
  }
  await main.releaseCheckpoint(h);
}

t.test('S3 primary', async (t) => {
  const config = s3TestConfig();
  if (!config) {
    void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
    return;
  }
  const bucket = await createTestBucket(`floe-parts-${process.pid}`);
  await exercise(t, `s3://${bucket}/parts`, { s3: config });
});

t.test('HDFS primary', async (t) => {
  const config = hdfsTestConfig();
  if (!config) {
    void t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`, () => {});
    return;
  }
  await exercise(t, `${config.url}/parts-${process.pid}`, { hdfs: { user: config.user } });
});
