/**
 * The memtable's entries without a JS object per key: key and value bytes in a few append-only slabs, the
 * rest of each entry in typed-array columns indexed by entry id, and an open-addressing hash table of
 * entry ids by key bytes.
 *
 * Why: every memtable key used to be a latin1 string, a node, a version object, a parts array and a value
 * view, all surviving until the flush. Survivors are what a young-generation GC copies, so a batch load
 * paid 5–11 ms scavenges (batch-100's 2.6–2.9 ms p99) besides the allocation itself. Here an insert writes
 * bytes and numbers into memory that is allocated a slab or a column growth at a time (the ordered index
 * keeps one string per key: memtable-index.ts).
 *
 * Memory: `bytes` is what the slabs, columns and hash table have allocated (exact, not estimated): slabs
 * start at 4 KiB and double up to SLAB_MAX, so the unused tail is at most one slab; the columns grow by
 * half, so they hold at most 1.5 times the entries' share; the hash table (at most half full) doubles.
 * Slab bytes are never reused: a replaced value's bytes stay allocated, and charged, until the memtable is
 * dropped.
 *
 * Shared memory: the slabs and the columns a flush reads are SharedArrayBuffers, so a frozen memtable goes
 * to the pool thread that builds its SST (memtable-image.ts) without its bytes being packed or copied on
 * the store's thread. Nothing changes them once the memtable is frozen, so the two threads never race.
 * (A `set()` into shared memory costs ~20 ns more per call; packing a 32 MiB memtable cost 55–120 ms.)
 *
 * REQUIRES: one thread; entries are never removed (a delete is an entry of kind Delete).
 */

const SLAB_MIN = 4 * 1024;
const SLAB_MAX = 1024 * 1024;
const FIRST_CAPACITY = 64;
const NO_EXT = -1;

export class MemtableEntries {
  private slabs: Uint8Array[] = [];
  private slab: Uint8Array = new Uint8Array(0);
  private used = 0;
  private slabBytes = 0;

  private capacity = 0;
  count = 0;
  /**
   * Per entry, KEY_STRIDE int32s side by side, so a comparison loads one cache line before the key bytes:
   * the key's first 4 bytes (big-endian, zero-padded: most comparisons end there), its slab, offset, length.
   */
  private keyMeta: Int32Array = new Int32Array(0);
  /** Columns, one slot per entry id. A place in the slabs is a slab index and an offset. */
  valSlab: Int32Array = new Int32Array(0);
  valOff: Int32Array = new Int32Array(0);
  valLen: Int32Array = new Int32Array(0);
  seq: Float64Array = new Float64Array(0);
  kind: Uint8Array = new Uint8Array(0);
  /** Index into the caller's side table of version chains (NO_EXT: the entry is its columns alone). */
  ext = new Int32Array(0);
  private hashOf = new Int32Array(0);

  /** Entry id + 1 per slot; 0 = empty. Size a power of two, at most half full. */
  private table = new Int32Array(0);
  private mask = -1;

  /** Bytes allocated for slabs, columns and the hash table. */
  get bytes(): number {
    return this.slabBytes + this.capacity * COLUMN_BYTES + this.table.byteLength;
  }

  /**
   * The slabs and the columns of entries 0..count-1 as views of this object's shared memory (nothing is
   * copied). REQUIRES: no more add or setValue (the memtable is frozen) while the views are read.
   */
  image(): EntriesImage {
    const n = this.count;
    return {
      slabs: this.slabs.slice(),
      keyMeta: this.keyMeta.subarray(0, n * KEY_STRIDE),
      valSlab: this.valSlab.subarray(0, n),
      valOff: this.valOff.subarray(0, n),
      valLen: this.valLen.subarray(0, n),
      seq: this.seq.subarray(0, n),
      kind: this.kind.subarray(0, n),
    };
  }

  /** The entry id of `key`, or -1. */
  find(key: Uint8Array): number {
    if (this.count === 0) return -1;
    const h = hashBytes(key);
    const table = this.table;
    for (let slot = h & this.mask; ; slot = (slot + 1) & this.mask) {
      const id = table[slot]! - 1;
      if (id < 0) return -1;
      if (this.hashOf[id] === h && this.keyEquals(id, key)) return id;
    }
  }

  /** Adds `key` (REQUIRES: not present) with the given columns; returns its id. */
  add(key: Uint8Array, kind: number, seq: number): number {
    if (this.count === this.capacity) this.grow();
    if (2 * (this.count + 1) > this.table.length) this.rehash(Math.max(2 * FIRST_CAPACITY, 2 * this.table.length));
    const id = this.count++;
    const h = hashBytes(key);
    this.hashOf[id] = h;
    this.append(key);
    const m = id * KEY_STRIDE;
    this.keyMeta[m] = headOf(key);
    this.keyMeta[m + 1] = this.slabs.length - 1;
    this.keyMeta[m + 2] = this.used - key.length;
    this.keyMeta[m + 3] = key.length;
    this.valLen[id] = 0;
    this.seq[id] = seq;
    this.kind[id] = kind;
    this.ext[id] = NO_EXT;
    const table = this.table;
    let slot = h & this.mask;
    while (table[slot] !== 0) slot = (slot + 1) & this.mask;
    table[slot] = id + 1;
    return id;
  }

  /** Stores `value` as entry `id`'s inline value. */
  setValue(id: number, value: Uint8Array): void {
    if (value.length > 0) {
      this.append(value);
      this.valSlab[id] = this.slabs.length - 1;
      this.valOff[id] = this.used - value.length;
    }
    this.valLen[id] = value.length;
  }

  /** Length of entry `id`'s key. */
  keyLength(id: number): number {
    return this.keyMeta[id * KEY_STRIDE + 3]!;
  }

  /** A view of entry `id`'s key bytes (valid while the memtable lives; callers must not change it). */
  key(id: number): Uint8Array {
    const m = id * KEY_STRIDE;
    return this.view(this.keyMeta[m + 1]!, this.keyMeta[m + 2]!, this.keyMeta[m + 3]!);
  }

  /** A view of entry `id`'s inline value bytes. */
  value(id: number): Uint8Array {
    return this.view(this.valSlab[id]!, this.valOff[id]!, this.valLen[id]!);
  }

  /** Copies entry `id`'s key into `out` at `pos`. */
  copyKey(id: number, out: Uint8Array, pos: number): void {
    const m = id * KEY_STRIDE;
    copyFrom(this.slabs[this.keyMeta[m + 1]!]!, this.keyMeta[m + 2]!, this.keyMeta[m + 3]!, out, pos);
  }

  /** Copies entry `id`'s inline value into `out` at `pos`. */
  copyValue(id: number, out: Uint8Array, pos: number): void {
    if (this.valLen[id]! > 0) copyFrom(this.slabs[this.valSlab[id]!]!, this.valOff[id]!, this.valLen[id]!, out, pos);
  }

  /** Byte order of `key` against entry `id`'s key: <0, 0, >0. */
  compareKey(key: Uint8Array, id: number): number {
    const m = id * KEY_STRIDE;
    const meta = this.keyMeta;
    const h = headOf(key);
    const eh = meta[m]! >>> 0;
    if (h !== eh) return h < eh ? -1 : 1;
    const s = this.slabs[meta[m + 1]!]!;
    const o = meta[m + 2]!;
    const bl = meta[m + 3]!;
    const n = Math.min(key.length, bl);
    for (let i = 0; i < n; i++) {
      const d = key[i]! - s[o + i]!;
      if (d !== 0) return d;
    }
    return key.length - bl;
  }

  private keyEquals(id: number, key: Uint8Array): boolean {
    const n = key.length;
    const m = id * KEY_STRIDE;
    if (this.keyMeta[m + 3] !== n) return false;
    const s = this.slabs[this.keyMeta[m + 1]!]!;
    const o = this.keyMeta[m + 2]!;
    for (let i = 0; i < n; i++) if (key[i] !== s[o + i]) return false;
    return true;
  }

  private view(slab: number, off: number, len: number): Uint8Array {
    return len === 0 ? EMPTY : this.slabs[slab]!.subarray(off, off + len);
  }

  /** Appends `b` to the current slab (a new one when it does not fit): it ends at `used` of the last slab. */
  private append(b: Uint8Array): void {
    const n = b.length;
    if (this.used + n > this.slab.length) {
      const size = Math.max(n, Math.min(SLAB_MAX, this.slab.length === 0 ? SLAB_MIN : 2 * this.slab.length));
      this.slab = new Uint8Array(new SharedArrayBuffer(size));
      this.slabs.push(this.slab);
      this.slabBytes += size;
      this.used = 0;
    }
    const slab = this.slab;
    const at = this.used;
    if (n <= 32) for (let i = 0; i < n; i++) slab[at + i] = b[i]!;
    else slab.set(b, at);
    this.used = at + n;
  }

  private grow(): void {
    // 1.5x, not 2x: the columns are most of an entry's overhead, and unused capacity is charged too.
    const c = this.capacity === 0 ? FIRST_CAPACITY : Math.ceil(1.5 * this.capacity);
    this.keyMeta = grown(this.keyMeta, new Int32Array(shared(4 * c * KEY_STRIDE)));
    this.valSlab = grown(this.valSlab, new Int32Array(shared(4 * c)));
    this.valOff = grown(this.valOff, new Int32Array(shared(4 * c)));
    this.valLen = grown(this.valLen, new Int32Array(shared(4 * c)));
    this.seq = grown(this.seq, new Float64Array(shared(8 * c)));
    this.kind = grown(this.kind, new Uint8Array(shared(c)));
    this.ext = grown(this.ext, new Int32Array(c));
    this.hashOf = grown(this.hashOf, new Int32Array(c));
    this.capacity = c;
  }

  private rehash(size: number): void {
    const table = new Int32Array(size);
    const mask = size - 1;
    for (let id = 0; id < this.count; id++) {
      let slot = this.hashOf[id]! & mask;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
      table[slot] = id + 1;
    }
    this.table = table;
    this.mask = mask;
  }
}

/**
 * What a flush reads of the entries (memtable-image.ts): the slabs, and per entry id its key's place
 * (KEY_STRIDE int32s: first 4 bytes, slab, offset, length), its inline value's place, seq and kind.
 */
export interface EntriesImage {
  slabs: Uint8Array[];
  keyMeta: Int32Array;
  valSlab: Int32Array;
  valOff: Int32Array;
  valLen: Int32Array;
  seq: Float64Array;
  kind: Uint8Array;
}

export const KEY_STRIDE = 4;
/** Bytes of one entry's columns: seq (8); key meta (4 × 4); valSlab, valOff, valLen, ext, hashOf (4 each); kind. */
const COLUMN_BYTES = 8 + 4 * KEY_STRIDE + 4 * 5 + 1;
const EMPTY = new Uint8Array(0);

function shared(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes);
}

function grown<T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(old: T, next: T): T {
  next.set(old as never);
  return next;
}

/** The first 4 bytes of `key` as a big-endian number, zero-padded (equal heads still need a full compare). */
function headOf(key: Uint8Array): number {
  const n = key.length;
  if (n >= 4) return ((key[0]! << 24) | (key[1]! << 16) | (key[2]! << 8) | key[3]!) >>> 0;
  let h = 0;
  for (let i = 0; i < 4; i++) h = (h << 8) | (i < n ? key[i]! : 0);
  return h >>> 0;
}

function copyFrom(s: Uint8Array, o: number, len: number, out: Uint8Array, pos: number): void {
  if (len <= 32) for (let i = 0; i < len; i++) out[pos + i] = s[o + i]!;
  else out.set(s.subarray(o, o + len), pos);
}

/** FNV-1a over the key's bytes (keys are short; a JS loop beats a native call here). */
function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h ^ (h >>> 15);
}
