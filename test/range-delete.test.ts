/**
 * Range deletes (lib/lsm/range-tombstones.ts): deleteRange and deleteKeyGroups hide older data in memtables
 * and SSTs for gets, multiGets and scans; the tombstones survive flush, reopen, checkpoint and restore
 * (clipped to the restored key groups); compaction drops what they cover and then the tombstones
 * themselves; dropping key groups rewrites no SST. The randomized check against the model is
 * test/lsm-model.test.ts.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';

let n = 0;
function optionsFor(t: Test, extra: Partial<StoreOptions> = {}): StoreOptions {
  const localDir = mkdtempSync(join(tmpdir(), 'floe-rd-'));
  const root = mkdtempSync(join(tmpdir(), 'floe-rd-primary-'));
  t.teardown(() => {
    rmSync(localDir, { recursive: true, force: true });
    rmSync(root, { recursive: true, force: true });
  });
  return { primary: `file://${root}`, localDir, compactionWorkers: 0, maxKeyGroups: 8, instanceId: `rd${n++}`, ...extra };
}

const keysOf = async (s: LsmStore, keyGroup?: number): Promise<string[]> => {
  const out: string[] = [];
  for await (const e of s.scan(keyGroup === undefined ? {} : { keyGroup })) out.push(`${e.keyGroup}/${Buffer.from(e.key).toString()}`);
  return out;
};
const tombstones = (s: LsmStore): number => s.internals().state.version.rangeTombstones.length;

async function fill(s: LsmStore): Promise<void> {
  for (let kg = 0; kg < 8; kg++) for (const k of ['a', 'b', 'c', 'd']) await s.put(k, `${kg}${k}`, { keyGroup: kg });
}

t.test('deleteRange hides older data in memtables and SSTs; newer writes stay', async (t) => {
  const s = await openLsmStore(optionsFor(t));
  await fill(s);
  await s.flush(); // some data in SSTs ...
  await s.merge('c', '+', { keyGroup: 1 }); // ... and some in the memtable
  await s.deleteRange({ keyGroup: 1, gte: 'b', lt: 'd' });
  await s.merge('c', 'new', { keyGroup: 1 }); // after the delete: starts a new value
  t.same(await keysOf(s, 1), ['1/a', '1/c', '1/d']);
  t.equal(Buffer.from((await s.get('c', { keyGroup: 1 }))!).toString(), 'new', 'a merge after the delete does not see deleted bytes');
  t.same((await s.multiGet(['a', 'b'], { keyGroup: 1 })).map((v) => v && Buffer.from(v).toString()), ['1a', undefined]);
  await s.deleteRange({ gte: 'd' }); // every key group
  t.same((await keysOf(s)).filter((k) => k.endsWith('/d')), [], 'no keyGroup: the range in every key group');
  t.equal((await keysOf(s)).length, 8 * 3 - 1);
  await s.close();
});

t.test('tombstones survive flush and reopen; compaction drops covered data, then the tombstones', async (t) => {
  const options = optionsFor(t, { l0CompactionTrigger: 2 });
  let s = await openLsmStore(options);
  await fill(s);
  await s.flush();
  await s.deleteKeyGroups([2, 5]);
  await s.flush();
  t.equal(tombstones(s), 1, 'the flush moved the tombstone into the version (the manifest)');
  await s.close();
  s = await openLsmStore(options);
  t.same((await keysOf(s)).map((k) => k.split('/')[0]), ['0', '0', '0', '0', '1', '1', '1', '1', '6', '6', '6', '6', '7', '7', '7', '7'], 'after reopen');
  await s.put('z', 'z', { keyGroup: 0 });
  await s.flush(); // a second L0 file: compaction rewrites both
  await s.compactUntilIdle();
  t.equal(tombstones(s), 0, 'no file holds covered data any more: the tombstone is gone');
  t.equal(s.internals().state.version.allFiles().reduce((e, f) => e + f.entries, 0), 17, 'the covered entries were dropped');
  t.equal((await keysOf(s)).length, 17);
  await s.close();
});

t.test('checkpoint and restore keep tombstones, clipped to the restored key groups', async (t) => {
  const options = optionsFor(t);
  const s = await openLsmStore(options);
  await fill(s);
  await s.flush();
  await s.deleteRange({ keyGroup: 1, gte: 'a', lt: 'c' });
  await s.deleteRange({ keyGroup: 6, gte: 'c' });
  const handle = await s.checkpoint();
  await s.close();
  const low = await restoreStore({ ...options, instanceId: 'low' }, [handle], { keyGroups: [0, 3] });
  t.equal(tombstones(low), 1, 'only the tombstone inside [0, 3]');
  t.same(await keysOf(low, 1), ['1/c', '1/d']);
  const high = await restoreStore({ ...options, instanceId: 'high' }, [handle], { keyGroups: [4, 7] });
  t.same(await keysOf(high, 6), ['6/a', '6/b']);
  // Rescaling back in: both halves into one instance.
  const lowHandle = await low.checkpoint();
  const highHandle = await high.checkpoint();
  await low.close();
  await high.close();
  const all = await restoreStore({ ...options, instanceId: 'all' }, [lowHandle, highHandle]);
  t.equal(tombstones(all), 2);
  t.equal((await keysOf(all)).length, 32 - 4);
  await all.close();
});

t.test('deleteKeyGroups drops key groups without rewriting any SST', async (t) => {
  const s = await openLsmStore(optionsFor(t));
  await fill(s);
  await s.flush();
  const files = s.internals().state.version.allFiles().map((f) => f.fileId);
  const written = s.stats().remote.bytesWritten;
  await s.deleteKeyGroups([0, 6]);
  await s.flush();
  t.same(s.internals().state.version.allFiles().map((f) => f.fileId), files, 'the same files');
  t.ok(s.stats().remote.bytesWritten - written < 4096, `only a manifest was written (${s.stats().remote.bytesWritten - written} bytes)`);
  t.same(await keysOf(s), ['7/a', '7/b', '7/c', '7/d']);
  await s.close();
});

t.test('invalid range deletes are refused', async (t) => {
  const s = await openFilled(t);
  await t.rejects(s.deleteKeyGroups([3, 2]), { code: 'INVALID_ARGUMENT' });
  await t.rejects(s.deleteKeyGroups([0, 8]), { code: 'INVALID_ARGUMENT' });
  await t.rejects(s.deleteRange({ keyGroup: 9 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(s.deleteRange(null as unknown as { keyGroup: number }), { code: 'INVALID_ARGUMENT' });
  await s.deleteRange({ keyGroup: 1, gte: 'b', lt: 'a' }); // empty: deletes nothing
  t.equal((await keysOf(s)).length, 32);
  await s.close();
});

async function openFilled(t: Test): Promise<LsmStore> {
  const s = await openLsmStore(optionsFor(t));
  await fill(s);
  return s;
}
