/**
 * The deterministic content of the golden SST files (test/golden/*.sst): written once by
 * test/support/make-golden.ts and rebuilt by test/sst-golden.test.ts, which demands byte-identical output.
 * Changing anything here (or in the format) changes the golden bytes: regenerate them only for a deliberate
 * format change, together with a new format version and a note in docs/format.md.
 */
import { SstBuilder, type SstBuildOptions, type SstFileInfo } from '../../lib/sst/builder.js';
import { EntryKind, type Entry, type Compression } from '../../lib/sst/entry.js';

export const GOLDEN_VARIANTS: readonly Compression[] = ['none', 'lz4', 'zstd'];

export function goldenPath(compression: Compression): string {
  return `test/golden/sst-v1-${compression}.sst`;
}

export function goldenOptions(compression: Compression): SstBuildOptions {
  return { compression, blockBytes: 512, restartInterval: 4, bloomBitsPerKey: 10, createdAtMs: 1_700_000_000_000, creator: 'floe-golden' };
}

/**
 * 120 entries over key groups 0, 1 and 0x0102: user keys `user:NNNN` (so neighbours share prefixes), every
 * 7th a Delete, every 5th a Merge, values repetitive text (so lz4 and zstd really compress), one 700-byte
 * value (larger than a block), one empty Put value.
 */
export function goldenEntries(): Entry[] {
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
      out.push({ key, kind, seq: seq + ((n * 37) % 101), value });
    }
    seq += 1_000_000;
  }
  return out;
}

export function buildGolden(compression: Compression): { bytes: Uint8Array; info: SstFileInfo } {
  const b = new SstBuilder(goldenOptions(compression));
  for (const e of goldenEntries()) b.add(e);
  return b.finish();
}
