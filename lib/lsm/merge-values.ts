/**
 * How versions of one key combine. Merge is list append (value = older bytes ++ operand bytes), so it is
 * associative and any run of operands folds into one operand.
 */
import { EntryKind, type Entry } from '../sst/entry.js';

/**
 * Folds a newer entry over an older one for the same key, giving the single entry that replaces both.
 * A newer Put or Delete hides the older entry; a newer Merge appends to it.
 */
export function combine(newer: Entry, older: Entry): Entry {
  if (newer.kind !== EntryKind.Merge) return newer;
  switch (older.kind) {
    case EntryKind.Put:
      return { key: newer.key, kind: EntryKind.Put, seq: newer.seq, value: concat(older.value, newer.value) };
    case EntryKind.Delete:
      return { key: newer.key, kind: EntryKind.Put, seq: newer.seq, value: newer.value };
    default:
      return { key: newer.key, kind: EntryKind.Merge, seq: newer.seq, value: concat(older.value, newer.value) };
  }
}

/**
 * Incremental resolution of a point lookup that visits sources newest first. `push` returns true once
 * the answer is final (a Put or Delete was seen); `value()` gives the user-visible value.
 */
export class PointResolver {
  private operands: Uint8Array[] = [];
  private base: Uint8Array | undefined;
  private done = false;

  /** Returns true when no older source can change the answer. */
  push(kind: EntryKind, value: Uint8Array): boolean {
    if (kind === EntryKind.Merge) {
      this.operands.push(value);
      return false;
    }
    if (kind === EntryKind.Put) this.base = value;
    this.done = true;
    return true;
  }

  get finished(): boolean {
    return this.done;
  }

  get found(): boolean {
    return this.base !== undefined || this.operands.length > 0;
  }

  value(): Uint8Array | undefined {
    if (this.operands.length === 0) return this.base;
    const parts: Uint8Array[] = this.base === undefined ? [] : [this.base];
    for (let i = this.operands.length - 1; i >= 0; i--) parts.push(this.operands[i]!);
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}

/** The user-visible value of a fully resolved entry at the bottom of the tree (nothing older exists). */
export function bottomValue(e: Entry): Uint8Array | undefined {
  return e.kind === EntryKind.Delete ? undefined : e.value;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return Buffer.concat([a, b]);
}
