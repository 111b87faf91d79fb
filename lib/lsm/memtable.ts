/**
 * The memtable: an ordered, multi-version map from physical key to the writes not yet flushed.
 *
 * Keys and small values live in byte slabs with per-entry typed-array columns and a hash table of entry ids
 * (memtable-entries.ts); ordered access goes through a sorted index of entry ids and their keys as latin1
 * strings (memtable-index.ts; the one JS object per key). An entry with one version, a Put or Delete
 * without TTL and a value up to MAX_INLINE bytes is its columns alone: the common write leaves one string
 * for the garbage collector, where it used to leave five objects. Any other entry (a merge, TTL metadata, a
 * large value, or versions kept for an open snapshot) holds a chain of version objects, newest first, in
 * `chains`. A version is only pushed (rather than updated in place) when an open snapshot could see the
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
import { MemtableEntries } from './memtable-entries.js';
import { CHAINED, type MemtableImage } from './memtable-image.js';
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

/**
 * Bytes of the ordered index per entry besides its key bytes: an id and a string pointer in chunk arrays of
 * 64–128 slots (8 bytes each, up to half unused) and the latin1 string's header (memtable-index.ts).
 */
const INDEX_BYTES = 56;
/** Rough cost of one version object and its parts array, for the memory budget. */
const VERSION_OVERHEAD = 48;
/** Values up to this many bytes are copied into the slabs; larger ones keep their own buffer (a chain). */
const MAX_INLINE = 4 * 1024;
/**
 * Time for building a flush's image between two turns of the event loop in imageAsync: a slice delays
 * whatever waits behind it, writers included (slices of 4,096 keys, ~1.2 ms, showed in batch p99), while a
 * slice too short stretches the flush over so many turns that writers fill the next memtables first. A slice
 * that packed entries with version objects (copies of their bytes) ends after PACK_SLICE_MS; one that only
 * recorded ids (an array store each: ~1.5 ms for 150,000 entries) runs up to ORDER_SLICE_MS, so the image
 * of a memtable without version objects is usually one slice. With 64 writers in flight a turn comes only
 * every ~8 ms of batches, and 0.5 ms slices stretched that image over 40–290 ms. The clock is read every
 * PACK_CHECK keys; it decides only where slices end, never what the image holds.
 */
const PACK_SLICE_MS = 0.5;
const ORDER_SLICE_MS = 4;
const PACK_CHECK = 256;
/** Memory of one number of TTL metadata. */
const TTL_NUMBER_BYTES = 8;
const EMPTY = new Uint8Array(0);

export class Memtable {
  private readonly entries = new MemtableEntries();
  private readonly index = new MemtableIndex();
  /** Budget bytes of the index: INDEX_BYTES plus the key's length per entry. */
  private indexBytes = 0;
  /** Version chains (heads) of the entries that need one; entries.ext[id] is the slot here. */
  private readonly chains: MemVersion[] = [];
  /** Budget bytes of the chains' versions and of their parts not in the slabs (see apply). */
  private chainBytes = 0;
  private tombstoneBytes = 0;
  private maxSeq = 0;
  /** Sequence numbers of open snapshots that read this memtable (count per seq). */
  private readonly snapshots = new Map<number, number>();
  private maxSnapshot = -1;
  /** Oldest open snapshot (+Infinity when none): versions it cannot see behind one it can are garbage. */
  private minSnapshot = Number.POSITIVE_INFINITY;
  /** Entry ids whose chain holds more than one version (candidates for trim()). */
  private readonly versioned = new Set<number>();
  private readonly tombstones: RangeTombstone[] = [];

  /** Memory held: slabs, columns and hash table (allocated bytes), index, chains, range tombstones. */
  get approximateBytes(): number {
    const e = this.entries;
    return e.bytes + this.indexBytes + this.chainBytes + this.tombstoneBytes;
  }

  get size(): number {
    return this.entries.count;
  }

  get isEmpty(): boolean {
    return this.entries.count === 0 && this.tombstones.length === 0;
  }

  get lastSequence(): number {
    return this.maxSeq;
  }

  /**
   * True when apply() copies `value` into the memtable's slabs (a Put or Delete without TTL, value up to
   * MAX_INLINE bytes); otherwise it keeps `value` itself, which the caller must then own.
   */
  static copiesValue(kind: number, value: Uint8Array, ttl: TtlSegments | undefined): boolean {
    return ttl === undefined && kind !== EntryKind.Merge && value.length <= MAX_INLINE;
  }

  /** Applies one write. REQUIRES: seq greater than every seq applied before. */
  apply(key: Uint8Array, kind: EntryKind, value: Uint8Array, seq: number, ttl?: TtlSegments): void {
    this.maxSeq = seq;
    const e = this.entries;
    const inline = Memtable.copiesValue(kind, value, ttl);
    let id = e.find(key);
    if (id < 0) {
      id = e.add(key, kind, seq);
      this.index.insert(id, key);
      this.indexBytes += INDEX_BYTES + key.length;
      if (inline) {
        if (kind === EntryKind.Put) e.setValue(id, value);
        return;
      }
      const v = withTtl({ seq, kind, parts: kind === EntryKind.Delete ? [] : [value], older: undefined }, ttl);
      this.chainBytes += VERSION_OVERHEAD + partsLength(v.parts) + TTL_NUMBER_BYTES * (ttl?.length ?? 0);
      e.ext[id] = this.chains.push(v) - 1;
      return;
    }
    if (e.ext[id]! < 0) {
      if (inline && e.seq[id]! > this.maxSnapshot) {
        // One version no snapshot can see, replaced by another without TTL: overwrite the columns. The old
        // value's bytes stay in the slab, and in the budget.
        e.kind[id] = kind;
        e.seq[id] = seq;
        if (kind === EntryKind.Put) e.setValue(id, value);
        else e.valLen[id] = 0;
        return;
      }
      this.toChain(id);
    }
    this.applyToChain(id, kind, value, seq, ttl);
  }

  /**
   * Turns entry `id`'s columns into a one-version chain. Its value stays a view of the slab, already in
   * the budget: the chain counts only the version object (and, as for any shared part, keeps the slab bytes
   * counted when a later write drops the part).
   */
  private toChain(id: number): void {
    const e = this.entries;
    const kind = e.kind[id]! as EntryKind;
    const v: MemVersion = { seq: e.seq[id]!, kind, parts: kind === EntryKind.Delete ? [] : [e.value(id)], older: undefined };
    this.chainBytes += VERSION_OVERHEAD - partsLength(v.parts);
    e.ext[id] = this.chains.push(v) - 1;
  }

  /** A write onto entry `id`'s chain (the rules of the header: fold into the head, or stack for a snapshot). */
  private applyToChain(id: number, kind: EntryKind, value: Uint8Array, seq: number, ttl: TtlSegments | undefined): void {
    const slot = this.entries.ext[id]!;
    const head = this.chains[slot]!;
    this.chainBytes += value.length;
    const parts = kind === EntryKind.Delete ? [] : [value];
    if (head.seq > this.maxSnapshot) {
      // No snapshot can see the head: fold the write into it.
      const before = partsLength(head.parts);
      const beforeTtl = head.ttl?.length ?? 0;
      const folded = combineVersions(kind, parts, head.kind, head.parts, true, ttl, head.ttl);
      // Replaced bytes carved from a shared slab stay held (value-arena.ts): they remain charged.
      const held = sharedBytesDropped(head.parts, folded.parts);
      this.chainBytes += partsLength(folded.parts) - before + held - value.length + TTL_NUMBER_BYTES * ((folded.ttl?.length ?? 0) - beforeTtl);
      head.kind = folded.kind;
      head.parts = folded.parts;
      head.seq = seq;
      if (folded.ttl === undefined) delete head.ttl;
      else head.ttl = folded.ttl;
      return;
    }
    // A snapshot sees the head: keep it, and stack the new version (a Merge stays an operand: `visible`
    // folds it onto what is below when read).
    this.chainBytes += VERSION_OVERHEAD + TTL_NUMBER_BYTES * (ttl?.length ?? 0);
    this.chains[slot] = withTtl({ seq, kind, parts, older: head }, ttl);
    this.versioned.add(id);
  }

  /**
   * Applies a range delete of [gte, lt) (physical keys) at `seq`: every key of this memtable in the range
   * gets a Delete version (so later writes fold onto the delete, not onto what it deleted), and the range is
   * remembered for the flush, which hands it to the manifest to hide older data in SSTs and older memtables.
   * REQUIRES: seq greater than every seq applied before.
   */
  deleteRange(gte: Uint8Array, lt: Uint8Array, seq: number): void {
    const keys: Uint8Array[] = [];
    for (let p = this.index.seek(gte, false); p !== undefined; p = this.index.next(p)) {
      const id = this.index.at(p);
      if (this.entries.compareKey(lt, id) <= 0) break;
      keys.push(this.entries.key(id));
    }
    for (const k of keys) this.apply(k, EntryKind.Delete, EMPTY, seq);
    this.maxSeq = seq;
    this.tombstones.push({ start: Uint8Array.from(gte), end: Uint8Array.from(lt), seq });
    this.tombstoneBytes += VERSION_OVERHEAD + gte.length + lt.length;
  }

  /** Range deletes applied to this memtable, oldest first (lib/lsm/range-tombstones.ts). */
  get rangeTombstones(): ReadonlyArray<RangeTombstone> {
    return this.tombstones;
  }

  /**
   * The newest version of `key` visible at `snapshot` (default: everything). Its parts may be views of the
   * memtable's own bytes: callers copy what they hand out.
   */
  lookup(key: Uint8Array, snapshot = Number.MAX_SAFE_INTEGER): MemVersion | undefined {
    const id = this.entries.find(key);
    return id < 0 ? undefined : this.versionAt(id, snapshot);
  }

  /** Entry `id` as seen at `snapshot` (a fresh object for an entry without a chain). */
  private versionAt(id: number, snapshot: number): MemVersion | undefined {
    const e = this.entries;
    const slot = e.ext[id]!;
    if (slot >= 0) return visible(this.chains[slot]!, snapshot);
    const seq = e.seq[id]!;
    if (seq > snapshot) return undefined;
    const kind = e.kind[id]! as EntryKind;
    return { seq, kind, parts: kind === EntryKind.Delete ? [] : [e.value(id)], older: undefined };
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
    for (const id of this.versioned) for (let v = this.chains[this.entries.ext[id]!]!.older; v !== undefined; v = v.older) n++;
    return n;
  }

  /**
   * Collapses, in every multi-version chain, the version visible at the oldest open snapshot together with
   * everything older into one version (no open or future snapshot can tell them apart). Cost: the chains
   * written while snapshots were open, each trimmed once per release of the oldest snapshot.
   */
  private trim(): void {
    const floor = this.minSnapshot;
    for (const id of this.versioned) {
      const slot = this.entries.ext[id]!;
      let newer: MemVersion | undefined;
      let v: MemVersion | undefined = this.chains[slot];
      while (v !== undefined && v.seq > floor) {
        newer = v;
        v = v.older;
      }
      if (v !== undefined && v.older !== undefined) {
        const before = chainCost(v);
        const collapsed = visible(v, v.seq)!;
        const kept: MemVersion = collapsed === v ? { ...v, older: undefined } : collapsed;
        if (newer === undefined) this.chains[slot] = kept;
        else newer.older = kept;
        this.chainBytes -= before - chainCost(kept) - sharedBytesDropped(chainParts(v), chainParts(kept));
      }
      if (this.chains[slot]!.older === undefined) this.versioned.delete(id);
    }
  }

  /**
   * Entries with keys in [gte, lt) as seen at `snapshot`, in key order, starting strictly after `after`
   * when given; at most `limit`. Used by scans (which page through a live memtable) and by flush.
   * Keys and values are copies the caller owns.
   */
  range(gte: Uint8Array | undefined, lt: Uint8Array | undefined, snapshot: number, limit: number, after?: Uint8Array): Entry[] {
    const out: Entry[] = [];
    const index = this.index;
    const entries = this.entries;
    let p = after !== undefined ? index.seek(after, true) : gte === undefined ? index.first() : index.seek(gte, false);
    if (after !== undefined && gte !== undefined && p !== undefined && entries.compareKey(gte, index.at(p)) > 0) p = index.seek(gte, false);
    for (; p !== undefined && out.length < limit; p = index.next(p)) {
      const id = index.at(p);
      if (lt !== undefined && entries.compareKey(lt, id) <= 0) break;
      const e = this.entryAt(id, snapshot);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /**
   * As `range`, in descending key order, starting strictly before `before` when given (reverse iterators,
   * lib/lsm/reverse-scan.ts). Each step is one move back in the index.
   */
  rangeBackward(gte: Uint8Array | undefined, lt: Uint8Array | undefined, snapshot: number, limit: number, before?: Uint8Array): Entry[] {
    const out: Entry[] = [];
    const bound = before !== undefined && (lt === undefined || Buffer.compare(before, lt) < 0) ? before : lt;
    const index = this.index;
    for (let p = index.before(bound); p !== undefined && out.length < limit; p = index.prev(p)) {
      const id = index.at(p);
      if (gte !== undefined && this.entries.compareKey(gte, id) > 0) break;
      const e = this.entryAt(id, snapshot);
      if (e !== undefined) out.push(e); // with its TTL, as in range(): reverse reads judge expiry too
    }
    return out;
  }

  /** Entry `id` at `snapshot` as an Entry whose key and value the caller owns; undefined if not visible. */
  private entryAt(id: number, snapshot: number): Entry | undefined {
    const v = this.versionAt(id, snapshot);
    if (v === undefined) return undefined;
    const e: Entry = { key: this.entries.key(id).slice(), kind: v.kind, seq: v.seq, value: valueCopy(v.parts) };
    if (v.ttl !== undefined) e.ttl = v.ttl;
    return e;
  }

  /** The first key at or after `k` with any version (visible at some snapshot or not), as a copy. */
  firstKeyAtOrAfter(k: Uint8Array): Uint8Array | undefined {
    const p = this.index.seek(k, false);
    return p === undefined ? undefined : this.entries.key(this.index.at(p)).slice();
  }

  /**
   * The memtable as its flush's input (memtable-image.ts), built in one pass over the index; synchronous
   * (tests, and callers that do not share the thread with writers). REQUIRES: frozen, as for imageAsync.
   */
  image(): MemtableImage {
    const steps = this.imageSteps();
    for (let r = steps.next(); ; r = steps.next()) if (r.done === true) return r.value;
  }

  /**
   * As `image`, in slices (PACK_SLICE_MS, ORDER_SLICE_MS) with the event loop served between them: a
   * memtable of entries with version objects (merges, TTL) packs them, which can take long enough to delay
   * writers.
   * REQUIRES: the memtable is frozen (no more apply); snapshot releases meanwhile only collapse versions
   * older than the newest, which the image does not hold.
   */
  async imageAsync(): Promise<MemtableImage> {
    const steps = this.imageSteps();
    for (let r = steps.next(); ; r = steps.next()) {
      if (r.done === true) return r.value;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /**
   * The walk behind `image`: every entry's id in key order, and every chained entry's newest version
   * packed (entry-pack.ts) in the same order; yields between slices. The packed buffer starts at
   * the chains' budget bytes and grows should that fall short.
   */
  private *imageSteps(): Generator<void, MemtableImage, undefined> {
    const e = this.entries;
    const order = new Int32Array(e.count);
    let out = new Uint8Array(this.chains.length === 0 ? 0 : Math.max(64, this.chainBytes));
    let dv = new DataView(out.buffer);
    let pos = 0;
    let n = 0;
    let sliceStart = performance.now();
    let packedInSlice = false;
    for (let p = this.index.first(); p !== undefined; p = this.index.next(p)) {
      const id = this.index.at(p);
      const slot = e.ext[id]!;
      if (slot < 0) {
        order[n] = id;
      } else {
        order[n] = CHAINED;
        const v = visible(this.chains[slot]!, Number.MAX_SAFE_INTEGER)!;
        const kl = e.keyLength(id);
        const vl = partsLength(v.parts);
        const tn = v.ttl?.length ?? 0;
        const need = 21 + kl + vl + 8 * tn;
        if (pos + need > out.length) {
          const bigger = new Uint8Array(Math.max(2 * out.length, pos + need));
          bigger.set(out.subarray(0, pos));
          out = bigger;
          dv = new DataView(out.buffer);
        }
        pos = packVersion(e.key(id), v, out, dv, pos);
        packedInSlice = true;
      }
      if (++n % PACK_CHECK === 0 && performance.now() - sliceStart >= (packedInSlice ? PACK_SLICE_MS : ORDER_SLICE_MS)) {
        yield;
        sliceStart = performance.now();
        packedInSlice = false;
      }
    }
    return { ...e.image(), order, chained: out.subarray(0, pos) };
  }
}

/** Writes `key` with version `v` at `pos` of `out` (format of entry-pack.ts); returns the end. REQUIRES room. */
function packVersion(key: Uint8Array, v: MemVersion, out: Uint8Array, dv: DataView, pos: number): number {
  dv.setUint32(pos, key.length, true);
  out.set(key, pos + 4);
  pos += 4 + key.length;
  out[pos] = v.kind;
  dv.setFloat64(pos + 1, v.seq, true);
  dv.setUint32(pos + 9, partsLength(v.parts), true);
  pos += 13;
  for (const part of v.parts) {
    out.set(part, pos);
    pos += part.length;
  }
  const ttl = v.ttl ?? [];
  dv.setUint32(pos, ttl.length, true);
  pos += 4;
  for (const x of ttl) {
    dv.setFloat64(pos, x, true);
    pos += 8;
  }
  return pos;
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
