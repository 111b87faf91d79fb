/**
 * A Version is an immutable snapshot of which SST references make up each level.
 *   L0: files may overlap; ordered newest first (a newer file shadows an older one).
 *   L1+: files do not overlap (by effective, clip-aware key range); ordered by key.
 * Versions are replaced, never mutated: readers holding an old Version keep a consistent view.
 */
import { compareBytes } from '../keys.js';
import { effectiveLargest, effectiveSmallest, overlapsRange, sameReference, type FileMeta } from './file-meta.js';
import { stillNeeded, type RangeTombstone } from './range-tombstones.js';

export const NUM_LEVELS = 7;

/**
 * A reference to a file: after a rescale out and back in, one level can hold two references to the same file
 * with different clip ranges, so a reference is identified by (fileId, clip), never by fileId alone.
 */
export type FileRef = Pick<FileMeta, 'fileId' | 'clip'>;

/** The deletion entry that removes exactly reference `f` from `level`. */
export function deletionOf(level: number, f: FileRef): { level: number } & FileRef {
  return { level, fileId: f.fileId, ...(f.clip ? { clip: f.clip } : {}) };
}

export interface VersionEdit {
  deleted: Array<{ level: number } & FileRef>;
  /** Added L0 files are placed newest-first in the order given (first = newest). */
  added: Array<{ level: number; file: FileMeta }>;
  /** Range tombstones of a flushed memtable (range-tombstones.ts). */
  addedTombstones?: RangeTombstone[];
}

export class Version {
  readonly levels: ReadonlyArray<ReadonlyArray<FileMeta>>;
  /** Range tombstones that files of this version may still hold covered entries of, oldest first. */
  readonly rangeTombstones: ReadonlyArray<RangeTombstone>;

  constructor(levels: ReadonlyArray<ReadonlyArray<FileMeta>>, rangeTombstones: ReadonlyArray<RangeTombstone> = []) {
    const padded = levels.map((l) => l.slice());
    while (padded.length < NUM_LEVELS) padded.push([]);
    this.levels = padded;
    this.rangeTombstones = rangeTombstones;
  }

  static empty(): Version {
    return new Version([]);
  }

  apply(edit: VersionEdit): Version {
    const levels = this.levels.map((l) => l.slice());
    for (const d of edit.deleted) {
      const at = levels[d.level]!.findIndex((f) => sameReference(f, d));
      // An edit may only remove what the version holds: anything else means the edit was built against
      // another version, and applying the rest of it would lose or resurrect data.
      if (at < 0) throw new Error(`internal error: version edit deletes ${d.fileId}${d.clip ? ` [${d.clip}]` : ''} from L${d.level}, which does not hold it`);
      levels[d.level]!.splice(at, 1);
    }
    const newL0 = edit.added.filter((a) => a.level === 0).map((a) => a.file);
    levels[0] = [...newL0, ...levels[0]!];
    for (const a of edit.added) if (a.level > 0) levels[a.level]!.push(a.file);
    for (let i = 1; i < levels.length; i++) levels[i]!.sort((x, y) => compareBytes(effectiveSmallest(x), effectiveSmallest(y)));
    // A tombstone goes once no file can hold an entry it covers (compaction dropped them all).
    const files = levels.flat();
    const tombstones = [...this.rangeTombstones, ...(edit.addedTombstones ?? [])].filter((t) => stillNeeded(t, files));
    return new Version(levels, tombstones);
  }

  /** Every file reference, all levels. */
  allFiles(): FileMeta[] {
    return this.levels.flat();
  }

  levelBytes(level: number): number {
    let n = 0;
    for (const f of this.levels[level]!) n += f.size;
    return n;
  }

  /**
   * Files that may hold `key`, newest data first: L0 newest to oldest, then one file per deeper level.
   */
  filesForKey(key: Uint8Array): FileMeta[] {
    const out: FileMeta[] = [];
    for (const f of this.levels[0]!) {
      if (compareBytes(key, effectiveSmallest(f)) >= 0 && compareBytes(key, effectiveLargest(f)) <= 0) out.push(f);
    }
    for (let level = 1; level < this.levels.length; level++) {
      const f = findInSortedLevel(this.levels[level]!, key);
      if (f !== undefined) out.push(f);
    }
    return out;
  }

  /** Files of `level` whose effective range overlaps [smallest, largest]. */
  overlapping(level: number, smallest: Uint8Array, largest: Uint8Array): FileMeta[] {
    return this.levels[level]!.filter((f) => overlapsRange(f, smallest, largest));
  }

  /** The deepest non-empty level. */
  deepestLevel(): number {
    for (let i = this.levels.length - 1; i >= 0; i--) if (this.levels[i]!.length > 0) return i;
    return 0;
  }
}

function findInSortedLevel(files: ReadonlyArray<FileMeta>, key: Uint8Array): FileMeta | undefined {
  let lo = 0;
  let hi = files.length;
  // first file whose effective largest >= key
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(effectiveLargest(files[mid]!), key) < 0) lo = mid + 1;
    else hi = mid;
  }
  const f = files[lo];
  if (f === undefined || compareBytes(key, effectiveSmallest(f)) < 0) return undefined;
  return f;
}

/** Smallest and largest effective keys over a set of files. REQUIRES files non-empty. */
export function keyRangeOf(files: ReadonlyArray<FileMeta>): { smallest: Uint8Array; largest: Uint8Array } {
  let smallest = effectiveSmallest(files[0]!);
  let largest = effectiveLargest(files[0]!);
  for (const f of files) {
    const s = effectiveSmallest(f);
    const l = effectiveLargest(f);
    if (compareBytes(s, smallest) < 0) smallest = s;
    if (compareBytes(l, largest) > 0) largest = l;
  }
  return { smallest, largest };
}
