/**
 * The memtable: an ordered, multi-version map from physical key to the writes not yet flushed.
 *
 * Point lookups go through a hash map (physical keys as latin1 strings, whose JS order equals byte order);
 * ordered access goes through a sorted index over the same strings (memtable-index.ts). Each key holds a
 * chain of versions, newest first. A version is only pushed (rather than updated in place) when an open snapshot could see the
 * current head; otherwise the head is replaced or, for merges, extended — so without open scans every key
 * has exactly one version and memory stays proportional to live data.
 *
 * REQUIRES: external synchronization (one LSM instance, one thread).
 */
import { EntryKind, type Entry } from '../sst/entry.js';
import { combineVersions, joinParts } from './merge-values.js';
import type { TtlSegments } from './ttl.js';
import type { RangeTombstone } from './range-tombstones.js';
import { MemtableIndex } from './memtable-index.js';
import { isShared } from './value-arena.js';

/** One version of a key. `parts` are concatenated to form the value (merge operands append parts). */
export interface MemVersion {
  seq: number;
  kind: EntryKind;
  parts: Uint8Array[];
  older: MemVersion | undefined;
  /** TTL metadata covering the bytes of `parts` (lib/lsm/ttl.ts); absent when nothing expires. */
  ttl?: TtlSegments;
}

/** Rough per-key bookkeeping cost (node, map slot, string), for the memory budget. */
const KEY_OVERHEAD = 96;
const VERSION_OVERHEAD = 48;
/**
 * Keys packed between two turns of the event loop in packAsync (~0.3 ms of work for 100-byte values): a
 * slice delays whatever waits behind it, writers included (4096 keys, ~1.2 ms, showed in batch p99).
 */
const PACK_SLICE = 1024;
/** Memory of one number of TTL metadata. */
const TTL_NUMBER_BYTES = 8;
const EMPTY = new Uint8Array(0);

/** One key of the memtable: its versions, newest first. */
class MemNode {
  constructor(
    readonly key: string,
    public head: MemVersion,
  ) {}
}

// Buffer's native latin1 decoder applied to any Uint8Array, without wrapping it in a Buffer first.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

const latin1Write = (Buffer.prototype as unknown as { latin1Write: (this: Uint8Array, s: string, offset: number, length: number) => number }).latin1Write;

export function keyToString(key: Uint8Array): string {
  return latin1Slice.call(key, 0, key.length);
}

export function stringToKey(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}

export class Memtable {
  private readonly map = new Map<string, MemNode>();
  private readonly index = new MemtableIndex<MemNode>();
  private bytes = 0;
  private maxSeq = 0;
  /** Sequence numbers of open snapshots that read this memtable (count per seq). */
  private readonly snapshots = new Map<number, number>();
  private maxSnapshot = -1;
  /** Oldest open snapshot (+Infinity when none): versions it cannot see behind one it can are garbage. */
  private minSnapshot = Number.POSITIVE_INFINITY;
  /** Nodes whose chain holds more than one version (candidates for trim()). */
  private readonly versioned = new Set<MemNode>();
  private readonly tombstones: RangeTombstone[] = [];

  get approximateBytes(): number {
    return this.bytes;
  }

  get size(): number {
    return this.map.size;
  }

  get isEmpty(): boolean {
    return this.map.size === 0 && this.tombstones.length === 0;
  }

  get lastSequence(): number {
    return this.maxSeq;
  }

  /** Applies one write. REQUIRES: seq greater than every seq applied before. */
  apply(key: Uint8Array, kind: EntryKind, value: Uint8Array, seq: number, ttl?: TtlSegments): void {
    this.applyString(keyToString(key), kind, value, seq, ttl);
  }

  private applyString(k: string, kind: EntryKind, value: Uint8Array, seq: number, ttl: TtlSegments | undefined): void {
    this.maxSeq = seq;
    const node = this.map.get(k);
    if (node === undefined) {
      const created = new MemNode(k, withTtl({ seq, kind, parts: kind === EntryKind.Delete ? [] : [value], older: undefined }, ttl));
      this.index.insert(created);
      this.map.set(k, created);
      this.bytes += KEY_OVERHEAD + 2 * k.length + value.length + TTL_NUMBER_BYTES * (ttl?.length ?? 0);
      return;
    }
    const head = node.head;
    this.bytes += value.length;
    const parts = kind === EntryKind.Delete ? [] : [value];
    if (head.seq > this.maxSnapshot) {
      // No snapshot can see the head: fold the write into it.
      const before = partsLength(head.parts);
      const beforeTtl = head.ttl?.length ?? 0;
      const folded = combineVersions(kind, parts, head.kind, head.parts, true, ttl, head.ttl);
      // Replaced bytes carved from a shared slab stay held (value-arena.ts): they remain charged.
      const held = sharedBytesDropped(head.parts, folded.parts);
      this.bytes += partsLength(folded.parts) - before + held - value.length + TTL_NUMBER_BYTES * ((folded.ttl?.length ?? 0) - beforeTtl);
      head.kind = folded.kind;
      head.parts = folded.parts;
      head.seq = seq;
      if (folded.ttl === undefined) delete head.ttl;
      else head.ttl = folded.ttl;
      return;
    }
    // A snapshot sees the head: keep it, and stack the new version (a Merge stays an operand: `visible`
    // folds it onto what is below when read).
    this.bytes += VERSION_OVERHEAD + TTL_NUMBER_BYTES * (ttl?.length ?? 0);
    node.head = withTtl({ seq, kind, parts, older: head }, ttl);
    this.versioned.add(node);
  }

  /**
   * Applies a range delete of [gte, lt) (physical keys) at `seq`: every key of this memtable in the range
   * gets a Delete version (so later writes fold onto the delete, not onto what it deleted), and the range is
   * remembered for the flush, which hands it to the manifest to hide older data in SSTs and older memtables.
   * REQUIRES: seq greater than every seq applied before.
   */
  deleteRange(gte: Uint8Array, lt: Uint8Array, seq: number): void {
    const lo = keyToString(gte);
    const hi = keyToString(lt);
    const keys: string[] = [];
    for (let p = this.index.seek(lo, false); p !== undefined; p = this.index.next(p)) {
      const k = this.index.at(p).key;
      if (k >= hi) break;
      keys.push(k);
    }
    for (const k of keys) this.applyString(k, EntryKind.Delete, EMPTY, seq, undefined);
    this.maxSeq = seq;
    this.tombstones.push({ start: Uint8Array.from(gte), end: Uint8Array.from(lt), seq });
    this.bytes += VERSION_OVERHEAD + gte.length + lt.length;
  }

  /** Range deletes applied to this memtable, oldest first (lib/lsm/range-tombstones.ts). */
  get rangeTombstones(): ReadonlyArray<RangeTombstone> {
    return this.tombstones;
  }

  /** The newest version of `key` visible at `snapshot` (default: everything). */
  lookup(key: Uint8Array, snapshot = Number.MAX_SAFE_INTEGER): MemVersion | undefined {
    const node = this.map.get(keyToString(key));
    return node === undefined ? undefined : visible(node.head, snapshot);
  }

  /** Same as lookup, with the key already converted by keyToString. */
  lookupString(k: string, snapshot = Number.MAX_SAFE_INTEGER): MemVersion | undefined {
    const node = this.map.get(k);
    return node === undefined ? undefined : visible(node.head, snapshot);
  }

  /**
   * Registers an open snapshot so in-place updates do not change what it sees. Returns a release function
   * (idempotent). Releasing the oldest snapshot drops the versions no open snapshot can see any more.
   */
  pinSnapshot(seq: number): () => void {
    this.snapshots.set(seq, (this.snapshots.get(seq) ?? 0) + 1);
    if (seq > this.maxSnapshot) this.maxSnapshot = seq;
    if (seq < this.minSnapshot) this.minSnapshot = seq;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = this.snapshots.get(seq)! - 1;
      if (n > 0) {
        this.snapshots.set(seq, n);
        return;
      }
      this.snapshots.delete(seq);
      if (seq === this.maxSnapshot) this.maxSnapshot = this.snapshots.size === 0 ? -1 : Math.max(...this.snapshots.keys());
      if (seq === this.minSnapshot) {
        this.minSnapshot = this.snapshots.size === 0 ? Number.POSITIVE_INFINITY : Math.min(...this.snapshots.keys());
        this.trim();
      }
    };
  }

  /** Number of versions older than the newest, over all keys (tests). */
  get olderVersions(): number {
    let n = 0;
    for (const node of this.versioned) for (let v = node.head.older; v !== undefined; v = v.older) n++;
    return n;
  }

  /**
   * Collapses, in every multi-version chain, the version visible at the oldest open snapshot together with
   * everything older into one version (no open or future snapshot can tell them apart). Cost: the chains
   * written while snapshots were open, each trimmed once per release of the oldest snapshot.
   */
  private trim(): void {
    const floor = this.minSnapshot;
    for (const node of this.versioned) {
      let newer: MemVersion | undefined;
      let v: MemVersion | undefined = node.head;
      while (v !== undefined && v.seq > floor) {
        newer = v;
        v = v.older;
      }
      if (v !== undefined && v.older !== undefined) {
        const before = chainCost(v);
        const collapsed = visible(v, v.seq)!;
        const kept: MemVersion = collapsed === v ? { ...v, older: undefined } : collapsed;
        if (newer === undefined) node.head = kept;
        else newer.older = kept;
        this.bytes -= before - chainCost(kept) - sharedBytesDropped(chainParts(v), chainParts(kept));
      }
      if (node.head.older === undefined) this.versioned.delete(node);
    }
  }

  /**
   * Entries with keys in [gte, lt) as seen at `snapshot`, in key order, starting strictly after `after`
   * when given; at most `limit`. Used by scans (which page through a live memtable) and by flush.
   */
  range(gte: string | undefined, lt: string | undefined, snapshot: number, limit: number, after?: string): Entry[] {
    const out: Entry[] = [];
    const index = this.index;
    let p = after !== undefined ? index.seek(after, true) : gte === undefined ? index.first() : index.seek(gte, false);
    if (after !== undefined && gte !== undefined && p !== undefined && index.at(p).key < gte) p = index.seek(gte, false);
    for (; p !== undefined && out.length < limit; p = index.next(p)) {
      const node = index.at(p);
      if (lt !== undefined && node.key >= lt) break;
      const v = visible(node.head, snapshot);
      if (v === undefined) continue;
      const e: Entry = { key: stringToKey(node.key), kind: v.kind, seq: v.seq, value: valueCopy(v.parts) };
      if (v.ttl !== undefined) e.ttl = v.ttl;
      out.push(e);
    }
    return out;
  }

  /**
   * As `range`, in descending key order, starting strictly before `before` when given (reverse iterators,
   * lib/lsm/reverse-scan.ts). Each step is one move back in the index.
   */
  rangeBackward(gte: string | undefined, lt: string | undefined, snapshot: number, limit: number, before?: string): Entry[] {
    const out: Entry[] = [];
    const bound = before !== undefined && (lt === undefined || before < lt) ? before : lt;
    const index = this.index;
    for (let p = index.before(bound); p !== undefined && out.length < limit; p = index.prev(p)) {
      const node = index.at(p);
      if (gte !== undefined && node.key < gte) break;
      const v = visible(node.head, snapshot);
      if (v === undefined) continue;
      const e: Entry = { key: stringToKey(node.key), kind: v.kind, seq: v.seq, value: valueCopy(v.parts) };
      if (v.ttl !== undefined) e.ttl = v.ttl; // as in range(): reverse reads judge expiry too
      out.push(e);
    }
    return out;
  }

  /** The first key at or after `k` with any version (visible at some snapshot or not). */
  firstKeyAtOrAfter(k: string): string | undefined {
    const p = this.index.seek(k, false);
    return p === undefined ? undefined : this.index.at(p).key;
  }

  /**
   * Every key's newest version packed for a flush worker (format of lib/lsm/entry-pack.ts), written
   * straight from the index without intermediate entry objects.
   */
  pack(): Uint8Array {
    const steps = this.packSteps();
    for (let r = steps.next(); ; r = steps.next()) if (r.done === true) return r.value;
  }

  /**
   * As `pack`, in slices of PACK_SLICE keys with the event loop served between them, so packing a full
   * memtable does not stall writers and readers for its whole duration. REQUIRES: the memtable is frozen
   * (no more apply); snapshot releases meanwhile only collapse versions older than the newest.
   */
  async packAsync(): Promise<Uint8Array> {
    const steps = this.packSteps();
    for (let r = steps.next(); ; r = steps.next()) {
      if (r.done === true) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * The packing work, one pass over the index; yields after every PACK_SLICE keys. The output is sized
   * from the memory budget count, which exceeds the packed size (a key counts KEY_OVERHEAD + 2 bytes per
   * key byte against 21 + 1 packed, every version's bytes are counted), and grows should that ever fall short.
   */
  private *packSteps(): Generator<void, Uint8Array, undefined> {
    let out = new Uint8Array(Buffer.allocUnsafeSlow(Math.max(64, this.bytes)).buffer);
    let dv = new DataView(out.buffer);
    let pos = 0;
    let n = 0;
    for (let p = this.index.first(); p !== undefined; p = this.index.next(p)) {
      const node = this.index.at(p);
      const v = visible(node.head, Number.MAX_SAFE_INTEGER)!;
      const k = node.key;
      const kl = k.length;
      const vl = partsLength(v.parts);
      const need = 21 + kl + vl + 8 * (v.ttl?.length ?? 0);
      if (pos + need > out.length) {
        const bigger = new Uint8Array(Buffer.allocUnsafeSlow(Math.max(2 * out.length, pos + need)).buffer);
        bigger.set(out.subarray(0, pos));
        out = bigger;
        dv = new DataView(out.buffer);
      }
      dv.setUint32(pos, kl, true);
      pos += 4;
      latin1Write.call(out, k, pos, kl); // latin1: one byte per char, copied natively
      pos += kl;
      out[pos] = v.kind;
      dv.setFloat64(pos + 1, v.seq, true);
      dv.setUint32(pos + 9, vl, true);
      pos += 13;
      for (const part of v.parts) {
        out.set(part, pos);
        pos += part.length;
      }
      const ttl = v.ttl;
      const tn = ttl?.length ?? 0;
      dv.setUint32(pos, tn, true);
      pos += 4;
      for (let i = 0; i < tn; i++) {
        dv.setFloat64(pos, ttl![i]!, true);
        pos += 8;
      }
      if (++n % PACK_SLICE === 0) yield;
    }
    return out.subarray(0, pos);
  }
}

/**
 * The value of a key at `snapshot` within this memtable: a Put or Delete, or a Merge when only operands
 * (no base value) are here. Operands pushed as separate versions are folded onto their base.
 */
function visible(head: MemVersion, snapshot: number): MemVersion | undefined {
  let v: MemVersion | undefined = head;
  while (v !== undefined && v.seq > snapshot) v = v.older;
  if (v === undefined || v.kind !== EntryKind.Merge || v.older === undefined) return v;
  let acc: { kind: EntryKind; parts: Uint8Array[]; ttl?: TtlSegments } = v.ttl ? { kind: v.kind, parts: v.parts, ttl: v.ttl } : { kind: v.kind, parts: v.parts };
  for (let o: MemVersion | undefined = v.older; o !== undefined && acc.kind === EntryKind.Merge; o = o.older) {
    acc = combineVersions(acc.kind, acc.parts, o.kind, o.parts, false, acc.ttl, o.ttl);
  }
  return withTtl({ seq: v.seq, kind: acc.kind, parts: acc.parts, older: undefined }, acc.ttl);
}

function withTtl(v: MemVersion, ttl: TtlSegments | undefined): MemVersion {
  if (ttl !== undefined) v.ttl = ttl;
  return v;
}

/** Bytes a version and those behind it count for in the memory budget. */
function chainCost(v: MemVersion | undefined): number {
  let n = 0;
  for (; v !== undefined; v = v.older) n += partsLength(v.parts) + VERSION_OVERHEAD + TTL_NUMBER_BYTES * (v.ttl?.length ?? 0);
  return n;
}

/** Every part of a version chain. */
function chainParts(v: MemVersion | undefined): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (; v !== undefined; v = v.older) out.push(...v.parts);
  return out;
}

/** Bytes of the shared-slab parts of `old` that `kept` no longer holds (still in memory: see value-arena.ts). */
function sharedBytesDropped(old: Uint8Array[], kept: Uint8Array[]): number {
  let n = 0;
  for (const p of old) if (isShared(p) && !kept.includes(p)) n += p.length;
  return n;
}

function partsLength(parts: Uint8Array[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/**
 * A value's bytes that the caller owns: scans hand entries to users, who may change them (and a single part
 * is the memtable's own array, often a view of a shared slab).
 */
function valueCopy(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? new Uint8Array(parts[0]!) : concatParts(parts);
}

/** One byte array for a value's parts (the memtable's name for merge-values' joinParts). */
export const concatParts = joinParts;
