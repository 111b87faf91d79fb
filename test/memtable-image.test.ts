/**
 * A frozen memtable's image (lib/lsm/memtable-image.ts), the input of its flush: the memtable's shared slabs
 * and columns with its key order, plus the entries with version objects packed. Seeded random writes
 * (puts of inline and large values, deletes, merges, TTL puts, range deletes, versions kept for an open
 * snapshot) against a Map model of each key's newest write, and against the memtable's own ordered read:
 * the image's entries are every key once, in byte order, each with its newest kind, seq, value and TTL.
 * Also after a structured clone (how a pool thread receives it): the slabs are shared, not copied; and a
 * flush on a real pool thread (file://), read back after reopening.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { processPoolStats } from '../lib/lsm/rewrite-executor.js';
import { CHAINED, imageEntries } from '../lib/lsm/memtable-image.js';
import { Memtable } from '../lib/lsm/memtable.js';
import { writeTtl } from '../lib/lsm/ttl.js';
import { EntryKind, type Entry } from '../lib/sst/entry.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const show = (e: Entry): string => `${hex(e.key)} ${e.kind} ${e.seq} ${hex(e.value)} ${e.ttl?.join(',') ?? '-'}`;

function randomKey(r: Random): Uint8Array {
  const k = new Uint8Array(1 + r.int(6));
  for (let i = 0; i < k.length; i++) k[i] = r.int(4) === 0 ? r.int(256) : 0x61 + r.int(4);
  return k;
}

t.test('the image holds every key once, in order, with its newest version', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const m = new Memtable();
  /** Newest Put or Delete per key (keys with merges, TTL or range deletes are checked against the memtable). */
  const model = new Map<string, { kind: EntryKind; seq: number; value: string }>();
  const other = new Set<string>();
  let release: (() => void) | undefined;
  let seq = 0;
  for (let i = 0; i < 4000; i++) {
    const key = randomKey(r);
    const k = hex(key);
    const op = r.int(20);
    seq++;
    if (op === 0 && release === undefined) release = m.pinSnapshot(seq - 1); // later writes stack versions
    else if (op === 1 && release !== undefined) {
      release();
      release = undefined;
    }
    if (op === 2) {
      m.apply(key, EntryKind.Merge, r.bytes(1 + r.int(20)), seq);
      other.add(k);
    } else if (op === 3) {
      const v = r.bytes(r.int(30));
      m.apply(key, EntryKind.Put, v, seq, writeTtl(v.length, 1000 + r.int(1000), 5000));
      other.add(k);
    } else if (op === 4) {
      const end = Uint8Array.from([...key, 0xff]);
      m.deleteRange(key, end, seq);
      for (const mk of [...model.keys()]) if (Buffer.compare(Buffer.from(mk, 'hex'), key) >= 0 && Buffer.compare(Buffer.from(mk, 'hex'), end) < 0) other.add(mk);
    } else if (op < 8) {
      m.apply(key, EntryKind.Delete, new Uint8Array(0), seq);
      model.set(k, { kind: EntryKind.Delete, seq, value: '' });
      other.delete(k);
    } else {
      const v = r.bytes(r.int(10) === 0 ? 4097 + r.int(3000) : r.int(120)); // some over the inline limit
      m.apply(key, EntryKind.Put, v, seq);
      model.set(k, { kind: EntryKind.Put, seq, value: hex(v) });
      other.delete(k);
    }
  }
  const image = m.image();
  const got = [...imageEntries(image)];
  const keys = got.map((e) => hex(e.key));
  const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
  t.same(keys, sorted, `seed ${seed}: keys in byte order`);
  t.equal(new Set(keys).size, keys.length, 'each key once');
  t.equal(got.length, m.size, 'every entry of the memtable');
  let wrong = 0;
  for (const e of got) {
    const k = hex(e.key);
    const want = model.get(k);
    if (want === undefined || other.has(k)) continue;
    if (e.kind !== want.kind || e.seq !== want.seq || hex(e.value) !== want.value || e.ttl !== undefined) wrong++;
  }
  t.equal(wrong, 0, `seed ${seed}: puts and deletes agree with the model`);
  const ordered = m.range(undefined, undefined, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  t.same(got.map(show), ordered.map(show), `seed ${seed}: the same entries as the memtable's ordered read (merges, TTL, range deletes)`);
  t.ok(image.order.includes(CHAINED) && image.order.some((id) => id >= 0), 'both inline and chained entries were exercised');
  release?.();

  const clone = structuredClone(image);
  t.same([...imageEntries(clone)].map(show), got.map(show), 'a structured clone reads the same entries');
  t.ok(
    clone.slabs.every((s, i) => s.buffer instanceof SharedArrayBuffer && s.buffer.byteLength === image.slabs[i]!.buffer.byteLength),
    'its slabs are the shared buffers',
  );
  const first = image.slabs[0]!;
  const saved = first[0]!;
  first[0] = saved ^ 0xff;
  t.equal(clone.slabs[0]![0], saved ^ 0xff, 'shared, not copied: a change is seen through the clone');
  first[0] = saved;
});

t.test('a flush on the pool thread writes what the memtable held (merges, TTL, large values, deletes)', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'floe-image-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const options = { primary: `file://${join(dir, 'data')}`, maxKeyGroups: 4, compactionWorkers: 1, blockCacheBytes: 0, l0CompactionTrigger: 100, l0StopWritesTrigger: 200 };
  const store = await openLsmStore(options);
  const model = new Map<string, string | undefined>();
  for (let i = 0; i < 3000; i++) {
    const key = `k${r.int(800)}`;
    const op = r.int(10);
    if (op === 0) {
      await store.delete(key);
      model.set(key, undefined);
    } else if (op < 3) {
      const operand = hex(r.bytes(1 + r.int(8)));
      await store.merge(key, operand);
      model.set(key, (model.get(key) ?? '') + operand);
    } else if (op === 3) {
      const v = hex(r.bytes(r.int(20)));
      await store.put(key, v, { ttlMs: 3_600_000 });
      model.set(key, v);
    } else {
      const v = hex(r.bytes(r.int(6) === 0 ? 2100 + r.int(2000) : r.int(40))); // some over 4 KiB as hex
      await store.put(key, v);
      model.set(key, v);
    }
  }
  await store.flush();
  t.equal(store.internals().state.version.levels[0]!.length, 1, 'one flush, on the pool');
  t.ok(processPoolStats().lanes.flush.tasks >= 1, 'the flush ran on the flush pool');
  await store.close();
  const reopened = await openLsmStore(options); // reads come from the flushed SST only
  let wrong = 0;
  for (const [key, want] of model) {
    const got = await reopened.get(key);
    if ((got === undefined ? undefined : Buffer.from(got).toString()) !== want) wrong++;
  }
  t.equal(wrong, 0, `seed ${seed}: every key reads back as written (${model.size} keys)`);
  await reopened.close();
});
