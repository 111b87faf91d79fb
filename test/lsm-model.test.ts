/**
 * The engine against the reference model: thousands of random operations with flushes, compactions and
 * reopen in between, on mem:// and file://, inline and with the piscina pool, and with the write-ahead log;
 * and the same with state TTL (per-write and default TTLs, time advancing on a test clock, renewal on read)
 * and range deletes (deleteRange, deleteKeyGroups) in the workload.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import type { StoreOptions } from '../lib/api.js';
import { seedFromEnv } from '../lib/util/random.js';
import { runRandomOps } from './support/random-ops.js';
import { TtlClock } from './support/manual-clock.js';

const small: Partial<StoreOptions> = {
  maxKeyGroups: 8,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  levelMultiplier: 4,
  blockBytes: 1024,
  l0CompactionTrigger: 2,
  l0StopWritesTrigger: 8,
  blockCacheBytes: 256 * 1024,
};

const tempFile = (): string => `file://${mkdtempSync(join(tmpdir(), 'floe-model-'))}`;
/** `ttlAndRangeDeletes`: the workload has TTLs, clock steps and range deletes (the store runs on a TtlClock). */
const configs: Array<{ name: string; primary: () => string; extra: Partial<StoreOptions>; ttlAndRangeDeletes?: boolean }> = [
  { name: 'mem, inline compaction, lz4', primary: () => `mem://model-${process.pid}-a`, extra: { compactionWorkers: 0, compression: 'lz4' } },
  // The pool thread opens the file:// store itself (a mem:// store would run the rewrite inline).
  { name: 'file, piscina pool, zstd', primary: tempFile, extra: { compactionWorkers: 1, compression: 'zstd' } },
  { name: 'file, inline, no compression, no block cache', primary: tempFile, extra: { compactionWorkers: 0, compression: 'none', blockCacheBytes: 0 } },
  { name: 'mem, durability wal', primary: () => `mem://model-${process.pid}-wal`, extra: { compactionWorkers: 0, durability: 'wal' } },
  { name: 'TTL and range deletes: mem, inline', primary: () => `mem://model-${process.pid}-ttl`, extra: { compactionWorkers: 0 }, ttlAndRangeDeletes: true },
  { name: 'TTL and range deletes: file, pool, default TTL', primary: tempFile, extra: { compactionWorkers: 1, compression: 'zstd', defaultTtlMs: 2500 }, ttlAndRangeDeletes: true },
  { name: 'TTL and range deletes: mem, wal', primary: () => `mem://model-${process.pid}-ttl-wal`, extra: { compactionWorkers: 0, durability: 'wal' }, ttlAndRangeDeletes: true },
  { name: 'TTL and range deletes: file, OnReadAndWrite', primary: tempFile, extra: { compactionWorkers: 0, ttlUpdate: 'OnReadAndWrite' }, ttlAndRangeDeletes: true },
];

for (const cfg of configs) {
  t.test(cfg.name, async (t) => {
    const seed = seedFromEnv();
    const primary = cfg.primary();
    const localDir = mkdtempSync(join(tmpdir(), 'floe-local-'));
    t.teardown(() => {
      rmSync(localDir, { recursive: true, force: true });
      if (primary.startsWith('file://')) rmSync(primary.slice(7), { recursive: true, force: true });
    });
    const options: StoreOptions = { primary, localDir, ...small, ...cfg.extra };
    const clock = cfg.ttlAndRangeDeletes ? new TtlClock() : undefined;
    try {
      const { store, counts } = await runRandomOps({
        seed,
        ops: cfg.ttlAndRangeDeletes ? 5000 : 6000,
        maxKeyGroups: 8,
        keySpace: 400,
        maxValueBytes: 300,
        open: () => openLsmStore(options, clock ? { clock } : {}),
        compact: (s) => (s as LsmStore).compactUntilIdle(),
        reopen: true,
        ...(clock
          ? { ttl: { clock, ...(cfg.extra.defaultTtlMs ? { defaultTtlMs: cfg.extra.defaultTtlMs } : {}), ...(cfg.extra.ttlUpdate ? { update: cfg.extra.ttlUpdate } : {}) }, rangeDeletes: true }
          : {}),
      });
      if (clock) t.ok(counts.advance! > 0 && counts.deleteRange! > 0 && counts.deleteKeyGroups! > 0, `exercised TTL and range deletes: ${JSON.stringify(counts)}`);
      const stats = await store.stats();
      t.ok(counts.flush! > 0 && counts.reopen! > 0, `exercised flush and reopen: ${JSON.stringify(counts)}`);
      t.ok(stats.lsm.levels.slice(1).some((l) => l.files > 0), `compaction produced deeper levels: ${JSON.stringify(stats.lsm.levels)}`);
      await store.close();
      t.pass(`seed ${seed}: model and store agree`);
    } catch (e) {
      t.fail(`seed ${seed}: ${(e as Error).message}`);
      throw e;
    }
  });
}
