/**
 * The block-cache identity of an SST: a 64-bit hash of its file id, as two u32 halves (two murmur3_32 passes
 * with different seeds). File ids are unique and never reused, so a collision needs two live files whose
 * 64-bit hashes coincide: negligible. Computed once per open table, not per lookup.
 */
import { murmur3_32 } from '../keys.js';
import type { CacheFileKey } from './block-cache.js';

const SEED_HI = 0x9e3779b9;
const SEED_LO = 0x7f4a7c15;

export function cacheFileKey(fileId: string): CacheFileKey {
  const bytes = Buffer.from(fileId, 'utf8');
  return { hi: murmur3_32(bytes, SEED_HI), lo: murmur3_32(bytes, SEED_LO) };
}
