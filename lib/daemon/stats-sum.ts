/** Stats of several LSM instances (the default store's shards, a named store's parts) as one store's. */
import type { StoreStats } from '../api.js';

/** Shards' stats summed into one StoreStats; `blockCache` is the one shared cache's. */
export function sumStats(all: StoreStats[], blockCache: StoreStats['blockCache']): StoreStats {
  const sum = <T extends Record<string, number>>(pick: (s: StoreStats) => T): T => {
    const out = {} as Record<string, number>;
    for (const s of all) for (const [k, v] of Object.entries(pick(s))) out[k] = (out[k] ?? 0) + v;
    return out as T;
  };
  const levels: Array<{ files: number; bytes: number }> = [];
  for (const s of all) {
    s.lsm.levels.forEach((l, i) => {
      levels[i] ??= { files: 0, bytes: 0 };
      levels[i]!.files += l.files;
      levels[i]!.bytes += l.bytes;
    });
  }
  return {
    remote: sum((s) => s.remote),
    blockCache,
    diskCache: sum((s) => s.diskCache),
    lsm: {
      memtableBytes: all.reduce((n, s) => n + s.lsm.memtableBytes, 0),
      levels,
      pendingCompactionBytes: all.reduce((n, s) => n + s.lsm.pendingCompactionBytes, 0),
      stalls: all.reduce((n, s) => n + s.lsm.stalls, 0),
    },
  };
}
