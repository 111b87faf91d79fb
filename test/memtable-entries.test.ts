/**
 * The memtable's byte-keyed entries (lib/lsm/memtable-entries.ts) against a Map model: random keys of 0 to
 * 300 bytes (many sharing prefixes, some longer than a first slab), inserts and value rewrites, then every
 * key found with its value, absent keys not found, byte order of compareKey equal to Buffer.compare, and
 * the memory count covering every byte stored while staying within a fixed factor of them. Also the
 * memtable on top: values are copies (changing the source after apply changes nothing), and ordered reads
 * of random byte keys (including bytes above 0x7f) come back in byte order.
 */
import t from 'tap';
import { MemtableEntries } from '../lib/lsm/memtable-entries.js';
import { Memtable } from '../lib/lsm/memtable.js';
import { EntryKind } from '../lib/sst/entry.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

function randomKey(r: Random): Uint8Array {
  const long = r.int(50) === 0;
  const n = long ? 5000 + r.int(3000) : r.int(12);
  const k = new Uint8Array(n);
  for (let i = 0; i < n; i++) k[i] = r.int(4) === 0 ? r.int(256) : 0x61 + r.int(3);
  return k;
}

t.test('entries agree with a Map model', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const e = new MemtableEntries();
  const model = new Map<string, { id: number; key: Uint8Array; value: Uint8Array; seq: number }>();
  let stored = 0;
  let mismatches = 0;
  for (let seq = 1; seq <= 5000; seq++) {
    const key = randomKey(r);
    const value = r.bytes(r.int(300));
    const hex = Buffer.from(key).toString('hex');
    let id = e.find(key);
    const m = model.get(hex);
    if ((m?.id ?? -1) !== id) mismatches++;
    if (id < 0) {
      id = e.add(key, EntryKind.Put, seq);
      stored += key.length;
    }
    e.setValue(id, value);
    e.seq[id] = seq;
    stored += value.length;
    model.set(hex, { id, key, value, seq });
  }
  t.equal(mismatches, 0, `seed ${seed}: find() before each write agreed with the model`);
  t.equal(e.count, model.size, 'one entry per distinct key');
  let wrong = 0;
  for (const m of model.values()) {
    if (e.find(m.key) !== m.id) wrong++;
    if (!Buffer.from(e.key(m.id)).equals(Buffer.from(m.key))) wrong++;
    if (!Buffer.from(e.value(m.id)).equals(Buffer.from(m.value))) wrong++;
    if (e.seq[m.id] !== m.seq) wrong++;
    const out = new Uint8Array(m.key.length + m.value.length);
    e.copyKey(m.id, out, 0);
    e.copyValue(m.id, out, m.key.length);
    if (!Buffer.from(out).equals(Buffer.concat([m.key, m.value]))) wrong++;
  }
  t.equal(wrong, 0, `seed ${seed}: every key found with its key, value and seq bytes`);
  let absentFound = 0;
  let orderWrong = 0;
  const all = [...model.values()];
  for (let probe = 0; probe < 2000; probe++) {
    const k = randomKey(r);
    if (!model.has(Buffer.from(k).toString('hex')) && e.find(k) >= 0) absentFound++;
    const other = all[r.int(all.length)]!;
    if (Math.sign(e.compareKey(k, other.id)) !== Math.sign(Buffer.compare(k, other.key))) orderWrong++;
  }
  t.equal(absentFound, 0, 'absent keys are not found');
  t.equal(orderWrong, 0, 'compareKey is byte order');
  t.ok(e.bytes >= stored, `memory count ${e.bytes} covers the ${stored} bytes stored`);
  t.ok(e.bytes <= 2 * stored + 200 * model.size + 2 * 1024 * 1024, `memory count ${e.bytes} within a bound of ${stored} bytes, ${model.size} entries`);
});

t.test('memtable values are copies, and ordered reads follow byte order', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const m = new Memtable();
  const model = new Map<string, string>();
  for (let seq = 1; seq <= 3000; seq++) {
    const key = randomKey(r);
    const src = Buffer.from(r.bytes(1 + r.int(40)));
    const want = src.toString('hex');
    m.apply(key, EntryKind.Put, src, seq);
    src.fill(0); // a caller reusing its buffer
    model.set(Buffer.from(key).toString('hex'), want);
  }
  const sorted = [...model.keys()].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
  const got = m.range(undefined, undefined, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER).map((e) => `${Buffer.from(e.key).toString('hex')}=${Buffer.from(e.value).toString('hex')}`);
  t.same(got, sorted.map((k) => `${k}=${model.get(k)}`), `seed ${seed}: full range in byte order with the values written`);
  let wrong = 0;
  for (const [k, v] of model) if (Buffer.from(m.lookup(Buffer.from(k, 'hex'))!.parts[0]!).toString('hex') !== v) wrong++;
  t.equal(wrong, 0, 'lookups return the values written');
});
