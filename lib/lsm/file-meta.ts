/**
 * What a version knows about one SST: enough to route reads without opening it, and to open it with one
 * ranged read (`metaOffset`). A file may be referenced with a key-group clip range (after a restore or
 * rescale): entries outside [clipStart, clipEnd] are invisible through this reference.
 */
import { FloeError } from '../errors.js';
import { compareBytes, keyGroupStart } from '../keys.js';

export interface FileMeta {
  fileId: string;
  size: number;
  metaOffset: number;
  entries: number;
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
  minSeq: number;
  maxSeq: number;
  /** Inclusive key-group clip range of this reference, when narrower than the file. */
  clip?: [number, number];
  /**
   * Highest seq of the range tombstones applied when the file was written (it holds no entry any of them
   * covers); absent when none was. Lets a tombstone leave the Version (range-tombstones.ts `stillNeeded`).
   */
  rangeDelSeq?: number;
}

export interface FileMetaJson {
  fileId: string;
  size: number;
  metaOffset: number;
  entries: number;
  smallestKey: string;
  largestKey: string;
  minSeq: number;
  maxSeq: number;
  clip?: [number, number];
  rangeDelSeq?: number;
}

export function fileMetaToJson(f: FileMeta): FileMetaJson {
  return {
    fileId: f.fileId,
    size: f.size,
    metaOffset: f.metaOffset,
    entries: f.entries,
    smallestKey: Buffer.from(f.smallestKey).toString('hex'),
    largestKey: Buffer.from(f.largestKey).toString('hex'),
    minSeq: f.minSeq,
    maxSeq: f.maxSeq,
    ...(f.clip ? { clip: [f.clip[0], f.clip[1]] as [number, number] } : {}),
    ...(f.rangeDelSeq !== undefined ? { rangeDelSeq: f.rangeDelSeq } : {}),
  };
}

export function fileMetaFromJson(j: FileMetaJson, where: string): FileMeta {
  const ok =
    j !== null &&
    typeof j === 'object' &&
    typeof j.fileId === 'string' &&
    Number.isSafeInteger(j.size) &&
    Number.isSafeInteger(j.metaOffset) &&
    typeof j.smallestKey === 'string' &&
    typeof j.largestKey === 'string';
  if (!ok) throw new FloeError('CORRUPTION', `${where}: malformed file entry ${JSON.stringify(j).slice(0, 200)}`, { path: where });
  return {
    fileId: j.fileId,
    size: j.size,
    metaOffset: j.metaOffset,
    entries: j.entries,
    smallestKey: Buffer.from(j.smallestKey, 'hex'),
    largestKey: Buffer.from(j.largestKey, 'hex'),
    minSeq: j.minSeq,
    maxSeq: j.maxSeq,
    ...(j.clip ? { clip: [j.clip[0], j.clip[1]] as [number, number] } : {}),
    ...(Number.isSafeInteger(j.rangeDelSeq) ? { rangeDelSeq: j.rangeDelSeq } : {}),
  };
}

/** Effective smallest key of a reference (its clip range narrows the file's range). */
export function effectiveSmallest(f: FileMeta): Uint8Array {
  if (!f.clip) return f.smallestKey;
  const start = keyGroupStart(f.clip[0]);
  return compareBytes(start, f.smallestKey) > 0 ? start : f.smallestKey;
}

/**
 * Effective largest key of a reference. For a clip ending at group g we use the 2-byte key of group g+1:
 * every real key of group g sorts below it and every real key of g+1 (user keys are non-empty) above it,
 * so as an inclusive bound it is exact for overlap tests.
 */
export function effectiveLargest(f: FileMeta): Uint8Array {
  if (!f.clip || f.clip[1] >= 0xffff) return f.largestKey;
  const end = keyGroupStart(f.clip[1] + 1);
  return compareBytes(end, f.largestKey) < 0 ? end : f.largestKey;
}

/** Whether a physical key is visible through this file reference (inside its clip range). */
export function inClip(f: FileMeta, key: Uint8Array): boolean {
  if (!f.clip) return true;
  const kg = (key[0]! << 8) | key[1]!;
  return kg >= f.clip[0] && kg <= f.clip[1];
}

/** Whether the effective key range of a reference overlaps [smallest, largest] (inclusive). */
export function overlapsRange(f: FileMeta, smallest: Uint8Array, largest: Uint8Array): boolean {
  return compareBytes(effectiveSmallest(f), largest) <= 0 && compareBytes(effectiveLargest(f), smallest) >= 0;
}

/** Whether two references name the same file with the same clip range (the identity of a reference). */
export function sameReference(a: Pick<FileMeta, 'fileId' | 'clip'>, b: Pick<FileMeta, 'fileId' | 'clip'>): boolean {
  if (a.fileId !== b.fileId) return false;
  if (a.clip === undefined || b.clip === undefined) return a.clip === b.clip;
  return a.clip[0] === b.clip[0] && a.clip[1] === b.clip[1];
}

/** A reference whose clip range excludes every key of the file. */
export function isEmptyReference(f: FileMeta): boolean {
  return compareBytes(effectiveSmallest(f), effectiveLargest(f)) > 0;
}
