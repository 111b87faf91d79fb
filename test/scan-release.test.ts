/**
 * A scan's pins (the files of its version, the memtables' snapshot) are released however the scan ends:
 * exhausted, `return()` (even before the first `next()`), `throw()`, the store's close, or the iterator
 * becoming unreachable (FinalizationRegistry). Obsolete files then become collectable, and the memtable
 * drops the versions only the scan needed.
 */
import t, { type Test } from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { openLsmStore } from '../lib/embedded.js';
import type { StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { sstPath } from '../lib/store/paths.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let stores = 0;
const options = (): StoreOptions => ({
  primary: `mem://scan-release-${process.pid}-${stores++}`,
  maxKeyGroups: 4,
  memtableBytes: 8 * 2 ** 20,
  l0CompactionTrigger: 2,
  compactionWorkers: 0,
  gcGraceMs: 0,
});

const fileIds = (s: LsmStore): string[] => s.internals().state.version.allFiles().map((f) => f.fileId);

/** Two flushed files, so a compaction afterwards makes both obsolete. */
async function storeWithTwoFiles(): Promise<{ store: LsmStore; old: string[] }> {
  const store = await openLsmStore(options());
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 50; i++) await store.put(`k${i}`, `v${round}-${i}`);
    await store.flush();
  }
  const old = fileIds(store);
  return { store, old };
}

/** Compacts the pinned files away; they stay in the store only because a scan pins them. */
async function obsolete(t: Test, store: LsmStore, old: string[]): Promise<void> {
  await store.compactUntilIdle();
  t.notOk(fileIds(store).some((f) => old.includes(f)), 'the compaction replaced the old files');
  t.ok(old.every((f) => store.internals().pinnedFiles.has(f)), 'the open scan pins the obsolete files');
}

async function exists(store: LsmStore, fileId: string): Promise<boolean> {
  return (await store.internals().store.head(sstPath(fileId))) !== undefined;
}

async function expectCollected(t: Test, store: LsmStore, old: string[]): Promise<void> {
  t.notOk(old.some((f) => store.internals().pinnedFiles.has(f)), 'no obsolete file is pinned any more');
  await store.collectGarbage();
  for (const f of old) t.notOk(await exists(store, f), `GC deleted obsolete ${f}`);
}

/** Lets a FinalizationRegistry callback run: collect, then give the event loop a few turns. */
async function collectUnreachable(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

t.test('return() before the first next() releases the scan', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  const it = store.scan()[Symbol.asyncIterator]();
  await obsolete(t, store, old);
  t.same(await it.return!(), { done: true, value: undefined });
  await expectCollected(t, store, old);
  t.same(await it.next(), { done: true, value: undefined }, 'a returned scan is done');
  await store.close();
});

t.test('throw() before the first next() releases the scan and rejects with the error', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  const it = store.scan()[Symbol.asyncIterator]();
  await obsolete(t, store, old);
  const boom = new Error('stop');
  await t.rejects(it.throw!(boom), boom);
  await expectCollected(t, store, old);
  await store.close();
});

t.test('return() after some entries releases the scan', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  const it = store.scan()[Symbol.asyncIterator]();
  const first = await it.next();
  t.equal(first.done, false);
  await obsolete(t, store, old);
  await it.return!();
  await expectCollected(t, store, old);
  await store.close();
});

t.test('each view is released exactly once', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  const a = store.scan()[Symbol.asyncIterator]();
  const b = store.scan()[Symbol.asyncIterator]();
  await obsolete(t, store, old);
  await a.return!();
  await a.return!();
  await t.rejects(a.throw!(new Error('again')));
  t.ok(old.every((f) => store.internals().pinnedFiles.has(f)), 'the other scan still pins the files');
  let n = 0;
  for await (const e of { [Symbol.asyncIterator]: () => b }) if (e.key.length > 0) n++;
  t.equal(n, 50, 'the other scan reads its snapshot whole');
  await expectCollected(t, store, old);
  await store.close();
});

t.test('close() releases an abandoned scan; next() then rejects with CLOSED', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  const it = store.scan()[Symbol.asyncIterator]();
  t.equal((await it.next()).done, false);
  const never = store.scan(); // never iterated at all
  t.ok(never);
  await obsolete(t, store, old);
  await store.close();
  t.notOk(old.some((f) => store.internals().pinnedFiles.has(f)), 'close released every open scan');
  await t.rejects(it.next(), { code: 'CLOSED' }, 'next() after close rejects with CLOSED');
  t.same(await it.return!(), { done: true, value: undefined }, 'return() after close is fine');
});

t.test('an abandoned scan is released once it is unreachable', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  await (async () => {
    const it = store.scan()[Symbol.asyncIterator]();
    t.equal((await it.next()).done, false);
    store.scan(); // created and dropped without iterating
  })();
  await obsolete(t, store, old);
  await collectUnreachable();
  await expectCollected(t, store, old);
  await store.close();
});

t.test('the memtable drops versions once no scan needs them', async (t) => {
  const store = await openLsmStore(options());
  const big = 'x'.repeat(200_000);
  const bytes = (): number => store.stats().lsm.memtableBytes;
  await store.put('k', big);
  const one = bytes();

  // Released by return() before any next().
  let it = store.scan()[Symbol.asyncIterator]();
  await store.put('k', big);
  t.ok(bytes() > 1.8 * one, 'an open scan keeps the version it sees');
  await it.return!();
  t.ok(bytes() < 1.2 * one, `released: the old version is dropped (${bytes()} bytes, one version ${one})`);

  // Released by the registry once unreachable, after one next().
  await (async () => {
    it = store.scan()[Symbol.asyncIterator]();
    t.same((await it.next()).value?.value.length, big.length);
    it = undefined as never;
  })();
  await store.put('k', big);
  await store.merge('k', 'tail');
  t.ok(bytes() > 1.8 * one, 'an open scan keeps the version it sees');
  await collectUnreachable();
  t.ok(bytes() < 1.2 * one, `unreachable: the old version is dropped (${bytes()} bytes)`);
  t.equal(Buffer.from((await store.get('k'))!).toString(), big + 'tail', 'the value folds merges onto the base');
  await store.close();
});

t.test('return() while a next() is in flight waits for it, then releases', async (t) => {
  const { store, old } = await storeWithTwoFiles();
  const it = store.scan()[Symbol.asyncIterator]();
  await obsolete(t, store, old);
  const first = it.next();
  const ended = it.return!();
  const after = it.next();
  t.equal((await first).done, false, 'the read started before return() completes with an entry');
  t.same(await ended, { done: true, value: undefined });
  t.same(await after, { done: true, value: undefined }, 'a next() after return() is done');
  await expectCollected(t, store, old);
  await store.close();
});
