/**
 * bench/workload.ts: the generators the remote and checkpoint benchmarks rely on must be what they claim —
 * keys ordered like their numbers, a Scatter that is a bijection, Zipf frequencies that follow 1/k^s,
 * deterministic sequences, and folder sizes that match what was written.
 */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { benchKey, folderBytes, FolderSampler, indexSequence, Scatter, ValuePool, ZipfSampler } from '../bench/workload.js';

const seed = seedFromEnv();
t.comment(`seed ${seed} (FLOE_SEED=${seed} replays)`);

t.test('benchKey: 16 bytes, byte order = numeric order', async (t) => {
  const r = new Random(seed);
  const nums = Array.from({ length: 500 }, () => r.int(2 ** 31) * (r.bool() ? 1 : 4096) + r.int(1000));
  for (let i = 1; i < nums.length; i++) {
    const a = nums[i - 1]!;
    const b = nums[i]!;
    const ka = benchKey(a);
    const kb = benchKey(b);
    t.equal(ka.length, 16);
    t.equal(Math.sign(Buffer.compare(ka, kb)), Math.sign(a - b), `order of ${a} and ${b}`);
  }
});

t.test('Scatter is a bijection of [0, n)', async (t) => {
  const r = new Random(seed ^ 1);
  for (const n of [1, 2, 3, 7, 64, 1000, 65536, 99_991, 1 + r.int(200_000)]) {
    const s = new Scatter(n);
    const seen = new Uint8Array(n);
    for (let k = 0; k < n; k++) {
      const x = s.map(k);
      if (!(x >= 0 && x < n) || seen[x]) {
        t.fail(`n=${n}: rank ${k} maps to ${x} (out of range or taken)`);
        return;
      }
      seen[x] = 1;
    }
    t.pass(`n=${n}`);
  }
});

t.test('Scatter is exact for large n (no floating-point loss)', async (t) => {
  const n = 4_000_000_007 % 2 ** 32; // < 2^32
  const s = new Scatter(n);
  const r = new Random(seed ^ 2);
  for (let i = 0; i < 2000; i++) {
    const k = r.int(n);
    const x = s.map(k);
    t.ok(Number.isInteger(x) && x >= 0 && x < n, `map(${k}) = ${x}`);
  }
  // Distinct inputs give distinct outputs (spot check of injectivity).
  const outs = new Set(Array.from({ length: 2000 }, (_, i) => s.map(n - 1 - i)));
  t.equal(outs.size, 2000);
});

t.test('ZipfSampler frequencies follow 1/(k+1)^s', async (t) => {
  const n = 10_000;
  const z = new ZipfSampler(n, 0.99, new Random(seed ^ 3));
  let total = 0;
  for (let k = 0; k < n; k++) total += z.probability(k);
  t.ok(Math.abs(total - 1) < 1e-9, `probabilities sum to 1 (${total})`);
  t.ok(Math.abs(z.probability(0) / z.probability(9) - 10 ** 0.99) < 1e-6, 'P(0)/P(9) = 10^s');
  const draws = 200_000;
  const counts = new Uint32Array(n);
  for (let i = 0; i < draws; i++) counts[z.next()]!++;
  for (const k of [0, 1, 2, 9, 99]) {
    const expected = z.probability(k) * draws;
    const sd = Math.sqrt(expected);
    t.ok(Math.abs(counts[k]! - expected) < 6 * sd + 1, `rank ${k}: ${counts[k]} draws, expected ${expected.toFixed(0)} ± ${sd.toFixed(0)}`);
  }
});

t.test('ZipfSampler with s = 0 is uniform', async (t) => {
  const z = new ZipfSampler(4, 0, new Random(seed ^ 4));
  for (let k = 0; k < 4; k++) t.ok(Math.abs(z.probability(k) - 0.25) < 1e-12);
});

t.test('indexSequence: in range and deterministic', async (t) => {
  for (const kind of ['uniform', 'zipf'] as const) {
    const a = indexSequence(kind, 12_345, 5000, seed);
    const b = indexSequence(kind, 12_345, 5000, seed);
    t.same(a, b, `${kind} is a function of its seed`);
    t.ok(a.every((x) => x < 12_345), `${kind} stays in range`);
  }
  // Zipf concentrates: its most frequent index is far more frequent than uniform's.
  const z = indexSequence('zipf', 100_000, 50_000, seed);
  const freq = new Map<number, number>();
  for (const x of z) freq.set(x, (freq.get(x) ?? 0) + 1);
  t.ok(Math.max(...freq.values()) > 1000, 'the hottest Zipf key is drawn often');
});

t.test('ValuePool: fixed length, deterministic, generations differ', async (t) => {
  const p = new ValuePool(seed, 100, 4096);
  const q = new ValuePool(seed, 100, 4096);
  t.equal(p.value(7).length, 100);
  t.ok(p.value(7).equals(q.value(7)));
  t.notOk(p.value(7, 0).equals(p.value(7, 1)));
});

t.test('folderBytes and FolderSampler see what was written', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'floe-bench-workload-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  t.same(await folderBytes(join(dir, 'missing')), { apparent: 0, allocated: 0 });
  const sampler = new FolderSampler(dir, 10);
  await mkdir(join(dir, 'sub'));
  await writeFile(join(dir, 'a'), Buffer.alloc(10_000, 1));
  await writeFile(join(dir, 'sub', 'b'), Buffer.alloc(50_000, 2));
  const now = await folderBytes(dir);
  t.equal(now.apparent, 60_000);
  t.ok(now.allocated >= 60_000, `allocated ${now.allocated}`);
  await sampler.sample();
  await rm(join(dir, 'sub'), { recursive: true });
  const seen = await sampler.stop();
  t.equal(seen.maxApparent, 60_000, 'the maximum survives the later shrink');
  t.ok(seen.samples >= 1);
});
