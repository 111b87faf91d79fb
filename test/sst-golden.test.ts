/**
 * Golden SST files pin the format (docs/format.md). Version 1 files (written before TTL) must still read
 * back to exactly their contents; version 2 files (TTL metadata on entries) must read back exactly and equal,
 * byte for byte, what the builder writes today from the same input. A failure here means the format
 * changed: if that is deliberate, bump FORMAT_VERSION, update docs/format.md, regenerate with
 * `node dist/test/support/make-golden.js`, and update the pinned digests below.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { decodeBlock } from '../lib/sst/format.js';
import { SstReader, readAllEntries } from '../lib/sst/reader.js';
import type { Compression } from '../lib/sst/entry.js';
import { GOLDEN_VARIANTS, buildGolden, goldenEntries, goldenPath } from './support/sst-golden-input.js';
import { MapBlockCache, MemSource, diffEntries, diffEntry, hex } from './support/sst-helpers.js';

/** Pinned facts about each golden file: changing them needs a deliberate edit of this test. */
const PINNED: Record<Compression, { size: number; metaOffset: number; sha256: string; firstBlocks: [number, number][] }> = {
  none: {
    size: 10468,
    metaOffset: 9976,
    sha256: 'f0c5be7f087a25ebb269d35f9cb187fe7d4b4b98abbd7ae4478ae1a85efcdff9',
    firstBlocks: [[0, 558], [558, 602], [1160, 544], [1704, 538]],
  },
  lz4: {
    size: 3455,
    metaOffset: 2964,
    sha256: 'f1c1e4f3a8e14120836d4af9c2a8eb68bec8143f73f11235019d72512e59114d',
    firstBlocks: [[0, 183], [183, 189], [372, 173], [545, 175]],
  },
  zstd: {
    size: 3303,
    metaOffset: 2812,
    sha256: '9e0d474d0484784df077256ea86c9c78731b203dab2c42366ec5e7a2d1360618',
    firstBlocks: [[0, 165], [165, 179], [344, 165], [509, 164]],
  },
};

/** Literal entries (index → key hex, kind, seq, value) so the input generator itself is pinned too. */
const LITERAL: [number, string, number, number, string][] = [
  [0, '0000757365723a30303030', 0, 1000, 'value of entry 0 in group 0; '],
  [3, '0000757365723a30303039', 1, 1010, ''],
  [4, '0000757365723a30303132', 2, 1047, 'value of entry 4 in group 0; '],
  [18, '0000757365723a30303534', 0, 1060, ''],
  [50, '0001757365723a30303330', 0, 1001032, 'large value '.repeat(60).slice(0, 700)],
  [119, '0102757365723a30313137', 2, 2001060, 'value of entry 119 in group 258; '.repeat(4)],
];

for (const compression of GOLDEN_VARIANTS) {
  t.test(`golden v1 ${compression} (still readable)`, async (t) => {
    const path = goldenPath(compression, 1);
    const golden = new Uint8Array(readFileSync(path));
    const pin = PINNED[compression];
    t.equal(golden.length, pin.size, 'file size');
    t.equal(createHash('sha256').update(golden).digest('hex'), pin.sha256, 'file digest (regenerated golden files need a deliberate edit here)');

    // (a) exact contents
    const expected = goldenEntries(1);
    t.equal(expected.length, 120);
    for (const [i, keyHex, kind, seq, value] of LITERAL) {
      const e = expected[i]!;
      t.same([hex(e.key), e.kind, e.seq, Buffer.from(e.value).toString('latin1')], [keyHex, kind, seq, value], `literal entry ${i}`);
    }
    const all = [...readAllEntries(golden, path)];
    t.equal(diffEntries(all, expected), undefined, 'readAllEntries returns exactly the golden entries');

    const source = new MemSource(golden);
    const reader = await SstReader.open({ path, fileId: path, size: golden.length, source, blockCache: new MapBlockCache() });
    t.equal(source.reads.length, 2, 'without metaOffset: footer read, then the meta section');
    t.equal(reader.info.metaOffset, pin.metaOffset);
    t.same(
      [0, 1, 2, 3].map((i) => [reader.blockHandle(i).offset, reader.blockHandle(i).size]),
      pin.firstBlocks,
      'first data block handles',
    );
    t.same(
      {
        entries: reader.info.entries,
        deletes: reader.info.deletes,
        merges: reader.info.merges,
        smallestKey: hex(reader.info.smallestKey),
        largestKey: hex(reader.info.largestKey),
        minSeq: reader.info.minSeq,
        maxSeq: reader.info.maxSeq,
        minKeyGroup: reader.info.minKeyGroup,
        maxKeyGroup: reader.info.maxKeyGroup,
        dataBytes: reader.info.dataBytes,
        blockCount: reader.blockCount,
      },
      {
        entries: 120,
        deletes: 17,
        merges: 21,
        smallestKey: '0000757365723a30303030',
        largestKey: '0102757365723a30313137',
        minSeq: 1000,
        maxSeq: 2001098,
        minKeyGroup: 0,
        maxKeyGroup: 0x0102,
        dataBytes: 1320 + 8394,
        blockCount: 17,
      },
      'file info',
    );
    t.same(
      { ...reader.properties, smallestKey: undefined, largestKey: undefined },
      {
        entries: 120,
        deletes: 17,
        merges: 21,
        smallestKey: undefined,
        largestKey: undefined,
        minSeq: 1000,
        maxSeq: 2001098,
        minKeyGroup: 0,
        maxKeyGroup: 0x0102,
        rawKeyBytes: 1320,
        rawValueBytes: 8394,
        dataBlocks: 17,
        compression,
        restartInterval: 4,
        blockBytes: 512,
        bloomBitsPerKey: 10,
        createdAtMs: 1_700_000_000_000,
        creator: 'floe-golden',
      },
      'properties',
    );
    let bad: string | undefined;
    for (const e of expected) bad ??= diffEntry(await reader.get(e.key), e);
    t.equal(bad, undefined, 'every golden entry via get');
    if (compression !== 'none') {
      // The variant really is compressed: the first data block's trailer names the codec.
      const [off, size] = pin.firstBlocks[0]!;
      t.equal(golden[off + size - 5], compression === 'lz4' ? 1 : 2, 'block 0 compression type byte');
      t.ok(decodeBlock(golden.subarray(off, off + size), path, 'block 0').length > size, 'block 0 decodes to more bytes');
    }

    // (b) it is a version 1 file (today's builder writes version 2: tested below)
    t.equal(Buffer.from(golden).readUInt32LE(golden.length - 16), 1, 'footer format version 1');
  });
}

const PINNED_V2: Record<Compression, { size: number; sha256: string }> = {
  none: { size: 10692, sha256: '75636a20c13fae43bc249add8cea853483fd35fed0e860c37206be55ee759408' },
  lz4: { size: 3711, sha256: '53781f2409b869d3ca243cf92d46002c6a0420bc973bede79e9a78ffdd2a1a02' },
  zstd: { size: 3553, sha256: '04873ff6aadae308058a4dbdf7e1c4bdd71c294dd3430f161fbfea338c8d4721' },
};

for (const compression of GOLDEN_VARIANTS) {
  t.test(`golden v2 ${compression} (TTL metadata)`, async (t) => {
    const path = goldenPath(compression, 2);
    const golden = new Uint8Array(readFileSync(path));
    const pin = PINNED_V2[compression];
    t.equal(golden.length, pin.size, 'file size');
    t.equal(createHash('sha256').update(golden).digest('hex'), pin.sha256, 'file digest (regenerated golden files need a deliberate edit here)');
    t.equal(Buffer.from(golden).readUInt32LE(golden.length - 16), 2, 'footer format version 2');
    const expected = goldenEntries(2);
    const withTtl = expected.filter((e) => e.ttl !== undefined);
    t.equal(withTtl.length, 17, 'entries with TTL metadata in the input');
    t.same(withTtl[0]!.ttl, [58, 1_700_000_001_000, 60_000], 'first TTL entry (one segment)');
    t.ok(withTtl.some((e) => e.ttl!.length === 6), 'some entries have two segments');
    const all = [...readAllEntries(golden, path)];
    t.equal(diffEntries(all, expected), undefined, 'readAllEntries returns exactly the golden entries, TTL included');
    t.same(all.filter((e) => e.ttl !== undefined).map((e) => e.ttl), withTtl.map((e) => e.ttl), 'TTL metadata read back');
    const reader = await SstReader.open({ path, fileId: path, size: golden.length, source: new MemSource(golden), blockCache: new MapBlockCache() });
    let bad: string | undefined;
    for (const e of expected) {
      const got = await reader.get(e.key);
      bad ??= diffEntry(got, e) ?? (JSON.stringify(got?.ttl) !== JSON.stringify(e.ttl) ? `ttl of ${hex(e.key)}` : undefined);
    }
    t.equal(bad, undefined, 'every golden entry via get, TTL included');
    const rebuilt = buildGolden(compression);
    t.ok(Buffer.from(rebuilt.bytes).equals(golden), 'rebuilding the golden input gives byte-identical output');
    t.same({ ...rebuilt.info }, { ...reader.info }, 'builder info equals reader info');
  });
}
