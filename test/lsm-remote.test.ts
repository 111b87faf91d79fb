/**
 * The engine on real remote primaries: the model-based random test (shorter) on an S3-protocol server and
 * on HDFS (WebHDFS), with the disk cache on, plus checkpoint → restore by reference on each; and a shorter
 * run of each with the write-ahead log (durability 'wal'), and one with state TTL and range deletes in the
 * model (on a test clock). Skips loudly
 * when a server is not running (run through `make test`, which starts both).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { seedFromEnv } from '../lib/util/random.js';
import { TtlClock } from './support/manual-clock.js';
import { runRandomOps } from './support/random-ops.js';
import { hex } from './support/model.js';
import { s3TestConfig, createTestBucket, S3_UNAVAILABLE } from './support/s3-env.js';
import { hdfsTestConfig, HDFS_UNAVAILABLE } from './support/hdfs-env.js';

const tuning: Partial<StoreOptions> = {
  maxKeyGroups: 8,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  blockBytes: 2048,
  l0CompactionTrigger: 2,
  diskCacheBytes: 256 * 1024,
  blockCacheBytes: 128 * 1024,
};

async function exercise(t: Test, primary: string, extra: Partial<StoreOptions>, ops = 1500, ttlAndRangeDeletes = false): Promise<void> {
  const seed = seedFromEnv();
  // With TTL the store runs on a test clock the model follows (restore below uses it too).
  const clock = ttlAndRangeDeletes ? new TtlClock() : undefined;
  const internals = clock ? { clock } : {};
  const localDir = mkdtempSync(join(tmpdir(), 'floe-remote-'));
  t.teardown(() => rmSync(localDir, { recursive: true, force: true }));
  const options: StoreOptions = { primary, localDir, ...tuning, ...extra };
  const { store, model, counts } = await runRandomOps({
    seed,
    ops,
    maxKeyGroups: 8,
    keySpace: 200,
    maxValueBytes: 300,
    open: () => openLsmStore(options, internals),
    compact: (s) => (s as LsmStore).compactUntilIdle(),
    reopen: true,
    ...(clock ? { ttl: { clock }, rangeDeletes: true } : {}),
  });
  t.pass(`seed ${seed}: model and store agree on ${primary} (${JSON.stringify(counts)})`);
  const stats = await store.stats();
  t.ok(stats.remote.gets > 0 && stats.remote.puts > 0, `remote traffic: ${JSON.stringify(stats.remote)}`);
  t.ok(stats.diskCache.bytes <= stats.diskCache.capacity, `disk cache within budget: ${JSON.stringify(stats.diskCache)}`);
  const handle = await store.checkpoint();
  await store.close();
  // Delete the local cache folder: the primary alone must give identical contents.
  rmSync(localDir, { recursive: true, force: true });
  const restored = await restoreStore({ ...options, instanceId: `restored-${seed}` }, [handle], {}, internals);
  const got: string[] = [];
  for await (const e of restored.scan()) got.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
  t.same(got, model.scan({}).map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`), 'restore after deleting localDir matches the model');
  await restored.close();
}



t.test('S3 primary', async (t) => {
  const config = s3TestConfig();
  if (!config) {
    void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
    return;
  }
  const bucket = await createTestBucket(`floe-lsm-${process.pid}`);
  await exercise(t, `s3://${bucket}/engine`, { s3: config });
  await exercise(t, `s3://${bucket}/engine-wal`, { s3: config, durability: 'wal' }, 500);
  await exercise(t, `s3://${bucket}/engine-ttl`, { s3: config }, 1000, true);
});

t.test('HDFS primary', async (t) => {
  const config = hdfsTestConfig();
  if (!config) {
    void t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`, () => {});
    return;
  }
  await exercise(t, `${config.url}/engine-${process.pid}`, { hdfs: { user: config.user } });
  await exercise(t, `${config.url}/engine-wal-${process.pid}`, { hdfs: { user: config.user }, durability: 'wal' }, 500);
  await exercise(t, `${config.url}/engine-ttl-${process.pid}`, { hdfs: { user: config.user } }, 1000, true);
});
