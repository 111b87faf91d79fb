/**
 * A flush never waits in a queue behind a compaction: flushes run on a pool of their own (the flush lane,
 * lib/lsm/rewrite-executor.ts). With one pool of one thread (compactionWorkers: 1) a flush frozen while an
 * L0 compaction ran waited for all of it (1–5 s in the batch-100 benchmark), and writers stalled meanwhile.
 *
 * Here the pool threads pay 40 ms per primary request, so the compaction (4 L0 files read in small windows,
 * its outputs written) takes many round trips, and a flush a few. The flush is started only once the
 * compaction's job has been handed to the pool, and must commit while the compaction is still running:
 * the version after the flush still holds the compaction's input files in L0.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { runOnProcessPool, type PoolRunner } from '../lib/lsm/rewrite-executor.js';
import { Random } from '../lib/util/random.js';

t.test('a flush commits while a compaction runs on the pool', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-flush-lane-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let compactionStarted: () => void = () => undefined;
  const compacting = new Promise<void>((resolve) => (compactionStarted = resolve));
  const lanes: string[] = [];
  const runner: PoolRunner = (job, transfer) => {
    lanes.push(job.lane);
    if (job.lane === 'compaction') compactionStarted();
    return runOnProcessPool(job, transfer);
  };
  const store = await openLsmStore(
    {
      primary: `file://${join(dir, 'data')}`,
      maxKeyGroups: 4,
      compactionWorkers: 1,
      memtableBytes: 256 * 1024,
      targetFileBytes: 8 * 1024 * 1024,
      blockBytes: 4096,
      compression: 'none',
      compactionMemoryBytes: 1024 * 1024,
      l0CompactionTrigger: 4,
      l0StopWritesTrigger: 100,
      blockCacheBytes: 0,
    },
    { inject: (backend) => backend, poolLatencyMs: 40, rewriteRunner: runner },
  );
  const r = new Random(5);
  const model = new Map<string, string>();
  const writeMemtable = async (): Promise<void> => {
    for (let i = 0; i < 600; i++) {
      const key = `k${String(i).padStart(5, '0')}`;
      const value = r.bytes(150);
      model.set(key, Buffer.from(value).toString('hex'));
      await store.put(key, value, { keyGroup: i % 4 });
    }
  };
  for (let round = 0; round < 4; round++) {
    await writeMemtable();
    await store.flush();
  }
  await compacting; // the 4th L0 file started the compaction: its job is on the pool now
  const inputs = store.internals().state.version.levels[0]!.map((f) => f.fileId);
  t.equal(inputs.length, 4, 'four L0 files, the compaction’s inputs');
  await writeMemtable();
  await store.flush();
  const l0 = store.internals().state.version.levels[0]!.map((f) => f.fileId);
  t.ok(
    inputs.every((id) => l0.includes(id)),
    `the flush committed before the compaction: L0 still holds its inputs (${l0.length} files)`,
  );
  t.equal(l0.length, 5, 'and the flushed file besides');
  await store.compactUntilIdle();
  const after = store.internals().state.version.levels[0]!.map((f) => f.fileId);
  t.ok(inputs.every((id) => !after.includes(id)), 'the compaction then committed too');
  t.ok(lanes.filter((l) => l === 'flush').length >= 5 && lanes.includes('compaction'), `jobs by lane: ${lanes.join(',')}`);
  let wrong = 0;
  for (const [key, want] of model) {
    const got = await store.get(key, { keyGroup: Number(key.slice(1)) % 4 });
    if (got === undefined || Buffer.from(got).toString('hex') !== want) wrong++;
  }
  t.equal(wrong, 0, 'every key reads its newest value after the overlapping flush and compaction');
  await store.close();
});
