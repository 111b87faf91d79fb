/**
 * The interface of the in-memory block cache. It holds decoded (checksum-verified, decompressed) SST data
 * blocks keyed by (file, block offset). Implementations: `SharedBlockCache` (one SharedArrayBuffer arena,
 * shareable across worker threads). Index and filter blocks are not cached here: they are pinned by each
 * open table reader.
 */

/** A 64-bit hash of a file id, as two u32 halves; computed once per open file. */
export interface CacheFileKey {
  readonly hi: number;
  readonly lo: number;
}

export interface BlockCacheStats {
  capacity: number;
  bytes: number;
  hits: number;
  misses: number;
}

export interface BlockCache {
  readonly capacity: number;
  /** The cached block, or undefined. The returned bytes are the caller's (never overwritten later). */
  lookup(file: CacheFileKey, offset: number): Uint8Array | undefined;
  /** Offers a block; the cache may decline it (too large, or capacity zero). */
  insert(file: CacheFileKey, offset: number, block: Uint8Array): void;
  /**
   * Optional in-place access (a hit then copies nothing but what the caller takes out): `pin` returns a
   * handle ≥ 0 for a cached block (counted as a hit) or -1 (a miss); `pinnedBytes` is the block's bytes,
   * valid only until `unpin`; the caller unpins exactly once, synchronously, before any await.
   */
  pin?(file: CacheFileKey, offset: number): number;
  pinnedBytes?(handle: number): Uint8Array;
  unpin?(handle: number): void;
  stats(): BlockCacheStats;
}
