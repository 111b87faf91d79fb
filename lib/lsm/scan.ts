/**
 * Range scans: a merging iterator over memtables and SST levels at one snapshot.
 *
 * Sources, newest first: the live memtable (paged at the snapshot sequence), frozen memtables, each L0
 * file, then one concatenating source per deeper level. For each key the newest source decides; merge
 * operands fold onto older values. SST sources read a block at a time and keep reads in flight ahead.
 */
import type { Entry } from '../sst/entry.js';
import { compareBytes } from '../keys.js';
import { keyToString, type Memtable } from './memtable.js';
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

interface Source {
  /** Current entry, or undefined when exhausted. REQUIRES: fill() resolved since the last advance. */
  head(): Entry | undefined;
  advance(): void;
  /** Whether head() is valid now, without I/O. */
  ready(): boolean;
  /** Makes head() valid (may await I/O). */
  fill(): Promise<void>;
}

const MEM_PAGE = 256;

class MemtableSource implements Source {
  private page: Entry[] = [];
  private pos = 0;
  private done = false;
  private lastKey: string | undefined;

  constructor(
    private readonly mem: Memtable,
    private readonly range: ScanRange,
    private readonly snapshot: number,
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
    const gte = this.range.gte === undefined ? undefined : keyToString(this.range.gte);
    const lt = this.range.lt === undefined ? undefined : keyToString(this.range.lt);
    this.page = this.mem.range(gte, lt, this.snapshot, MEM_PAGE, this.lastKey);
    this.pos = 0;
    if (this.page.length < MEM_PAGE) this.done = true;
    if (this.page.length > 0) this.lastKey = keyToString(this.page[this.page.length - 1]!.key);
  }
}

/** Consecutive non-overlapping files (one L0 file, or a whole deeper level) read block by block. */
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
        .blocks({ ...rangeWithin(this.range, file), prefetch: this.prefetch })
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

/** Yields resolved (key, value) pairs in key order; tombstones and shadowed versions are skipped. */
export async function* scanEntries(view: ScanView, range: ScanRange, limit: number): AsyncGenerator<{ key: Uint8Array; value: Uint8Array }> {
  if (limit <= 0) return;
  const tombstones = view.rangeTombstones ?? [];
  const sources: Source[] = [];
  for (const m of view.memtables) sources.push(new MemtableSource(m, range, view.snapshot));
  for (const f of filesInRange(view.version.levels[0]!, range)) sources.push(new FilesSource([f], range, view.tables, view.prefetchBlocks));
  for (let level = 1; level < view.version.levels.length; level++) {
    const files = filesInRange(view.version.levels[level]!, range);
    if (files.length > 0) sources.push(new FilesSource(files, range, view.tables, view.prefetchBlocks));
  }
  await Promise.all(sources.map((s) => s.fill()));
  let emitted = 0;
  for (;;) {
    let min: Uint8Array | undefined;
    for (const s of sources) {
      const h = s.head();
      if (h !== undefined && (min === undefined || compareBytes(h.key, min) < 0)) min = h.key;
    }
    if (min === undefined) return;
    if (range.lt !== undefined && compareBytes(min, range.lt) >= 0) return;
    const resolver = new PointResolver(tombstones.length === 0 ? 0 : coveringSeq(tombstones, min));
    const refill: Promise<void>[] = [];
    for (const s of sources) {
      const h = s.head();
      if (h === undefined || compareBytes(h.key, min) !== 0) continue;
      if (!resolver.finished) resolver.push(h.kind, h.value, h.ttl, h.seq);
      s.advance();
      if (!s.ready()) refill.push(s.fill());
    }
    if (refill.length > 0) await Promise.all(refill);
    const value = resolver.value(view.ttlNow);
    if (value !== undefined) {
      yield { key: min, value };
      if (++emitted >= limit) return;
    }
  }
}

