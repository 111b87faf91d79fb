/**
 * Short bodies (a dropped connection mid-response) on metadata: found by the simulator. A manifest or
 * checkpoint record read short is read again (not reported as CORRUPTION), and the retry layer resolving an
 * ambiguous create-if-absent does not take a short read-back for another writer's object.
 */
import t from 'tap';
import { openMemStore } from '../lib/store/mem.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { RetryingObjectStore } from '../lib/store/retry.js';
import { readManifest, writeManifest } from '../lib/lsm/manifest.js';
import { Version } from '../lib/lsm/version.js';

let n = 0;
const state = (seq: number) => ({
  instanceId: 'i',
  epoch: 1,
  seq,
  nextFileNumber: 1,
  lastSequence: 0,
  maxKeyGroups: 8,
  keyGroups: [0, 7] as [number, number],
  version: Version.empty(),
  compactPointers: [],
  writer: 'w',
});

t.test('a manifest read short is read again, not reported as corrupt', async (t) => {
  const mem = openMemStore(`short-manifest-${process.pid}-${++n}`);
  await writeManifest(mem, state(1), 0);
  const flaky = new FaultInjectingObjectStore(mem, { seed: 1, rules: [{ ops: ['get'], effect: 'short-read', times: 2 }] });
  const m = await readManifest(flaky, 'i', 1);
  t.equal(m.seq, 1, 'decoded on a later read');
  const broken = new FaultInjectingObjectStore(mem, { seed: 1, rules: [{ ops: ['get'], effect: 'short-read' }] });
  await t.rejects(readManifest(broken, 'i', 1), { code: 'CORRUPTION' }, 'damage seen on every read is still CORRUPTION');
});

t.test('an ambiguous create resolved by a short read-back is still recognised as our own write', async (t) => {
  const mem = openMemStore(`short-readback-${process.pid}-${++n}`);
  const faults = new FaultInjectingObjectStore(mem, {
    seed: 2,
    rules: [
      { ops: ['put'], effect: 'lost-response', times: 1 },
      { ops: ['get'], effect: 'short-read', times: 1 },
    ],
  });
  const retrying = new RetryingObjectStore(faults, { maxAttempts: 5, baseDelayMs: 1, maxDelayMs: 1 });
  await retrying.put('x', Buffer.from('our bytes, long enough to be cut short'), { ifNoneMatch: true });
  t.pass('the create resolved as ours');
});
