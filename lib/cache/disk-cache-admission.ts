/**
 * The disk cache's miss path and admission writes: fetching missing pages with one remote read (sharing
 * pages another request is already fetching) and writing pages into slots, then publishing them. Used by
 * DiskCacheFolder (disk-cache.ts), which decides what to fetch and what to admit; the slot table it writes
 * into is disk-cache-slots.ts, the slot header's bytes disk-cache-layout.ts.
 *
 * Why fetched pages are published only after their write: a reader finds a page through the slot table and
 * trusts the header it reads back, so a slot becomes visible only once header and page are both on disk.
 */
import { FloeError } from '../errors.js';
import { writeParts, type LocalFile } from '../store/local-file.js';
import type { ByteSource } from './byte-source.js';
import { encodeSlotHeader } from './disk-cache-layout.js';
import type { IndexPersister } from './disk-cache-persist.js';
import { WRITING, type FileRecord, type SlotTable } from './disk-cache-slots.js';

const noop = (): void => {};

/** IO (retryable) for a remote read that returned fewer bytes than asked. */
export function shortRemoteRead(fileId: string, offset: number, asked: number, got: number): FloeError {
  return new FloeError(
    'IO',
    `remote read of file ${fileId} returned ${got} bytes at ${offset}, ${asked} were asked; the object is shorter than its recorded size or the read was cut short. Retrying may help.`,
    { retryable: true },
  );
}

export interface PageAdmissionParts {
  slots: SlotTable;
  data: LocalFile;
  pageBytes: number;
  slotBytes: number;
  persister: IndexPersister;
  /** Runs `work` in the background (close waits for it; a failure is counted); never rejects. */
  track: (work: Promise<void>) => Promise<void>;
  /** Counts one local I/O failure (it only costs cache warmth). */
  onError: () => void;
}

export class PageAdmission {
  /** In-flight remote fetches of single pages ("<hi>:<lo>:<page>"), kept until the page is written. */
  private readonly inflight = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly p: PageAdmissionParts) {}

  /** Whether page key `pageKey` ("<hi>:<lo>:<page>") is being fetched now. */
  isFetching(pageKey: string): boolean {
    return this.inflight.has(pageKey);
  }

  /**
   * The bytes of each page in `missing` (ascending): pages another request is already fetching are awaited;
   * the rest come from ONE remote read spanning the first to the last of them, and are admitted afterwards.
   * The remote read is shared, so it does not take any one caller's abort signal.
   */
  fetchPages(
    fileId: string,
    keyStr: string,
    hi: number,
    lo: number,
    remote: ByteSource,
    missing: readonly number[],
    pageLen: (p: number) => number,
  ): Promise<Uint8Array[]> {
    const waits: Promise<Uint8Array>[] = [];
    const toFetch: number[] = [];
    for (const p of missing) {
      const pending = this.inflight.get(`${keyStr}:${p}`);
      if (pending !== undefined) waits.push(pending);
      else toFetch.push(p);
    }
    if (toFetch.length === 0) return Promise.all(waits);
    const registered = this.fetchSpan(fileId, keyStr, hi, lo, remote, toFetch, pageLen);
    let w = 0;
    const ordered: Promise<Uint8Array>[] = [];
    for (const p of missing) ordered.push(registered.get(p) ?? waits[w++]!);
    return Promise.all(ordered);
  }

  /**
   * Starts one remote read of the pages `toFetch` (ascending, none in flight), registers each page as in
   * flight and admits them in the background once read. Returns each page's promise.
   */
  private fetchSpan(
    fileId: string,
    keyStr: string,
    hi: number,
    lo: number,
    remote: ByteSource,
    toFetch: readonly number[],
    pageLen: (p: number) => number,
  ): Map<number, Promise<Uint8Array>> {
    const P = this.p.pageBytes;
    const last = toFetch[toFetch.length - 1]!;
    const start = toFetch[0]! * P;
    const spanLength = last * P + pageLen(last) - start;
    const registered = new Map<number, Promise<Uint8Array>>();
    const unregister = (): void => {
      for (const [p, page] of registered) if (this.inflight.get(`${keyStr}:${p}`) === page) this.inflight.delete(`${keyStr}:${p}`);
    };
    const span = remote.read(start, spanLength).then((bytes) => {
      if (bytes.length !== spanLength) throw shortRemoteRead(fileId, start, spanLength, bytes.length);
      return bytes;
    });
    // Registered before any waiter's handler: a failed fetch is forgotten before anyone sees the error,
    // so a retry fetches again instead of finding the failure in flight.
    span.catch(unregister);
    for (const p of toFetch) {
      const page = span.then((bytes) => bytes.subarray(p * P - start, p * P - start + pageLen(p)));
      page.catch(noop); // the caller awaits it; this only keeps an abandoned wait from being unhandled
      this.inflight.set(`${keyStr}:${p}`, page);
      registered.set(p, page);
    }
    // Taken now: a file forgotten while its pages are fetched does not get them admitted afterwards.
    const rec = this.p.slots.record(keyStr, hi, lo);
    const admitAll = async (): Promise<void> => {
      try {
        const bytes = await span;
        for (const p of toFetch) await this.writePage(rec, p, bytes.subarray(p * P - start, p * P - start + pageLen(p)));
      } catch {
        // The remote read failed: the callers get the error; nothing to admit.
      } finally {
        unregister();
        this.p.slots.dropIfEmpty(rec);
      }
    };
    void this.p.track(admitAll());
    return registered;
  }

  /** Writes one page into a slot and publishes it. Skips pages already cached (at least as long) or being written. */
  async writePage(rec: FileRecord, page: number, bytes: Uint8Array): Promise<void> {
    const slots = this.p.slots;
    if (rec.forgotten || rec.writing.has(page)) return;
    const existing = rec.pages.get(page);
    if (existing !== undefined && slots.slotLen[existing]! >= bytes.length) return;
    const slot = slots.allocate();
    if (slot < 0) return;
    slots.state[slot] = WRITING;
    const generation = ++slots.gen[slot]!;
    rec.writing.add(page);
    let ok = false;
    try {
      // Header and page in one pwritev: no page-sized copy (the page is a view of the fetched bytes).
      const header = encodeSlotHeader({ hi: rec.hi, lo: rec.lo, page, length: bytes.length }, bytes);
      await writeParts(this.p.data, slot * this.p.slotBytes, [header, bytes]);
      ok = true;
    } catch {
      this.p.onError();
    } finally {
      rec.writing.delete(page);
    }
    if (slots.gen[slot] !== generation) return; // cannot happen (WRITING slots are never handed out), but never publish a reused slot
    const target = ok ? slots.live(rec) : undefined;
    if (target === undefined) {
      slots.abandon(slot);
      return;
    }
    // Publish first, then drop a shorter copy of the page, so the record is never momentarily empty.
    const old = target.pages.get(page);
    slots.publish(slot, target, page, bytes.length);
    slots.chunks.record(slot, bytes);
    if (old !== undefined) slots.release(old);
    this.p.persister.admitted();
  }
}
