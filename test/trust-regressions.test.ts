/**
 * Regression tests for the data-loss defects of issue 8, each reproduced through the public API (plus the
 * GC and compaction entry points tools use). Each failed on the code before its fix.
 */
import t from 'tap';
import { tinyStore } from './support/tiny-store.js';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { FloeError, isFloeError } from '../lib/errors.js';
import { Random } from '../lib/util/random.js';
import { overrideStore } from './support/override-store.js';

const small = (primary: string): StoreOptions => tinyStore(primary, { maxKeyGroups: 16, blockBytes: 1024 });

let counter = 0;
const uniquePrimary = (what: string): string => `mem://trust-${what}-${process.pid}-${++counter}`;

t.test('defect 1: a stale writer is fenced even after GC deleted the new owner’s older manifests', async (t) => {
  const primary = uniquePrimary('fence');
  const a = (await openLsmStore(small(primary))) as LsmStore;
  await a.put('a-before', '1');
  await a.flush();
  const b = (await openLsmStore(small(primary))) as LsmStore; // takes the instance over
  for (let i = 0; i < 3; i++) {
    await b.put(`b${i}`, 'x');
    await b.flush();
  }
  const other = (await openLsmStore({ ...small(primary), instanceId: 'other' })) as LsmStore;
  await other.put('o', '1');
  await other.flush();
  await other.collectGarbage(); // keeps only the newest manifests of every instance
  await a.put('a-after', '2');
  const flushed = await a.flush().then(
    () => 'resolved',
    (e: unknown) => (isFloeError(e, 'FENCED') ? 'FENCED' : String(e)),
  );
  t.equal(flushed, 'FENCED', 'the stale writer’s flush is refused with FENCED');
  const again = await a.put('a-later', '3').then(
    () => 'accepted',
    (e: unknown) => (isFloeError(e, 'FENCED') ? 'FENCED' : String(e)),
  );
  t.equal(again, 'FENCED', 'a fenced writer stops: later writes fail with FENCED');
  await b.close();
  const fresh = (await openLsmStore(small(primary))) as LsmStore;
  t.equal(await fresh.get('a-after'), undefined, 'nothing the fenced writer wrote after the take-over appears');
  t.equal(Buffer.from((await fresh.get('b2'))!).toString(), 'x', 'the new owner’s data is there');
  await fresh.close();
  await other.close();
  await a.close().catch(() => undefined);
});

t.test('defect 2: rescale out and back in keeps every key through compaction', async (t) => {
  // One file per level, so both halves reference the same files at every level; L0 empty at the checkpoint,
  // so the merged store's first compactions see one half's reference without the other's.
  const o: StoreOptions = {
    ...small(uniquePrimary('rescale')),
    maxKeyGroups: 8,
    memtableBytes: 256 * 1024,
    targetFileBytes: 64 * 2 ** 20,
    levelBaseBytes: 64 * 1024,
  };
  const r = new Random(2);
  const original = (await openLsmStore({ ...o, instanceId: 'orig' })) as LsmStore;
  const expected = new Map<string, { keyGroup?: number; value: string }>();
  const put = async (s: LsmStore, key: string, value: string, keyGroup?: number): Promise<void> => {
    expected.set(keyGroup === undefined ? key : `${key}@${keyGroup}`, { ...(keyGroup === undefined ? {} : { keyGroup }), value });
    await s.put(key, value, keyGroup === undefined ? undefined : { keyGroup });
  };
  for (let i = 0; i < 20000; i++) await put(original, `k${i}`, Buffer.from(r.bytes(24)).toString('hex'));
  await original.flush();
  await original.compactUntilIdle();
  for (let i = 0; original.internals().state.version.levels[0]!.length > 0 && i < 10; i++) {
    await put(original, 'k0', 'again');
    await original.flush();
    await original.compactUntilIdle();
  }
  const levels = original.internals().state.version.levels;
  t.equal(levels[0]!.length, 0, 'L0 is empty at the checkpoint');
  t.ok(levels.filter((l) => l.length > 0).length >= 2, 'the data spans several levels');
  const h = await original.checkpoint();
  const left = (await restoreStore({ ...o, instanceId: 'left' }, [h], { keyGroups: [0, 3] })) as LsmStore;
  const right = (await restoreStore({ ...o, instanceId: 'right' }, [h], { keyGroups: [4, 7] })) as LsmStore;
  const merged = (await restoreStore({ ...o, instanceId: 'merged' }, [await left.checkpoint(), await right.checkpoint()])) as LsmStore;
  const check = async (s: LsmStore, when: string): Promise<void> => {
    const wrong: string[] = [];
    for (const [id, { keyGroup, value }] of expected) {
      const got = await s.get(id.split('@')[0]!, keyGroup === undefined ? undefined : { keyGroup });
      if ((got === undefined ? undefined : Buffer.from(got).toString()) !== value) wrong.push(id);
    }
    t.equal(wrong.length, 0, `${when}: every key reads its value (${wrong.length} wrong, e.g. ${wrong.slice(0, 3).join(', ')})`);
  };
  await check(merged, 'right after the merged restore');
  // Writes to the right half only: compactions take the right half's references without the left's.
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 3000; i++) await put(merged, `n${i}`, `${round}-${Buffer.from(r.bytes(60)).toString('hex')}`, 4 + (i % 4));
    await merged.flush();
    await merged.compactUntilIdle();
  }
  await check(merged, 'after writes, flush and compaction');
  await merged.close();
  const reopened = (await openLsmStore({ ...o, instanceId: 'merged' })) as LsmStore;
  await check(reopened, 'after reopen');
  await reopened.close();
  for (const s of [left, right, original]) await s.close();
});

const refused = (): FloeError => new FloeError('IO', 'injected: the store refuses writes', { retryable: false });

t.test('defect 4: close() after a sticky background error rejects and says what was not made durable', async (t) => {
  const name = `trust-close-${process.pid}`;
  let failPuts = false;
  const store = (await openLsmStore(small(`mem://${name}`), {
    inject: (backend) =>
      overrideStore(backend, {
        put: (...a) => (failPuts ? Promise.reject(refused()) : backend.put(...a)),
        putStream: (...a) => (failPuts ? Promise.reject(refused()) : backend.putStream(...a)),
      }),
  })) as LsmStore;
  await store.put('durable', '1');
  await store.flush();
  failPuts = true;
  await store.put('lost', '2');
  await store.flush().catch(() => undefined); // the flush fails: the error becomes sticky
  failPuts = false;
  await store.put('after', '3').catch(() => undefined);
  const outcome = await store.close().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isFloeError(outcome), 'close() rejects with a FloeError');
  t.match(String((outcome as Error).message), /not (been )?made durable|not durable/i, 'the message says writes were not made durable');
});

t.test('defect 11: a store restored with many L0 files does not stall its first write forever', async (t) => {
  const primary = uniquePrimary('stall');
  const o: StoreOptions = { ...small(primary), l0CompactionTrigger: 30, l0StopWritesTrigger: 40 };
  const src = (await openLsmStore({ ...o, instanceId: 'src' })) as LsmStore;
  for (let i = 0; i < 12; i++) {
    await src.put(`k${i}`, 'v');
    await src.flush();
  }
  t.equal(src.internals().state.version.levels[0]!.length, 12, 'twelve L0 files');
  const h = await src.checkpoint();
  // The restored store stalls at 4 L0 files and compacts at 2: its first write must not wait forever.
  const restored = (await restoreStore({ ...small(primary), l0CompactionTrigger: 2, l0StopWritesTrigger: 4, instanceId: 'dst' }, [h])) as LsmStore;
  const write = restored.put('first', 'write').then(() => 'done');
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('stalled'), 5000));
  t.equal(await Promise.race([write, timeout]), 'done', 'the first write completes (compaction released it)');
  t.ok(restored.internals().state.version.levels[0]!.length < 4, 'compaction brought L0 below the stop trigger');
  await restored.close();
  await src.close();
});
