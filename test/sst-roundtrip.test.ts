/**
 * SST round trip against a sorted-array model: seeded random entries (shared prefixes, empty and huge values,
 * all kinds, big seqs) built with each compression and several block sizes / restart intervals, then read back
 * with get (hits and misses), blocks() over random ranges, and readAllEntries.
 */
import t from 'tap';
import { SstBuilder, type SstBuildOptions } from '../lib/sst/builder.js';
import type { Compression, Entry } from '../lib/sst/entry.js';
import { SstReader, readAllEntries } from '../lib/sst/reader.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import {
  MapBlockCache,
  MemSource,
  absentKey,
  cmp,
  diffEntries,
  diffEntry,
  hex,
  modelRange,
  randomEntries,
} from './support/sst-helpers.js';

const seed = seedFromEnv();
t.comment(`seed ${seed} (replay with FLOE_SEED=${seed})`);

const configs: { name: string; options: SstBuildOptions; count: number; big: number; ttl?: boolean }[] = [
  { name: 'tiny blocks, restart 1', options: { blockBytes: 128, restartInterval: 1 }, count: 400, big: 300 },
  { name: 'small blocks, restart 3', options: { blockBytes: 512, restartInterval: 3 }, count: 1000, big: 1200 },
  { name: '2 KiB blocks, restart 16', options: { blockBytes: 2048, restartInterval: 16 }, count: 1500, big: 5000 },
  { name: 'small blocks, TTL metadata', options: { blockBytes: 512, restartInterval: 4 }, count: 800, big: 1200, ttl: true },
  { name: 'defaults', options: {}, count: 2000, big: 40000 },
];

for (const compression of ['none', 'lz4', 'zstd'] as Compression[]) {
  for (const cfg of configs) {
    t.test(`${compression}, ${cfg.name}`, async (t) => {
      const rng = new Random(seed ^ (compression.length * 7919) ^ (cfg.count * 104729));
      const entries = randomEntries(rng, { count: cfg.count, bigValueBytes: cfg.big, allowEmptyKey: cfg.count < 1000, ...(cfg.ttl ? { ttl: true } : {}) });
      const builder = new SstBuilder({ ...cfg.options, compression, createdAtMs: 1234 });
      let lastEstimate = 0;
      for (const e of entries) {
        builder.add(e);
        lastEstimate = builder.estimatedBytes();
      }
      t.equal(builder.entryCount, entries.length);
      const { bytes, info } = builder.finish();
      t.comment(`${entries.length} entries → ${bytes.length} bytes, estimate before finish ${lastEstimate}`);

      // info describes the file
      t.equal(info.size, bytes.length);
      t.equal(info.entries, entries.length);
      t.equal(info.deletes, entries.filter((e) => e.kind === 1).length);
      t.equal(info.merges, entries.filter((e) => e.kind === 2).length);
      t.equal(hex(info.smallestKey), hex(entries[0]!.key));
      t.equal(hex(info.largestKey), hex(entries[entries.length - 1]!.key));
      t.equal(info.minSeq, Math.min(...entries.map((e) => e.seq)));
      t.equal(info.maxSeq, Math.max(...entries.map((e) => e.seq)));
      t.equal(info.dataBytes, entries.reduce((s, e) => s + e.key.length + e.value.length, 0));
      const kg = (k: Uint8Array): number => ((k[0] ?? 0) << 8) | (k[1] ?? 0);
      t.equal(info.minKeyGroup, kg(entries[0]!.key));
      t.equal(info.maxKeyGroup, kg(entries[entries.length - 1]!.key));
      t.ok(info.metaOffset > 0 && info.metaOffset < info.size - 60, 'metaOffset inside the file');

      // readAllEntries
      const all = [...readAllEntries(bytes, 'mem://roundtrip.sst')];
      t.equal(diffEntries(all, entries), undefined, `readAllEntries matches the model (seed ${seed})`);

      for (const mode of ['metaOffset known, cache', 'metaOffset unknown, no cache'] as const) {
        const source = new MemSource(bytes);
        const cache = mode.includes('no cache') ? undefined : new MapBlockCache();
        const reader = await SstReader.open({
          path: 'mem://roundtrip.sst',
          fileId: `f-${compression}-${cfg.name}`,
          size: bytes.length,
          ...(mode.startsWith('metaOffset known') ? { metaOffset: info.metaOffset } : {}),
          source,
          ...(cache ? { blockCache: cache } : {}),
        });
        t.same({ ...reader.info }, { ...info }, `${mode}: reader info equals builder info`);
        t.equal(reader.properties.compression, compression);
        if (cfg.options.blockBytes !== undefined && cfg.options.blockBytes <= 2048) {
          t.ok(reader.blockCount > 10, `${mode}: many blocks (${reader.blockCount})`);
        }

        // gets: every key hits; absent keys (between, before first, after last) miss
        let bad: string | undefined;
        for (const e of entries) {
          if (!reader.mayContain(e.key)) bad ??= `bloom false negative for ${hex(e.key)}`;
          const got = await reader.get(e.key);
          bad ??= diffEntry(got, e);
        }
        t.equal(bad, undefined, `${mode}: every present key is found intact (seed ${seed})`);
        const probes: Uint8Array[] = [];
        for (let i = 0; i < 300; i++) probes.push(absentKey(rng, entries));
        const first = entries[0]!.key;
        const last = entries[entries.length - 1]!.key;
        if (first.length > 0) probes.push(first.subarray(0, first.length - 1));
        probes.push(Buffer.concat([last, Uint8Array.of(0)]), Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
        for (const k of probes) {
          const got = await reader.get(k);
          if (got !== undefined) bad ??= `absent key ${hex(k)} returned an entry`;
        }
        t.equal(bad, undefined, `${mode}: absent keys miss (seed ${seed})`);
        t.equal(reader.blockFor(Buffer.concat([last, Uint8Array.of(0)])), -1, 'blockFor(key > largest) = -1');
        t.equal(reader.blockFor(last), reader.blockCount - 1, 'blockFor(largest) = last block');

        // blocks() over random ranges, and the whole file
        const whole: Entry[] = [];
        for await (const chunk of reader.blocks()) {
          if (chunk.length === 0) bad ??= 'blocks() yielded an empty array';
          whole.push(...chunk);
        }
        t.equal(diffEntries(whole, entries), undefined, `${mode}: blocks() over everything`);
        for (let i = 0; i < 40; i++) {
          const pick = (): Uint8Array | undefined => (rng.bool(0.15) ? undefined : rng.bool(0.5) ? rng.pick(entries).key : absentKey(rng, entries));
          let gte = pick();
          let lt = pick();
          if (gte && lt && cmp(gte, lt) > 0 && rng.bool(0.8)) [gte, lt] = [lt, gte];
          const got: Entry[] = [];
          const prefetch = rng.pick([0, 1, 4, 16]);
          // Decoding in pages (short scans) must give the same entries, never more than a page at a time.
          const page = rng.pick([undefined, 1, 2, 7, 100]);
          for await (const chunk of reader.blocks({ ...(gte ? { gte } : {}), ...(lt ? { lt } : {}), prefetch, fillCache: rng.bool(), ...(page ? { pageEntries: page } : {}) })) {
            if (page !== undefined && chunk.length > page) bad ??= `pageEntries ${page}: a chunk of ${chunk.length} entries`;
            if (chunk.length === 0) bad ??= 'blocks() yielded an empty array';
            got.push(...chunk);
          }
          const d = diffEntries(got, modelRange(entries, gte, lt));
          if (d !== undefined) bad ??= `range [${gte ? hex(gte) : '-'}, ${lt ? hex(lt) : '-'}) prefetch ${prefetch} page ${page}: ${d}`;
        }
        t.equal(bad, undefined, `${mode}: blocks() over random ranges (seed ${seed})`);

        // with a cache, a second pass over all gets is served without source reads
        if (cache) {
          const before = source.reads.length;
          for (const e of entries) {
            const i = reader.blockFor(e.key);
            if (reader.cachedBlock(i) === undefined) bad ??= `block ${i} not cached after reading it`;
            bad ??= diffEntry(reader.cachedBlock(i)!.get(e.key), e);
          }
          for (const e of entries) await reader.get(e.key);
          t.equal(source.reads.length, before, 'cached blocks need no reads');
          t.equal(bad, undefined, 'cachedBlock serves every key');
        }
      }
    });
  }
}

t.test('DataBlock.entries and get agree on block contents with prefix chains', async (t) => {
  // Keys that are prefixes of one another and differ only in the last byte stress the in-place scan.
  const keys: Uint8Array[] = [];
  for (let a = 0; a < 6; a++) {
    for (let len = 1; len <= 5; len++) keys.push(Uint8Array.from({ length: len }, (_, i) => (i === len - 1 ? a * 40 : 7)));
  }
  const uniq = [...new Map(keys.map((k) => [hex(k), k])).values()].sort(cmp);
  const entries: Entry[] = uniq.map((key, i) => ({ key, kind: 0, seq: i, value: Uint8Array.of(i) }));
  for (const restartInterval of [1, 2, 3, 5, 16]) {
    const b = new SstBuilder({ restartInterval, blockBytes: 64, compression: 'none' });
    for (const e of entries) b.add(e);
    const { bytes, info } = b.finish();
    const reader = await SstReader.open({ path: 'p', fileId: 'x', size: bytes.length, metaOffset: info.metaOffset, source: new MemSource(bytes) });
    let bad: string | undefined;
    for (const e of entries) bad ??= diffEntry(await reader.get(e.key), e);
    for (const e of entries) {
      for (const probe of [Buffer.concat([e.key, Uint8Array.of(0)]), e.key.subarray(0, e.key.length - 1), Uint8Array.from(e.key).map((x, i, a) => (i === a.length - 1 ? x + 1 : x))]) {
        const want = entries.find((x) => cmp(x.key, probe) === 0);
        bad ??= diffEntry(await reader.get(probe), want);
      }
    }
    t.equal(bad, undefined, `restartInterval ${restartInterval}`);
  }
});
