/**
 * The engine against the reference model: thousands of random operations with flushes, compactions and
 * reopen in between, on mem:// and file://, inline and with the piscina pool, and with the write-ahead log.
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

const configs: Array<{ name: string; primary: () => string; extra: Partial<StoreOptions> }> = [
  { name: 'mem, inline compaction, lz4', primary: () => `mem://model-${process.pid}-a`, extra: { compactionWorkers: 0, compression: 'lz4' } },
  // The pool thread opens the file:// store itself (a mem:// store would run the rewrite inline).
  { name: 'file, piscina pool, zstd', primary: () => `file://${mkdtempSync(join(tmpdir(), 'floe-model-'))}`, extra: { compactionWorkers: 1, compression: 'zstd' } },
  { name: 'file, inline, no compression, no block cache', primary: () => `file://${mkdtempSync(join(tmpdir(), 'floe-model-'))}`, extra: { compactionWorkers: 0, compression: 'none', blockCacheBytes: 0 } },
  { name: 'mem, durability wal', primary: () => `mem://model-${process.pid}-wal`, extra: { compactionWorkers: 0, durability: 'wal' } },
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
    try {
      const { store, counts } = await runRandomOps({
        seed,
        ops: 6000,
        maxKeyGroups: 8,
        keySpace: 400,
        maxValueBytes: 300,
        open: () => openLsmStore(options),
        compact: (s) => (s as LsmStore).compactUntilIdle(),
        reopen: true,
      });
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
