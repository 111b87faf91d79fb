/**
 * Test blocks for the shared block cache tests: a fixed key space, and for each key bytes derived only from
 * the key (its index in the first 4 bytes, a key-seeded pseudo-random length and body), so any thread can
 * check a hit without shared state, and bytes of a different block or a torn copy never compare equal.
 */
import type { CacheFileKey } from '../../lib/cache/block-cache.js';
import { cacheFileKey } from '../../lib/cache/file-key.js';
import { Random } from '../../lib/util/random.js';

export interface BlockKey {
  index: number;
  file: CacheFileKey;
  offset: number;
}

/** `count` keys over 8 files; every 7th key has an offset above 2^32 (exercises the high offset word). */
export function blockKeys(count: number): BlockKey[] {
  const files = Array.from({ length: 8 }, (_, i) => cacheFileKey(`test-file-${i}`));
  const keys: BlockKey[] = [];
  for (let i = 0; i < count; i++) {
    const base = (i >> 3) * 16384;
    keys.push({ index: i, file: files[i & 7]!, offset: i % 7 === 6 ? 2 ** 32 + base : base });
  }
  return keys;
}

/** The bytes of key `k`: 4–24 KiB plus a few odd bytes (lengths not multiples of 8 or of a chunk). */
export function expectedBlock(key: BlockKey): Uint8Array {
  const random = new Random(0x5eed0000 + key.index);
  const length = 4096 + random.int(20 * 1024) + random.int(8);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i += 4) {
    const v = random.nextU32();
    out[i] = v & 0xff;
    if (i + 1 < length) out[i + 1] = (v >>> 8) & 0xff;
    if (i + 2 < length) out[i + 2] = (v >>> 16) & 0xff;
    if (i + 3 < length) out[i + 3] = v >>> 24;
  }
  new DataView(out.buffer).setUint32(0, key.index, true);
  return out;
}
