/**
 * What the disk cache offers its users: options, stats, per-user counters and the DiskCache interface that a
 * DiskCacheFolder (disk-cache.ts) and a shared folder's per-store handle (disk-cache-registry.ts) implement.
 */
import type { Clock } from '../util/clock.js';
import type { LocalFs } from '../store/local-file.js';
import type { ByteSource } from './byte-source.js';

export interface DiskCacheOptions {
  dir: string;
  /** Hard budget for everything the cache keeps in `dir` (bytes). 0 disables the cache (and removes its files). */
  capacityBytes: number;
  /** Page size: a power of two from 4 KiB to 16 MiB. Default 64 KiB. */
  pageBytes?: number;
  clock?: Clock;
  /** Local file I/O (default: the real filesystem); tests pass a fault-injecting wrapper. */
  fs?: LocalFs;
  /** Persist the index after this many admitted pages. Default max(64, slots / 8). */
  persistEveryPages?: number;
  /** ...or on the first admission this long after the last persist. Default 60 s. */
  persistEveryMs?: number;
  /**
   * The page-count trigger persists at most once per this many ms. Default 5 s. Why: every persist fsyncs
   * the data file and writes, fsyncs and renames the index; a small cache under a uniform miss stream
   * admits thousands of pages a second, and persisting every `persistEveryPages` of them cost several
   * fsyncs a second on the I/O threads the cache's reads wait for. The index is only a hint (every slot is
   * verified when read), so a later persist loses nothing but warmth after a crash.
   */
  persistMinIntervalMs?: number;
  /**
   * Admit a page only when it is missed a second time while still remembered (see above). Default false:
   * every fetched page is admitted. Reads with `fillCache: false` never admit either way.
   */
  admitOnSecondAccess?: boolean;
  /**
   * With admitOnSecondAccess: how many missed pages are remembered. Default a quarter of the slot count
   * (at least 1). Why a quarter: a page is admitted only if missed again within that window, so under a
   * uniform miss stream the share of misses that fetch a whole page for admission is window ÷ pages of the
   * data; a skewed stream misses its hot pages again quickly whatever the window. Measured (s3 server +
   * 10 ms, 500,000 keys, 4 KiB blocks, docs/benchmarks.md "Remote miss path"): from the slot count to a
   * quarter of it, bytes per GET 12.2 → 6.2 KB and CPU per GET 127 → 88 µs on cold uniform gets, Zipf's
   * share served locally 45.9% → 45.3%.
   */
  ghostPages?: number;
}

export interface DiskCacheStats {
  capacity: number;
  bytes: number;
  hits: number;
  misses: number;
  /**
   * Reads that found at least one of their pages missing (each then waits for at most one remote read, its
   * own or one already in flight for the same pages). Behind a block cache every block load is one read, so
   * this is the exact number of misses of both caches, and remote GETs ÷ missedReads the GETs per miss.
   */
  missedReads: number;
}

/** Page hit and miss counts and missed reads, kept per user of a shared cache. */
export interface DiskCacheCounters {
  hits: number;
  misses: number;
  missedReads: number;
}

/**
 * What a store uses of a disk cache: a DiskCacheFolder itself, or one store's handle on a folder shared by
 * several stores (lib/cache/disk-cache-registry.ts). Methods are those of DiskCacheFolder.
 */
export interface DiskCache {
  source(fileId: string, fileSize: number, remote: ByteSource): ByteSource;
  admit(fileId: string, bytes: Uint8Array, offset?: number): Promise<void>;
  forget(fileId: string): Promise<void>;
  isCached(fileId: string, offset: number, length: number): boolean;
  settle(): Promise<void>;
  cachedRanges(fileId: string): Array<[number, number]>;
  stats(): DiskCacheStats;
  readonly ioErrors: number;
  close(): Promise<void>;
}
