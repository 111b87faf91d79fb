/**
 * Writers faster than flush and compaction stall instead of growing memory: with slow uploads (injected
 * latency on puts) the memtable bytes stay within (1 + maxImmutableMemtables) memtables, stalls are counted,
 * and every write is still there afterwards.
 */
import t from 'tap';
import { openLsmStore } from '../lib/embedded.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { Random } from '../lib/util/random.js';

t.test('memory stays under budget while writers outrun flushes', async (t) => {
  const memtableBytes = 128 * 1024;
  const maxImmutableMemtables = 2;
  const store = await openLsmStore(
    {
      primary: `mem://stall-${process.pid}`,
      memtableBytes,
      maxImmutableMemtables,
      targetFileBytes: 256 * 1024,
      l0CompactionTrigger: 2,
      l0StopWritesTrigger: 4,
      levelBaseBytes: 512 * 1024,
      compactionWorkers: 0,
    },
    { inject: (backend) => new FaultInjectingObjectStore(backend, { seed: 1, opLatency: { put: 40, putStream: 40, get: 2 } }) },
  );
  const r = new Random(42);
  const budget = memtableBytes * (1 + maxImmutableMemtables) + 64 * 1024; // one write of slack past the trigger
  let peak = 0;
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 1500; i++) {
      await store.put(`w${w}-${i}`, r.bytes(200));
      peak = Math.max(peak, store.stats().lsm.memtableBytes);
    }
  });
  await Promise.all(writers);
  const stats = store.stats();
  t.ok(stats.lsm.stalls > 0, `writers stalled ${stats.lsm.stalls} times`);
  t.ok(peak <= budget, `peak memtable bytes ${peak} <= budget ${budget}`);
  for (let w = 0; w < 8; w++) {
    const got = await store.multiGet(Array.from({ length: 1500 }, (_, i) => `w${w}-${i}`));
    t.equal(got.filter((v) => v === undefined).length, 0, `writer ${w}: all writes readable`);
  }
  await store.close();
});
