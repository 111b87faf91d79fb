/**
 * Damaged SSTs never yield wrong data. Every single-byte change anywhere in a file is detected (CORRUPTION, or
 * VERSION for the footer's version field) by the part that reads it: the open for index, filter, properties
 * and footer, the block read for a data block. Truncated files are CORRUPTION; a short read from the source is
 * retryable IO. Blocks with valid checksums but impossible contents are CORRUPTION too. Point gets that read
 * blocks synchronously (a local file's miss path) detect the same damage.
 */
import t from 'tap';
import { isFloeError } from '../lib/errors.js';
import { SstBuilder } from '../lib/sst/builder.js';
import { READABLE_FORMAT_VERSIONS } from '../lib/sst/format.js';
import type { Compression, Entry } from '../lib/sst/entry.js';
import { SstReader, readAllEntries } from '../lib/sst/reader.js';
import { crc32c } from '../lib/util/crc32c.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { MapBlockCache, MemSource, SyncMemSource, diffEntries, randomEntries } from './support/sst-helpers.js';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay with FLOE_SEED=${seed})`);
const PATH = 'mem://bucket/sst/000042.sst';

interface Built {
  bytes: Uint8Array;
  entries: Entry[];
  metaOffset: number;
  handles: { offset: number; size: number }[];
  index: { offset: number; size: number };
  filter: { offset: number; size: number };
  props: { offset: number; size: number };
}

async function build(compression: Compression, rng: Random): Promise<Built> {
  const entries = randomEntries(rng, { count: 45, bigValueBytes: 300 });
  const b = new SstBuilder({ compression, blockBytes: 256, restartInterval: 3 });
  for (const e of entries) b.add(e);
  const { bytes, info } = b.finish();
  const reader = await SstReader.open({ path: PATH, fileId: 'x', size: bytes.length, source: new MemSource(bytes, true) });
  const handles = Array.from({ length: reader.blockCount }, (_, i) => reader.blockHandle(i));
  const dv = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const f = bytes.length - 60;
  const u64 = (at: number): number => dv.readUInt32LE(at) + dv.readUInt32LE(at + 4) * 2 ** 32;
  return {
    bytes,
    entries,
    metaOffset: info.metaOffset,
    handles,
    index: { offset: u64(f + 8), size: dv.readUInt32LE(f + 16) },
    filter: { offset: u64(f + 20), size: dv.readUInt32LE(f + 28) },
    props: { offset: u64(f + 32), size: dv.readUInt32LE(f + 40) },
  };
}

/** Reads everything through a reader (every block, every key); returns the entries seen. */
async function readThroughReader(bytes: Uint8Array, size: number, metaOffset: number | undefined, entries: Entry[], gets = true): Promise<Entry[]> {
  const reader = await SstReader.open({
    path: PATH,
    fileId: 'x',
    size,
    ...(metaOffset === undefined ? {} : { metaOffset }),
    source: new MemSource(bytes, true),
  });
  const seen: Entry[] = [];
  for await (const chunk of reader.blocks({ prefetch: 0 })) seen.push(...chunk);
  if (gets) for (const e of entries) await reader.get(e.key);
  return seen;
}

/**
 * Point gets only, through a source that reads synchronously (the block-cache miss path of a local file,
 * SstReader.getUncachedSync), with a block cache so misses are inserted and later gets hit; returns what
 * the gets found, in key order.
 */
async function getsThroughSyncReads(bytes: Uint8Array, metaOffset: number, entries: Entry[]): Promise<Entry[]> {
  const source = new SyncMemSource(bytes, true);
  const reader = await SstReader.open({ path: PATH, fileId: 'x', size: bytes.length, metaOffset, source, blockCache: new MapBlockCache() });
  const seen: Entry[] = [];
  for (const e of entries) {
    const got = await reader.get(e.key);
    if (got !== undefined) seen.push(got);
  }
  if (source.reads.length > 1) throw new Error(`${source.reads.length - 1} block reads were not synchronous`);
  return seen;
}

/** Runs `fn`; returns the FloeError code it failed with, or 'ok' after checking what it returned. */
async function outcome(fn: () => Promise<Entry[]> | Entry[], expected: Entry[]): Promise<string> {
  try {
    const got = await fn();
    const d = diffEntries(got, expected);
    return d === undefined ? 'ok' : `WRONG DATA: ${d}`;
  } catch (e) {
    if (!isFloeError(e)) return `non-Floe error: ${String(e)}`;
    if (e.path !== PATH || !e.message.includes(PATH)) return `error without the path: ${e.message}`;
    return e.code;
  }
}

function region(b: Built, p: number): string {
  const size = b.bytes.length;
  if (p >= size - 60) {
    const o = p - (size - 60);
    return o >= 44 && o < 48 ? 'footer version' : o >= 52 ? 'footer magic' : 'footer';
  }
  if (p >= b.props.offset) return 'properties';
  if (p >= b.filter.offset) return 'filter';
  if (p >= b.index.offset) return 'index';
  return 'data';
}

for (const compression of ['none', 'lz4', 'zstd'] as Compression[]) {
  t.test(`every single-byte change is detected (${compression})`, async (t) => {
    const rng = new Random(seed + compression.length);
    const b = await build(compression, rng);
    t.ok(b.handles.length >= 5, `several data blocks (${b.handles.length})`);
    const counts = new Map<string, number>();
    const failures: string[] = [];
    for (let p = 0; p < b.bytes.length; p++) {
      const bad = Uint8Array.from(b.bytes);
      bad[p] = bad[p]! ^ (1 + rng.int(255));
      const where = region(b, p);
      // A version this build does not read is VERSION; one it does (2 damaged into 1) fails the footer CRC.
      const damagedVersion = Buffer.from(bad.buffer, bad.byteOffset, bad.byteLength).readUInt32LE(bad.length - 60 + 44);
      const expectCode = where === 'footer version' && !READABLE_FORMAT_VERSIONS.has(damagedVersion) ? 'VERSION' : 'CORRUPTION';
      const results = [
        await outcome(() => readThroughReader(bad, bad.length, b.metaOffset, b.entries), b.entries),
        await outcome(() => readThroughReader(bad, bad.length, undefined, b.entries, false), b.entries),
        await outcome(() => [...readAllEntries(bad, PATH)], b.entries),
        await outcome(() => getsThroughSyncReads(bad, b.metaOffset, b.entries), b.entries),
      ];
      for (const r of results) {
        if (r !== expectCode) failures.push(`byte ${p} (${where}): ${r}, expected ${expectCode}`);
      }
      counts.set(where, (counts.get(where) ?? 0) + 1);
    }
    t.same(failures.slice(0, 10), [], `all ${b.bytes.length} positions detected (seed ${seed})`);
    t.comment(`positions by region: ${JSON.stringify(Object.fromEntries(counts))}`);
  });
}

t.test('damage is reported by the part that reads it', async (t) => {
  const b = await build('lz4', new Random(seed));
  const flip = (p: number): Uint8Array => {
    const bad = Uint8Array.from(b.bytes);
    bad[p] = bad[p]! ^ 0x10;
    return bad;
  };
  const open = (bytes: Uint8Array, metaOffset?: number): Promise<SstReader> =>
    SstReader.open({ path: PATH, fileId: 'x', size: bytes.length, ...(metaOffset === undefined ? {} : { metaOffset }), source: new MemSource(bytes, true) });

  // a data block: open works, that block fails, the others still read correctly
  const target = 2;
  const h = b.handles[target]!;
  const bad = flip(h.offset + Math.floor(h.size / 2));
  const reader = await open(bad, b.metaOffset);
  await t.rejects(reader.readBlock(target), { code: 'CORRUPTION', path: PATH, message: new RegExp(`data block ${target} \\(offset ${h.offset}`) });
  for (let i = 0; i < reader.blockCount; i++) {
    if (i === target) continue;
    const block = await reader.readBlock(i);
    t.ok(block.entries().length > 0, `block ${i} still readable`);
  }
  const inTarget = b.entries.find((e) => reader.blockFor(e.key) === target)!;
  await t.rejects(reader.get(inTarget.key), { code: 'CORRUPTION' }, 'get of a key in the damaged block');
  t.throws(() => [...readAllEntries(bad, PATH)], { code: 'CORRUPTION', message: /data block 2/ });

  for (const [name, handle] of [['index', b.index], ['filter', b.filter], ['properties', b.props]] as const) {
    const damaged = flip(handle.offset + 1);
    await t.rejects(open(damaged, b.metaOffset), { code: 'CORRUPTION', path: PATH, message: new RegExp(`${name} block`) }, `${name}, one read`);
    await t.rejects(open(damaged), { code: 'CORRUPTION', message: new RegExp(`${name} block`) }, `${name}, two reads`);
    t.throws(() => [...readAllEntries(damaged, PATH)], { code: 'CORRUPTION', message: new RegExp(`${name} block`) });
  }
  const f = b.bytes.length - 60;
  await t.rejects(open(flip(f + 2)), { code: 'CORRUPTION', message: /footer checksum/ });
  await t.rejects(open(flip(f + 45)), { code: 'VERSION', path: PATH });
  await t.rejects(open(flip(f + 55)), { code: 'CORRUPTION', message: /magic/ });
  await t.rejects(open(b.bytes, b.metaOffset + 1), { code: 'CORRUPTION', message: /meta section starts at/ }, 'manifest metaOffset disagrees');
  await t.rejects(open(b.bytes, b.bytes.length), { code: 'CORRUPTION', message: /impossible/ }, 'manifest metaOffset beyond the footer');
});

t.test('valid checksums over impossible contents are still corruption', async (t) => {
  const b = await build('none', new Random(seed + 7));
  const reseal = (bytes: Uint8Array, h: { offset: number; size: number }): void => {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    buf.writeUInt32LE(crc32c(buf.subarray(h.offset, h.offset + h.size - 4)), h.offset + h.size - 4);
  };
  const open = (bytes: Uint8Array): Promise<SstReader> => SstReader.open({ path: PATH, fileId: 'x', size: bytes.length, source: new MemSource(bytes, true) });

  // a newer format version, correctly checksummed → VERSION
  {
    const v2 = Uint8Array.from(b.bytes);
    const buf = Buffer.from(v2.buffer);
    const f = v2.length - 60;
    buf.writeUInt32LE(3, f + 44);
    buf.writeUInt32LE(crc32c(buf.subarray(f, f + 48)), f + 48);
    await t.rejects(open(v2), { code: 'VERSION', message: /version 3/ });
    t.throws(() => [...readAllEntries(v2, PATH)], { code: 'VERSION' });
  }
  // unknown compression type on a data block
  {
    const x = Uint8Array.from(b.bytes);
    const h = b.handles[1]!;
    x[h.offset + h.size - 5] = 7;
    reseal(x, h);
    const r = await open(x);
    await t.rejects(r.readBlock(1), { code: 'CORRUPTION', message: /unknown compression type 7/ });
  }
  // a restart count the block cannot hold
  {
    const x = Uint8Array.from(b.bytes);
    const h = b.handles[0]!;
    Buffer.from(x.buffer).writeUInt32LE(100000, h.offset + h.size - 9);
    reseal(x, h);
    const r = await open(x);
    await t.rejects(r.readBlock(0), { code: 'CORRUPTION', message: /restart array/ });
    t.throws(() => [...readAllEntries(x, PATH)], { code: 'CORRUPTION' });
  }
  // properties with tags out of order
  {
    const x = Uint8Array.from(b.bytes);
    x[b.props.offset] = 0; // tag 1 → tag 0
    reseal(x, b.props);
    await t.rejects(open(x), { code: 'CORRUPTION', message: /properties block.*tag 0/ });
  }
  // a filter whose length does not match its bit count
  {
    const x = Uint8Array.from(b.bytes);
    Buffer.from(x.buffer).writeUInt32LE(8, b.filter.offset + 1);
    reseal(x, b.filter);
    await t.rejects(open(x), { code: 'CORRUPTION', message: /filter block/ });
  }
});

t.test('truncated files', async (t) => {
  const b = await build('zstd', new Random(seed + 11));
  const size = b.bytes.length;
  const cuts = [0, 1, 30, 59, 60, 61, b.handles[1]!.offset, b.metaOffset - 1, b.metaOffset, b.metaOffset + 1, b.props.offset, size - 61, size - 60, size - 8, size - 1];
  for (const cut of cuts) {
    const part = b.bytes.subarray(0, cut);
    for (const metaOffset of [undefined, b.metaOffset]) {
      const r = await outcome(() => readThroughReader(part, cut, metaOffset, b.entries), b.entries);
      t.equal(r, 'CORRUPTION', `cut at ${cut}, metaOffset ${metaOffset === undefined ? 'unknown' : 'known'}`);
    }
    t.equal(await outcome(() => [...readAllEntries(part, PATH)], b.entries), 'CORRUPTION', `readAllEntries, cut at ${cut}`);
  }
  // The manifest says the full size but the object is short: the source returns fewer bytes → retryable IO.
  const short = b.bytes.subarray(0, size - 10);
  for (const metaOffset of [undefined, b.metaOffset]) {
    await t.rejects(
      SstReader.open({ path: PATH, fileId: 'x', size, ...(metaOffset === undefined ? {} : { metaOffset }), source: new MemSource(short, true) }),
      { code: 'IO', retryable: true, path: PATH },
      `short read, metaOffset ${metaOffset === undefined ? 'unknown' : 'known'}`,
    );
  }
  const source = new MemSource(b.bytes, true);
  const reader = await SstReader.open({ path: PATH, fileId: 'x', size, source });
  source.bytes = b.bytes.subarray(0, b.handles[3]!.offset + 5); // the object shrinks under the open reader
  await t.rejects(reader.readBlock(3), { code: 'IO', retryable: true }, 'short block read');
});
