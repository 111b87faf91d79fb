/**
 * The call discipline every FloeIterator follows, whatever it reads (the embedded store's pinned view,
 * lib/lsm/iterator.ts; pages over protocol frames, lib/client/frame-iterator.ts): one read call at a time
 * (BUSY otherwise), CLOSED after close(), `limit` counted over every call, all() closing the iterator, a
 * `for await` loop closing it however it ends, and close() waiting for the call in progress.
 * A subclass supplies the reads, its own liveness check, and what closing releases.
 */
import type { FloeIterator, KeyGroupOption } from './api.js';
import { FloeError } from './errors.js';

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined }) as IteratorReturnResult<undefined>;

export abstract class IteratorCalls<E> implements Omit<FloeIterator<E>, 'seek'> {
  protected closed = false;
  private yielded = 0;
  /** A read call is in progress; `idle` (when set) is called when it ends. */
  private inCall = false;
  private idle: (() => void) | undefined;

  protected constructor(
    /** Entries this iterator yields at most, over all calls. */
    protected readonly limit: number,
  ) {}

  /** The next entry of the source, or undefined at its end. */
  protected abstract readOne(): Promise<E | undefined>;
  /** Up to `room` entries (room ≥ 1); fewer only at the source's end. */
  protected abstract readMany(room: number): Promise<E[]>;
  /** Throws CLOSED when what the iterator reads is gone (its store closed). */
  protected abstract checkSource(): void;
  /** Releases what the iterator holds (after any call in progress ended). */
  protected abstract release(): Promise<void>;

  /** The error a failed read reports (default: as thrown). */
  protected readError(e: unknown): unknown {
    return e;
  }

  get count(): number {
    return this.yielded;
  }

  async next(): Promise<E | undefined> {
    this.enter('next');
    try {
      if (this.yielded >= this.limit) return undefined;
      const e = await this.readOne();
      if (e !== undefined) this.yielded++;
      return e;
    } catch (e) {
      throw this.readError(e);
    } finally {
      this.leave();
    }
  }

  async nextv(size: number): Promise<E[]> {
    if (typeof size !== 'number' || Number.isNaN(size)) {
      throw new FloeError('INVALID_ARGUMENT', `nextv(size): size must be a number, got ${JSON.stringify(size)}`);
    }
    this.enter('nextv');
    try {
      return await this.pull(Math.max(1, Math.floor(size)));
    } catch (e) {
      throw this.readError(e);
    } finally {
      this.leave();
    }
  }

  async all(): Promise<E[]> {
    try {
      this.enter('all');
      try {
        return await this.pull(Number.POSITIVE_INFINITY);
      } catch (e) {
        throw this.readError(e);
      } finally {
        this.leave();
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.inCall) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.release();
  }

  /** A `for await` loop: entries until the end; the iterator is closed however the loop ends. */
  [Symbol.asyncIterator](): AsyncIterator<E> {
    return {
      next: async (): Promise<IteratorResult<E>> => {
        const e = await this.next();
        if (e !== undefined) return { done: false, value: e };
        await this.close();
        return DONE;
      },
      return: async (): Promise<IteratorResult<E>> => {
        await this.close();
        return DONE;
      },
    };
  }

  /** What every seek() checks first: the iterator is usable and no call is in progress. */
  protected checkSeekCall(): void {
    this.checkUsable();
    if (this.inCall) throw busyError('seek');
  }

  /** A seek's key group (if given) must be one this iterator covers (`covered`; undefined: all of them). */
  protected checkSeekGroup(options: KeyGroupOption | undefined, covered: number | undefined): void {
    if (options?.keyGroup !== undefined && covered !== undefined && options.keyGroup !== covered) {
      throw new FloeError('INVALID_ARGUMENT', `seek(): this iterator covers key group ${covered}, not ${String(options.keyGroup)}; omit keyGroup or create an iterator over that group`);
    }
  }

  private async pull(max: number): Promise<E[]> {
    const room = Math.min(max, this.limit - this.yielded);
    if (room <= 0) return [];
    const out = await this.readMany(room);
    this.yielded += out.length;
    return out;
  }

  private enter(what: string): void {
    this.checkUsable();
    if (this.inCall) throw busyError(what);
    this.inCall = true;
  }

  private leave(): void {
    this.inCall = false;
    const idle = this.idle;
    this.idle = undefined;
    idle?.();
  }

  private checkUsable(): void {
    this.checkSource();
    if (this.closed) throw new FloeError('CLOSED', 'this iterator was closed; create a new one with store.iterator()');
  }
}

function busyError(what: string): FloeError {
  return new FloeError('BUSY', `iterator ${what}() called while another call on the same iterator is in progress; await it first`);
}
