/**
 * The iterator of an embedded scan, and the bookkeeping of the read views scans pin.
 *
 * A scan pins a view when `scan()` is called (its snapshot is taken there): the memtables' snapshot (so
 * they keep the versions it sees) and the files of its version (so GC of this process keeps them). The
 * view is released exactly once, by whichever comes first:
 *   - the scan ends (exhausted, limit reached, or a read error);
 *   - `return()` or `throw()` on the iterator — whether or not iteration started (an async generator that
 *     never started skips its `finally`, which is why this is a class and not a generator);
 *   - the store closes (`ScanViews.revokeAll`); the iterator's later `next()` rejects with CLOSED;
 *   - the iterator becomes unreachable (FinalizationRegistry).
 * The last cannot happen any earlier: as long as anything can reach the iterator it may call `next()`
 * again, and JavaScript has no destructors; the engine tells us only after a garbage collection that found
 * the iterator dead, and runs the callback in a later task. Code that abandons scans should still call
 * `return()` (a `for await` loop does so on break, throw and return).
 */
import type { ScanEntry } from '../api.js';
import { FloeError } from '../errors.js';
import type { ScanView } from './scan.js';

/** One pinned read view. REQUIRES: nothing references the iterator that uses it (see the registry). */
export interface PinnedView {
  readonly view: ScanView;
  /** Set when the store closed while the view was open. */
  readonly revoked: boolean;
  /** Releases the view's pins. Idempotent. */
  release(): void;
}

/**
 * The open views of one store and the files they pin (count per file id). The count map is the store's,
 * shared so the store can consult it (GC pins, table-cache retention) without going through this class.
 */
export class ScanViews {
  private readonly open = new Set<Pin>();

  constructor(private readonly filePins: Map<string, number>) {}

  get size(): number {
    return this.open.size;
  }

  /**
   * Pins `files` for `view`. `unpin` releases what else the view holds (memtable snapshots); `onReleased`
   * runs after the files are unpinned.
   */
  pin(view: ScanView, files: string[], unpin: () => void, onReleased: (files: string[]) => void): PinnedView {
    for (const f of files) this.filePins.set(f, (this.filePins.get(f) ?? 0) + 1);
    const pin = new Pin(view, () => {
      this.open.delete(pin);
      unpin();
      for (const f of files) {
        const n = this.filePins.get(f)! - 1;
        if (n === 0) this.filePins.delete(f);
        else this.filePins.set(f, n);
      }
      onReleased(files);
    });
    this.open.add(pin);
    return pin;
  }

  /** Releases every open view (the store is closing); their iterators then reject with CLOSED. */
  revokeAll(): void {
    for (const pin of [...this.open]) pin.revoke();
  }
}

class Pin implements PinnedView {
  revoked = false;
  private released = false;

  constructor(
    readonly view: ScanView,
    private readonly onRelease: () => void,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.onRelease();
  }

  revoke(): void {
    if (this.released) return;
    this.revoked = true;
    this.release();
  }
}

/** Releases the views of iterators that became unreachable. Holds pinned views, never iterators. */
const abandoned = new FinalizationRegistry<PinnedView>((pinned) => pinned.release());

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined }) as IteratorReturnResult<undefined>;

/**
 * An async iterator (and iterable: it returns itself, like a generator object) over `produce()`, which
 * reads through `pinned.view` and is started on the first `next()`. Calls are served one at a time in call
 * order, so `return()` during a `next()` waits for it, and the view is never released under a read.
 */
export class ScanIterator implements AsyncIterableIterator<ScanEntry> {
  private inner: AsyncGenerator<ScanEntry, void, undefined> | undefined;
  private finished = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pinned: PinnedView,
    private readonly produce: (view: ScanView) => AsyncGenerator<ScanEntry, void, undefined>,
  ) {
    abandoned.register(this, pinned, this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ScanEntry, undefined>> {
    return this.serialize(() => this.step());
  }

  return(): Promise<IteratorResult<ScanEntry, undefined>> {
    return this.serialize(async () => {
      await this.finish();
      return DONE;
    });
  }

  throw(error?: unknown): Promise<IteratorResult<ScanEntry, undefined>> {
    return this.serialize(async () => {
      await this.finish();
      throw error;
    });
  }

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    const p = this.queue.then(op);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async step(): Promise<IteratorResult<ScanEntry, undefined>> {
    // Revoked only if the view was still open when the store closed (a finished scan released it before).
    if (this.pinned.revoked) throw closedError();
    if (this.finished) return DONE;
    this.inner ??= this.produce(this.pinned.view);
    let r: IteratorResult<ScanEntry, void>;
    try {
      r = await this.inner.next();
    } catch (e) {
      await this.finish();
      throw this.pinned.revoked ? closedError(e) : e;
    }
    if (r.done === true) {
      await this.finish();
      return DONE;
    }
    return r;
  }

  /** Ends the scan: releases the view (once) and stops the producer. */
  private async finish(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    abandoned.unregister(this);
    this.pinned.release();
    const inner = this.inner;
    this.inner = undefined;
    if (inner !== undefined) await inner.return(undefined).catch(() => undefined);
  }
}

function closedError(cause?: unknown): FloeError {
  return new FloeError('CLOSED', 'the store was closed during this scan; open the store again and start a new scan', cause === undefined ? {} : { cause });
}
