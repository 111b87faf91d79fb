/**
 * Generated data and access patterns shared by the remote-storage and checkpoint benchmarks
 * (bench/remote.ts, bench/checkpoint.ts): fixed-width keys, values cut from a seeded incompressible pool,
 * uniform and Zipf index sequences, a sampler of how many bytes a local folder takes on disk, and an
 * object-store wrapper that reports every request (what a restore or a read path asks of the primary).
 *
 * Everything is derived from a seed (lib/util/random.ts), so two runs with the same seed read the same keys
 * in the same order.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from '../lib/store/object-store.js';
import { Random } from '../lib/util/random.js';

export const KEY_BYTES = 16;

/** Key number n → 16 bytes: an 8-byte ASCII prefix and n as a big-endian u64 (so numeric order = byte order). */
export function benchKey(n: number, prefix = 'floebnch'): Buffer {
  const b = Buffer.alloc(KEY_BYTES);
  b.write(prefix.slice(0, 8).padEnd(8, '_'), 0, 'latin1');
  b.writeUInt32BE(Math.floor(n / 2 ** 32), 8);
  b.writeUInt32BE(n >>> 0, 12);
  return b;
}

/** A finalizer-style 32-bit mix (a bijection on u32). */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Values of a fixed length cut from one seeded random pool (incompressible, like most real state), so a
 * data set of any size costs only the pool's memory. `value(i, gen)` is a pure function of its arguments.
 */
export class ValuePool {
  private readonly pool: Buffer;
  private readonly span: number;

  constructor(
    seed: number,
    readonly valueBytes: number,
    poolBytes = 4 * 2 ** 20,
  ) {
    this.span = Math.max(1, poolBytes);
    this.pool = Buffer.from(new Random(seed).bytes(this.span + valueBytes));
  }

  /** The value of key index i in write generation `gen` (generations differ from each other). */
  value(i: number, gen = 0): Buffer {
    const off = mix32(Math.imul(i, 0x9e3779b1) ^ mix32(gen + 1)) % this.span;
    return this.pool.subarray(off, off + this.valueBytes);
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * A bijection of [0, n) that scatters neighbouring ranks far apart, so the hottest Zipf ranks land in
 * different blocks and files instead of all in the first block. REQUIRES n >= 1 and n < 2^32.
 */
export class Scatter {
  private readonly stride: number;
  private readonly offset: number;

  constructor(readonly n: number) {
    let stride = 2_654_435_761 % n; // Knuth's multiplicative constant, reduced; made coprime with n below
    if (stride === 0) stride = 1;
    while (gcd(stride, n) !== 1) stride = (stride + 1) % n || 1;
    this.stride = stride;
    this.offset = Math.floor(n / 3);
  }

  map(rank: number): number {
    // rank * stride < 2^64 could lose precision in a double; split the multiplication to stay exact.
    const hi = Math.floor(rank / 65536);
    const lo = rank % 65536;
    const prod = (((hi * this.stride) % this.n) * 65536 + lo * this.stride) % this.n;
    return (prod + this.offset) % this.n;
  }
}

/**
 * Zipf-distributed ranks in [0, n): P(rank = k) ∝ 1 / (k + 1)^s. Sampling inverts the cumulative
 * distribution by binary search (exact for any s >= 0; n doubles of memory).
 */
export class ZipfSampler {
  private readonly cdf: Float64Array;

  constructor(
    readonly n: number,
    readonly s: number,
    private readonly random: Random,
  ) {
    if (!Number.isInteger(n) || n < 1) throw new Error(`ZipfSampler needs n >= 1, got ${n}`);
    if (!(s >= 0)) throw new Error(`ZipfSampler needs s >= 0, got ${s}`);
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += 1 / (k + 1) ** s;
      this.cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) this.cdf[k]! /= sum;
  }

  /** Probability of rank k. */
  probability(k: number): number {
    return this.cdf[k]! - (k === 0 ? 0 : this.cdf[k - 1]!);
  }

  next(): number {
    const u = this.random.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid]! <= u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

export type Distribution = 'uniform' | 'zipf';

/**
 * `count` key indices in [0, n): uniform, or Zipf(s) ranks scattered over the key space. Deterministic in
 * (kind, n, count, s, seed).
 */
export function indexSequence(kind: Distribution, n: number, count: number, seed: number, s = 0.99): Uint32Array {
  const random = new Random(seed);
  const out = new Uint32Array(count);
  if (kind === 'uniform') {
    for (let i = 0; i < count; i++) out[i] = random.int(n);
    return out;
  }
  const zipf = new ZipfSampler(n, s, random);
  const scatter = new Scatter(n);
  for (let i = 0; i < count; i++) out[i] = scatter.map(zipf.next());
  return out;
}

export interface FolderBytes {
  /** Sum of file sizes. */
  apparent: number;
  /** Blocks actually allocated on disk (what `du` reports; sparse files count only written parts). */
  allocated: number;
}

/** Bytes under `dir` (recursively); a missing folder is empty. Files that vanish while walking are skipped. */
export async function folderBytes(dir: string): Promise<FolderBytes> {
  const out: FolderBytes = { apparent: 0, allocated: 0 };
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      const sub = await folderBytes(p);
      out.apparent += sub.apparent;
      out.allocated += sub.allocated;
      continue;
    }
    try {
      const s = await stat(p);
      out.apparent += s.size;
      out.allocated += s.blocks * 512;
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/**
 * Samples `folderBytes(dir)` every `everyMs` until stopped and keeps the maxima: the "never exceeds its
 * budget" check of a disk cache, observed from outside while it works.
 */
export class FolderSampler {
  private maxApparent = 0;
  private maxAllocated = 0;
  private samples = 0;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly dir: string,
    private readonly everyMs = 250,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.sample();
      await new Promise((r) => setTimeout(r, this.everyMs));
    }
  }

  /** Takes one sample now (the loop also calls this). */
  async sample(): Promise<void> {
    const b = await folderBytes(this.dir);
    this.samples++;
    this.maxApparent = Math.max(this.maxApparent, b.apparent);
    this.maxAllocated = Math.max(this.maxAllocated, b.allocated);
  }

  /** Stops sampling (after one last sample) and returns the maxima seen. */
  async stop(): Promise<{ maxApparent: number; maxAllocated: number; samples: number }> {
    this.stopped = true;
    await this.loop;
    await this.sample();
    return { maxApparent: this.maxApparent, maxAllocated: this.maxAllocated, samples: this.samples };
  }
}

export type RequestOp = 'get' | 'put' | 'putStream' | 'head' | 'list' | 'delete';

/** One finished request (success or failure): kind, path (or list prefix), start and end (performance.now()). */
export interface RequestRecord {
  op: RequestOp;
  path: string;
  start: number;
  end: number;
}

/** Passes every call through to `inner` and reports it to `observe` when it settles. */
export class ObservedObjectStore implements ObjectStore {
  readonly uri: string;

  constructor(
    private readonly inner: ObjectStore,
    private readonly observe: (r: RequestRecord) => void,
  ) {
    this.uri = inner.uri;
  }

  private async timed<T>(op: RequestOp, path: string, call: () => Promise<T>): Promise<T> {
    const start = performance.now();
    try {
      return await call();
    } finally {
      this.observe({ op, path, start, end: performance.now() });
    }
  }

  get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    return this.timed('get', path, () => this.inner.get(path, range, options));
  }
  put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.timed('put', path, () => this.inner.put(path, bytes, options));
  }
  putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    return this.timed('putStream', path, () => this.inner.putStream(path, chunks, options));
  }
  head(path: string): Promise<ObjectInfo | undefined> {
    return this.timed('head', path, () => this.inner.head(path));
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.timed('list', prefix, () => this.inner.list(prefix));
  }
  delete(path: string): Promise<void> {
    return this.timed('delete', path, () => this.inner.delete(path));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
