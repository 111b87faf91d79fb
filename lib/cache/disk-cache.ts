/**
 * DiskCacheFolder: the local-disk secondary cache for remote SST bytes, page-granular, under a hard byte budget,
 * warm across restarts. Design and crash-safety argument: docs/caches.md; byte layout: disk-cache-layout.ts.
 *
 * - One data file of `slotCount` fixed slots ([32-byte header][page]); `slotCount` is derived from
 *   `capacityBytes` so that the data file, the index (twice, while it is replaced) and a filesystem-metadata
 *   reserve fit in the budget. The data file only grows into slots, never past the last one.
 * - In memory: file key → (page → slot), per-slot state/pins/reference bit; CLOCK eviction.
 * - Reads go through `source()`: cached pages are read and verified (header + CRC32C; a bad slot is dropped
 *   and counted as a miss), then ALL missing pages are fetched with ONE remote read covering the page-aligned
 *   span from the first to the last missing page, and admitted in the background. Pages already being fetched
 *   by another request are awaited instead of fetched again.
 * - With `admitOnSecondAccess`, a miss whose pages were none of them missed recently (a bounded ghost list of
 *   page keys, `ghostPages`: by default a quarter of the slot count) reads only the requested bytes and admits nothing; the next
 *   miss of such a page takes the path above. A one-off read (a cold uniform get) then costs one GET of the
 *   block alone: no page-sized read, no checksum, no local write (ForSt's cache admits the same way).
 *   A read that ends at the file's end (an SST's footer + index + filter, read when a table opens) is
 *   admitted at once.
 * - The index is persisted on close, and after `persistEveryPages` admissions (at most once per
 *   `persistMinIntervalMs`) or `persistEveryMs` (checked on admission; no timers). It is only a hint: a slot
 *   whose header does not match is never returned.
 *
 * - The folder holds only the cache's own files: anything else found there on open (an older version's
 *   per-instance sub-folders) is removed, so the folder stays within the budget.
 *
 * Jobs kept in their own modules: the slot table and CLOCK eviction (disk-cache-slots.ts), verified reads of
 * cached pages (disk-cache-reads.ts), the ghost list of admission on second access (disk-cache-ghosts.ts),
 * index persistence (disk-cache-persist.ts), the byte layout (disk-cache-layout.ts), and the miss path's shared
 * fetches and admission writes (disk-cache-admission.ts). This file opens the folder and serves reads: cached
 * pages, then one remote read for the missing ones.
 *
 * REQUIRES: one DiskCacheFolder per folder at a time (one process; lib/cache/disk-cache-registry.ts shares it
 * between the stores of a process and locks it against other processes). File ids are never reused for
 * different bytes. All I/O goes through a LocalFs (lib/store/local-file.ts), so tests can inject faults.
 */
import { join } from 'node:path';
import { FloeError } from '../errors.js';
import { nodeLocalFs, type LocalFile, type LocalFs } from '../store/local-file.js';
import { abortable } from '../util/abortable.js';
import { systemClock } from '../util/clock.js';
import type { ByteSource } from './byte-source.js';
import { cacheFileKey } from './file-key.js';
import {
  DATA_FILE,
  INDEX_FILE,
  INDEX_TMP_FILE,
  MAX_PAGES,
  decodeIndex,
  diskCacheGeometry,
  type IndexEntry,
} from './disk-cache-layout.js';
import { GhostList } from './disk-cache-ghosts.js';
import { IndexPersister } from './disk-cache-persist.js';
import { SlotReader, type Piece } from './disk-cache-reads.js';
import { SlotTable, keyString } from './disk-cache-slots.js';
import type { DiskCache, DiskCacheCounters, DiskCacheOptions, DiskCacheStats } from './disk-cache-api.js';
import { PageAdmission, shortRemoteRead } from './disk-cache-admission.js';

export type { DiskCache, DiskCacheCounters, DiskCacheOptions, DiskCacheStats } from './disk-cache-api.js';

const KiB = 1024;
const DEFAULT_PAGE_BYTES = 64 * KiB;
const DEFAULT_PERSIST_MS = 60_000;
const DEFAULT_PERSIST_MIN_INTERVAL_MS = 5_000;

const noop = (): void => {};

export class DiskCacheFolder implements DiskCache {
  private readonly capacity: number;
  private readonly pageBytes: number;
  private readonly slotBytes: number;
  private readonly slotCount: number;
  private readonly dir: string;
  private readonly data: LocalFile | undefined;
  /** Which slot holds which page; CLOCK eviction (disk-cache-slots.ts). */
  private readonly slots: SlotTable;
  /** With admitOnSecondAccess: pages missed once and not admitted, at most `ghostPages`. */
  private readonly ghosts: GhostList | undefined;
  /** undefined when the cache is disabled (no data file). */
  private readonly persister: IndexPersister | undefined;
  /** Verified reads of cached pages (disk-cache-reads.ts); undefined when the cache is disabled. */
  private readonly reader: SlotReader | undefined;
  private hits = 0;
  private misses = 0;
  private missedReads = 0;
  private errors = 0;

  /** The miss path's shared fetches and the admission writes (disk-cache-admission.ts); undefined when disabled. */
  private readonly admission: PageAdmission | undefined;
  /** Background work (admission writes, index writes); never rejects; awaited by close. */
  private readonly tasks = new Set<Promise<void>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(o: {
    options: DiskCacheOptions;
    pageBytes: number;
    slotBytes: number;
    slotCount: number;
    fs: LocalFs;
    data: LocalFile | undefined;
    grown: number;
  }) {
    this.capacity = o.options.capacityBytes;
    this.pageBytes = o.pageBytes;
    this.slotBytes = o.slotBytes;
    this.slotCount = o.slotCount;
    this.dir = o.options.dir;
    this.data = o.data;
    this.slots = new SlotTable(o.slotCount, o.pageBytes, o.grown);
    this.ghosts = o.options.admitOnSecondAccess === true ? new GhostList(o.options.ghostPages ?? Math.max(1, Math.ceil(o.slotCount / 4))) : undefined;
    this.reader =
      o.data === undefined
        ? undefined
        : new SlotReader(this.slots, o.data, o.pageBytes, o.slotBytes, (work) => this.hold(work), () => {
            this.errors++;
          });
    this.persister =
      o.data === undefined
        ? undefined
        : new IndexPersister({
            fs: o.fs,
            dir: o.options.dir,
            data: o.data,
            clock: o.options.clock ?? systemClock,
            pageBytes: o.pageBytes,
            slotCount: o.slotCount,
            everyPages: o.options.persistEveryPages ?? Math.max(64, Math.floor(o.slotCount / 8)),
            everyMs: o.options.persistEveryMs ?? DEFAULT_PERSIST_MS,
            minIntervalMs: o.options.persistMinIntervalMs ?? DEFAULT_PERSIST_MIN_INTERVAL_MS,
            entries: () => this.slots.entries(),
            track: (work) => this.track(work),
            onError: () => {
              this.errors++;
            },
          });
    this.admission =
      o.data === undefined || this.persister === undefined
        ? undefined
        : new PageAdmission({
            slots: this.slots,
            data: o.data,
            pageBytes: o.pageBytes,
            slotBytes: o.slotBytes,
            persister: this.persister,
            track: (work) => this.track(work),
            onError: () => {
              this.errors++;
            },
          });
  }

  /**
   * Opens the cache in `options.dir` (created if missing; replaced if it is not a folder), loading the
   * persisted index. A missing, torn or foreign index means starting empty; a data file larger than the
   * current budget allows is truncated first. Throws CONFIG for bad options or an unusable folder.
   */
  static async open(options: DiskCacheOptions): Promise<DiskCacheFolder> {
    const capacity = options.capacityBytes;
    if (!Number.isSafeInteger(capacity) || capacity < 0) {
      throw new FloeError('CONFIG', `diskCacheBytes must be a non-negative integer of bytes, got ${capacity}; use 0 to disable the disk cache`);
    }
    const pageBytes = options.pageBytes ?? DEFAULT_PAGE_BYTES;
    if (!Number.isInteger(pageBytes) || pageBytes < 4 * KiB || pageBytes > 16 * 1024 * KiB || (pageBytes & (pageBytes - 1)) !== 0) {
      throw new FloeError('CONFIG', `disk cache pageBytes must be a power of two from 4 KiB to 16 MiB, got ${pageBytes}`);
    }
    for (const [name, v] of [['persistEveryPages', options.persistEveryPages], ['persistEveryMs', options.persistEveryMs]] as const) {
      if (v !== undefined && (!Number.isFinite(v) || v < 1)) throw new FloeError('CONFIG', `disk cache ${name} must be a positive number, got ${v}`);
    }
    const ghostPages = options.ghostPages;
    if (ghostPages !== undefined && (!Number.isSafeInteger(ghostPages) || ghostPages < 0)) {
      throw new FloeError('CONFIG', `disk cache ghostPages must be a non-negative integer, got ${ghostPages}`);
    }
    const minInterval = options.persistMinIntervalMs;
    if (minInterval !== undefined && (!Number.isFinite(minInterval) || minInterval < 0)) {
      throw new FloeError('CONFIG', `disk cache persistMinIntervalMs must be a non-negative number, got ${minInterval}`);
    }
    const fs = options.fs ?? nodeLocalFs;
    const g = diskCacheGeometry(capacity, pageBytes);
    const dataPath = join(options.dir, DATA_FILE);
    const indexPath = join(options.dir, INDEX_FILE);
    const tmpPath = join(options.dir, INDEX_TMP_FILE);
    if (g.slotCount === 0) {
      // Disabled (or too small for one page): leave nothing behind that would count against a zero budget.
      await fs.remove(options.dir);
      return new DiskCacheFolder({ options, pageBytes, slotBytes: g.slotBytes, slotCount: 0, fs, data: undefined, grown: 0 });
    }
    const openData = async (): Promise<{ data: LocalFile; size: number }> => {
      if (!(await fs.isDirectory(options.dir))) {
        await fs.remove(options.dir);
        await fs.mkdirp(options.dir);
      }
      for (const e of (await fs.list(options.dir)) ?? []) {
        if (e.name !== DATA_FILE && e.name !== INDEX_FILE && e.name !== INDEX_TMP_FILE) await fs.remove(join(options.dir, e.name));
      }
      const data = await fs.open(dataPath, 'readwrite');
      try {
        return { data, size: await data.size() };
      } catch (e) {
        await data.close().catch(noop);
        throw e;
      }
    };
    let opened: { data: LocalFile; size: number };
    try {
      opened = await openData();
    } catch (e) {
      // The folder is ours alone and holds only cache state: rebuild it once before giving up.
      if (e instanceof FloeError && e.code === 'CONFIG') throw e;
      await fs.remove(options.dir);
      opened = await openData();
    }
    const { data } = opened;
    let size = opened.size;
    const limit = g.slotCount * g.slotBytes;
    if (size > limit) {
      await data.truncate(limit);
      size = limit;
    }
    let entries: IndexEntry[] = [];
    try {
      const bytes = await fs.readFile(indexPath);
      entries = (bytes && decodeIndex(bytes, pageBytes)) ?? [];
      await fs.remove(tmpPath);
    } catch {
      entries = []; // an unreadable index only costs warmth
    }
    const cache = new DiskCacheFolder({ options, pageBytes, slotBytes: g.slotBytes, slotCount: g.slotCount, fs, data, grown: Math.ceil(size / g.slotBytes) });
    cache.slots.install(entries, pageBytes);
    return cache;
  }

  /**
   * A ByteSource for file `fileId` of `fileSize` bytes that reads through this cache from `remote`.
   * `read(..., { fillCache: false })` serves cached pages but does not admit what it fetches. Page hits and
   * misses are counted in the cache's stats and, if given, in `counters`.
   */
  source(fileId: string, fileSize: number, remote: ByteSource, counters?: DiskCacheCounters): ByteSource {
    if (!Number.isSafeInteger(fileSize) || fileSize < 0) {
      throw new FloeError('INVALID_ARGUMENT', `file size of ${fileId} must be a non-negative integer, got ${fileSize}`);
    }
    const key = cacheFileKey(fileId);
    const keyStr = keyString(key.hi, key.lo);
    return {
      read: (offset, length, options) => this.readThrough(fileId, keyStr, key.hi, key.lo, fileSize, remote, counters, offset, length, options),
      readIntoSync: (offset, length, dest) => this.readHitSync(keyStr, fileSize, counters, offset, length, dest),
    };
  }

  /**
   * Admits `bytes` found at `offset` of file `fileId` (flush or compaction output, refills): every page
   * fully inside the range, and a trailing partial page (the file's short last page, or a prefix that is
   * replaced when the full page is admitted later). A leading partial page is skipped. Resolves when written.
   * Local write failures are counted, not thrown: the cache is only a cache.
   */
  async admit(fileId: string, bytes: Uint8Array, offset = 0): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new FloeError('INVALID_ARGUMENT', `admit offset must be a non-negative integer, got ${offset}`);
    }
    const admission = this.admission;
    if (this.closed || admission === undefined || bytes.length === 0) return;
    const key = cacheFileKey(fileId);
    const P = this.pageBytes;
    const end = offset + bytes.length;
    // One record for the whole admission: if the file is forgotten meanwhile, the rest is not admitted.
    const rec = this.slots.record(keyString(key.hi, key.lo), key.hi, key.lo);
    const work = (async () => {
      try {
        for (let p = Math.ceil(offset / P); p * P < end && p < MAX_PAGES; p++) {
          const from = p * P - offset;
          await admission.writePage(rec, p, bytes.subarray(from, Math.min(from + P, bytes.length)));
        }
      } finally {
        this.slots.dropIfEmpty(rec);
      }
    })();
    await this.track(work);
  }

  /** Drops every page of `fileId` (the file was deleted from primary storage). */
  async forget(fileId: string): Promise<void> {
    const key = cacheFileKey(fileId);
    const keyStr = keyString(key.hi, key.lo);
    const rec = this.slots.files.get(keyStr);
    if (rec === undefined) return;
    rec.forgotten = true;
    this.slots.files.delete(keyStr);
    for (const slot of rec.pages.values()) this.slots.release(slot);
    rec.pages.clear();
    this.persister?.changed();
  }

  /** Whether every byte of [offset, offset+length) of `fileId` is in cached pages (not verified here). */
  isCached(fileId: string, offset: number, length: number): boolean {
    if (this.closed || length <= 0) return !this.closed && length === 0;
    const key = cacheFileKey(fileId);
    const rec = this.slots.files.get(keyString(key.hi, key.lo));
    if (rec === undefined) return false;
    const P = this.pageBytes;
    const end = offset + length;
    for (let p = Math.floor(offset / P); p * P < end; p++) {
      const slot = rec.pages.get(p);
      if (slot === undefined || this.slots.slotLen[slot]! < Math.min(P, end - p * P)) return false;
    }
    return true;
  }

  /** Resolves when the background admissions started so far have finished (pages are then visible). */
  async settle(): Promise<void> {
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
  }

  /**
   * The cached byte ranges of `fileId` as [offset, length] pairs of whole pages, adjacent pages merged:
   * what a checkpoint records as the file's hot ranges, for warm-up after restore.
   */
  cachedRanges(fileId: string): Array<[number, number]> {
    const key = cacheFileKey(fileId);
    const rec = this.slots.files.get(keyString(key.hi, key.lo));
    if (rec === undefined || this.closed) return [];
    const P = this.pageBytes;
    const out: Array<[number, number]> = [];
    for (const page of [...rec.pages.keys()].sort((a, b) => a - b)) {
      const len = this.slots.slotLen[rec.pages.get(page)!]!;
      const last = out[out.length - 1];
      if (last !== undefined && last[0] + last[1] === page * P) last[1] += len;
      else out.push([page * P, len]);
    }
    return out;
  }

  stats(): DiskCacheStats {
    return { capacity: this.capacity, bytes: this.slots.cachedBytes, hits: this.hits, misses: this.misses, missedReads: this.missedReads };
  }

  /** Local I/O failures so far (reads, admissions, index writes); each only cost cache warmth. */
  get ioErrors(): number {
    return this.errors;
  }

  /** Waits for background writes, persists the index, closes the data file. Idempotent; never rejects for local I/O failures. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      this.closed = true;
      this.persister?.stop();
      this.closing = (async () => {
        while (this.tasks.size > 0) await Promise.all([...this.tasks]);
        if (this.data === undefined) return;
        await this.persister?.persistNow();
        await this.data.close().catch(() => {
          this.errors++;
        });
      })();
    }
    return this.closing;
  }

  // ---- read path ----

  /** ByteSource.readIntoSync: a read whose pages are all cached, served synchronously (SlotReader.readCachedSync) and counted as hits. */
  private readHitSync(keyStr: string, fileSize: number, counters: DiskCacheCounters | undefined, offset: number, length: number, dest: Uint8Array): boolean {
    if (this.closed || this.reader === undefined || length <= 0 || length > dest.length || offset < 0 || offset + length > fileSize) return false;
    const rec = this.slots.files.get(keyStr);
    if (rec === undefined || !this.reader.readCachedSync(rec, fileSize, offset, length, dest)) return false;
    const count = Math.floor((offset + length - 1) / this.pageBytes) - Math.floor(offset / this.pageBytes) + 1;
    this.hits += count;
    if (counters) counters.hits += count;
    return true;
  }

  private async readThrough(
    fileId: string,
    keyStr: string,
    hi: number,
    lo: number,
    fileSize: number,
    remote: ByteSource,
    counters: DiskCacheCounters | undefined,
    offset: number,
    length: number,
    options: { signal?: AbortSignal; fillCache?: boolean } | undefined,
  ): Promise<Uint8Array> {
    const signal = options?.signal;
    if (signal?.aborted) throw signal.reason;
    if (this.closed) throw new FloeError('CLOSED', `disk cache in ${this.dir} is closed; open the store again`);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > fileSize) {
      throw new FloeError(
        'INVALID_ARGUMENT',
        `read of ${length} bytes at ${offset} is outside file ${fileId} of ${fileSize} bytes; read within the file`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    const P = this.pageBytes;
    const p0 = Math.floor(offset / P);
    const p1 = Math.floor((offset + length - 1) / P);
    const count = p1 - p0 + 1;
    if (this.slotCount === 0 || p1 >= MAX_PAGES) {
      this.misses += count;
      this.missedReads++;
      if (counters) {
        counters.misses += count;
        counters.missedReads++;
      }
      const bytes = await remote.read(offset, length, signal ? { signal } : undefined);
      if (bytes.length !== length) throw shortRemoteRead(fileId, offset, length, bytes.length);
      return bytes;
    }
    const pageLen = (p: number): number => Math.min(P, fileSize - p * P);
    const pieces: (Piece | undefined)[] = new Array<Piece | undefined>(count).fill(undefined);

    // 1. Cached pages, each verified.
    const rec = this.slots.files.get(keyStr);
    if (rec !== undefined) await this.reader!.readCached(rec, p0, p1, offset, length, pageLen, pieces);
    const missing: number[] = [];
    for (let i = 0; i < count; i++) if (pieces[i] === undefined) missing.push(p0 + i);
    const missed = missing.length > 0 ? 1 : 0;
    this.hits += count - missing.length;
    this.misses += missing.length;
    this.missedReads += missed;
    if (counters) {
      counters.hits += count - missing.length;
      counters.misses += missing.length;
      counters.missedReads += missed;
    }

    // 2. Missing pages: at most one remote read.
    if (missing.length > 0) {
      // A read that ends at the end of the file is a table open (an SST's footer, index and filter sit at its
      // end, read once per open): admitted at once, so reopening, restoring or warming up needs no GET for it.
      if (options?.fillCache === false || (offset + length < fileSize && this.firstMiss(keyStr, missing))) {
        const start = Math.max(offset, missing[0]! * P);
        const end = Math.min(offset + length, (missing[missing.length - 1]! + 1) * P);
        const bytes = await remote.read(start, end - start, signal ? { signal } : undefined);
        if (bytes.length !== end - start) throw shortRemoteRead(fileId, start, end - start, bytes.length);
        if (missing.length === count) return bytes;
        for (const p of missing) pieces[p - p0] = { bytes, base: start, shared: false };
      } else {
        const fetched = await abortable(this.admission!.fetchPages(fileId, keyStr, hi, lo, remote, missing, pageLen), signal);
        for (let i = 0; i < missing.length; i++) pieces[missing[i]! - p0] = { bytes: fetched[i]!, base: missing[i]! * P, shared: true };
      }
    }

    // 3. Assemble. One unshared piece covering the request: a view, no copy. Fetched pages are shared with
    // concurrent readers and with the admission write, so callers always get their own copy of those.
    const first = pieces[0]!;
    if (count === 1 && !first.shared) return first.bytes.subarray(offset - first.base, offset - first.base + length);
    const out = new Uint8Array(length);
    for (let i = 0; i < count; i++) {
      const piece = pieces[i]!;
      const from = Math.max(offset, (p0 + i) * P);
      const to = Math.min(offset + length, (p0 + i + 1) * P);
      out.set(piece.bytes.subarray(from - piece.base, to - piece.base), from - offset);
    }
    return out;
  }

  /**
   * With admitOnSecondAccess: true if no page of `missing` was missed recently nor is being fetched (the read
   * then bypasses admission); the pages are remembered either way, so their next miss admits them.
   */
  private firstMiss(keyStr: string, missing: readonly number[]): boolean {
    return this.ghosts?.firstMiss(keyStr, missing, (k) => this.admission?.isFetching(k) === true) === true;
  }

  // ---- background work ----

  /** Background work: close() waits for it; a failure is counted (it only costs cache warmth). Never rejects. */
  private track(work: Promise<void>): Promise<void> {
    return this.hold(
      work.catch(() => {
        this.errors++;
      }),
    );
  }

  /** Makes close() wait for `work` before closing the data file; returns `work` unchanged. */
  private hold<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(noop, noop);
    this.tasks.add(settled);
    void settled.finally(() => this.tasks.delete(settled));
    return work;
  }
}
