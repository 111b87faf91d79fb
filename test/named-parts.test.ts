/**
 * The pieces of named stores in parts that need no daemon: splitting a store's key groups (Flink's formula
 * over the store's range), the default part count, placement over shards, the OPEN_STORE `parts` field and
 * answer, and the registry's version-2 records (validated on read: CORRUPTION for parts that do not split
 * keyGroups).
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { newParts, partCount, partMemtableBytes, placeParts, splitRange } from '../lib/daemon/named-parts.js';
import { nameKey, readNamedRecord, writeNamedRecord, type NamedRecord } from '../lib/daemon/named-registry.js';
import type { Shard } from '../lib/daemon/shard-bus.js';
import { checkOpenStore, parseOpenStoreOk, writeOpenStoreOk } from '../lib/protocol/named-store.js';
import { Writer } from '../lib/protocol/wire.js';
import { MemObjectStore } from '../lib/store/mem.js';
import { namedStorePath } from '../lib/store/paths.js';

t.test('splitRange: contiguous, in order, sizes differ by at most one, covering the range', async (t) => {
  t.same(splitRange([0, 127], 2), [
    [0, 63],
    [64, 127],
  ]);
  t.same(splitRange([5, 12], 3), [
    [5, 7],
    [8, 10],
    [11, 12],
  ]);
  t.same(splitRange([4, 4], 1), [[4, 4]]);
  for (let lo = 0; lo < 20; lo += 3) {
    for (let size = 1; size <= 40; size += 5) {
      for (let n = 1; n <= Math.min(size, 7); n++) {
        const parts = splitRange([lo, lo + size - 1], n);
        let next = lo;
        for (const [a, b] of parts) {
          if (a !== next || b < a) t.fail(`[${lo}, ${lo + size - 1}] / ${n}: ${JSON.stringify(parts)}`);
          next = b + 1;
        }
        const sizes = parts.map(([a, b]) => b - a + 1);
        if (next !== lo + size || Math.max(...sizes) - Math.min(...sizes) > 1) t.fail(`[${lo}, ${lo + size - 1}] / ${n}: ${JSON.stringify(parts)}`);
      }
    }
  }
  t.pass('every split checked');
});

t.test('part count, instance ids, memtable share', async (t) => {
  t.equal(partCount([0, 127], 2, undefined), 2, 'default: one per live shard');
  t.equal(partCount([3, 3], 4, undefined), 1, 'never more than the key groups');
  t.equal(partCount([0, 127], 2, 5), 5, 'an explicit count may exceed the shards');
  t.equal(partCount([0, 127], 0, undefined), 1, 'at least one');
  t.same(newParts('named-x-1-ab', [0, 7], 1), [{ instanceId: 'named-x-1-ab', keyGroups: [0, 7] }], 'one part: the id as before parts');
  t.same(newParts('named-x-1-ab', [0, 7], 2).map((p) => p.instanceId), ['named-x-1-ab-p0', 'named-x-1-ab-p1']);
  t.equal(partMemtableBytes(32 * 2 ** 20, 2), 16 * 2 ** 20);
  t.equal(partMemtableBytes(100 * 1024, 4), 64 * 1024, 'at least the engine minimum');
});

t.test('placement: distinct shards while there are enough, least loaded first, dead shards skipped', async (t) => {
  const shard = (index: number, load: number, dead = false): Shard => ({ index, targets: { size: load }, dead: dead ? new Error('dead') : undefined }) as unknown as Shard;
  const idx = (s: Shard[]): number[] => s.map((x) => x.index);
  t.same(new Set(idx(placeParts([shard(0, 1), shard(1, 1)], 2, 'a'))).size, 2, 'two parts, two shards');
  t.same(idx(placeParts([shard(0, 3), shard(1, 1), shard(2, 2)], 2, 'a')), [1, 2], 'least loaded first');
  t.same(idx(placeParts([shard(0, 1), shard(1, 1, true)], 2, 'a')), [0, 0], 'a dead shard gets none; parts then share');
  t.same(idx(placeParts([shard(0, 1), shard(1, 2)], 3, 'a')), [0, 1, 0], 'wraps around');
  t.throws(() => placeParts([shard(0, 1, true)], 1, 'a'), { code: 'IO' });
});

t.test('OPEN_STORE parts: validated, canonical, answered only for several parts', async (t) => {
  const base = { name: 's', maxKeyGroups: 16, keyGroups: [4, 7] };
  t.same(checkOpenStore({ ...base, parts: 4 }), { ...base, parts: 4 });
  for (const bad of [0, 5, 1.5, '2', null]) t.throws(() => checkOpenStore({ ...base, parts: bad }), { code: 'INVALID_ARGUMENT', message: /parts must be an integer in \[1, 4\]/ }, `parts ${JSON.stringify(bad)}`);
  const answer = (r: Parameters<typeof writeOpenStoreOk>[1]): string => {
    const w = new Writer(256);
    writeOpenStoreOk(w, r);
    return Buffer.from(w.view()).toString();
  };
  const one = { name: 's', shard: 1, maxKeyGroups: 16, keyGroups: [4, 7] as [number, number], restored: false, created: true };
  t.equal(answer(one), '{"name":"s","shard":1,"maxKeyGroups":16,"keyGroups":[4,7],"restored":false,"created":true}', 'one part: the answer as before');
  const parts = [
    { shard: 1, keyGroups: [4, 5] as [number, number] },
    { shard: 0, keyGroups: [6, 7] as [number, number] },
  ];
  t.equal(answer({ ...one, parts }), '{"name":"s","shard":1,"maxKeyGroups":16,"keyGroups":[4,7],"restored":false,"created":true,"parts":[{"shard":1,"keyGroups":[4,5]},{"shard":0,"keyGroups":[6,7]}]}');
  t.same(parseOpenStoreOk(Buffer.from(answer({ ...one, parts }))).parts, parts);
});

t.test('registry: version-2 records round-trip; parts that do not split keyGroups are CORRUPTION', async (t) => {
  const store = new MemObjectStore('named-parts-test');
  const record: NamedRecord = {
    name: 'r/s',
    seq: 1,
    maxKeyGroups: 16,
    keyGroups: [0, 15],
    instanceId: 'i-p0',
    ephemeral: false,
    createdAt: new Date(0).toISOString(),
    parts: [
      { instanceId: 'i-p0', keyGroups: [0, 7] },
      { instanceId: 'i-p1', keyGroups: [8, 15] },
    ],
  };
  await writeNamedRecord(store, 'main', record);
  t.same(await readNamedRecord(store, 'main', 'r/s'), record);
  const raw = (seq: number, over: Record<string, unknown>) =>
    store.put(namedStorePath('main', nameKey('r/s'), seq), Buffer.from(JSON.stringify({ format: 'floe-named-store', formatVersion: 2, ...record, seq, ...over })));
  const cases: Array<[string, Record<string, unknown>]> = [
    ['a gap', { parts: [record.parts![0], { instanceId: 'i-p1', keyGroups: [9, 15] }] }],
    ['not covering', { parts: [record.parts![0], { instanceId: 'i-p1', keyGroups: [8, 14] }] }],
    ['one part', { parts: [{ instanceId: 'i-p0', keyGroups: [0, 15] }] }],
    ['first is not instanceId', { instanceId: 'other' }],
    ['no parts', { parts: undefined }],
  ];
  for (const [i, [what, over]] of cases.entries()) {
    await raw(i + 2, over);
    await t.rejects(readNamedRecord(store, 'main', 'r/s'), { code: 'CORRUPTION' }, what);
  }
  await raw(20, { formatVersion: 1 });
  await t.rejects(readNamedRecord(store, 'main', 'r/s'), { code: 'CORRUPTION', message: /version 1 has no parts/ }, 'parts in a version-1 record');
  await raw(21, { formatVersion: 3 });
  await t.rejects(readNamedRecord(store, 'main', 'r/s'), { code: 'VERSION' }, 'a newer format');
});
