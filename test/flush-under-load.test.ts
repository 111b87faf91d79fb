/**
 * `flush()` promises that the writes acknowledged before the call are durable; it must not also wait for
 * writes that arrive after it. It used to wait until the flush loop was idle (no frozen memtable left), so
 * under a steady write load that keeps a memtable frozen at all times it never returned (found by a 300 s
 * `make fuzz`: a daemon FLUSH unanswered for over 20 s while 16 clients wrote).
 */
import t from 'tap';
import { openLsmStore } from '../lib/embedded.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { tinyStore } from './support/tiny-store.js';

t.test('flush returns under a write load that never lets the flush loop go idle', async (t) => {
  // Every primary write takes 20 ms, so flushes stay behind the writers and a frozen memtable always waits.
  const inject = (backend: ObjectStore): ObjectStore => new FaultInjectingObjectStore(backend, { seed: 7, opLatency: { put: 20, putStream: 20 } });
  const store = await openLsmStore(tinyStore(`mem://flush-under-load-${process.pid}`, { l0CompactionTrigger: 1000, l0StopWritesTrigger: 2000 }), { inject });
  let stop = false;
  let written = 0;
  const value = Buffer.alloc(512, 0x61);
  const writers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = 0; !stop; i++) {
      await store.put(`w${w}/${i}`, value);
      written++;
    }
  });
  await new Promise((resolve) => setTimeout(resolve, 300)); // the load is up: memtables freeze and queue
  const before = written;
  const outcome = await Promise.race([
    store.flush().then(() => 'flushed'),
    new Promise<string>((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref()),
  ]);
  const during = written - before;
  stop = true;
  await Promise.all(writers);
  t.equal(outcome, 'flushed', `flush() returned while the writers went on (${during} puts during the flush)`);
  t.ok(during > 0, 'the writers did keep writing during the flush');
  await store.close();
});
