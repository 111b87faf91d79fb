/**
 * Range scans: a merging iterator over memtables and SST levels at one snapshot.
 *
 * Sources, newest first: the live memtable (paged at the snapshot sequence), frozen memtables, each L0
 * file, then one concatenating source per deeper level. For each key the newest source decides; merge
 * operands fold onto older values. SST sources read a block at a time and keep reads in flight ahead.
 */
import { EntryKind, type Entry } from '../sst/entry.js';
import { compareBytes } from '../keys.js';
import type { Memtable } from './memtable.js';
import { PointResolver } from './merge-values.js';
import { effectiveLargest, effectiveSmallest, inClip, type FileMeta } from './file-meta.js';
import type { Version } from './version.js';
import type { TableCache } from './table-cache.js';
import { coveringSeq, type RangeTombstone } from './range-tombstones.js';

export interface ScanView {
  snapshot: number;
  memtables: Memtable[]; // newest first
  version: Version;
  tables: TableCache;
  prefetchBlocks: number;
  /** Range tombstones visible at the snapshot (version and memtables). */
  rangeTombstones?: ReadonlyArray<RangeTombstone>;
  /** Set with TTL visibility NeverReturnExpired: bytes expired at this time are not returned. */
  ttlNow?: number;
}

export interface ScanRange {
  gte?: Uint8Array;
  lt?: Uint8Array;
}

export interface Source {
  /** Current entry, or undefined when exhausted. REQUIRES: fill() resolved since the last advance. */
  head(): Entry | undefined;
  advance(): void;
  /** Whether head() is valid now, without I/O. */
  ready(): boolean;
  /** Makes head() valid (may await I/O). */
  fill(): Promise<void>;
}

const MEM_PAGE = 256;

/** A memtable's entries in the range at the snapshot, paged; ascending, or descending with `reverse`. */
export class MemtableSource implements Source {
  private page: Entry[] = [];
  private pos = 0;
  private done = false;
  private lastKey: Uint8Array | undefined;

  constructor(
    private readonly mem: Memtable,
    private readonly range: ScanRange,
    private readonly snapshot: number,
    private readonly reverse = false,
  ) {}

  head(): Entry | undefined {
    return this.page[this.pos];
  }

  advance(): void {
    this.pos++;
  }

  ready(): boolean {
    return this.pos < this.page.length || this.done;
  }

  async fill(): Promise<void> {
    if (this.ready()) return;
    const { gte, lt } = this.range;
    this.page = this.reverse
      ? this.mem.rangeBackward(gte, lt, this.snapshot, MEM_PAGE, this.lastKey)
      : this.mem.range(gte, lt, this.snapshot, MEM_PAGE, this.lastKey);
    this.pos = 0;
    if (this.page.length < MEM_PAGE) this.done = true;
    if (this.page.length > 0) this.lastKey = this.page[this.page.length - 1]!.key;
  }
}

/** Consecutive non-overlapping files (one L0 file, or a whole deeper level) read block by block. */
/** Scans with a limit up to this decode blocks in steps of `limit` entries (MergeScan's constructor). */
const SHORT_SCAN_DECODE = 1024;

class FilesSource implements Source {
  private fileIndex = 0;
  private batches: AsyncIterator<Entry[]> | undefined;
  private batch: Entry[] = [];
  private pos = 0;
  private current: FileMeta | undefined;

  constructor(
    private readonly files: FileMeta[],
    private readonly range: ScanRange,
    private readonly tables: TableCache,
    private readonly prefetch: number,
    /** Entries decoded per step of a block (undefined: whole blocks); see MergeScan's constructor. */
    private readonly pageEntries: number | undefined,
  ) {}

  head(): Entry | undefined {
    return this.batch[this.pos];
  }

  advance(): void {
    this.pos++;
  }

  ready(): boolean {
    const e = this.batch[this.pos];
    return e !== undefined && (this.current === undefined || inClip(this.current, e.key));
  }

  async fill(): Promise<void> {
    for (;;) {
      while (this.pos < this.batch.length) {
        const e = this.batch[this.pos]!;
        if (this.current === undefined || inClip(this.current, e.key)) return;
        this.pos++;
      }
      if (this.batches !== undefined) {
        const r = await this.batches.next();
        if (!r.done) {
          this.batch = r.value;
          this.pos = 0;
          continue;
        }
        this.batches = undefined;
      }
      const file = this.files[this.fileIndex++];
      if (file === undefined) {
        this.batch = [];
        this.pos = 0;
        return;
      }
      this.current = file;
      const reader = await this.tables.get(file);
      this.batches = reader
        .blocks({ ...rangeWithin(this.range, file), prefetch: this.prefetch, ...(this.pageEntries !== undefined ? { pageEntries: this.pageEntries } : {}) })
        [Symbol.asyncIterator]();
    }
  }
}

function rangeWithin(range: ScanRange, f: FileMeta): { gte?: Uint8Array; lt?: Uint8Array } {
  const out: { gte?: Uint8Array; lt?: Uint8Array } = {};
  const s = effectiveSmallest(f);
  out.gte = range.gte === undefined || compareBytes(s, range.gte) > 0 ? s : range.gte;
  if (range.lt !== undefined) out.lt = range.lt;
  return out;
}

function filesInRange(files: ReadonlyArray<FileMeta>, range: ScanRange): FileMeta[] {
  return files.filter(
    (f) =>
      (range.lt === undefined || compareBytes(effectiveSmallest(f), range.lt) < 0) &&
      (range.gte === undefined || compareBytes(effectiveLargest(f), range.gte) >= 0),
  );
}

/** A resolved entry with its physical key. */
export type RawEntry = { key: Uint8Array; value: Uint8Array };

/** A scan handed out a page of entries at a time: an empty page means the scan is exhausted. */
export interface PageSource {
  nextPage(): Promise<RawEntry[]>;
}

/** Entries per page: large enough to amortise a promise per page, small enough to bound a page's memory. */
const SCAN_PAGE = 128;

/**
 * The merging scan over a view, handed out in pages. Within a page, entries are produced synchronously
 * while every source has its head in memory; a source that must read a block is awaited (all refills of
 * one step together), so a page costs one promise rather than one per entry.
 */
export class MergeScan implements PageSource {
  private readonly sources: Source[] = [];
  private readonly tombstones: ReadonlyArray<RangeTombstone>;
  private readonly ttlNow: number | undefined;
  private started = false;
  private emitted = 0;
  private done: boolean;
  /** A read error that ended a page early, thrown by the next call. */
  private failed: { error: unknown } | undefined;

  constructor(
    view: ScanView,
    private readonly range: ScanRange,
    private readonly limit: number,
  ) {
    this.tombstones = view.rangeTombstones ?? [];
    this.ttlNow = view.ttlNow;
    this.done = limit <= 0;
    if (this.done) return;
    for (const m of view.memtables) this.sources.push(new MemtableSource(m, range, view.snapshot));
    // A short scan takes at most `limit` entries from any one source: decoding a whole 16 KiB block (~130
    // entries) from each of several sources was most of a 100-entry scan's decoding. More is decoded on demand.
    const page = limit <= SHORT_SCAN_DECODE ? limit : undefined;
    for (const f of filesInRange(view.version.levels[0]!, range)) this.sources.push(new FilesSource([f], range, view.tables, view.prefetchBlocks, page));
    for (let level = 1; level < view.version.levels.length; level++) {
      const files = filesInRange(view.version.levels[level]!, range);
      if (files.length > 0) this.sources.push(new FilesSource(files, range, view.tables, view.prefetchBlocks, page));
    }
  }

  /**
   * The next entries in key order (tombstones, range-deleted, expired and shadowed versions skipped); empty
   * when exhausted. A read that fails after some entries of a page were produced fails the next call, so
   * those entries are still handed out first (as an entry-at-a-time scan would).
   */
  async nextPage(): Promise<RawEntry[]> {
    if (this.failed !== undefined) throw this.failed.error;
    const out: RawEntry[] = [];
    if (this.done) return out;
    try {
      await this.fillPage(out);
    } catch (e) {
      this.done = true;
      if (out.length === 0) throw e;
      this.failed = { error: e };
    }
    return out;
  }

  private async fillPage(out: RawEntry[]): Promise<void> {
    const sources = this.sources;
    const tombstones = this.tombstones;
    if (!this.started) {
      this.started = true;
      await Promise.all(sources.map((s) => s.fill()));
    }
    const lt = this.range.lt;
    while (out.length < SCAN_PAGE && !this.done) {
      let min: Uint8Array | undefined;
      let minSource: Source | undefined;
      let ties = false;
      for (let i = 0; i < sources.length; i++) {
        const h = sources[i]!.head();
        if (h === undefined) continue;
        const c = min === undefined ? -1 : compareBytes(h.key, min);
        if (c < 0) {
          min = h.key;
          minSource = sources[i];
          ties = false;
        } else if (c === 0) {
          ties = true;
        }
      }
      if (min === undefined || (lt !== undefined && compareBytes(min, lt) >= 0)) {
        this.done = true;
        break;
      }
      const coveredBelow = tombstones.length === 0 ? 0 : coveringSeq(tombstones, min);
      if (!ties) {
        // The common case: one source holds the key. A plain put (no TTL, not range-deleted) is emitted
        // as it is: an Entry is a RawEntry, so no resolver and no new object.
        const s = minSource!;
        const h = s.head()!;
        s.advance();
        if (!s.ready()) await s.fill();
        if (h.kind === EntryKind.Put && h.ttl === undefined && h.seq >= coveredBelow) {
          out.push(h);
          if (++this.emitted >= this.limit) this.done = true;
          continue;
        }
        const resolver = new PointResolver(coveredBelow);
        resolver.push(h.kind, h.value, h.ttl, h.seq);
        this.emit(out, min, resolver.value(this.ttlNow));
        continue;
      }
      const resolver = new PointResolver(coveredBelow);
      const refill: Promise<void>[] = [];
      for (const s of sources) {
        const h = s.head();
        if (h === undefined || compareBytes(h.key, min) !== 0) continue;
        if (!resolver.finished) resolver.push(h.kind, h.value, h.ttl, h.seq);
        s.advance();
        if (!s.ready()) refill.push(s.fill());
      }
      if (refill.length > 0) await Promise.all(refill);
      this.emit(out, min, resolver.value(this.ttlNow));
    }
  }

  private emit(out: RawEntry[], key: Uint8Array, value: Uint8Array | undefined): void {
    if (value === undefined) return;
    out.push({ key, value });
    if (++this.emitted >= this.limit) this.done = true;
  }
}

/** Yields resolved (key, value) pairs in key order; tombstones and shadowed versions are skipped. */
export async function* scanEntries(view: ScanView, range: ScanRange, limit: number): AsyncGenerator<RawEntry> {
  const scan = new MergeScan(view, range, limit);
  for (;;) {
    const page = await scan.nextPage();
    if (page.length === 0) return;
    yield* page;
  }
}
