/**
 * Store options of a simulation run, drawn from the seed: small sizes so a few dozen operations reach
 * flushes, compactions and stalls. Metamorphic runs draw several option sets for one op list.
 */
import type { StoreOptions } from '../../lib/api.js';
import type { Random } from '../../lib/util/random.js';

/** Options the simulator varies, plus the initial number of instances ("shards") of the logical store. */
export interface SimOptions {
  store: Omit<StoreOptions, 'primary'>;
  /** Instances the logical store starts with, each owning a contiguous key-group range. */
  shards: number;
}

const KiB = 1024;

/** `wideL0Stop`, `longGrace`: known-bug workarounds (known-bugs.ts). */
export function randomOptions(r: Random, maxKeyGroups: number, wideL0Stop = false, longGrace = false): SimOptions {
  const l0CompactionTrigger = r.range(2, 4);
  return {
    shards: r.range(1, 3),
    store: {
      maxKeyGroups,
      compactionWorkers: 0,
      // No disk cache: the engine keeps one cache per localDir in thread-wide state that a simulated crash
      // cannot drop, so the simulated processes (which share a thread) would share it. The localDir lives
      // on the simulated in-memory disk (test/sim/disk.ts) all the same: the world touches no real files.
      diskCacheBytes: 0,
      localDir: '/sim/machine-0', // made unique per run by the runner
      blockCacheBytes: r.pick([0, 16 * KiB, 256 * KiB]),
      memtableBytes: r.pick([64 * KiB, 64 * KiB, 96 * KiB]),
      maxImmutableMemtables: r.range(1, 2),
      targetFileBytes: 64 * KiB,
      blockBytes: r.pick([256, 1 * KiB, 4 * KiB]),
      compression: r.pick(['none', 'lz4', 'zstd'] as const),
      l0CompactionTrigger,
      l0StopWritesTrigger: l0CompactionTrigger + r.range(1, 3) + (wideL0Stop ? 50 : 0),
      levelBaseBytes: 64 * KiB,
      levelMultiplier: r.range(2, 4),
      readConcurrency: r.pick([1, 4, 64]),
      gcGraceMs: r.pick([1_000, 10_000, 60_000]) + (longGrace ? 600_000 : 0),
      durability: r.pick(['checkpoint', 'checkpoint', 'wal'] as const),
    },
  };
}
