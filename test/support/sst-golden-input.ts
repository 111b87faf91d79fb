/**
 * The deterministic content of the golden SST files (test/golden/*.sst): written once by
 * test/support/make-golden.ts and rebuilt by test/sst-golden.test.ts, which demands byte-identical output.
 * Changing anything here (or in the format) changes the golden bytes: regenerate them only for a deliberate
 * format change, together with a new format version and a note in docs/format.md.
 */
import { SstBuilder, type SstBuildOptions, type SstFileInfo } from '../../lib/sst/builder.js';
import { EntryKind, type Entry, type Compression } from '../../lib/sst/entry.js';

export const GOLDEN_VARIANTS: readonly Compression[] = ['none', 'lz4', 'zstd'];

/**
 * Format versions with golden files: version 1 files (written before TTL) must stay readable; version 2
 * (TTL metadata on entries) is what the builder writes today.
 */
export const GOLDEN_VERSIONS = [1, 2] as const;
export type GoldenVersion = (typeof GOLDEN_VERSIONS)[number];
export const CURRENT_GOLDEN_VERSION: GoldenVersion = 2;

export function goldenPath(compression: Compression, version: GoldenVersion = CURRENT_GOLDEN_VERSION): string {
  return `test/golden/sst-v${version}-${compression}.sst`;
}

export function goldenOptions(compression: Compression): SstBuildOptions {
  return { compression, blockBytes: 512, restartInterval: 4, bloomBitsPerKey: 10, createdAtMs: 1_700_000_000_000, creator: 'floe-golden' };
}

/**
 * 120 entries over key groups 0, 1 and 0x0102: user keys `user:NNNN` (so neighbours share prefixes), every
 * 7th a Delete, every 5th a Merge, values repetitive text (so lz4 and zstd really compress), one 700-byte
 * value (larger than a block), one empty Put value.
 */
export function goldenEntries(version: GoldenVersion = CURRENT_GOLDEN_VERSION): Entry[] {
  const out: Entry[] = [];
  const groups = [0, 1, 0x0102];
  let seq = 1000;
  for (const g of groups) {
    for (let i = 0; i < 40; i++) {
      const key = Buffer.concat([Uint8Array.of(g >> 8, g & 0xff), Buffer.from(`user:${String(i * 3).padStart(4, '0')}`)]);
      const n = out.length;
      const kind = n % 7 === 3 ? EntryKind.Delete : n % 5 === 4 ? EntryKind.Merge : EntryKind.Put;
      let value: Uint8Array;
      if (kind === EntryKind.Delete) value = new Uint8Array(0);
      else if (n === 50) value = Buffer.from('large value '.repeat(60).slice(0, 700));
      else if (n === 18) value = new Uint8Array(0);
      else value = Buffer.from(`value of entry ${n} in group ${g}; `.repeat(1 + (n % 4)));
      const e: Entry = { key, kind, seq: seq + ((n * 37) % 101), value };
      // Version 2: every 6th Put or Merge carries TTL metadata, some of it with several segments.
      if (version >= 2 && kind !== EntryKind.Delete && n % 6 === 1) e.ttl = goldenTtl(n, value.length);
      out.push(e);
    }
    seq += 1_000_000;
  }
  return out;
}

/** TTL metadata over `length` bytes: one segment, or (every other time) a never-expiring head and a TTL'd tail. */
function goldenTtl(n: number, length: number): number[] {
  const expiresAt = 1_700_000_000_000 + n * 1000;
  if (n % 12 === 1 || length < 2) return [length, expiresAt, 60_000];
  const head = Math.floor(length / 2);
  return [head, 0, 0, length - head, expiresAt, 3_600_000];
}

/** What today's builder writes from the current version's golden input. */
export function buildGolden(compression: Compression): { bytes: Uint8Array; info: SstFileInfo } {
  const b = new SstBuilder(goldenOptions(compression));
  for (const e of goldenEntries()) b.add(e);
  return b.finish();
}
