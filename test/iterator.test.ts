/**
 * Iterators and explicit snapshots, the cases the model test does not reach on its own: pins held by
 * snapshots and iterators against compaction and GC (and released by release()/close()/abandonment),
 * iterators outliving their snapshot, reverse iteration over clipped file references after a restore,
 * merge operands folded backward across memtable and SSTs, and the error contract (BUSY, CLOSED,
 * INVALID_ARGUMENT).
 */
import t, { type Test } from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { isFloeError } from '../lib/errors.js';
import { sstPath } from '../lib/store/paths.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let stores = 0;
const options = (extra: Partial<StoreOptions> = {}): StoreOptions => ({
  primary: `mem://iterator-${process.pid}-${stores++}`,
  maxKeyGroups: 4,
  l0CompactionTrigger: 2,
  compactionWorkers: 0,
  gcGraceMs: 0,
  blockBytes: 256,
  ...extra,
});

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());
const fileIds = (s: LsmStore): string[] => s.internals().state.version.allFiles().map((f) => f.fileId);
const exists = async (s: LsmStore, id: string): Promise<boolean> => (await s.internals().store.head(sstPath(id))) !== undefined;

async function rejectsWith(t: Test, p: Promise<unknown> | (() => unknown), code: string, what: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
    t.fail(`${what}: expected ${code}, it succeeded`);
  } catch (e) {
    t.ok(isFloeError(e) && e.code === code, `${what}: ${code} (${(e as Error).message})`);
  }
}

/** Two flushed generations of k00..k49 in group 0; returns the files they are in. */
async function twoGenerations(store: LsmStore): Promise<string[]> {
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 50; i++) await store.put(`k${String(i).padStart(2, '0')}`, `v${round}-${i}`, { keyGroup: 0 });
    await store.flush();
  }
  return fileIds(store);
}

t.test('a snapshot pins its files against compaction and GC until released', async (t) => {
  const store = await openLsmStore(options());
  const old = await twoGenerations(store);
  const snap = store.snapshot();
  for (let i = 0; i < 50; i++) await store.delete(`k${String(i).padStart(2, '0')}`, { keyGroup: 0 });
  await store.flush();
  await store.compactUntilIdle();
  await store.collectGarbage();
  t.notOk(fileIds(store).some((f) => old.includes(f)), 'compaction replaced the snapshot files');
  for (const f of old) t.ok(await exists(store, f), `GC kept ${f}: the snapshot reads it`);
  t.equal(text(await store.get('k07', { keyGroup: 0, snapshot: snap })), 'v1-7', 'get at the snapshot sees the old value');
  t.equal(await store.get('k07', { keyGroup: 0 }), undefined, 'the live store sees the delete');
  const it = store.iterator({ keyGroup: 0, reverse: true, limit: 3, snapshot: snap });
  snap.release();
  t.ok(snap.released, 'released');
  t.same((await it.all()).map((e) => text(e.key)), ['k49', 'k48', 'k47'], 'an iterator outlives the snapshot it was created from');
  t.notOk(old.some((f) => store.internals().pinnedFiles.has(f)), 'nothing pins the old files once both are done');
  await store.collectGarbage();
  for (const f of old) t.notOk(await exists(store, f), `GC deleted ${f}`);
  await rejectsWith(t, () => store.get('k07', { keyGroup: 0, snapshot: snap }), 'INVALID_ARGUMENT', 'a released snapshot');
  await store.close();
});

t.test('an abandoned iterator and snapshot are released after garbage collection', async (t) => {
  const store = await openLsmStore(options());
  const old = await twoGenerations(store);
  (() => {
    const it = store.iterator({ keyGroup: 0 });
    void it.next();
    store.snapshot();
  })();
  await store.compactUntilIdle();
  t.ok(old.every((f) => store.internals().pinnedFiles.has(f)), 'pinned while reachable');
  for (let i = 0; i < 10 && old.some((f) => store.internals().pinnedFiles.has(f)); i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  t.notOk(old.some((f) => store.internals().pinnedFiles.has(f)), 'released once unreachable');
  await store.close();
});

t.test('reverse folds merge operands across memtable and SST, and skips tombstones', async (t) => {
  const store = await openLsmStore(options());
  await store.put('a', 'A', { keyGroup: 1 });
  await store.merge('b', '1', { keyGroup: 1 });
  await store.put('c', 'C', { keyGroup: 1 });
  await store.flush();
  await store.merge('b', '2', { keyGroup: 1 });
  await store.merge('a', '+', { keyGroup: 1 });
  await store.delete('c', { keyGroup: 1 });
  await store.merge('d', 'x', { keyGroup: 1 });
  const back = await store.iterator({ keyGroup: 1, reverse: true }).all();
  t.same(back.map((e) => `${text(e.key)}=${text(e.value)}`), ['d=x', 'b=12', 'a=A+'], 'reverse');
  const fwd = await store.iterator({ keyGroup: 1 }).all();
  t.same(fwd.map((e) => `${text(e.key)}=${text(e.value)}`), ['a=A+', 'b=12', 'd=x'], 'forward agrees');
  await store.close();
});

t.test('reverse iteration over clipped references after a restore sees only the kept key groups', async (t) => {
  const opts = options({ maxKeyGroups: 8 });
  const store = await openLsmStore(opts);
  for (let g = 0; g < 8; g++) for (let i = 0; i < 40; i++) await store.put(`key${String(i).padStart(3, '0')}`, `g${g}-${i}`, { keyGroup: g });
  const handle = await store.checkpoint();
  await store.close();
  const restored = (await restoreStore({ ...opts, instanceId: 'clipped' }, [handle], { keyGroups: [2, 4] })) as LsmStore;
  t.ok(restored.internals().state.version.allFiles().some((f) => f.clip !== undefined), 'the restored version references clipped files');
  const all = await restored.iterator({ reverse: true }).all();
  t.equal(all.length, 3 * 40, 'only groups 2..4');
  t.same([all[0]!.keyGroup, text(all[0]!.key)], [4, 'key039'], 'starts at the last key of group 4');
  t.same([all.at(-1)!.keyGroup, text(all.at(-1)!.key)], [2, 'key000'], 'ends at the first key of group 2');
  const bounded = await restored.iterator({ reverse: true, gte: 'key010', lt: 'key012' }).all();
  t.same(bounded.map((e) => `${e.keyGroup}/${text(e.key)}`), ['4/key011', '4/key010', '3/key011', '3/key010', '2/key011', '2/key010'], 'bounds apply within each group');
  await restored.close();
});

t.test('seek: forward at-or-after, reverse at-or-before, outside the bounds ends the iterator', async (t) => {
  const store = await openLsmStore(options());
  for (const k of ['b', 'd', 'f', 'h']) await store.put(k, k.toUpperCase(), { keyGroup: 2 });
  const it = store.iterator({ keyGroup: 2, gte: 'c', lt: 'h' });
  it.seek('e');
  t.same(text((await it.next())!.key), 'f', 'forward seek to e gives f');
  it.seek('a');
  t.equal(await it.next(), undefined, 'seeking below the lower bound ends the iterator (abstract-level rule)');
  it.seek('z');
  t.equal(await it.next(), undefined, 'seeking past the upper bound ends the iterator');
  it.seek('d');
  t.same(text((await it.next())!.key), 'd', 'seek after the end works');
  await it.close();
  const rev = store.iterator({ keyGroup: 2, reverse: true });
  rev.seek('e');
  t.same((await rev.all()).map((e) => text(e.key)), ['d', 'b'], 'reverse seek to e gives d, b');
  const multi = store.iterator({ gte: 'a' });
  multi.seek('d', { keyGroup: 2 });
  t.same((await multi.all()).map((e) => `${e.keyGroup}/${text(e.key)}`), ['2/d', '2/f', '2/h'], 'seek names a group on a multi-group iterator');
  await store.close();
});

t.test('errors: BUSY, CLOSED, foreign and released snapshots, bad options', async (t) => {
  const store = await openLsmStore(options());
  const other = await openLsmStore(options());
  await store.put('x', '1', { keyGroup: 0 });
  const it = store.iterator();
  const first = it.next();
  await rejectsWith(t, it.next(), 'BUSY', 'overlapping next()');
  await rejectsWith(t, () => it.seek('x'), 'BUSY', 'seek during next()');
  t.equal(text((await first)!.value), '1', 'the first call completes');
  await it.close();
  await rejectsWith(t, it.next(), 'CLOSED', 'next() after close()');
  await rejectsWith(t, () => store.iterator({ keyGroup: 1 }).seek('x', { keyGroup: 2 }), 'INVALID_ARGUMENT', 'seek to another group');
  await rejectsWith(t, () => store.iterator({ limit: -1 }), 'INVALID_ARGUMENT', 'negative limit');
  await rejectsWith(t, () => store.iterator({ gte: 5 as unknown as string }), 'INVALID_ARGUMENT', 'a number bound');
  const foreign = other.snapshot();
  await rejectsWith(t, () => store.get('x', { snapshot: foreign }), 'INVALID_ARGUMENT', 'a snapshot of another store');
  await rejectsWith(t, () => store.iterator({ snapshot: {} as never }), 'INVALID_ARGUMENT', 'a look-alike snapshot');
  foreign.release();
  const snap = store.snapshot();
  const open = store.iterator();
  await store.close();
  await rejectsWith(t, open.next(), 'CLOSED', 'an iterator open across close');
  await open.close();
  await rejectsWith(t, () => store.snapshot(), 'CLOSED', 'snapshot() after close');
  snap.release(); // after close: a no-op, and does not throw
  await other.close();
});

t.test('keys/values options and async iteration', async (t) => {
  const store = await openLsmStore(options());
  for (let i = 0; i < 100; i++) await store.put(`k${String(i).padStart(3, '0')}`, `v${i}`, { keyGroup: 3 });
  const keysOnly = await store.iterator({ keyGroup: 3, values: false, limit: 2 }).all();
  t.same(keysOnly, [{ keyGroup: 3, key: Buffer.from('k000') }, { keyGroup: 3, key: Buffer.from('k001') }].map((e) => ({ ...e, key: new Uint8Array(e.key) })), 'values: false');
  const valuesOnly = await store.iterator({ keyGroup: 3, keys: false, reverse: true, limit: 1 }).all();
  t.same(valuesOnly.map((e) => [e.key, text(e.value)]), [[undefined, 'v99']], 'keys: false');
  let n = 0;
  const it = store.iterator({ keyGroup: 3 });
  for await (const e of it) {
    if (++n === 70) {
      t.equal(text(e.key), 'k069', 'in order');
      break;
    }
  }
  await rejectsWith(t, it.next(), 'CLOSED', 'breaking out of for await closes the iterator');
  t.equal(it.count, 70, 'count is the entries the loop received');
  await store.close();
});

t.test('a bounded iterator without a key group reads only the key groups holding data', async (t) => {
  const store = await openLsmStore(options({ maxKeyGroups: 32768 }));
  const groups = [5, 16000, 32767];
  for (const g of groups) for (let i = 0; i < 50; i++) await store.put(`p${i % 5}/${String(i).padStart(2, '0')}`, 'v', { keyGroup: g });
  await store.flush(); // one file spanning groups 5..32767
  for (const g of groups) await store.put('p1/late', 'v', { keyGroup: g }); // and the memtable
  for (const reverse of [false, true]) {
    const before = store.internals().scanRanges();
    const got = await store.iterator({ gte: 'p1/', lt: 'p1/~', reverse }).all();
    const ranges = store.internals().scanRanges() - before;
    const order = got.map((e) => e.keyGroup);
    t.same([order[0], order.at(-1), got.length], reverse ? [32767, 5, 33] : [5, 32767, 33], `${reverse ? 'reverse' : 'forward'}: 11 entries from each group`);
    t.ok(ranges <= groups.length, `${reverse ? 'reverse' : 'forward'}: ${ranges} group range scans for 3 groups with data (of 32768)`);
  }
  await store.close();
});
