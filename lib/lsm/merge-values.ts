/**
 * How versions of one key combine. Merge is list append (value = older bytes ++ operand bytes), so it is
 * associative and any run of operands folds into one operand.
 */
import { EntryKind, type Entry } from '../sst/entry.js';

/**
 * THE rule for how two versions of one key combine (the only place it is written; point reads, scans,
 * compaction and the memtable all use it): `newer` written after `older`, each a kind and its value as a list
 * of byte parts (a Delete has none). A newer Put or Delete hides the older version; a newer Merge appends its
 * operand bytes to the older value, and over a Delete (or at the bottom of the tree) starts a new value.
 * The result is final (no older version can change it) unless its kind is Merge.
 */
export function combineVersions(
  newerKind: EntryKind,
  newerParts: Uint8Array[],
  olderKind: EntryKind,
  olderParts: Uint8Array[],
  /** Append to `olderParts` in place instead of copying (the caller owns it): O(1) per appended operand. */
  inPlace = false,
): { kind: EntryKind; parts: Uint8Array[] } {
  if (newerKind !== EntryKind.Merge) return { kind: newerKind, parts: newerParts };
  if (olderKind === EntryKind.Delete) return { kind: EntryKind.Put, parts: newerParts };
  const parts = inPlace ? olderParts : olderParts.slice();
  for (const p of newerParts) parts.push(p);
  return { kind: olderKind === EntryKind.Put ? EntryKind.Put : EntryKind.Merge, parts };
}

/** Folds a newer entry over an older one for the same key, giving the single entry that replaces both. */
export function combine(newer: Entry, older: Entry): Entry {
  if (newer.kind !== EntryKind.Merge) return newer;
  const c = combineVersions(newer.kind, [newer.value], older.kind, [older.value]);
  return { key: newer.key, kind: c.kind, seq: newer.seq, value: joinParts(c.parts) };
}

/**
 * Incremental resolution of a point lookup that visits sources newest first. `push` returns true once
 * the answer is final (a Put or Delete was seen); `value()` gives the user-visible value.
 */
export class PointResolver {
  private kind: EntryKind | undefined;
  private parts: Uint8Array[] = [];

  /** Returns true when no older source can change the answer. */
  push(kind: EntryKind, value: Uint8Array): boolean {
    if (this.kind === undefined) {
      this.kind = kind;
      this.parts = kind === EntryKind.Delete ? [] : [value];
    } else {
      const c = combineVersions(this.kind, this.parts, kind, kind === EntryKind.Delete ? [] : [value]);
      this.kind = c.kind;
      this.parts = c.parts;
    }
    return this.finished;
  }

  get finished(): boolean {
    return this.kind !== undefined && this.kind !== EntryKind.Merge;
  }

  get found(): boolean {
    return this.kind !== undefined && this.kind !== EntryKind.Delete;
  }

  value(): Uint8Array | undefined {
    if (this.kind === undefined || this.kind === EntryKind.Delete) return undefined;
    return joinParts(this.parts);
  }
}

/** The user-visible value of a fully resolved entry at the bottom of the tree (nothing older exists). */
export function bottomValue(e: Entry): Uint8Array | undefined {
  return e.kind === EntryKind.Delete ? undefined : e.value;
}

/** One byte array for a list of parts (no copy for a single part). */
export function joinParts(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  if (parts.length === 0) return EMPTY;
  return Buffer.concat(parts);
}

const EMPTY = new Uint8Array(0);
