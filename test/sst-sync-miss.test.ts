/**
 * The synchronous block-cache miss path of SstReader (`getUncachedSync`, used by `get` and by the LSM's point
 * reads when the source can read synchronously, as a local file can): values are right and stay right after
 * the reused read buffer is overwritten, blocks are offered to the cache, a read already in flight is joined
 * rather than repeated, a declined or short sync read falls back to the async path, a cache full of pinned
 * blocks declines the block without harm, and damage is CORRUPTION naming the file and the block.
 */
import t from 'tap';
import { SharedBlockCache } from '../lib/cache/shared-block-cache.js';
import { SstBuilder } from '../lib/sst/builder.js';
import type { Compression, Entry } from '../lib/sst/entry.js';
import { NOT_CACHED, SstReader } from '../lib/sst/reader.js';
import { crc32c } from '../lib/util/crc32c.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { MapBlockCache, SyncMemSource, diffEntry, randomEntries } from './support/sst-helpers.js';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay with FLOE_SEED=${seed})`);
const PATH = 'file:///data/sst/000007.sst';

function table(compression: Compression, rng: Random, blockBytes = 512): { bytes: Uint8Array; metaOffset: number; entries: Entry[] } {
  const entries = randomEntries(rng, { count: 600, bigValueBytes: 900, ttl: true });
  const b = new SstBuilder({ blockBytes, compression });
  for (const e of entries) b.add(e);
  const { bytes, info } = b.finish();
  return { bytes, metaOffset: info.metaOffset, entries };
}

async function open(bytes: Uint8Array, metaOffset: number, source: SyncMemSource, cache?: SharedBlockCache | MapBlockCache): Promise<SstReader> {
  return SstReader.open({ path: PATH, fileId: 'f7', size: bytes.length, metaOffset, source, ...(cache ? { blockCache: cache } : {}) });
}

for (const compression of ['none', 'lz4', 'zstd'] as Compression[]) {
  t.test(`gets read missing blocks synchronously and keep their values (${compression})`, async (t) => {
    const rng = new Random(seed + compression.length);
    const { bytes, metaOffset, entries } = table(compression, rng);
    const source = new SyncMemSource(bytes);
    // A cache far smaller than the table, so gets keep missing and the reused read buffer keeps being reused.
    const cache = SharedBlockCache.create(8 * 1024, { chunkBytes: 256 });
    const reader = await open(bytes, metaOffset, source, cache);
    t.ok(reader.blockCount > 20, `many blocks (${reader.blockCount})`);
    const asyncReadsAfterOpen = source.reads.length;
    const order = entries.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    const got: Array<Entry | undefined> = [];
    for (const i of order) got.push(await reader.get(entries[i]!.key));
    // Checked only after all gets: a value that were a view of the reused buffer would have changed by now.
    const diffs = order.map((i, j) => diffEntry(got[j], entries[i])).filter((d) => d !== undefined);
    t.same(diffs.slice(0, 5), [], `all ${entries.length} gets right after the buffer was reused`);
    t.equal(source.reads.length, asyncReadsAfterOpen, 'no asynchronous block read');
    t.ok(source.syncReads > entries.length / 2, `most gets missed and read synchronously (${source.syncReads})`);
    const st = cache.stats();
    t.ok(st.bytes > 0 && st.hits > 0, `missed blocks were cached and later hit (${st.hits} hits)`);
    cache.checkInvariants();
  });
}

t.test('a block that is already being read is joined, not read again', async (t) => {
  const { bytes, metaOffset, entries } = table('lz4', new Random(seed));
  const source = new SyncMemSource(bytes);
  const reader = await open(bytes, metaOffset, source, new MapBlockCache());
  const i = 4;
  const inBlock = entries.filter((e) => reader.blockFor(e.key) === i);
  source.reads.length = 0;
  source.hold = true;
  const first = reader.readBlock(i);
  await new Promise((r) => setImmediate(r));
  t.equal(source.heldCount, 1, 'one async read in flight');
  t.equal(reader.getUncachedSync(i, inBlock[0]!.key), NOT_CACHED, 'the sync path steps aside for the read in flight');
  const gets = inBlock.map((e) => reader.get(e.key));
  await new Promise((r) => setImmediate(r));
  t.equal(source.syncReads, 0, 'no sync read of a block in flight');
  source.hold = false;
  source.release();
  await first;
  const got = await Promise.all(gets);
  t.same(got.map((g, j) => diffEntry(g, inBlock[j])).filter((d) => d !== undefined), [], 'gets that joined the read are right');
  t.equal(source.reads.length, 1, 'one source read for all of them');
});

t.test('a declined or short sync read falls back to the asynchronous read', async (t) => {
  const { bytes, metaOffset, entries } = table('none', new Random(seed + 1));
  const source = new SyncMemSource(bytes);
  const reader = await open(bytes, metaOffset, source);
  source.reads.length = 0;
  source.declineSync = true;
  const e = entries[entries.length >> 1]!;
  t.equal(reader.getUncachedSync(reader.blockFor(e.key), e.key), NOT_CACHED, 'declined: NOT_CACHED');
  t.equal(diffEntry(await reader.get(e.key), e), undefined, 'get still finds the entry');
  t.equal(source.reads.length, 1, 'through one async read');
  // The object is shorter than the reader thinks: the sync read is short (declined), the async one reports it.
  source.declineSync = false;
  const last = entries[entries.length - 1]!;
  const bi = reader.blockFor(last.key);
  source.bytes = bytes.subarray(0, reader.blockHandle(bi).offset + 3);
  await t.rejects(reader.get(last.key), { code: 'IO', message: /short read/ }, 'short read: retryable IO from the async path');
});

t.test('a cache full of pinned blocks declines the block; the get is still right', async (t) => {
  const { bytes, metaOffset, entries } = table('lz4', new Random(seed + 2));
  const source = new SyncMemSource(bytes);
  // Room for exactly one block of up to 1 KiB.
  const cache = SharedBlockCache.create(1024, { chunkBytes: 1024 });
  const reader = await open(bytes, metaOffset, source, cache);
  const a = entries[0]!;
  t.equal(diffEntry(await reader.get(a.key), a), undefined, 'first get right');
  const ba = reader.blockFor(a.key);
  t.ok(reader.cachedBlock(ba) !== undefined, 'its block is cached');
  const pin = cache.pin(reader['fileKey' as keyof SstReader] as never, reader.blockHandle(ba).offset);
  t.ok(pin >= 0, 'pinned');
  const z = entries[entries.length - 1]!;
  const bz = reader.blockFor(z.key);
  t.not(bz, ba, 'another block');
  t.equal(diffEntry(reader.getUncachedSync(bz, z.key) as Entry | undefined, z), undefined, 'sync get right while the cache is pinned full');
  t.equal(reader.cachedBlock(bz), undefined, 'the block was declined');
  cache.unpin(pin);
  cache.checkInvariants();
});

t.test('damage read synchronously is CORRUPTION naming the file and the block', async (t) => {
  const { bytes, metaOffset, entries } = table('lz4', new Random(seed + 3));
  const source = new SyncMemSource(bytes);
  const clean = await open(bytes, metaOffset, source);
  const target = 3;
  const h = clean.blockHandle(target);
  const inTarget = entries.find((e) => clean.blockFor(e.key) === target)!;
  const name = new RegExp(`data block ${target} \\(offset ${h.offset}, ${h.size} bytes\\)`);
  const reseal = (x: Uint8Array): void => {
    const buf = Buffer.from(x.buffer, x.byteOffset, x.length);
    buf.writeUInt32LE(crc32c(buf.subarray(h.offset, h.offset + h.size - 4)), h.offset + h.size - 4);
  };
  const damaged = (change: (x: Uint8Array) => void): Promise<SstReader> => {
    const x = Uint8Array.from(bytes);
    change(x);
    return open(x, metaOffset, new SyncMemSource(x), new MapBlockCache());
  };
  {
    const r = await damaged((x) => {
      x[h.offset + 7] = x[h.offset + 7]! ^ 0x40;
    });
    t.throws(() => r.getUncachedSync(target, inTarget.key), { code: 'CORRUPTION', path: PATH, message: /checksum mismatch/ }, 'checksum');
    await t.rejects(r.get(inTarget.key), { code: 'CORRUPTION', path: PATH, message: name }, 'get rejects, naming the block');
    t.equal(r.cachedBlock(target), undefined, 'nothing cached');
  }
  {
    // A valid checksum over an lz4 payload that does not decode (the builder compressed this block).
    t.equal(bytes[h.offset + h.size - 5], 1, 'block is lz4');
    const r = await damaged((x) => {
      Buffer.from(x.buffer, x.byteOffset, x.length).writeUInt32LE(h.size * 50, h.offset); // wrong decoded length
      reseal(x);
    });
    t.throws(() => r.getUncachedSync(target, inTarget.key), { code: 'CORRUPTION', path: PATH, message: /does not decode/ }, 'lz4 payload');
  }
  {
    const r = await damaged((x) => {
      x[h.offset + h.size - 5] = 9;
      reseal(x);
    });
    t.throws(() => r.getUncachedSync(target, inTarget.key), { code: 'CORRUPTION', message: /unknown compression type 9/ }, 'compression type');
  }
  {
    const r = await damaged((x) => {
      x[h.offset] = 0; // lz4 length prefix 0 on a non-empty payload
      x[h.offset + 1] = 0;
      x[h.offset + 2] = 0;
      x[h.offset + 3] = 0;
      reseal(x);
    });
    t.throws(() => r.getUncachedSync(target, inTarget.key), { code: 'CORRUPTION', path: PATH }, 'lz4 length prefix');
  }
});
