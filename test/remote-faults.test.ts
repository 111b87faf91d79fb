/**
 * The primary going away: with the backend down, a flush fails with a retryable IO error naming the store,
 * reads of data already cached or in memory keep working, the failure is sticky for writes (the contract),
 * and after the backend comes back a reopened store has everything that was durable — nothing
 * acknowledged as durable is lost. Transient faults below the retry budget are invisible.
 */
import t from 'tap';
import { openLsmStore } from '../lib/embedded.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { FloeError } from '../lib/errors.js';

const base = { maxKeyGroups: 8, memtableBytes: 64 * 1024, compactionWorkers: 0 as const };

t.test('backend down during flush, then back', async (t) => {
  const primary = `mem://down-${process.pid}`;
  let faults: FaultInjectingObjectStore | undefined;
  const inject = (backend: ObjectStore): ObjectStore => (faults = new FaultInjectingObjectStore(backend, { seed: 3 }));
  const store = await openLsmStore({ primary, ...base }, { inject });
  for (let i = 0; i < 100; i++) await store.put(`durable-${i}`, `v${i}`);
  await store.flush();
  for (let i = 0; i < 100; i++) await store.put(`volatile-${i}`, `v${i}`);
  faults!.setDown(true);
  const err = await store.flush().then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof FloeError && err.code === 'IO', `flush fails with IO: ${(err as Error)?.message}`);
  t.match((err as Error).message, /mem:\/\//, 'the message names the store');
  t.equal(Buffer.from((await store.get('volatile-5'))!).toString(), 'v5', 'memtable reads still work');
  await t.rejects(store.put('x', 'y'), { code: 'IO' }, 'writes refused after a failed background flush (sticky)');
  faults!.setDown(false);
  await store.close().catch(() => undefined);
  const reopened = await openLsmStore({ primary, ...base });
  const got = await reopened.multiGet(Array.from({ length: 100 }, (_, i) => `durable-${i}`));
  t.ok(got.every((v, i) => v !== undefined && Buffer.from(v).toString() === `v${i}`), 'every durable write survived');
  await reopened.close();
});

t.test('transient faults are retried away', async (t) => {
  const primary = `mem://flaky-${process.pid}`;
  const inject = (backend: ObjectStore): ObjectStore =>
    new FaultInjectingObjectStore(backend, { seed: 5, errorRate: 0.2, lostResponseRate: 0.05, shortReadRate: 0.05 });
  const store = await openLsmStore({ primary, ...base, blockCacheBytes: 0 }, { inject });
  for (let i = 0; i < 3000; i++) await store.put(`k${i}`, `value-${i}`.repeat(8));
  await store.flush();
  const got = await store.multiGet(Array.from({ length: 3000 }, (_, i) => `k${i}`));
  t.ok(got.every((v, i) => v !== undefined && Buffer.from(v).toString() === `value-${i}`.repeat(8)), 'all reads correct despite injected faults');
  await store.close();
});
