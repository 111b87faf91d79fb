/**
 * Write-through admission of flush and compaction outputs into the disk cache when the rewrite runs on a
 * pool thread (compactionWorkers ≥ 1, the default for s3:// and hdfs:// primaries): the pool thread sends
 * each output chunk back to the owning thread, which writes it into its disk cache, as an inline rewrite
 * does. A table just written is then read without a remote GET. Checked against a model of the contents,
 * seeded (FLOE_SEED), within the disk cache's byte budget.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import type { StoreOptions } from '../lib/api.js';
import { createRewriteExecutor, processPoolStats, type PoolJob, type PoolReply } from '../lib/lsm/rewrite-executor.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { diskUse } from './support/disk-use.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Writes `count` seeded puts (keys from a space of `keySpace`) through `put`, returning the model. */
async function fill(
  rnd: Random,
  count: number,
  keySpace: number,
  put: (key: string, value: Uint8Array) => Promise<void>,
): Promise<Map<string, string>> {
  const model = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const key = `k${String(rnd.int(keySpace)).padStart(7, '0')}`;
    const value = rnd.bytes(50 + rnd.int(150));
    model.set(key, hex(value));
    await put(key, value);
  }
  return model;
}

t.test('pool-thread outputs are admitted: every live table is cached and reads need no remote GET', async (t) => {
  const seed = seedFromEnv();
  const rnd = new Random(seed);
  const dir = mkdtempSync(join(tmpdir(), 'floe-wt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const options: StoreOptions = {
    primary: `file://${join(dir, 'data')}`,
    localDir: join(dir, 'local'),
    diskCacheBytes: 8 * 1024 * 1024,
    blockCacheBytes: 0, // every block read reaches the disk cache
    compactionWorkers: 1,
    memtableBytes: 64 * 1024,
    targetFileBytes: 64 * 1024,
    levelBaseBytes: 256 * 1024,
    blockBytes: 4096,
    l0CompactionTrigger: 2,
  };
  const tasksBefore = processPoolStats().tasks;
  const store = await openLsmStore(options);
  const model = await fill(rnd, 6000, 3000, (k, v) => store.put(k, v));
  await store.flush();
  await store.compactUntilIdle();
  t.ok(processPoolStats().tasks > tasksBefore, `flushes and compactions ran on the pool (seed ${seed})`);
  const internals = store.internals();
  await internals.settleCache();
  const files = internals.state.version.allFiles();
  t.ok(files.length > 1, `${files.length} live tables`);
  for (const f of files) {
    t.same(internals.cachedRanges(f.fileId), [[0, f.size]], `table ${f.fileId} (${f.size} bytes) is wholly in the disk cache`);
  }
  const gets0 = store.stats().remote.gets;
  const disk0 = store.stats().diskCache;
  for (const [k, v] of model) {
    const got = await store.get(k);
    if (got === undefined || hex(got) !== v) t.fail(`key ${k}: got ${got === undefined ? 'nothing' : hex(got)}, model ${v} (seed ${seed})`);
  }
  const stats = store.stats();
  t.equal(stats.remote.gets - gets0, 0, `no remote GET for ${model.size} reads of new tables (seed ${seed})`);
  t.ok(stats.diskCache.hits > disk0.hits, `the reads were served by the disk cache: ${JSON.stringify(stats.diskCache)}`);
  t.ok(stats.diskCache.bytes <= stats.diskCache.capacity, 'within the disk cache budget');
  await store.close();
});

t.test('write-through admission stays within a disk cache budget much smaller than the data', async (t) => {
  const seed = seedFromEnv();
  const rnd = new Random(seed ^ 0x5bd1e995);
  const dir = mkdtempSync(join(tmpdir(), 'floe-wt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const budget = 512 * 1024;
  const localDir = join(dir, 'local');
  const options: StoreOptions = {
    primary: `file://${join(dir, 'data')}`,
    localDir,
    diskCacheBytes: budget,
    blockCacheBytes: 0,
    compactionWorkers: 1,
    memtableBytes: 64 * 1024,
    targetFileBytes: 64 * 1024,
    levelBaseBytes: 256 * 1024,
    blockBytes: 4096,
    compression: 'none',
    l0CompactionTrigger: 2,
  };
  const store = await openLsmStore(options);
  let peak = { size: 0, allocated: 0 };
  const model = await fill(rnd, 20_000, 20_000, async (k, v) => {
    await store.put(k, v);
    if (rnd.int(500) === 0) {
      const use = diskUse(localDir);
      peak = { size: Math.max(peak.size, use.size), allocated: Math.max(peak.allocated, use.allocated) };
    }
  });
  await store.flush();
  await store.compactUntilIdle();
  await store.internals().settleCache();
  const written = store.stats().remote.bytesWritten;
  t.ok(written > 4 * budget, `${written} bytes of tables written, ${budget} of disk cache`);
  const use = diskUse(localDir);
  peak = { size: Math.max(peak.size, use.size), allocated: Math.max(peak.allocated, use.allocated) };
  t.ok(peak.size <= budget, `file sizes under localDir peaked at ${peak.size} <= ${budget}`);
  t.ok(peak.allocated <= budget, `allocated blocks under localDir peaked at ${peak.allocated} <= ${budget}`);
  const stats = store.stats();
  t.ok(stats.diskCache.bytes > 0 && stats.diskCache.bytes <= stats.diskCache.capacity, `cache filled within budget: ${JSON.stringify(stats.diskCache)}`);
  let checked = 0;
  for (const [k, v] of model) {
    if (rnd.int(10) !== 0) continue;
    const got = await store.get(k);
    if (got === undefined || hex(got) !== v) t.fail(`key ${k}: got ${got === undefined ? 'nothing' : hex(got)}, model ${v} (seed ${seed})`);
    checked++;
  }
  t.ok(checked > 0, `${checked} keys match the model (seed ${seed})`);
  await store.close();
});

t.test('the owning thread caches only bytes of its own rewrite outputs, and only when it has a disk cache', async (t) => {
  const jobs: PoolJob[] = [];
  const answers: unknown[] = [];
  // A pool thread stand-in: asks for an id, then to cache bytes of that id and of a foreign id.
  const runner = async (job: PoolJob): Promise<PoolReply> => {
    jobs.push(job);
    const port = job.port;
    const ask = (m: object): Promise<unknown> =>
      new Promise((resolve) => {
        port.once('message', resolve);
        port.postMessage(m);
      });
    const { fileId } = (await ask({ id: 0 })) as { fileId: string };
    answers.push(await ask({ id: 1, admit: { fileId, offset: 0, bytes: new Uint8Array([1, 2, 3]) } }));
    answers.push(await ask({ id: 2, admit: { fileId: 'someone-else-1-7', offset: 0, bytes: new Uint8Array([4]) } }));
    port.close();
    return { result: { files: [], entriesIn: 0, entriesOut: 0 }, threadId: 0 };
  };
  const executor = createRewriteExecutor(1, { spec: { uri: 'file:///nowhere' }, runner });
  const admitted: Array<[string, number, number[]]> = [];
  const task = { runs: [] } as never;
  await executor.run(task, {
    store: undefined as never,
    allocate: () => Promise.resolve('own-1-1'),
    source: () => undefined as never,
    describe: (id) => id,
    admit: (fileId, offset, bytes) => {
      admitted.push([fileId, offset, [...bytes]]);
      return Promise.resolve();
    },
  });
  t.equal(jobs[0]!.admit, true, 'the job asks for admission when the owner has a disk cache');
  t.same(admitted, [['own-1-1', 0, [1, 2, 3]]], 'only the own output was admitted');
  t.same(answers[0], { id: 1 }, 'the admission is acknowledged once written');
  t.match(answers[1], { id: 2, error: { code: 'INVALID_ARGUMENT' } }, 'a foreign file id is refused');
  await executor.run(task, { store: undefined as never, allocate: () => Promise.resolve('own-1-2'), source: () => undefined as never, describe: (id) => id });
  t.notOk(jobs[1]!.admit, 'no admission without a disk cache');
  t.match(answers[2], { id: 1, error: { code: 'INVALID_ARGUMENT' } }, 'and an admission request is refused');
});
