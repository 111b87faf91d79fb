/**
 * Options of a tiny, deterministic LSM for scenario tests: 64 KiB memtables and files, compaction at two L0
 * files, inline rewrites (no worker threads), and no GC grace, so a handful of writes exercises flush,
 * compaction, checkpoints and GC.
 */
import type { StoreOptions } from '../../lib/api.js';

export function tinyStore(primary: string, extra: Partial<StoreOptions> = {}): StoreOptions {
  return {
    primary,
    maxKeyGroups: 8,
    memtableBytes: 64 * 1024,
    targetFileBytes: 64 * 1024,
    levelBaseBytes: 128 * 1024,
    l0CompactionTrigger: 2,
    compactionWorkers: 0,
    gcGraceMs: 0,
    ...extra,
  };
}

/**
 * A small LSM for model tests: 64 KiB memtables and files, 1 KiB blocks, a 256 KiB block cache, compaction at
 * two L0 files and inline rewrites, so a few thousand random ops go through every level.
 */
export const SMALL_LSM: Partial<StoreOptions> = {
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  levelMultiplier: 4,
  blockBytes: 1024,
  l0CompactionTrigger: 2,
  blockCacheBytes: 256 * 1024,
  compactionWorkers: 0,
};
