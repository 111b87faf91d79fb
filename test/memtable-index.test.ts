/**
 * The memtable's ordered index (lib/lsm/memtable-index.ts) against a sorted array: random inserts (enough
 * to split chunks many times, in random and in ascending order), then seeks, backward seeks and walks in
 * both directions from random probes, including keys below, between and above the stored ones. Also the
 * memtable's ordered reads on top of it (range, rangeBackward, firstKeyAtOrAfter) against the same model.
 */
import t from 'tap';
import { MemtableIndex, type IndexPos } from '../lib/lsm/memtable-index.js';
import { Memtable } from '../lib/lsm/memtable.js';
import { EntryKind } from '../lib/sst/entry.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

/** A random latin1 key of 1..4 chars over a small alphabet (many near neighbours, some shared prefixes). */
function randomKey(r: Random): string {
  let s = '';
  for (let n = 1 + r.int(4); n > 0; n--) s += String.fromCharCode(97 + r.int(6));
  return s;
}

const bytes = (k: string): Uint8Array => Buffer.from(k, 'latin1');
const str = (k: Uint8Array): string => Buffer.from(k).toString('latin1');

/** An index over ids into `keys` (the memtable keeps keys in its entries; here a plain array of them). */
function newIndex(_keys: string[]): MemtableIndex {
  return new MemtableIndex();
}

function walk(ix: MemtableIndex, keys: string[], p: IndexPos | undefined, forward: boolean, max: number): string[] {
  const out: string[] = [];
  for (; p !== undefined && out.length < max; p = forward ? ix.next(p) : ix.prev(p)) out.push(keys[ix.at(p)]!);
  return out;
}

/** First index in sorted `keys` with key >= k (> k when strict). */
function lower(keys: string[], k: string, strict: boolean): number {
  let i = 0;
  while (i < keys.length && (strict ? keys[i]! <= k : keys[i]! < k)) i++;
  return i;
}

t.test('seek, before and walks match a sorted array', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  for (const ascending of [false, true]) {
    const ids: string[] = [];
    const ix = newIndex(ids);
    const model = new Set<string>();
    const fresh: string[] = [];
    while (fresh.length < 1200) {
      const k = randomKey(r);
      if (!model.has(k)) {
        model.add(k);
        fresh.push(k);
      }
    }
    if (ascending) fresh.sort();
    const sorted: string[] = [];
    let mismatches = 0;
    for (const [n, k] of fresh.entries()) {
      ix.insert(ids.push(k) - 1, bytes(k));
      sorted.splice(lower(sorted, k, false), 0, k);
      if (n % 97 !== 0 && n !== fresh.length - 1) continue;
      t.same(walk(ix, ids, ix.first(), true, Number.MAX_SAFE_INTEGER), sorted, `seed ${seed}: full forward walk after ${n + 1} inserts`);
      t.same(walk(ix, ids, ix.before(undefined), false, Number.MAX_SAFE_INTEGER), sorted.slice().reverse(), `seed ${seed}: full backward walk`);
      for (let probe = 0; probe < 50; probe++) {
        const k = randomKey(r);
        const strict = r.int(2) === 1;
        const i = lower(sorted, k, strict);
        const got = walk(ix, ids, ix.seek(bytes(k), strict), true, 5);
        if (JSON.stringify(got) !== JSON.stringify(sorted.slice(i, i + 5))) mismatches++;
        const j = lower(sorted, k, false) - 1;
        const back = walk(ix, ids, ix.before(bytes(k)), false, 5);
        if (JSON.stringify(back) !== JSON.stringify(sorted.slice(Math.max(0, j - 4), j + 1).reverse())) mismatches++;
      }
    }
    t.equal(mismatches, 0, `seed ${seed}, ascending ${ascending}: seeks and backward seeks agree with the model`);
  }
});

t.test('memtable ordered reads over a split index', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const m = new Memtable();
  const model = new Map<string, string>();
  for (let seq = 1; seq <= 3000; seq++) {
    const k = randomKey(r);
    const v = `v${seq}`;
    m.apply(Buffer.from(k, 'latin1'), EntryKind.Put, Buffer.from(v), seq);
    model.set(k, v);
  }
  const sorted = [...model.keys()].sort();
  const show = (es: Array<{ key: Uint8Array; value: Uint8Array }>): string[] => es.map((e) => `${str(e.key)}=${Buffer.from(e.value).toString()}`);
  const want = (ks: string[]): string[] => ks.map((k) => `${k}=${model.get(k)}`);
  t.same(show(m.range(undefined, undefined, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)), want(sorted), `seed ${seed}: full range`);
  for (let probe = 0; probe < 200; probe++) {
    const a = randomKey(r);
    const b = randomKey(r);
    const [gte, lt] = a < b ? [a, b] : [b, a];
    const limit = 1 + r.int(40);
    const inRange = sorted.filter((k) => k >= gte && k < lt);
    t.same(show(m.range(bytes(gte), bytes(lt), Number.MAX_SAFE_INTEGER, limit)), want(inRange.slice(0, limit)), `seed ${seed}: range [${gte}, ${lt}) limit ${limit}`);
    t.same(show(m.rangeBackward(bytes(gte), bytes(lt), Number.MAX_SAFE_INTEGER, limit)), want(inRange.slice().reverse().slice(0, limit)), `seed ${seed}: rangeBackward [${gte}, ${lt})`);
    const after = randomKey(r);
    t.same(show(m.range(bytes(gte), bytes(lt), Number.MAX_SAFE_INTEGER, limit, bytes(after))), want(inRange.filter((k) => k > after).slice(0, limit)), `seed ${seed}: range after ${after}`);
    t.equal(((k) => (k === undefined ? undefined : str(k)))(m.firstKeyAtOrAfter(bytes(a))), sorted.find((k) => k >= a), `seed ${seed}: firstKeyAtOrAfter ${a}`);
  }
});
