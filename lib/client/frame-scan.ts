/**
 * The iterator of a scan over protocol frames (socket client and in-process sharded store).
 *
 * The scan is opened (SCAN) when `scan()` is called, and the router then holds a cursor, and every shard
 * it spans a pinned read view, until the scan ends. So the cursor is closed (SCAN_CLOSE) by whichever
 * comes first: the last page, `return()` or `throw()` on the iterator (whether or not iteration started),
 * or the iterator becoming unreachable (FinalizationRegistry; JavaScript has no destructors, so this waits
 * for a garbage collection that finds the iterator dead). A closed connection closes all its cursors on
 * the daemon side (RouterSession.close).
 */
import type { ScanEntry } from '../api.js';
import type { Page } from '../protocol/protocol.js';

/** The requests a scan makes, bound to one store. Must not reference the iterator. */
export interface CursorOps {
  nextPage(cursor: number): Promise<Page>;
  close(cursor: number): void;
}

/** What the iterator holds on the server: shared with the registry, so it never references the iterator. */
class CursorState {
  /** The daemon's cursor id, once the first page named it (0 until then). */
  cursor = 0;
  /** The daemon finished the cursor (a page said done): nothing to close. */
  done = false;
  released = false;

  constructor(private readonly ops: CursorOps) {}

  /** Records what a page says; a page landing after release closes the cursor it names. */
  track(p: Promise<Page>): Promise<Page> {
    const tracked = p.then((page) => {
      if (page.done) this.done = true;
      else this.cursor = page.cursor;
      if (this.released && !page.done) this.ops.close(page.cursor);
      return page;
    });
    tracked.catch(noop); // observed by the iterator; this only keeps an unread failure from being "unhandled"
    return tracked;
  }

  /** Closes the cursor (once). One whose first page is still in flight is closed when it lands. */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.cursor !== 0 && !this.done) this.ops.close(this.cursor);
  }
}

const noop = (): void => undefined;
const abandoned = new FinalizationRegistry<CursorState>((state) => state.release());
const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined }) as IteratorReturnResult<undefined>;

/**
 * Pages through a scan opened by `first` (the SCAN request, already sent), one page read ahead. Calls are
 * served one at a time in call order.
 */
export class FrameScanIterator implements AsyncIterableIterator<ScanEntry> {
  private readonly state: CursorState;
  private pending: Promise<Page> | undefined;
  private entries: ScanEntry[] = [];
  private at = 0;
  private finished = false;
  private queue: Promise<unknown> = Promise.resolve();
  /** Calls queued or running. */
  private busy = 0;

  constructor(
    first: Promise<Page>,
    private readonly ops: CursorOps,
  ) {
    this.state = new CursorState(ops);
    this.pending = this.state.track(first);
    abandoned.register(this, this.state, this);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<ScanEntry, undefined>> {
    // Fast path: nothing queued and the page in hand has entries left.
    if (this.busy === 0 && this.at < this.entries.length) return Promise.resolve({ done: false, value: this.entries[this.at++]! });
    return this.serialize(() => this.step());
  }

  return(): Promise<IteratorResult<ScanEntry, undefined>> {
    return this.serialize(async () => {
      this.finish();
      return DONE;
    });
  }

  throw(error?: unknown): Promise<IteratorResult<ScanEntry, undefined>> {
    return this.serialize(async () => {
      this.finish();
      throw error;
    });
  }

  private serialize<T>(op: () => Promise<T>): Promise<T> {
    this.busy++;
    const p = this.queue.then(op);
    const settle = (): void => {
      this.busy--;
    };
    this.queue = p.then(settle, settle);
    return p;
  }

  private async step(): Promise<IteratorResult<ScanEntry, undefined>> {
    for (;;) {
      if (this.finished) return DONE;
      if (this.at < this.entries.length) return { done: false, value: this.entries[this.at++]! };
      if (this.pending === undefined) {
        this.finish();
        return DONE;
      }
      let page: Page;
      try {
        page = await this.pending;
      } catch (e) {
        this.finish();
        throw e;
      }
      this.entries = page.entries;
      this.at = 0;
      this.pending = page.done ? undefined : this.state.track(this.ops.nextPage(page.cursor));
    }
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.pending = undefined;
    this.entries = [];
    abandoned.unregister(this);
    this.state.release();
  }
}
