import t from 'tap';
import { Worker } from 'node:worker_threads';
import { SharedBlockCache, type SharedBlockCacheDescriptor } from '../lib/cache/shared-block-cache.js';
import { cacheFileKey } from '../lib/cache/file-key.js';
import type { CacheFileKey } from '../lib/cache/block-cache.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import type { BlockCacheWorkerInput, BlockCacheWorkerResult } from './support/block-cache-worker.js';

const seed = seedFromEnv();
t.comment(`FLOE_SEED=${seed}`);

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

t.test('file keys are stable 64-bit hashes', async (t) => {
  const a = cacheFileKey('inst-1-00000001');
  t.same(cacheFileKey('inst-1-00000001'), a);
  t.not(a.hi, a.lo, 'two different seeds');
  const b = cacheFileKey('inst-1-00000002');
  t.ok(a.hi !== b.hi || a.lo !== b.lo);
  for (const v of [a.hi, a.lo]) t.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});

t.test('seeded model: every hit is exactly the inserted block, budget and stats hold', async (t) => {
  const random = new Random(seed);
  for (let round = 0; round < 12; round++) {
    const chunkBytes = random.pick([256, 512, 1024, 2048, 4096]);
    const capacity = random.pick([0, chunkBytes * 3, 64 * 1024, 200_000, 1024 * 1024]);
    const arenaBytes = random.bool(0.4) ? chunkBytes * random.range(8, 64) : undefined;
    const cache = SharedBlockCache.create(capacity, { chunkBytes, ...(arenaBytes !== undefined ? { arenaBytes } : {}) });
    const maxBlock = cache.shareable().maxBlockBytes;
    const files: CacheFileKey[] = Array.from({ length: 5 }, (_, i) => cacheFileKey(`model-${round}-${i}`));
    const model = new Map<string, Uint8Array>();
    let lookups = 0;
    const ctx = `seed ${seed} round ${round} chunk ${chunkBytes} capacity ${capacity} arena ${arenaBytes}`;
    let failures = 0;
    for (let op = 0; op < 3000 && failures < 5; op++) {
      const f = random.int(files.length);
      const offset = random.bool(0.1) ? 2 ** 32 + random.int(50) * 4096 : random.int(50) * 4096;
      const key = `${f}/${offset}`;
      if (random.bool(0.45)) {
        let block = model.get(key);
        if (block === undefined) {
          const len = random.bool(0.05) ? maxBlock + 1 + random.int(1000) : random.int(Math.min(maxBlock, 20_000) + 1);
          block = random.bytes(len);
        }
        cache.insert(files[f]!, offset, block);
        const accepted = capacity >= chunkBytes && block.length <= maxBlock;
        if (accepted) model.set(key, block);
        const got = cache.lookup(files[f]!, offset);
        lookups++;
        if (accepted ? !sameBytes(got, block) : got !== undefined && !sameBytes(got, model.get(key) ?? new Uint8Array(0))) {
          failures++;
          t.fail(`${ctx} op ${op}: lookup right after insert of ${block.length} bytes returned ${got?.length}`);
        }
      } else {
        const got = cache.lookup(files[f]!, offset);
        lookups++;
        const want = model.get(key);
        if (got !== undefined && (want === undefined || !sameBytes(got, want))) {
          failures++;
          t.fail(`${ctx} op ${op}: hit of ${got.length} bytes for ${key} does not match what was inserted (${want?.length})`);
        }
      }
      if (op % 500 === 0) {
        const inv = cache.checkInvariants();
        const stats = cache.stats();
        if (stats.bytes !== inv.bytes || stats.bytes > capacity || stats.hits + stats.misses !== lookups) {
          failures++;
          t.fail(`${ctx} op ${op}: stats ${JSON.stringify(stats)} vs ${inv.bytes} bytes, ${lookups} lookups`);
        }
      }
    }
    const inv = cache.checkInvariants();
    const stats = cache.stats();
    t.equal(stats.capacity, capacity, ctx);
    t.equal(stats.bytes, inv.bytes, `${ctx}: bytes counter matches the entries`);
    t.ok(stats.bytes <= capacity, `${ctx}: ${stats.bytes} <= ${capacity}`);
    t.equal(stats.hits + stats.misses, lookups, `${ctx}: every lookup counted once`);
    t.equal(failures, 0, ctx);
  }
});

t.test('results belong to the caller: later lookups and mutations do not change them', async (t) => {
  const cache = SharedBlockCache.create(1024 * 1024, { copyPoolBytes: 64 * 1024 });
  const file = cacheFileKey('owned');
  const blocks = Array.from({ length: 40 }, (_, i) => new Random(seed + i).bytes(3000 + i * 101));
  blocks.forEach((b, i) => {
    cache.insert(file, i * 8192, b);
  });
  const held = blocks.map((_, i) => cache.lookup(file, i * 8192)!);
  for (let r = 0; r < 5; r++) {
    blocks.forEach((_, i) => {
      cache.lookup(file, i * 8192)!.fill(0xee);
    });
  }
  held.forEach((h, i) => {
    t.ok(sameBytes(h, blocks[i]!), `held result ${i} unchanged`);
  });
  t.ok(sameBytes(cache.lookup(file, 0), blocks[0]!), 'cache unchanged by mutating results');
});

t.test('CLOCK: a block referenced between insertions survives 10x capacity of churn', async (t) => {
  const cache = SharedBlockCache.create(64 * 1024, { chunkBytes: 1024 });
  const hot = cacheFileKey('hot');
  const cold = cacheFileKey('cold');
  const hotBlock = new Random(seed).bytes(4000);
  cache.insert(hot, 0, hotBlock);
  let lost = 0;
  for (let i = 0; i < 160; i++) {
    cache.insert(cold, i * 4096, new Uint8Array(4000).fill(i & 0xff));
    if (!sameBytes(cache.lookup(hot, 0), hotBlock)) lost++;
  }
  t.equal(lost, 0, 'hot block never evicted');
  t.equal(cache.lookup(cold, 0), undefined, 'unreferenced early blocks were evicted');
  t.ok(cache.stats().bytes <= 64 * 1024);
  cache.checkInvariants();
});

t.test('capacity 0 disables the cache; oversized blocks are declined', async (t) => {
  const off = SharedBlockCache.create(0);
  const f = cacheFileKey('x');
  off.insert(f, 0, new Uint8Array(10));
  t.equal(off.lookup(f, 0), undefined);
  t.same(off.stats(), { capacity: 0, bytes: 0, hits: 0, misses: 1 });
  const small = SharedBlockCache.create(16 * 1024, { chunkBytes: 1024, maxBlockBytes: 8192 });
  small.insert(f, 0, new Uint8Array(8193));
  small.insert(f, 1, new Uint8Array(8192).fill(3));
  t.equal(small.lookup(f, 0), undefined, 'over maxBlockBytes');
  t.ok(sameBytes(small.lookup(f, 1), new Uint8Array(8192).fill(3)));
  t.equal(small.stats().bytes, 8192);
});

t.test('views attached to one descriptor share blocks and stats; bad input is rejected', async (t) => {
  const a = SharedBlockCache.create(256 * 1024);
  const b = SharedBlockCache.attach(a.shareable());
  const f = cacheFileKey('shared');
  const block = new Random(seed).bytes(5000);
  a.insert(f, 100, block);
  t.ok(sameBytes(b.lookup(f, 100), block), 'seen through the other view');
  b.lookup(f, 200);
  t.same(a.stats(), b.stats());
  t.same(a.stats(), { capacity: 256 * 1024, bytes: 5000, hits: 1, misses: 1 });
  // A structured clone (what postMessage does) attaches too.
  const cloned = structuredClone(a.shareable());
  t.ok(sameBytes(SharedBlockCache.attach(cloned).lookup(f, 100), block));
  t.throws(() => SharedBlockCache.attach({} as SharedBlockCacheDescriptor), { code: 'INVALID_ARGUMENT' });
  t.throws(() => SharedBlockCache.create(-1), { code: 'CONFIG' });
  t.throws(() => SharedBlockCache.create(1024, { chunkBytes: 1000 }), { code: 'CONFIG' });
  t.throws(() => a.insert(f, -1, block), { code: 'INVALID_ARGUMENT' });
});

t.test('worker threads hammering one cache never see a torn or foreign block', async (t) => {
  const workers = 3;
  const keyCount = 96;
  // Small cache, small chunks: constant eviction and reuse of the same memory under concurrent lookups.
  const cache = SharedBlockCache.create(320 * 1024, { chunkBytes: 512 });
  const script = new URL('./support/block-cache-worker.js', import.meta.url);
  const runs = Array.from({ length: workers }, (_, i) => {
    const input: BlockCacheWorkerInput = {
      descriptor: cache.shareable(),
      seed: (seed + i * 7919) >>> 0,
      operations: 30_000,
      keyCount,
      insertRatio: 0.3,
    };
    return new Promise<BlockCacheWorkerResult>((resolve, reject) => {
      const w = new Worker(script, { workerData: input });
      w.once('message', (m: BlockCacheWorkerResult) => resolve(m));
      w.once('error', reject);
      w.once('exit', (code) => {
        if (code !== 0) reject(new Error(`worker exited with ${code}`));
      });
    });
  });
  const results = await Promise.all(runs);
  let lookups = 0;
  let hits = 0;
  for (const [i, r] of results.entries()) {
    t.equal(r.mismatches, 0, `worker ${i} (seed ${seed}): ${r.firstMismatch ?? 'no mismatch'}`);
    lookups += r.lookups;
    hits += r.hits;
  }
  t.ok(hits > 0 && hits < lookups, `some hits and some misses (${hits}/${lookups})`);
  const stats = cache.stats();
  t.equal(stats.hits, hits, 'shared hit counter equals the workers’ sum');
  t.equal(stats.hits + stats.misses, lookups, 'every lookup counted once across threads');
  const inv = cache.checkInvariants();
  t.equal(stats.bytes, inv.bytes);
  t.ok(stats.bytes <= 320 * 1024);
});
