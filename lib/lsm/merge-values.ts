/**
 * How versions of one key combine. Merge is list append (value = older bytes ++ operand bytes), so it is
 * associative and any run of operands folds into one operand.
 */
import { EntryKind, type Entry } from '../sst/entry.js';
import { appendTtl, liveValue, type TtlSegments } from './ttl.js';

/**
 * THE rule for how two versions of one key combine (the only place it is written; point reads, scans,
 * compaction and the memtable all use it): `newer` written after `older`, each a kind and its value as a list
 * of byte parts (a Delete has none). A newer Put or Delete hides the older version; a newer Merge appends its
 * operand bytes to the older value, and over a Delete (or at the bottom of the tree) starts a new value.
 * The result is final (no older version can change it) unless its kind is Merge.
 * TTL (lib/lsm/ttl.ts): each side may carry TTL metadata covering its bytes; an append concatenates the
 * metadata too, so every operand keeps its own expiry (a merge neither extends nor revives older bytes).
 * Whether bytes have expired is decided only when the value is read or compacted, never here.
 */
export function combineVersions(
  newerKind: EntryKind,
  newerParts: Uint8Array[],
  olderKind: EntryKind,
  olderParts: Uint8Array[],
  /** Append to `olderParts` in place instead of copying (the caller owns it): O(1) per appended operand. */
  inPlace = false,
  newerTtl?: TtlSegments,
  olderTtl?: TtlSegments,
): { kind: EntryKind; parts: Uint8Array[]; ttl?: TtlSegments } {
  if (newerKind !== EntryKind.Merge) return withTtl(newerKind, newerParts, newerTtl);
  if (olderKind === EntryKind.Delete) return withTtl(EntryKind.Put, newerParts, newerTtl);
  const ttl = newerTtl === undefined && olderTtl === undefined ? undefined : appendTtl(olderTtl, partsLength(olderParts), newerTtl, partsLength(newerParts));
  const parts = inPlace ? olderParts : olderParts.slice();
  for (const p of newerParts) parts.push(p);
  return withTtl(olderKind === EntryKind.Put ? EntryKind.Put : EntryKind.Merge, parts, ttl);
}

function withTtl(kind: EntryKind, parts: Uint8Array[], ttl: TtlSegments | undefined): { kind: EntryKind; parts: Uint8Array[]; ttl?: TtlSegments } {
  return ttl === undefined ? { kind, parts } : { kind, parts, ttl };
}

function partsLength(parts: Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/** Folds a newer entry over an older one for the same key, giving the single entry that replaces both. */
export function combine(newer: Entry, older: Entry): Entry {
  if (newer.kind !== EntryKind.Merge) return newer;
  const c = combineVersions(newer.kind, [newer.value], older.kind, [older.value], false, newer.ttl, older.ttl);
  const e: Entry = { key: newer.key, kind: c.kind, seq: newer.seq, value: joinParts(c.parts) };
  if (c.ttl !== undefined) e.ttl = c.ttl;
  return e;
}

/**
 * Incremental resolution of a point lookup that visits sources newest first. `push` returns true once
 * the answer is final (a Put or Delete was seen); `value()` gives the user-visible value. A version older
 * than the newest range tombstone covering the key (`coveredBelow`) counts as a Delete.
 */
export class PointResolver {
  private kind: EntryKind | undefined;
  private parts: Uint8Array[] = [];
  private ttl: TtlSegments | undefined;

  constructor(private readonly coveredBelow = 0) {}

  /** Returns true when no older source can change the answer. */
  push(kind: EntryKind, value: Uint8Array, ttl?: TtlSegments, seq = Number.MAX_SAFE_INTEGER): boolean {
    if (seq < this.coveredBelow) {
      kind = EntryKind.Delete;
      ttl = undefined;
    }
    if (this.kind === undefined) {
      this.kind = kind;
      this.parts = kind === EntryKind.Delete ? [] : [value];
      this.ttl = ttl;
    } else {
      const c = combineVersions(this.kind, this.parts, kind, kind === EntryKind.Delete ? [] : [value], false, this.ttl, ttl);
      this.kind = c.kind;
      this.parts = c.parts;
      this.ttl = c.ttl;
    }
    return this.finished;
  }

  get finished(): boolean {
    return this.kind !== undefined && this.kind !== EntryKind.Merge;
  }

  get found(): boolean {
    return this.kind !== undefined && this.kind !== EntryKind.Delete;
  }

  /** The value ignoring expiry (what TTL filtering and refresh start from). */
  rawValue(): { value: Uint8Array; ttl: TtlSegments | undefined } | undefined {
    if (this.kind === undefined || this.kind === EntryKind.Delete) return undefined;
    return { value: joinParts(this.parts), ttl: this.ttl };
  }

  /**
   * The user-visible value. With `now`, bytes expired at `now` are left out and a value with no live bytes
   * is absent (NeverReturnExpired); without it, expiry is ignored (ReturnExpiredIfNotCleanedUp).
   */
  value(now?: number): Uint8Array | undefined {
    const raw = this.rawValue();
    if (raw === undefined || now === undefined) return raw?.value;
    return liveValue(raw.value, raw.ttl, now)?.value;
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
