/**
 * Cache warm-up after restore: a checkpoint records which byte ranges were in the disk cache; a restore
 * with `warmUp: true` prefetches them into its own (empty) disk cache within budget, so reads of the hot
 * keys need no remote GET, while a restore without warm-up fetches lazily.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { StoreOptions } from '../lib/api.js';
import { Random } from '../lib/util/random.js';

t.test('restore with warm-up serves hot keys without remote reads', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-warm-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const opts = (local: string): StoreOptions => ({
    primary: `file://${dir}/primary`,
    localDir: join(dir, local),
    maxKeyGroups: 8,
    blockCacheBytes: 0, // every read goes to the disk cache or the primary
    diskCacheBytes: 8 * 2 ** 20,
    memtableBytes: 256 * 1024,
    compactionWorkers: 0,
  });
  const r = new Random(9);
  const store = await openLsmStore(opts('a'));
  for (let i = 0; i < 20000; i++) await store.put(`key-${i}`, r.bytes(100));
  await store.flush();
  await store.compactUntilIdle();
  await store.close();
  // A fresh process-like open with an empty cache; read a hot subset, then checkpoint.
  const reader = await openLsmStore(opts('b'));
  const hot = Array.from({ length: 200 }, (_, i) => `key-${i * 7}`);
  const expected = await reader.multiGet(hot);
  // Hot means read again: the disk cache admits a page on its second miss (admitOnSecondAccess).
  await reader.multiGet(hot);
  await reader.internals().settleCache();
  const handle = await reader.checkpoint();
  await reader.close();

  const cold = await restoreStore({ ...opts('c'), instanceId: 'cold' }, [handle]);
  const coldBefore = cold.stats().remote.gets;
  await cold.multiGet(hot);
  const coldGets = cold.stats().remote.gets - coldBefore;
  await cold.close();

  const warm = await restoreStore({ ...opts('d'), instanceId: 'warm' }, [handle], { warmUp: true });
  const fetched = await warm.warmUp!;
  t.ok(fetched > 0, `warm-up fetched ${fetched} bytes`);
  t.ok(warm.stats().diskCache.bytes <= warm.stats().diskCache.capacity, 'within the disk budget');
  const before = warm.stats().remote.gets;
  const got = await warm.multiGet(hot);
  const warmGets = warm.stats().remote.gets - before;
  t.same(got.map((v) => Buffer.from(v!).toString('hex')), expected.map((v) => Buffer.from(v!).toString('hex')), 'same values');
  t.ok(coldGets > 0, `cold restore fetched lazily: ${coldGets} remote GETs`);
  t.equal(warmGets, 0, `warm restore: hot keys need no remote GET (${warmGets} GETs, cold ${coldGets})`);
  await warm.close();
});
