/**
 * Scans with bounds but no keyGroup visit only key groups that hold data: the work follows the data, not
 * `maxKeyGroups`. Checked by counting the per-group range scans, and against the model on random data
 * (memtables, L0 and deeper files, and clipped references after a restore).
 */
import t from 'tap';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { ScanOptions, StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { MAX_KEY_GROUPS } from '../lib/keys.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { Model, hex } from './support/model.js';

let stores = 0;
const options = (maxKeyGroups: number): StoreOptions => ({
  primary: `mem://scan-groups-${process.pid}-${stores++}`,
  maxKeyGroups,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  blockBytes: 256,
  l0CompactionTrigger: 2,
  compactionWorkers: 0,
});

async function collect(store: LsmStore, o: ScanOptions): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.scan(o)) out.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
  return out;
}

function modelScan(m: Model, o: ScanOptions, keyGroups?: [number, number]): string[] {
  const bytes = (b: ScanOptions['gte']): Uint8Array | undefined => (b === undefined ? undefined : Buffer.from(b));
  const gte = bytes(o.gte);
  const lt = bytes(o.lt);
  const prefix = bytes(o.prefix);
  return m
    .scan({ ...(o.keyGroup !== undefined ? { keyGroup: o.keyGroup } : {}), ...(gte ? { gte } : {}), ...(lt ? { lt } : {}), ...(prefix ? { prefix } : {}) })
    .filter((e) => !keyGroups || (e.keyGroup >= keyGroups[0] && e.keyGroup <= keyGroups[1]))
    .slice(0, o.limit ?? Number.POSITIVE_INFINITY)
    .map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
}

t.test('a bounded scan over 32768 key groups visits only the groups with data', async (t) => {
  const store = await openLsmStore(options(MAX_KEY_GROUPS));
  const model = new Model();
  const groups = [5, 16000, MAX_KEY_GROUPS - 1];
  const put = async (kg: number, key: string, value: string): Promise<void> => {
    await store.put(key, value, { keyGroup: kg });
    model.put(kg, Buffer.from(key), Buffer.from(value));
  };
  // One flushed file spans all three groups; more data stays in the memtable.
  for (const kg of groups) for (const k of ['a1', 'p1', 'p2', 'z9']) await put(kg, k, `${kg}-${k}`);
  await store.flush();
  for (const kg of groups.slice(0, 2)) for (const k of ['p3', 'q1']) await put(kg, k, `${kg}-${k}-mem`);
  const cases: ScanOptions[] = [{ prefix: 'p' }, { gte: 'b', lt: 'q' }, { gte: 'p2' }, { lt: 'p' }, { prefix: 'p', limit: 4 }, { prefix: 'nothing' }];
  for (const o of cases) {
    const before = store.internals().scanRanges();
    t.same(await collect(store, o), modelScan(model, o), `${JSON.stringify(o)}: same entries as the model`);
    const ranges = store.internals().scanRanges() - before;
    t.ok(ranges <= 2 * groups.length, `${JSON.stringify(o)}: ${ranges} per-group range scans for ${groups.length} groups with data`);
  }
  await store.close();
});

/** Random writes into a few key groups of a large key-group space, flushes and compactions. */
async function randomStore(seed: number, maxKeyGroups: number, rnd: Random): Promise<{ store: LsmStore; model: Model }> {
  const store = await openLsmStore(options(maxKeyGroups));
  const model = new Model();
  const groups = Array.from({ length: rnd.range(1, 7) }, () => rnd.int(maxKeyGroups));
  const key = (): Uint8Array => Buffer.from(`${'abpq'[rnd.int(4)]}${rnd.int(300).toString(36)}`);
  for (let i = 0; i < 4000; i++) {
    const kg = groups[rnd.int(groups.length)]!;
    const k = key();
    const p = rnd.int(100);
    if (p < 65) {
      const v = rnd.bytes(rnd.int(150));
      await store.put(k, v, { keyGroup: kg });
      model.put(kg, k, v);
    } else if (p < 85) {
      await store.delete(k, { keyGroup: kg });
      model.delete(kg, k);
    } else if (p < 97) {
      const v = rnd.bytes(rnd.int(10));
      await store.merge(k, v, { keyGroup: kg });
      model.merge(kg, k, v);
    } else if (p < 99) {
      await store.flush();
    } else {
      await store.compactUntilIdle();
    }
  }
  t.comment(`seed ${seed}: groups ${groups.join(',')} of ${maxKeyGroups}, levels ${JSON.stringify(store.stats().lsm.levels.map((l) => l.files))}`);
  return { store, model };
}

function randomScan(rnd: Random, maxKeyGroups: number): ScanOptions {
  const bound = (): string => `${'abpqz'[rnd.int(5)]}${rnd.bool() ? rnd.int(30).toString(36) : ''}`;
  const o: ScanOptions = {};
  const kind = rnd.int(4);
  if (kind === 0) o.prefix = bound();
  else if (kind === 1) o.gte = bound();
  else if (kind === 2) o.lt = bound();
  else {
    o.gte = bound();
    o.lt = bound();
  }
  if (rnd.bool(0.2)) o.keyGroup = rnd.int(maxKeyGroups);
  if (rnd.bool(0.3)) o.limit = rnd.int(20);
  return o;
}

t.test('bounded scans without a key group match the model on random data', async (t) => {
  const seed = seedFromEnv();
  const rnd = new Random(seed);
  for (const maxKeyGroups of [1, 7, 300, MAX_KEY_GROUPS]) {
    const { store, model } = await randomStore(seed, maxKeyGroups, rnd);
    for (let i = 0; i < 40; i++) {
      const o = randomScan(rnd, maxKeyGroups);
      t.same(await collect(store, o), modelScan(model, o), `seed ${seed}, ${maxKeyGroups} groups: scan ${JSON.stringify(o)}`);
    }
    // Restoring part of the key-group range makes clipped references (files wider than their clip).
    const handle = await store.checkpoint();
    const lo = rnd.int(maxKeyGroups);
    const hi = lo + rnd.int(maxKeyGroups - lo);
    const restored = await restoreStore({ ...options(maxKeyGroups), primary: store.options.primary, instanceId: `r${stores}` }, [handle], { keyGroups: [lo, hi] });
    for (let i = 0; i < 20; i++) {
      const o = randomScan(rnd, maxKeyGroups);
      t.same(await collect(restored, o), modelScan(model, o, [lo, hi]), `seed ${seed}, restored [${lo}, ${hi}] of ${maxKeyGroups}: scan ${JSON.stringify(o)}`);
    }
    await restored.close();
    await store.close();
  }
});
