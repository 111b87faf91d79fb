/**
 * The memtable's entries without a JS object per key: key and value bytes in a few append-only slabs, the
 * rest of each entry in typed-array columns indexed by entry id, and an open-addressing hash table of
 * entry ids by key bytes.
 *
 * Why: every memtable key used to be a latin1 string, a node, a version object, a parts array and a value
 * view, all surviving until the flush. Survivors are what a young-generation GC copies, so a batch load
 * paid 5–11 ms scavenges (batch-100's 2.6–2.9 ms p99) besides the allocation itself. Here an insert writes
 * bytes and numbers into memory that is allocated a slab or a column doubling at a time.
 *
 * Memory: `bytes` is what the slabs and columns have allocated (exact, not estimated): slabs start at 4 KiB
 * and double up to SLAB_MAX, so the unused tail is at most one slab; the columns and the hash table double,
 * so they hold at most twice (the table four times) the entries' share. Slab bytes are never reused: a
 * replaced value's bytes stay allocated, and charged, until the memtable is dropped.
 *
 * REQUIRES: one thread; entries are never removed (a delete is an entry of kind Delete).
 */

const SLAB_MIN = 4 * 1024;
const SLAB_MAX = 1024 * 1024;
const FIRST_CAPACITY = 64;
const NO_EXT = -1;

/** A place in the slabs: slab index * SLAB_SPAN + offset (exact in a double). */
const SLAB_SPAN = 2 ** 32;

export class MemtableEntries {
  private slabs: Uint8Array[] = [];
  private slab = new Uint8Array(0);
  private used = 0;
  private slabBytes = 0;

  private capacity = 0;
  count = 0;
  /** Columns, one slot per entry id. */
  keyAt = new Float64Array(0);
  keyLen = new Int32Array(0);
  valAt = new Float64Array(0);
  valLen = new Int32Array(0);
  seq = new Float64Array(0);
  kind = new Uint8Array(0);
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
    this.keyAt[id] = this.append(key);
    this.keyLen[id] = key.length;
    this.valAt[id] = 0;
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
    this.valAt[id] = value.length === 0 ? 0 : this.append(value);
    this.valLen[id] = value.length;
  }

  /** A view of entry `id`'s key bytes (valid while the memtable lives; callers must not change it). */
  key(id: number): Uint8Array {
    return this.view(this.keyAt[id]!, this.keyLen[id]!);
  }

  /** A view of entry `id`'s inline value bytes. */
  value(id: number): Uint8Array {
    return this.view(this.valAt[id]!, this.valLen[id]!);
  }

  /** Copies entry `id`'s key into `out` at `pos`. */
  copyKey(id: number, out: Uint8Array, pos: number): void {
    copyFrom(this.slabs, this.keyAt[id]!, this.keyLen[id]!, out, pos);
  }

  /** Copies entry `id`'s inline value into `out` at `pos`. */
  copyValue(id: number, out: Uint8Array, pos: number): void {
    copyFrom(this.slabs, this.valAt[id]!, this.valLen[id]!, out, pos);
  }

  /** Byte order of `key` against entry `id`'s key: <0, 0, >0. */
  compareKey(key: Uint8Array, id: number): number {
    const at = this.keyAt[id]!;
    const s = this.slabs[Math.floor(at / SLAB_SPAN)]!;
    const o = at % SLAB_SPAN;
    const bl = this.keyLen[id]!;
    const n = key.length < bl ? key.length : bl;
    for (let i = 0; i < n; i++) {
      const d = key[i]! - s[o + i]!;
      if (d !== 0) return d;
    }
    return key.length - bl;
  }

  /** Byte order of entry `a`'s key against entry `b`'s. */
  compareIds(a: number, b: number): number {
    return this.compareKey(this.key(a), b);
  }

  private keyEquals(id: number, key: Uint8Array): boolean {
    const n = key.length;
    if (this.keyLen[id] !== n) return false;
    const at = this.keyAt[id]!;
    const s = this.slabs[Math.floor(at / SLAB_SPAN)]!;
    const o = at % SLAB_SPAN;
    for (let i = 0; i < n; i++) if (key[i] !== s[o + i]) return false;
    return true;
  }

  private view(at: number, len: number): Uint8Array {
    if (len === 0) return EMPTY;
    const o = at % SLAB_SPAN;
    return this.slabs[Math.floor(at / SLAB_SPAN)]!.subarray(o, o + len);
  }

  /** Appends `b` to the current slab (a new one when it does not fit); returns its place. */
  private append(b: Uint8Array): number {
    const n = b.length;
    if (this.used + n > this.slab.length) {
      const size = Math.max(n, Math.min(SLAB_MAX, this.slab.length === 0 ? SLAB_MIN : 2 * this.slab.length));
      this.slab = new Uint8Array(size);
      this.slabs.push(this.slab);
      this.slabBytes += size;
      this.used = 0;
    }
    const at = (this.slabs.length - 1) * SLAB_SPAN + this.used;
    this.slab.set(b, this.used);
    this.used += n;
    return at;
  }

  private grow(): void {
    const c = this.capacity === 0 ? FIRST_CAPACITY : 2 * this.capacity;
    this.keyAt = grown(this.keyAt, new Float64Array(c));
    this.keyLen = grown(this.keyLen, new Int32Array(c));
    this.valAt = grown(this.valAt, new Float64Array(c));
    this.valLen = grown(this.valLen, new Int32Array(c));
    this.seq = grown(this.seq, new Float64Array(c));
    this.kind = grown(this.kind, new Uint8Array(c));
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

/** Bytes of one entry's columns: keyAt, valAt, seq (8 each), keyLen, valLen, ext, hashOf (4 each), kind. */
const COLUMN_BYTES = 8 * 3 + 4 * 4 + 1;
const EMPTY = new Uint8Array(0);

function grown<T extends Float64Array | Int32Array | Uint8Array>(old: T, next: T): T {
  next.set(old as never);
  return next;
}

function copyFrom(slabs: Uint8Array[], at: number, len: number, out: Uint8Array, pos: number): void {
  if (len === 0) return;
  const o = at % SLAB_SPAN;
  const s = slabs[Math.floor(at / SLAB_SPAN)]!;
  if (len <= 32) for (let i = 0; i < len; i++) out[pos + i] = s[o + i]!;
  else out.set(s.subarray(o, o + len), pos);
}

/** FNV-1a over the key's bytes (keys are short; a JS loop beats a native call here). */
function hashBytes(b: Uint8Array): number {
  let h = 0x811c9dc5 | 0;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h ^ (h >>> 15);
}
