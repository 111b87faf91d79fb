/**
 * The iterator of an embedded scan, and the bookkeeping of the read views scans pin.
 *
 * A scan pins a view when `scan()` is called (its snapshot is taken there): the memtables' snapshot (so
 * they keep the versions it sees) and the files of its version (so GC of this process keeps them, and the
 * store's read lease names those a newer version dropped, for other processes). The
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
import { keyGroupOf } from '../keys.js';
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

/** Resolved entries with physical keys, in order (what lib/lsm/scan.ts yields). */
type RawEntry = { key: Uint8Array; value: Uint8Array };
export type RawEntries = AsyncIterable<RawEntry> | Iterable<RawEntry>;

/**
 * An async iterator (and iterable: it returns itself, like a generator object) over `produce(view)`,
 * started on the first `next()`. Once started, calls are queued by an async generator (next/return/throw
 * served one at a time in call order), so `return()` during a `next()` waits for it and the view is never
 * released under a read. The hot path (`next()` of a started scan) is that generator's own `next()`.
 */
export class ScanIterator implements AsyncIterableIterator<ScanEntry> {
  private inner: AsyncGenerator<ScanEntry, void, undefined> | undefined;
  private finished = false;

  constructor(
    private readonly pinned: PinnedView,
    private readonly produce: (view: ScanView) => RawEntries,
  ) {
    abandoned.register(this, pinned, this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ScanEntry, undefined>> {
    // Revoked only if the view was still open when the store closed (a finished scan released it before).
    if (this.pinned.revoked) return Promise.reject(closedError());
    if (this.inner === undefined) {
      if (this.finished) return Promise.resolve(DONE);
      this.inner = this.run();
    }
    return this.inner.next() as Promise<IteratorResult<ScanEntry, undefined>>;
  }

  return(): Promise<IteratorResult<ScanEntry, undefined>> {
    if (this.inner !== undefined) return this.inner.return(undefined) as Promise<IteratorResult<ScanEntry, undefined>>;
    this.finish();
    return Promise.resolve(DONE);
  }

  throw(error?: unknown): Promise<IteratorResult<ScanEntry, undefined>> {
    if (this.inner !== undefined) return this.inner.throw(error) as Promise<IteratorResult<ScanEntry, undefined>>;
    this.finish();
    return Promise.reject(error);
  }

  /** The started scan; its `finally` releases the view however it ends (done, error, return, throw). */
  private async *run(): AsyncGenerator<ScanEntry, void, undefined> {
    try {
      for await (const e of this.produce(this.pinned.view)) yield { keyGroup: keyGroupOf(e.key), key: e.key.subarray(2), value: e.value };
    } catch (e) {
      throw this.pinned.revoked ? closedError(e) : e;
    } finally {
      this.finish();
    }
  }

  /** Releases the view (once). */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    abandoned.unregister(this);
    this.pinned.release();
  }
}

function closedError(cause?: unknown): FloeError {
  return new FloeError('CLOSED', 'the store was closed during this scan; open the store again and start a new scan', cause === undefined ? {} : { cause });
}
