/**
 * Iterators and explicit snapshots against the reference model: the random operation runner with its
 * iterator steps on (test/support/random-iterators.ts: random bounds, reverse, limit, keys/values, seek,
 * next/nextv/all, iterators held open across flushes and compactions, reads at snapshots), on file://
 * (inline and with the piscina pool), with the write-ahead log, and on the S3-protocol test server (skips
 * loudly without it).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import type { StoreOptions } from '../lib/api.js';
import { seedFromEnv } from '../lib/util/random.js';
import { runRandomOps } from './support/random-ops.js';
import { createTestBucket, s3TestConfig, S3_UNAVAILABLE } from './support/s3-env.js';

const small: Partial<StoreOptions> = {
  maxKeyGroups: 8,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  levelMultiplier: 4,
  blockBytes: 512,
  l0CompactionTrigger: 2,
  l0StopWritesTrigger: 8,
  blockCacheBytes: 128 * 1024,
};

async function exercise(t: Test, primary: string, extra: Partial<StoreOptions>, ops: number, rangeDeletes = false): Promise<void> {
  const seed = seedFromEnv();
  const localDir = mkdtempSync(join(tmpdir(), 'floe-iter-local-'));
  t.teardown(() => rmSync(localDir, { recursive: true, force: true }));
  const options: StoreOptions = { primary, localDir, ...small, ...extra };
  try {
    const { store, counts } = await runRandomOps({
      seed,
      ops,
      maxKeyGroups: 8,
      keySpace: 300,
      maxValueBytes: 200,
      open: () => openLsmStore(options),
      compact: (s) => (s as LsmStore).compactUntilIdle(),
      reopen: true,
      iterators: true,
      rangeDeletes,
    });
    t.ok((counts.iterator ?? 0) > 0 && (counts.snapshot ?? 0) > 0 && (counts.snapshotIterator ?? 0) > 0, `iterator steps ran: ${JSON.stringify(counts)}`);
    const stats = await store.stats();
    t.ok(stats.lsm.levels.slice(1).some((l) => l.files > 0), `data reached deeper levels: ${JSON.stringify(stats.lsm.levels)}`);
    await store.close();
    t.pass(`seed ${seed}: iterators, snapshots and the model agree on ${primary}`);
  } catch (e) {
    t.fail(`seed ${seed}: ${(e as Error).message}`);
    throw e;
  }
}

t.test('file, inline compaction', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-iter-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await exercise(t, `file://${dir}`, { compactionWorkers: 0, compression: 'lz4' }, 5000);
});

t.test('file, inline, with range deletes (iterators and snapshots respect tombstones)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-iter-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await exercise(t, `file://${dir}`, { compactionWorkers: 0 }, 3000, true);
});

t.test('file, piscina pool, durability wal', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-iter-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await exercise(t, `file://${dir}`, { compactionWorkers: 1, durability: 'wal' }, 2500);
});

t.test('S3 primary', async (t) => {
  const config = s3TestConfig();
  if (!config) {
    void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
    return;
  }
  const bucket = await createTestBucket(`floe-iter-${process.pid}`);
  await exercise(t, `s3://${bucket}/iterators`, { s3: config, diskCacheBytes: 256 * 1024 }, 1200);
});
