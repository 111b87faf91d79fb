/**
 * Range tombstones (deleteRange, deleteKeyGroups): "every version of a key in [start, end) written before
 * sequence number `seq` is deleted". Keys are physical keys, so a key-group range is one tombstone.
 *
 * Where they live: a range delete is applied to the live memtable (lib/lsm/memtable.ts gives its keys a
 * Delete and remembers the range); the flush of that memtable adds the range to the Version, so it is
 * recorded in every manifest and checkpoint record from then on, and survives reopen and restore (clipped
 * to the restored key-group range). Reads treat any version older than the newest tombstone covering its
 * key as deleted. Compaction drops the entries a tombstone covers; a tombstone leaves the Version once no
 * file it overlaps can still hold an entry it covers (`stillNeeded`).
 */
import { FloeError } from '../errors.js';
import { compareBytes, keyGroupStart } from '../keys.js';
import { effectiveLargest, effectiveSmallest, type FileMeta } from './file-meta.js';

export interface RangeTombstone {
  /** Inclusive physical start key. */
  start: Uint8Array;
  /** Exclusive physical end key. */
  end: Uint8Array;
  /** Sequence number of the range delete: it hides versions with a lower seq. */
  seq: number;
}

export interface RangeTombstoneJson {
  start: string;
  end: string;
  seq: number;
}

/** The physical range [start, end) of key groups first..last (inclusive). */
export function keyGroupsRange(first: number, last: number): { start: Uint8Array; end: Uint8Array } {
  return { start: keyGroupStart(first), end: keyGroupStart(last + 1) };
}

/**
 * The highest seq of the tombstones covering `key` that are visible at `snapshot` (0 when none): versions
 * of the key with a lower seq are deleted.
 */
export function coveringSeq(tombstones: ReadonlyArray<RangeTombstone>, key: Uint8Array, snapshot = Number.MAX_SAFE_INTEGER): number {
  let best = 0;
  for (const t of tombstones) {
    if (t.seq > best && t.seq <= snapshot && compareBytes(key, t.start) >= 0 && compareBytes(key, t.end) < 0) best = t.seq;
  }
  return best;
}

/** Whether entry (key, seq) is deleted by one of `tombstones`. */
export function isCovered(tombstones: ReadonlyArray<RangeTombstone>, key: Uint8Array, seq: number): boolean {
  return tombstones.length > 0 && seq < coveringSeq(tombstones, key);
}

/** Highest seq among `tombstones` (0 when empty). */
export function maxTombstoneSeq(tombstones: ReadonlyArray<RangeTombstone>): number {
  let m = 0;
  for (const t of tombstones) if (t.seq > m) m = t.seq;
  return m;
}

/**
 * Whether a tombstone must stay in the Version: some file overlapping its range may still hold an entry it
 * covers, i.e. one older than it (`minSeq < seq`) that no rewrite applying it has removed (`rangeDelSeq`:
 * the highest tombstone seq the file's writer applied, file-meta.ts).
 */
export function stillNeeded(t: RangeTombstone, files: ReadonlyArray<FileMeta>): boolean {
  for (const f of files) {
    if (f.minSeq >= t.seq || (f.rangeDelSeq ?? 0) >= t.seq) continue;
    if (compareBytes(effectiveSmallest(f), t.end) < 0 && compareBytes(effectiveLargest(f), t.start) >= 0) return true;
  }
  return false;
}

/** The tombstones restricted to key groups [first, last] (restore with a key-group range); empty ones dropped. */
export function clipTombstones(tombstones: ReadonlyArray<RangeTombstone>, first: number, last: number): RangeTombstone[] {
  const { start, end } = keyGroupsRange(first, last);
  const out: RangeTombstone[] = [];
  for (const t of tombstones) {
    const s = compareBytes(t.start, start) > 0 ? t.start : start;
    const e = compareBytes(t.end, end) < 0 ? t.end : end;
    if (compareBytes(s, e) < 0) out.push({ start: s, end: e, seq: t.seq });
  }
  return out;
}

export function tombstoneToJson(t: RangeTombstone): RangeTombstoneJson {
  return { start: Buffer.from(t.start).toString('hex'), end: Buffer.from(t.end).toString('hex'), seq: t.seq };
}

export function tombstoneFromJson(j: RangeTombstoneJson, where: string): RangeTombstone {
  const hex = /^([0-9a-f]{2})*$/;
  if (j === null || typeof j !== 'object' || typeof j.start !== 'string' || typeof j.end !== 'string' || !hex.test(j.start) || !hex.test(j.end) || !Number.isSafeInteger(j.seq)) {
    throw new FloeError('CORRUPTION', `${where}: malformed range tombstone ${JSON.stringify(j).slice(0, 200)}`, { path: where });
  }
  return { start: Buffer.from(j.start, 'hex'), end: Buffer.from(j.end, 'hex'), seq: j.seq };
}
