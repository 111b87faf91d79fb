/**
 * Reverse range scans: the mirror of lib/lsm/scan.ts, yielding resolved entries in DESCENDING key order.
 *
 * Sources, newest first as in a forward scan: memtables (paged backward, one index step per entry),
 * each L0 file, then one source per deeper level walking its files last to first. An SST is read block by
 * block from its last block in range towards its first (the index gives every block's handle, so no block
 * is read that the scan does not need); the entries of one block are decoded forward and consumed from the
 * end. Memory is bounded like a forward scan: one memtable page and a few blocks per source.
 * For each key the newest source decides; merge operands fold onto older values (lib/lsm/merge-values.ts).
 */
import type { Entry } from '../sst/entry.js';
import type { DataBlock } from '../sst/data-block.js';
import type { SstReader } from '../sst/reader.js';
import { compareBytes, keyGroupStart } from '../keys.js';
import { PointResolver } from './merge-values.js';
import { coveringSeq } from './range-tombstones.js';
import { effectiveLargest, effectiveSmallest, inClip, type FileMeta } from './file-meta.js';
import { MemtableSource, type ScanRange, type ScanView, type Source } from './scan.js';
import type { TableCache } from './table-cache.js';

/** Non-overlapping files given in DESCENDING key order, each read backward block by block. */
class ReverseFilesSource implements Source {
  private fileIndex = 0;
  private batches: AsyncGenerator<Entry[]> | undefined;
  /** Entries of the current block, ascending; consumed from the end. */
  private batch: Entry[] = [];
  private pos = -1;
  private current: FileMeta | undefined;

  constructor(
    private readonly files: FileMeta[],
    private readonly range: ScanRange,
    private readonly tables: TableCache,
    private readonly prefetch: number,
  ) {}

  head(): Entry | undefined {
    return this.pos >= 0 ? this.batch[this.pos] : undefined;
  }

  advance(): void {
    this.pos--;
  }

  ready(): boolean {
    return this.pos >= 0 && (this.current === undefined || inClip(this.current, this.batch[this.pos]!.key));
  }

  async fill(): Promise<void> {
    for (;;) {
      while (this.pos >= 0) {
        if (this.current === undefined || inClip(this.current, this.batch[this.pos]!.key)) return;
        this.pos--;
      }
      if (this.batches !== undefined) {
        const r = await this.batches.next();
        if (r.done !== true) {
          this.batch = r.value;
          this.pos = r.value.length - 1;
          continue;
        }
        this.batches = undefined;
      }
      const file = this.files[this.fileIndex++];
      if (file === undefined) {
        this.batch = [];
        this.pos = -1;
        return;
      }
      this.current = file;
      const reader = await this.tables.get(file);
      this.batches = blocksBackward(reader, rangeWithin(this.range, file), this.prefetch);
    }
  }
}

/**
 * Entries with `gte <= key < lt` of one table, one non-empty ascending array per block, blocks from the
 * last in range to the first, keeping `prefetch` block reads in flight ahead of the consumer.
 */
export async function* blocksBackward(reader: SstReader, range: ScanRange, prefetch: number): AsyncGenerator<Entry[]> {
  const { gte, lt } = range;
  if (gte !== undefined && lt !== undefined && compareBytes(gte, lt) >= 0) return;
  if (lt !== undefined && compareBytes(lt, reader.info.smallestKey) <= 0) return;
  const first = gte === undefined ? 0 : reader.blockFor(gte);
  if (first < 0) return; // every key of the table is below gte
  let last = reader.blockCount - 1;
  if (lt !== undefined) {
    const j = reader.blockFor(lt);
    if (j >= 0) last = j;
  }
  const pending: Promise<DataBlock>[] = [];
  let next = last;
  for (let i = last; i >= first; i--) {
    while (next >= first && pending.length <= prefetch) {
      const cached = reader.cachedBlock(next);
      const p = cached !== undefined ? Promise.resolve(cached) : reader.readBlock(next, { cacheChecked: true });
      p.catch(() => undefined); // awaited below in order; this only keeps an abandoned read from being "unhandled"
      pending.push(p);
      next--;
    }
    const block = await pending.shift()!;
    const entries = block.entries(i === first ? gte : undefined, i === last ? lt : undefined);
    if (entries.length > 0) yield entries;
  }
}

/**
 * The part of `range` a file reference can contribute: from its effective smallest key, and below the
 * start of the key group after its clip range (so a clipped reference never walks back through the
 * foreign key groups above its clip).
 */
function rangeWithin(range: ScanRange, f: FileMeta): ScanRange {
  const s = effectiveSmallest(f);
  const out: ScanRange = { gte: range.gte === undefined || compareBytes(s, range.gte) > 0 ? s : range.gte };
  let lt = range.lt;
  if (f.clip !== undefined && f.clip[1] < 0xffff) {
    const end = keyGroupStart(f.clip[1] + 1);
    if (lt === undefined || compareBytes(end, lt) < 0) lt = end;
  }
  if (lt !== undefined) out.lt = lt;
  return out;
}

/**
 * An upper bound of the largest key below `before` that any source of the view holds (undefined: none), for
 * reverse walks over key groups. Exact for memtables (keys with a version visible at the view) and for files
 * straddling `before` (one block read backward); a file ending below `before` offers its effective largest
 * key without I/O (for a clipped reference a 2-byte key: the start of the group after its clip range, which
 * stands for the end of the group before it). When a bound at or above `enough` is known without I/O it is
 * returned as is (the caller reads that group either way).
 */
export async function prevKeyBefore(view: ScanView, before: Uint8Array, enough: Uint8Array | undefined): Promise<Uint8Array | undefined> {
  let best: Uint8Array | undefined;
  const offer = (k: Uint8Array): void => {
    if (best === undefined || compareBytes(k, best) > 0) best = k;
  };
  for (const m of view.memtables) {
    const e = m.rangeBackward(undefined, before, view.snapshot, 1)[0];
    if (e !== undefined) offer(e.key);
  }
  const straddling: FileMeta[] = [];
  for (const files of view.version.levels) {
    for (const f of files) {
      if (compareBytes(effectiveSmallest(f), before) >= 0) continue;
      const largest = effectiveLargest(f);
      if (compareBytes(largest, before) < 0) offer(largest);
      else straddling.push(f);
    }
  }
  if (best !== undefined && enough !== undefined && compareBytes(best, enough) >= 0) return best;
  const found = await Promise.all(straddling.map((f) => lastEntryBefore(view, f, before)));
  for (const k of found) if (k !== undefined) offer(k);
  return best;
}

/** The last key below `before` visible through reference `f` (inside its clip range), if any. */
async function lastEntryBefore(view: ScanView, f: FileMeta, before: Uint8Array): Promise<Uint8Array | undefined> {
  const reader = await view.tables.get(f);
  const blocks = blocksBackward(reader, rangeWithin({ lt: before }, f), 0);
  try {
    const last = await blocks.next();
    if (last.done === true) return undefined;
    // rangeWithin keeps the read inside the clip range: from its effective smallest key, below its end.
    return last.value[last.value.length - 1]!.key;
  } finally {
    await blocks.return(undefined);
  }
}

function filesInRange(files: ReadonlyArray<FileMeta>, range: ScanRange): FileMeta[] {
  return files.filter(
    (f) =>
      (range.lt === undefined || compareBytes(effectiveSmallest(f), range.lt) < 0) &&
      (range.gte === undefined || compareBytes(effectiveLargest(f), range.gte) >= 0),
  );
}

/**
 * Resolved (key, value) pairs of `range` in DESCENDING key order, at most `limit`; tombstones and shadowed
 * versions are skipped. The same view rules as scanEntries (lib/lsm/scan.ts).
 */
export async function* reverseEntries(view: ScanView, range: ScanRange, limit: number): AsyncGenerator<{ key: Uint8Array; value: Uint8Array }> {
  if (limit <= 0) return;
  const tombstones = view.rangeTombstones ?? [];
  const sources: Source[] = [];
  for (const m of view.memtables) sources.push(new MemtableSource(m, range, view.snapshot, true));
  for (const f of filesInRange(view.version.levels[0]!, range)) sources.push(new ReverseFilesSource([f], range, view.tables, view.prefetchBlocks));
  for (let level = 1; level < view.version.levels.length; level++) {
    const files = filesInRange(view.version.levels[level]!, range).reverse();
    if (files.length > 0) sources.push(new ReverseFilesSource(files, range, view.tables, view.prefetchBlocks));
  }
  await Promise.all(sources.map((s) => s.fill()));
  let emitted = 0;
  for (;;) {
    let max: Uint8Array | undefined;
    for (const s of sources) {
      const h = s.head();
      if (h !== undefined && (max === undefined || compareBytes(h.key, max) > 0)) max = h.key;
    }
    if (max === undefined) return;
    if (range.gte !== undefined && compareBytes(max, range.gte) < 0) return;
    const resolver = new PointResolver(tombstones.length === 0 ? 0 : coveringSeq(tombstones, max));
    const refill: Promise<void>[] = [];
    for (const s of sources) {
      const h = s.head();
      if (h === undefined || compareBytes(h.key, max) !== 0) continue;
      if (!resolver.finished) resolver.push(h.kind, h.value, h.ttl, h.seq);
      s.advance();
      if (!s.ready()) refill.push(s.fill());
    }
    if (refill.length > 0) await Promise.all(refill);
    const value = resolver.value(view.ttlNow);
    if (value !== undefined) {
      yield { key: max, value };
      if (++emitted >= limit) return;
    }
  }
}
