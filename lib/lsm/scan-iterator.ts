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
import type { PageSource, ScanView } from './scan.js';

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
export type RawEntries = AsyncIterable<RawEntry> | Iterable<RawEntry> | PageSource;

/** Entries pulled per page from a producer that is an (async) iterable rather than a PageSource. */
const ITERABLE_PAGE = 128;

/**
 * An async iterator (and iterable: it returns itself, like a generator object) over `produce(view)`,
 * started on the first `next()`. Entries come from the producer a page at a time: `next()` on a buffered
 * entry resolves at once, without a generator or an extra promise hop. Calls that need the producer
 * (the next page, `return()`, `throw()`) are served one at a time in call order, so `return()` during a
 * `next()` waits for it and the view is never released under a read.
 */
export class ScanIterator implements AsyncIterableIterator<ScanEntry> {
  private source: PageSource | undefined;
  private page: RawEntry[] = [];
  private pos = 0;
  private finished = false;
  /** Calls queued or running in `serial`, and a promise that settles when the last of them has. */
  private queued = 0;
  private tail: Promise<void> = Promise.resolve();

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
    if (this.queued === 0 && this.pos < this.page.length) return Promise.resolve({ done: false, value: scanEntry(this.page[this.pos++]!) });
    if (this.queued === 0 && this.finished) return Promise.resolve(DONE);
    return this.serial(() => this.nextSlow());
  }

  return(): Promise<IteratorResult<ScanEntry, undefined>> {
    if (this.queued === 0) {
      this.finish();
      return Promise.resolve(DONE);
    }
    return this.serial(async () => {
      this.finish();
      return DONE;
    });
  }

  throw(error?: unknown): Promise<IteratorResult<ScanEntry, undefined>> {
    if (this.queued === 0) {
      this.finish();
      return Promise.reject(error);
    }
    return this.serial(async () => {
      this.finish();
      throw error;
    });
  }

  /** Runs `op` after every call queued before it. REQUIRES: `op` reports failure by rejecting. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      try {
        return await op();
      } finally {
        this.queued--;
      }
    };
    const p = ++this.queued === 1 ? run() : this.tail.then(run);
    this.tail = p.then(noop, noop);
    return p;
  }

  /** The next entry when the page is used up: the producer's next page; its end or failure ends the scan. */
  private async nextSlow(): Promise<IteratorResult<ScanEntry, undefined>> {
    if (this.pinned.revoked) throw closedError();
    if (this.pos < this.page.length) return { done: false, value: scanEntry(this.page[this.pos++]!) };
    if (this.finished) return DONE;
    try {
      this.source ??= pages(this.produce(this.pinned.view));
      const page = await this.source.nextPage();
      if (page.length === 0) {
        this.finish();
        return DONE;
      }
      this.page = page;
      this.pos = 1;
      return { done: false, value: scanEntry(page[0]!) };
    } catch (e) {
      this.finish();
      throw this.pinned.revoked ? closedError(e) : e;
    }
  }

  /** Releases the view (once). */
  private finish(): void {
    this.page = [];
    this.pos = 0;
    if (this.finished) return;
    this.finished = true;
    abandoned.unregister(this);
    this.pinned.release();
  }
}

const noop = (): void => {};

function scanEntry(e: RawEntry): ScanEntry {
  return { keyGroup: keyGroupOf(e.key), key: e.key.subarray(2), value: e.value };
}

function isPageSource(p: RawEntries): p is PageSource {
  return typeof (p as Partial<PageSource>).nextPage === 'function';
}

/** Adapts what a producer returned to pages. */
function pages(p: RawEntries): PageSource {
  if (isPageSource(p)) return p;
  if (Symbol.asyncIterator in p) {
    const it = p[Symbol.asyncIterator]();
    let failed: { error: unknown } | undefined;
    return {
      async nextPage() {
        if (failed !== undefined) throw failed.error;
        const out: RawEntry[] = [];
        try {
          while (out.length < ITERABLE_PAGE) {
            const r = await it.next();
            if (r.done === true) break;
            out.push(r.value);
          }
        } catch (e) {
          if (out.length === 0) throw e;
          failed = { error: e }; // hand out what was read first, as the entry-at-a-time scan did
        }
        return out;
      },
    };
  }
  const it = p[Symbol.iterator]();
  return {
    nextPage() {
      const out: RawEntry[] = [];
      for (let r = it.next(); r.done !== true; r = it.next()) {
        out.push(r.value);
        if (out.length >= ITERABLE_PAGE) break;
      }
      return Promise.resolve(out);
    },
  };
}

function closedError(cause?: unknown): FloeError {
  return new FloeError('CLOSED', 'the store was closed during this scan; open the store again and start a new scan', cause === undefined ? {} : { cause });
}
