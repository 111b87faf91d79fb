/**
 * `MetricsObjectStore`: counts what passes through it — calls per operation, bytes read and written,
 * failures, and latency totals — for `stats().remote` and the daemon's Prometheus metrics.
 *
 * It sits at the top of the stack (backend → retry → metrics), so it counts the calls the engine made, not
 * the attempts underneath; the retry wrapper counts retries itself. A call is counted when it settles,
 * success or failure. NOT_FOUND and ALREADY_EXISTS are normal outcomes, counted in `notFound` / `conflicts`,
 * not in `errors`.
 */
import { isFloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';

export type MetricsOp = 'get' | 'put' | 'head' | 'list' | 'delete';

export interface OpLatency {
  count: number;
  totalMs: number;
  maxMs: number;
}

/** A plain, JSON-serialisable copy of the counters. `puts` includes putStream calls. */
export interface ObjectStoreMetricsSnapshot {
  gets: number;
  puts: number;
  lists: number;
  deletes: number;
  heads: number;
  bytesRead: number;
  bytesWritten: number;
  /** Failed calls other than NOT_FOUND / ALREADY_EXISTS. */
  errors: number;
  notFound: number;
  conflicts: number;
  latency: Record<MetricsOp, OpLatency>;
}

export interface MetricsOptions {
  /** Time source for latencies (default systemClock). */
  clock?: Clock;
}

const OPS: readonly MetricsOp[] = ['get', 'put', 'head', 'list', 'delete'];
const COUNTER = { get: 'gets', put: 'puts', head: 'heads', list: 'lists', delete: 'deletes' } as const;

function emptyLatency(): Record<MetricsOp, OpLatency> {
  const out = {} as Record<MetricsOp, OpLatency>;
  for (const op of OPS) out[op] = { count: 0, totalMs: 0, maxMs: 0 };
  return out;
}

export class MetricsObjectStore implements ObjectStore {
  readonly uri: string;
  private readonly inner: ObjectStore;
  private readonly clock: Clock;
  private counts = { gets: 0, puts: 0, lists: 0, deletes: 0, heads: 0, bytesRead: 0, bytesWritten: 0, errors: 0, notFound: 0, conflicts: 0 };
  private latency = emptyLatency();

  constructor(inner: ObjectStore, options: MetricsOptions = {}) {
    this.inner = inner;
    this.uri = inner.uri;
    this.clock = options.clock ?? systemClock;
    const sync = inner.readIntoSync;
    if (sync !== undefined) {
      // Counted like a get when served; a read not served is not counted here (the caller's `get` is).
      this.readIntoSync = (path, offset, length, dest) => {
        const start = this.clock.now();
        const n = sync.call(inner, path, offset, length, dest);
        if (n >= 0) {
          this.counts.gets++;
          this.counts.bytesRead += n;
          this.timed('get', start);
        }
        return n;
      };
    }
  }

  readonly readIntoSync?: (path: string, offset: number, length: number, dest: Uint8Array) => number;

  /** A copy of the counters; later calls do not change it. */
  snapshot(): ObjectStoreMetricsSnapshot {
    const latency = emptyLatency();
    for (const op of OPS) latency[op] = { ...this.latency[op] };
    return { ...this.counts, latency };
  }

  /**
   * Adds the counters of calls made on this store's behalf elsewhere (a compaction worker thread that
   * opened its own stack on the same primary storage), so `stats().remote` still counts every call.
   */
  absorb(other: ObjectStoreMetricsSnapshot): void {
    for (const key of Object.keys(this.counts) as Array<keyof typeof this.counts>) this.counts[key] += other[key];
    for (const op of OPS) {
      const l = this.latency[op];
      const o = other.latency[op];
      l.count += o.count;
      l.totalMs += o.totalMs;
      l.maxMs = Math.max(l.maxMs, o.maxMs);
    }
  }

  /** The counters added since `before` (a snapshot of this store); maxima are taken as they stand. */
  since(before: ObjectStoreMetricsSnapshot): ObjectStoreMetricsSnapshot {
    const now = this.snapshot();
    const counts = { ...now };
    for (const key of Object.keys(this.counts) as Array<keyof typeof this.counts>) counts[key] = now[key] - before[key];
    const latency = emptyLatency();
    for (const op of OPS) {
      latency[op] = { count: now.latency[op].count - before.latency[op].count, totalMs: now.latency[op].totalMs - before.latency[op].totalMs, maxMs: now.latency[op].maxMs };
    }
    return { ...counts, latency };
  }

  /** Zeroes every counter (benchmarks measure phases separately). */
  reset(): void {
    for (const key of Object.keys(this.counts) as Array<keyof typeof this.counts>) this.counts[key] = 0;
    this.latency = emptyLatency();
  }

  get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    return this.measure('get', async () => {
      const bytes = await this.inner.get(path, range, options);
      this.counts.bytesRead += bytes.length;
      return bytes;
    });
  }

  put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    return this.measure('put', async () => {
      await this.inner.put(path, bytes, options);
      this.counts.bytesWritten += bytes.length;
    });
  }

  putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    let streamed = 0;
    // Counts bytes as they pass; added to bytesWritten only if the put succeeds. A retry wrapper below
    // replays chunks without pulling them through here again, so each byte is counted once.
    async function* counting(): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks) {
        streamed += chunk.length;
        yield chunk;
      }
    }
    return this.measure('put', async () => {
      await this.inner.putStream(path, counting(), options);
      this.counts.bytesWritten += streamed;
    });
  }

  head(path: string): Promise<ObjectInfo | undefined> {
    return this.measure('head', () => this.inner.head(path));
  }

  list(prefix: string): Promise<ObjectInfo[]> {
    return this.measure('list', () => this.inner.list(prefix));
  }

  delete(path: string): Promise<void> {
    return this.measure('delete', () => this.inner.delete(path));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Runs one call, counting it (and its failure) and its latency when it settles. */
  private async measure<T>(op: MetricsOp, call: () => Promise<T>): Promise<T> {
    const start = this.clock.now();
    try {
      return await call();
    } catch (error) {
      this.failed(error);
      throw error;
    } finally {
      this.counts[COUNTER[op]]++;
      this.timed(op, start);
    }
  }

  private failed(error: unknown): void {
    if (isFloeError(error, 'NOT_FOUND')) this.counts.notFound++;
    else if (isFloeError(error, 'ALREADY_EXISTS')) this.counts.conflicts++;
    else this.counts.errors++;
  }

  private timed(op: MetricsOp, start: number): void {
    const ms = this.clock.now() - start;
    const l = this.latency[op];
    l.count++;
    l.totalMs += ms;
    if (ms > l.maxMs) l.maxMs = ms;
  }
}
