/**
 * One rewrite pool per lane per process: a sharded store's shard threads do not start pools of their own;
 * their flushes and compactions run on the main thread's pools (relayed over a port), whose pool threads
 * open the file:// store themselves. Flushes have a pool of their own so they never queue behind a
 * compaction. Counts pools, tasks and distinct pool threads seen by the main thread.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../lib/index.js';
import type { ShardedStore } from '../lib/daemon/sharded-store.js';
import { openLsmStore } from '../lib/embedded.js';
import { processPoolStats } from '../lib/lsm/rewrite-executor.js';
import { sstPath } from '../lib/store/paths.js';

t.test('three shard threads share the process pools', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = (await openStore({
    primary: `file://${join(dir, 'data')}`,
    localDir: join(dir, 'local'),
    maxKeyGroups: 6,
    shards: 3,
    compactionWorkers: 1,
    memtableBytes: 64 * 1024,
    targetFileBytes: 64 * 1024,
    l0CompactionTrigger: 2,
  })) as ShardedStore;
  t.same(processPoolStats(), { pools: 0, tasks: 0, threads: 0, lanes: { flush: { tasks: 0, threads: 0 }, compaction: { tasks: 0, threads: 0 } } }, 'no pool before any rewrite');
  const value = 'v'.repeat(200);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 600; i++) await store.put(`key-${i}`, `${round}-${value}`, { keyGroup: i % 6 });
    await store.flush();
  }
  await store.compactUntilIdle();
  const stats = processPoolStats();
  t.equal(stats.pools, 2, 'exactly one pool per lane (flush, compaction) in the process');
  t.equal(stats.lanes.flush.threads, 1, 'every flush ran on the flush pool’s one thread (compactionWorkers: 1)');
  t.equal(stats.lanes.compaction.threads, 1, 'every compaction ran on the compaction pool’s one thread');
  t.equal(stats.threads, 2, 'the two lanes are two threads');
  // Each shard flushed at least three times and compacted at least once: all of it came through here.
  t.ok(stats.lanes.flush.tasks >= 3 * 3, `the shards' flushes ran on the main thread's flush pool: ${stats.lanes.flush.tasks} tasks`);
  t.ok(stats.lanes.compaction.tasks >= 3, `the shards' compactions ran on the main thread's compaction pool: ${stats.lanes.compaction.tasks} tasks`);
  const got = await Promise.all(Array.from({ length: 600 }, (_, i) => store.get(`key-${i}`, { keyGroup: i % 6 })));
  t.ok(got.every((v) => v !== undefined && Buffer.from(v).toString() === `2-${value}`), 'data intact');
  const remote = (await store.stats()).remote;
  t.ok(remote.puts > 0 && remote.bytesWritten > 0, `pool threads' writes are counted in stats: ${JSON.stringify(remote)}`);
  await store.close();
});

t.test('a damaged input fails the compaction with CORRUPTION from the pool thread, without retries', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const options = {
    primary: `file://${join(dir, 'data')}`,
    localDir: join(dir, 'local'),
    maxKeyGroups: 4,
    compactionWorkers: 1,
    compression: 'none' as const,
    blockCacheBytes: 0,
    memtableBytes: 64 * 1024,
    l0CompactionTrigger: 100,
    l0StopWritesTrigger: 200,
  };
  const store = await openLsmStore(options);
  for (let f = 0; f < 2; f++) {
    for (let i = 0; i < 200; i++) await store.put(`k${f}-${i}`, 'x'.repeat(100));
    await store.flush();
  }
  const files = store.internals().state.version.levels[0]!;
  await store.close();
  // Flip one byte inside the first data block of one L0 file.
  const path = join(dir, 'data', sstPath(files[0]!.fileId));
  const bytes = readFileSync(path);
  bytes[10] ^= 0xff;
  writeFileSync(path, bytes);
  const reopened = await openLsmStore({ ...options, l0CompactionTrigger: 2 });
  const before = processPoolStats().tasks;
  await t.rejects(reopened.compactUntilIdle(), { code: 'CORRUPTION', message: new RegExp(files[0]!.fileId) }, 'CORRUPTION naming the file');
  t.equal(processPoolStats().tasks - before, 1, 'a non-retryable failure is not retried');
  await reopened.close().catch(() => undefined);
});
