/**
 * State TTL and range deletes against the reference model: random operations with per-write and default
 * TTLs, time advancing on a test clock, deleteRange and deleteKeyGroups, with flushes, compactions (the TTL
 * compaction filter and tombstone application) and reopen in between; on mem:// inline, file:// with the
 * piscina pool, with the write-ahead log, and with the TTL renewed on read (OnReadAndWrite).
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

const tempFile = (): string => `file://${mkdtempSync(join(tmpdir(), 'floe-ttl-model-'))}`;
const configs: Array<{ name: string; primary: () => string; extra: Partial<StoreOptions> }> = [
  { name: 'mem, inline compaction', primary: () => `mem://ttl-model-${process.pid}-a`, extra: { compactionWorkers: 0 } },
  { name: 'file, piscina pool, default TTL', primary: tempFile, extra: { compactionWorkers: 1, compression: 'zstd', defaultTtlMs: 2500 } },
  { name: 'mem, durability wal', primary: () => `mem://ttl-model-${process.pid}-wal`, extra: { compactionWorkers: 0, durability: 'wal' } },
  { name: 'file, inline, OnReadAndWrite', primary: tempFile, extra: { compactionWorkers: 0, ttlUpdate: 'OnReadAndWrite' } },
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
    const clock = new TtlClock();
    try {
      const { store, counts } = await runRandomOps({
        seed,
        ops: 5000,
        maxKeyGroups: 8,
        keySpace: 400,
        maxValueBytes: 300,
        open: () => openLsmStore(options, { clock }),
        compact: (s) => (s as LsmStore).compactUntilIdle(),
        reopen: true,
        ttl: { clock, ...(cfg.extra.defaultTtlMs ? { defaultTtlMs: cfg.extra.defaultTtlMs } : {}), ...(cfg.extra.ttlUpdate ? { update: cfg.extra.ttlUpdate } : {}) },
        rangeDeletes: true,
      });
      t.ok(counts.advance! > 0 && counts.deleteRange! > 0 && counts.deleteKeyGroups! > 0 && counts.reopen! > 0, `exercised TTL and range deletes: ${JSON.stringify(counts)}`);
      await store.close();
      t.pass(`seed ${seed}: model and store agree`);
    } catch (e) {
      t.fail(`seed ${seed}: ${(e as Error).message}`);
      throw e;
    }
  });
}
