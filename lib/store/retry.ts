/**
 * `RetryingObjectStore`: retries object-store operations that failed with a retryable IO error, with
 * exponential backoff and full jitter (delay before retry n is uniform in [0, min(maxDelayMs, baseDelayMs·2^(n-1))]),
 * time and randomness injected so a test replays exactly.
 *
 * Never retried: NOT_FOUND, ALREADY_EXISTS, CONFIG, any non-retryable FloeError, any non-FloeError (bugs,
 * abort reasons). An aborted signal stops retrying at once and rejects with the signal's reason.
 *
 * Every operation is safe to retry because objects are immutable:
 * - get/head/list/delete are idempotent.
 * - a plain put of the same bytes may be repeated (the interface allows it).
 * - putStream replays the chunks an earlier attempt consumed (they are kept until the call settles), then
 *   continues with the caller's iterable. REQUIRES: the caller does not mutate a chunk after yielding it until
 *   putStream settles.
 * - create-if-absent (`ifNoneMatch`) is the subtle one: an attempt that failed ambiguously (a timeout or a lost
 *   response: any retryable error) may have created the object. If a later attempt then fails with
 *   ALREADY_EXISTS, the object may be our own write. We resolve it by reading the object back: if its bytes
 *   equal ours, the put succeeded (our earlier attempt landed); otherwise the ALREADY_EXISTS stands.
 *   REQUIRES for callers that use create-if-absent for mutual exclusion (manifests, fencing): the bytes must be
 *   unique to the writer (e.g. carry the writer's epoch and a nonce), or a competitor that wrote identical bytes
 *   would be taken for ourselves. An ALREADY_EXISTS on the first attempt is never second-guessed.
 */
import { FloeError, isFloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { Random, seedFromEnv } from '../util/random.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { throwIfAborted } from './validate.js';

export type RetryOp = 'get' | 'put' | 'putStream' | 'head' | 'list' | 'delete';

export interface RetryEvent {
  op: RetryOp;
  path: string;
  /** The attempt that failed (1 = the first try). */
  attempt: number;
  /** Delay before the next attempt. */
  delayMs: number;
  error: FloeError;
}

export interface RetryOptions {
  /** Total tries including the first (default 6). 1 disables retrying. */
  maxAttempts?: number;
  /** Backoff cap of the first retry (default 20 ms); doubles per retry. */
  baseDelayMs?: number;
  /** Largest backoff cap (default 2000 ms). */
  maxDelayMs?: number;
  clock?: Clock;
  /** Jitter source (default: seeded from FLOE_SEED or the clock). */
  random?: Random;
  /** Called before each backoff sleep (for logs and metrics). */
  onRetry?: (event: RetryEvent) => void;
}

/** Defaults in one place. */
export const RETRY_DEFAULTS = { maxAttempts: 6, baseDelayMs: 20, maxDelayMs: 2000 } as const;

/** True for errors worth another attempt. */
export function isRetryableError(error: unknown): error is FloeError {
  if (!isFloeError(error)) return false;
  if (error.code === 'NOT_FOUND' || error.code === 'ALREADY_EXISTS' || error.code === 'CONFIG') return false;
  return error.retryable;
}

export class RetryingObjectStore implements ObjectStore {
  readonly uri: string;
  private readonly inner: ObjectStore;
  private readonly maxAttempts: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly onRetry: ((event: RetryEvent) => void) | undefined;
  private retryCount = 0;
  private resolvedCount = 0;

  constructor(inner: ObjectStore, options: RetryOptions = {}) {
    this.inner = inner;
    this.uri = inner.uri;
    this.maxAttempts = options.maxAttempts ?? RETRY_DEFAULTS.maxAttempts;
    this.baseDelayMs = options.baseDelayMs ?? RETRY_DEFAULTS.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs ?? RETRY_DEFAULTS.maxDelayMs;
    if (!Number.isInteger(this.maxAttempts) || this.maxAttempts < 1) {
      throw new FloeError('CONFIG', `retry maxAttempts must be an integer >= 1, got ${this.maxAttempts}`);
    }
    if (!(this.baseDelayMs >= 0) || !(this.maxDelayMs >= 0)) {
      throw new FloeError('CONFIG', `retry delays must be >= 0 ms, got baseDelayMs ${this.baseDelayMs}, maxDelayMs ${this.maxDelayMs}`);
    }
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? new Random(seedFromEnv());
    this.onRetry = options.onRetry;
    // Sync reads pass straight through: one that is not served (or fails) is redone by `get`, which retries.
    const sync = inner.readIntoSync;
    if (sync !== undefined) this.readIntoSync = (path, offset, length, dest) => sync.call(inner, path, offset, length, dest);
  }

  readonly readIntoSync?: (path: string, offset: number, length: number, dest: Uint8Array) => number;

  /** Retries performed so far (attempts after a first failure). */
  get retries(): number {
    return this.retryCount;
  }

  /** Ambiguous create-if-absent puts resolved as our own write by reading back. */
  get resolvedAmbiguousCreates(): number {
    return this.resolvedCount;
  }

  /** The backoff cap before retry `n` (1-based); the delay is uniform in [0, cap]. */
  backoffCapMs(n: number): number {
    return Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (n - 1));
  }

  get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    return this.run('get', path, options?.signal, () => this.inner.get(path, range, options));
  }

  put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    let ambiguous = false;
    return this.run('put', path, options?.signal, async () => {
      try {
        await this.inner.put(path, bytes, options);
      } catch (error) {
        if (ambiguous && options?.ifNoneMatch === true && isFloeError(error, 'ALREADY_EXISTS')) {
          await this.resolveAmbiguousCreate(path, [bytes], error, options.signal);
          return;
        }
        if (isRetryableError(error)) ambiguous = true;
        throw error;
      }
    });
  }

  async putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    if (options?.noReplay === true) return this.putStreamOnce(path, chunks, options);
    const replay = new ReplayableChunks(chunks);
    let ambiguous = false;
    try {
      await this.run('putStream', path, options?.signal, async () => {
        try {
          await this.inner.putStream(path, replay, options);
        } catch (error) {
          if (ambiguous && options?.ifNoneMatch === true && isFloeError(error, 'ALREADY_EXISTS')) {
            await this.resolveAmbiguousCreate(path, await replay.all(), error, options.signal);
            return;
          }
          if (isRetryableError(error)) ambiguous = true;
          throw error;
        }
      });
    } finally {
      await replay.release();
    }
  }

  /**
   * putStream without replay: attempts are retried only while none has consumed a chunk of `chunks`.
   * (Create-if-absent needs the bytes to resolve an ambiguous attempt, so it is never combined with this.)
   */
  private async putStreamOnce(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: PutOptions): Promise<void> {
    if (options.ifNoneMatch === true) throw new FloeError('INVALID_ARGUMENT', `putStream of ${path}: noReplay cannot be combined with ifNoneMatch`);
    const once = new OnceChunks(chunks);
    try {
      await this.run('putStream', path, options.signal, async () => {
        try {
          await this.inner.putStream(path, once, options);
        } catch (error) {
          // A non-FloeError is never retried by run(): the wrapper stops the retry loop, unwrapped below.
          if (once.consumed) throw new NoRetry(error);
          throw error;
        }
      });
    } catch (error) {
      throw error instanceof NoRetry ? error.error : error;
    } finally {
      await once.release();
    }
  }

  head(path: string): Promise<ObjectInfo | undefined> {
    return this.run('head', path, undefined, () => this.inner.head(path));
  }

  list(prefix: string): Promise<ObjectInfo[]> {
    return this.run('list', prefix, undefined, () => this.inner.list(prefix));
  }

  delete(path: string): Promise<void> {
    return this.run('delete', path, undefined, () => this.inner.delete(path));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /**
   * Decides whether an ALREADY_EXISTS after an ambiguous attempt is our own write. Returns if the stored
   * bytes equal `ours`; otherwise throws `conflict`. A failed read-back propagates (a retryable one makes the
   * retry loop try the put again, which lands here again).
   */
  private async resolveAmbiguousCreate(path: string, ours: readonly Uint8Array[], conflict: FloeError, signal?: AbortSignal): Promise<void> {
    const size = ours.reduce((n, c) => n + c.length, 0);
    let stored: Uint8Array;
    try {
      const info = await this.inner.head(path);
      if (info === undefined || info.size !== size) throw conflict;
      // The object has our length; a body shorter than that is a cut response, not someone else's bytes.
      stored = await this.inner.get(path, undefined, signal === undefined ? undefined : { signal });
      for (let n = 1; stored.length !== size; n++) {
        if (n >= READ_BACK_ATTEMPTS) {
          throw new FloeError('IO', `reading back ${path} to resolve an ambiguous create kept returning ${stored.length} of ${size} bytes`, { retryable: true, path });
        }
        stored = await this.inner.get(path, undefined, signal === undefined ? undefined : { signal });
      }
    } catch (error) {
      if (isFloeError(error, 'NOT_FOUND')) throw conflict; // it existed a moment ago; someone else's, now gone
      throw error;
    }
    if (!equalsChunks(stored, ours)) throw conflict;
    this.resolvedCount++;
  }

  private async run<T>(op: RetryOp, path: string, signal: AbortSignal | undefined, attempt: () => Promise<T>): Promise<T> {
    for (let n = 1; ; n++) {
      throwIfAborted(signal);
      try {
        return await attempt();
      } catch (error) {
        if (!isRetryableError(error)) throw error;
        throwIfAborted(signal);
        if (n >= this.maxAttempts) {
          throw new FloeError(error.code, `${error.message} (gave up after ${n} attempts)`, {
            cause: error,
            retryable: true,
            ...(error.path === undefined ? {} : { path: error.path }),
          });
        }
        const delayMs = this.random.next() * this.backoffCapMs(n);
        this.retryCount++;
        this.onRetry?.({ op, path, attempt: n, delayMs, error });
        await this.clock.sleep(delayMs, signal);
      }
    }
  }
}

/**
 * Wraps a chunk source so it can be iterated again: each iteration replays the chunks pulled so far, then
 * pulls more from the one underlying iterator. Attempts run one after another, never concurrently.
 */
class ReplayableChunks implements AsyncIterable<Uint8Array> {
  private readonly seen: Uint8Array[] = [];
  private iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | undefined;
  private finished = false;

  constructor(private readonly source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (let i = 0; ; i++) {
      if (i === this.seen.length && !(await this.pullOne())) return;
      yield this.seen[i]!;
    }
  }

  /** Every chunk of the source (drains what no attempt has pulled yet). */
  async all(): Promise<readonly Uint8Array[]> {
    while (await this.pullOne());
    return this.seen;
  }

  /** Closes the source iterator if it was not drained (the caller's generator runs its finally blocks). */
  async release(): Promise<void> {
    if (this.iterator !== undefined && !this.finished) {
      this.finished = true;
      await this.iterator.return?.();
    }
  }

  private async pullOne(): Promise<boolean> {
    if (this.finished) return false;
    if (this.iterator === undefined) {
      const source = this.source as Partial<AsyncIterable<Uint8Array>> & Partial<Iterable<Uint8Array>>;
      this.iterator = source[Symbol.asyncIterator] ? source[Symbol.asyncIterator]!() : source[Symbol.iterator]!();
    }
    const result = await this.iterator.next();
    if (result.done === true) {
      this.finished = true;
      return false;
    }
    this.seen.push(result.value);
    return true;
  }
}

/** Carries an error out of the retry loop without another attempt. */
class NoRetry {
  constructor(readonly error: unknown) {}
}

/** One pass over a chunk source that can be handed to several attempts; remembers whether any was pulled. */
class OnceChunks implements AsyncIterable<Uint8Array> {
  consumed = false;
  private iterator: Iterator<Uint8Array> | AsyncIterator<Uint8Array> | undefined;
  private finished = false;

  constructor(private readonly source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterator === undefined) {
      const source = this.source as Partial<AsyncIterable<Uint8Array>> & Partial<Iterable<Uint8Array>>;
      this.iterator = source[Symbol.asyncIterator] ? source[Symbol.asyncIterator]!() : source[Symbol.iterator]!();
    }
    for (;;) {
      if (this.finished) return;
      const result = await this.iterator.next();
      if (result.done === true) {
        this.finished = true;
        return;
      }
      this.consumed = true;
      yield result.value;
    }
  }

  async release(): Promise<void> {
    if (this.iterator !== undefined && !this.finished) {
      this.finished = true;
      await this.iterator.return?.();
    }
  }
}

/** Reads of an object whose head says it has our length, before a short body counts as a failure. */
const READ_BACK_ATTEMPTS = 4;

function equalsChunks(stored: Uint8Array, chunks: readonly Uint8Array[]): boolean {
  let at = 0;
  for (const chunk of chunks) {
    if (at + chunk.length > stored.length) return false;
    if (!Buffer.from(stored.buffer, stored.byteOffset + at, chunk.length).equals(chunk)) return false;
    at += chunk.length;
  }
  return at === stored.length;
}
