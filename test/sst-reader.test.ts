/**
 * SstReader I/O behaviour: number and shape of source reads when opening, coalescing of concurrent reads of
 * one block, block-cache fill rules, abort of one waiter, prefetch depth of blocks(); plus builder argument
 * checks, size estimate, and the block-cache file key.
 */
import t from 'tap';
import { cacheFileKey } from '../lib/cache/file-key.js';
import { SstBuilder } from '../lib/sst/builder.js';
import type { Entry } from '../lib/sst/entry.js';
import { SstReader } from '../lib/sst/reader.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { MapBlockCache, MemSource, diffEntry, randomEntries } from './support/sst-helpers.js';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay with FLOE_SEED=${seed})`);

function table(count = 400): { bytes: Uint8Array; metaOffset: number; entries: Entry[] } {
  const entries = randomEntries(new Random(seed), { count, bigValueBytes: 600 });
  const b = new SstBuilder({ blockBytes: 512, compression: 'lz4' });
  for (const e of entries) b.add(e);
  const { bytes, info } = b.finish();
  return { bytes, metaOffset: info.metaOffset, entries };
}

t.test('opening reads the meta section once when metaOffset is known, footer first otherwise', async (t) => {
  const { bytes, metaOffset } = table();
  const one = new MemSource(bytes);
  await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset, source: one });
  t.same(one.reads.map((r) => [r.offset, r.length]), [[metaOffset, bytes.length - metaOffset]], 'one read of [metaOffset, size)');
  const two = new MemSource(bytes);
  await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, source: two });
  t.same(
    two.reads.map((r) => [r.offset, r.length]),
    [
      [bytes.length - 60, 60],
      [metaOffset, bytes.length - 60 - metaOffset],
    ],
    'footer, then index+filter+properties',
  );
});

t.test('concurrent reads of one block share one source read', async (t) => {
  const { bytes, metaOffset, entries } = table();
  for (const withCache of [false, true]) {
    const source = new MemSource(bytes);
    const cache = withCache ? new MapBlockCache() : undefined;
    const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset, source, ...(cache ? { blockCache: cache } : {}) });
    source.reads.length = 0;
    source.hold = true;
    const i = 3;
    const handle = reader.blockHandle(i);
    const inBlock = entries.filter((e) => reader.blockFor(e.key) === i);
    const waits = Array.from({ length: 8 }, () => reader.readBlock(i));
    const gets = inBlock.map((e) => reader.get(e.key));
    await new Promise((r) => setImmediate(r));
    t.equal(source.heldCount, 1, `one read in flight (${withCache ? 'cache' : 'no cache'})`);
    source.hold = false;
    source.release();
    const blocks = await Promise.all(waits);
    const got = await Promise.all(gets);
    t.same(source.reads.map((r) => [r.offset, r.length]), [[handle.offset, handle.size]], 'exactly one source read of the block handle');
    for (const b of blocks) t.equal(b, blocks[0], 'every waiter gets the same decoded block');
    let bad: string | undefined;
    for (const [j, e] of inBlock.entries()) bad ??= diffEntry(got[j], e) ?? diffEntry(blocks[0]!.get(e.key), e);
    t.ok(inBlock.length > 0, `${inBlock.length} keys in the block`);
    t.equal(bad, undefined, 'the shared block has the right entries');
    // after completion: cached → no read; uncached → a new read (no stale in-flight entry)
    await reader.readBlock(i);
    t.equal(source.reads.length, withCache ? 1 : 2, withCache ? 'served from the cache' : 'read again once finished');
  }
});

t.test('fillCache: false leaves the block cache alone unless another waiter wants the block', async (t) => {
  const { bytes, metaOffset } = table();
  const source = new MemSource(bytes);
  const cache = new MapBlockCache();
  const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset, source, blockCache: cache });
  await reader.readBlock(0, { fillCache: false });
  t.equal(cache.inserts, 0, 'not inserted');
  t.equal(reader.cachedBlock(0), undefined);
  t.equal(source.reads.at(-1)!.fillCache, false, 'the source is told not to fill its cache either');
  await reader.readBlock(0);
  t.equal(cache.inserts, 1, 'a normal read inserts');
  t.ok(reader.cachedBlock(0), 'now cached');
  // a no-fill read joined by a fill read → inserted
  source.hold = true;
  const a = reader.readBlock(1, { fillCache: false });
  const b = reader.readBlock(1);
  await new Promise((r) => setImmediate(r));
  source.hold = false;
  source.release();
  await Promise.all([a, b]);
  t.equal(cache.inserts, 2, 'inserted because one waiter wanted it');
  // a cached block is served even for fillCache: false (reuse what is cached)
  const reads = source.reads.length;
  await reader.readBlock(0, { fillCache: false });
  t.equal(source.reads.length, reads, 'no read for a cached block');
  // the cache key is per file: another file id misses
  const other = await SstReader.open({ path: 'p2', fileId: 'g', size: bytes.length, metaOffset, source, blockCache: cache });
  t.equal(other.cachedBlock(0), undefined, 'different file id, different cache key');
});

t.test('aborting one waiter does not fail the others', async (t) => {
  const { bytes, metaOffset } = table();
  const source = new MemSource(bytes);
  const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset, source });
  source.hold = true;
  const ac = new AbortController();
  const aborted = reader.readBlock(2, { signal: ac.signal });
  const other = reader.readBlock(2);
  await new Promise((r) => setImmediate(r));
  ac.abort(new Error('caller gave up'));
  await t.rejects(aborted, { message: 'caller gave up' });
  source.hold = false;
  source.release();
  const block = await other;
  t.ok(block.entries().length > 0, 'the other waiter gets the block');
  await t.rejects(reader.readBlock(reader.blockCount), { code: 'INVALID_ARGUMENT' }, 'out-of-range block index rejects');
  await t.rejects(reader.readBlock(-1), { code: 'INVALID_ARGUMENT' });
  const pre = new AbortController();
  pre.abort(new Error('already'));
  await t.rejects(reader.readBlock(5, { signal: pre.signal }), { message: 'already' });
});

t.test('blocks() keeps `prefetch` reads ahead and is safe to stop early', async (t) => {
  const { bytes, metaOffset, entries } = table(800);
  for (const prefetch of [0, 1, 4, 8]) {
    const source = new MemSource(bytes);
    const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset, source });
    source.maxInFlight = 0;
    let n = 0;
    for await (const chunk of reader.blocks({ prefetch })) n += chunk.length;
    t.equal(n, entries.length, `all entries (prefetch ${prefetch})`);
    t.equal(source.maxInFlight, prefetch + 1, `at most ${prefetch + 1} reads in flight, and the window is used`);
  }
  const source = new MemSource(bytes);
  const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset, source });
  source.reads.length = 0;
  for await (const chunk of reader.blocks({ prefetch: 6 })) {
    t.ok(chunk.length > 0);
    break; // abandon with reads in flight: must not leave unhandled rejections or hang
  }
  await new Promise((r) => setTimeout(r, 10));
  t.equal(source.reads.length, 7, 'no reads beyond the window after stopping');
});

t.test('builder argument checks', async (t) => {
  const b = new SstBuilder();
  t.throws(() => b.finish(), { code: 'INVALID_ARGUMENT' }, 'no entries');
  const b2 = new SstBuilder();
  b2.add({ key: Uint8Array.of(1, 2), kind: 0, seq: 1, value: new Uint8Array(0) });
  t.throws(() => b2.add({ key: Uint8Array.of(1, 2), kind: 0, seq: 2, value: new Uint8Array(0) }), { code: 'INVALID_ARGUMENT', message: /strictly increasing/ }, 'duplicate');
  t.throws(() => b2.add({ key: Uint8Array.of(1), kind: 0, seq: 2, value: new Uint8Array(0) }), { code: 'INVALID_ARGUMENT' }, 'smaller (prefix)');
  t.throws(() => b2.add({ key: Uint8Array.of(1, 1, 9), kind: 0, seq: 2, value: new Uint8Array(0) }), { code: 'INVALID_ARGUMENT' }, 'smaller');
  t.throws(() => b2.add({ key: Uint8Array.of(3), kind: 7 as 0, seq: 2, value: new Uint8Array(0) }), { code: 'INVALID_ARGUMENT' }, 'bad kind');
  t.throws(() => b2.add({ key: Uint8Array.of(3), kind: 0, seq: -1, value: new Uint8Array(0) }), { code: 'INVALID_ARGUMENT' }, 'bad seq');
  b2.add({ key: Uint8Array.of(1, 2, 0), kind: 0, seq: 2, value: new Uint8Array(0) });
  t.equal(b2.entryCount, 2);
  b2.finish();
  t.throws(() => b2.add({ key: Uint8Array.of(9), kind: 0, seq: 2, value: new Uint8Array(0) }), { code: 'INVALID_ARGUMENT' }, 'after finish');
  for (const bad of [{ blockBytes: 0 }, { restartInterval: 0 }, { bloomBitsPerKey: -1 }, { compression: 'gzip' as 'none' }, { createdAtMs: 1.5 }]) {
    t.throws(() => new SstBuilder(bad), { code: 'INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
});

t.test('the builder copies what it keeps: callers may reuse key buffers', async (t) => {
  const key = new Uint8Array(4);
  const b = new SstBuilder({ blockBytes: 64, compression: 'none' });
  for (let i = 0; i < 300; i++) {
    new DataView(key.buffer).setUint32(0, i * 7);
    b.add({ key, kind: 0, seq: i, value: Uint8Array.of(i & 0xff) });
  }
  const { bytes, info } = b.finish();
  const reader = await SstReader.open({ path: 'p', fileId: 'f', size: bytes.length, metaOffset: info.metaOffset, source: new MemSource(bytes) });
  let bad = 0;
  for (let i = 0; i < 300; i++) {
    const k = new Uint8Array(4);
    new DataView(k.buffer).setUint32(0, i * 7);
    const e = await reader.get(k);
    if (e?.seq !== i) bad++;
  }
  t.equal(bad, 0, 'every key found with its own seq');
  t.same([...info.smallestKey], [0, 0, 0, 0]);
  t.same([...info.largestKey], [0, 0, 0x08, 0x2d]);
});

t.test('estimatedBytes tracks the final size', async (t) => {
  for (const compression of ['none', 'lz4', 'zstd'] as const) {
    const entries = randomEntries(new Random(seed + 3), { count: 3000, bigValueBytes: 2000 });
    const b = new SstBuilder({ compression, blockBytes: 4096 });
    for (const e of entries) b.add(e);
    const est = b.estimatedBytes();
    const { bytes } = b.finish();
    const err = Math.abs(est - bytes.length) / bytes.length;
    t.ok(err < 0.05, `${compression}: estimate ${est} vs ${bytes.length} bytes (${(err * 100).toFixed(2)}% off)`);
  }
});

t.test('cacheFileKey is a stable 64-bit hash of the file id', async (t) => {
  const a = cacheFileKey('000001-abc');
  t.same(cacheFileKey('000001-abc'), a, 'deterministic');
  t.ok(Number.isInteger(a.hi) && a.hi >= 0 && a.hi < 2 ** 32 && Number.isInteger(a.lo) && a.lo >= 0 && a.lo < 2 ** 32, 'two u32 halves');
  const seen = new Set<string>();
  for (let i = 0; i < 20000; i++) {
    const k = cacheFileKey(`file-${i}`);
    seen.add(`${k.hi}:${k.lo}`);
  }
  t.equal(seen.size, 20000, 'no collisions among 20k ids');
});
