/**
 * The index block (docs/format.md, "Index block"): one separator key and handle per data block. The builder
 * side chooses short separators; the reader side decodes the whole block once into packed arrays (it stays
 * pinned for the life of the open table) and binary-searches them comparing bytes in place.
 */
import { ByteReader, ByteWriter, FormatError, commonPrefix, compareRange } from './coding.js';

/**
 * A short key `s` with `last <= s < next`. REQUIRES last < next. Shortens only by incrementing the first
 * differing byte of `last` when that keeps it below `next`; otherwise returns `last`.
 */
export function shortSeparator(last: Uint8Array, lastLen: number, next: Uint8Array): Uint8Array {
  const p = commonPrefix(last, lastLen, next, next.length);
  if (p < lastLen && p < next.length) {
    const b = last[p]!;
    if (b + 1 < next[p]!) {
      const s = new Uint8Array(p + 1);
      s.set(last.subarray(0, p));
      s[p] = b + 1;
      return s;
    }
  }
  const copy = new Uint8Array(lastLen); // a copy: `last` may be a reused buffer
  copy.set(last.subarray(0, lastLen));
  return copy;
}

/** Accumulates index entries and writes the decoded index block. */
export class IndexBuilder {
  private readonly out = new ByteWriter(1024);
  private prev: Uint8Array = new Uint8Array(0);
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Rough decoded size so far (for the table builder's size estimate). */
  get estimatedSize(): number {
    return this.out.length + 8;
  }

  /** REQUIRES separators strictly increasing, handles contiguous. */
  add(separator: Uint8Array, offset: number, size: number): void {
    const shared = commonPrefix(this.prev, this.prev.length, separator, separator.length);
    this.out.varint(shared);
    this.out.varint(separator.length - shared);
    this.out.bytesFrom(separator, shared, separator.length);
    this.out.varint(offset);
    this.out.varint(size);
    this.prev = separator;
    this.n++;
  }

  /** Writes the decoded block (count first) to `dest`. */
  encode(dest: ByteWriter): void {
    dest.varint(this.n);
    dest.bytesFrom(this.out.bytes());
  }
}

/** The decoded index: separators packed in one buffer, handles in typed arrays. Immutable. */
export class BlockIndex {
  private constructor(
    /** All separators, back to back. */
    private readonly keys: Buffer,
    /** Separator i is keys[starts[i], starts[i + 1]). */
    private readonly starts: Uint32Array,
    readonly offsets: Float64Array,
    readonly sizes: Uint32Array,
  ) {}

  get count(): number {
    return this.sizes.length;
  }

  separator(i: number): Uint8Array {
    return this.keys.subarray(this.starts[i]!, this.starts[i + 1]!);
  }

  /**
   * Parses a decoded index block and checks its structure: separators strictly increasing, handles
   * contiguous from 0 to `metaOffset`, each at least a trailer long. Throws FormatError.
   */
  static decode(block: Uint8Array, metaOffset: number, minBlockSize: number): BlockIndex {
    const r = new ByteReader(block);
    const n = r.varint();
    if (n < 1) throw new FormatError('index lists no data blocks');
    // Each index entry takes at least 4 bytes; refuse counts the block cannot hold before allocating.
    if (n > r.remaining / 4) throw new FormatError(`index claims ${n} blocks in ${r.remaining} bytes`);
    const offsets = new Float64Array(n);
    const sizes = new Uint32Array(n);
    const starts = new Uint32Array(n + 1);
    const keys = new ByteWriter(Math.max(64, block.length));
    let prevStart = 0;
    let prevLen = 0;
    let expectOffset = 0;
    for (let i = 0; i < n; i++) {
      const shared = r.varint();
      const unshared = r.varint();
      if (shared > prevLen) throw new FormatError(`separator ${i} shares ${shared} bytes with a ${prevLen}-byte key`);
      const suffix = r.bytes(unshared);
      const start = keys.length;
      // Copy the shared prefix from the previous separator, which is already in `keys`.
      if (shared > 0) keys.bytesFrom(keys.raw().subarray(prevStart, prevStart + shared));
      keys.bytesFrom(suffix);
      starts[i] = start;
      if (i > 0) {
        const all = keys.raw();
        if (compareRange(all, start, start + shared + unshared, all, prevStart, prevStart + prevLen) <= 0) {
          throw new FormatError(`separator ${i} does not sort after separator ${i - 1}`);
        }
      }
      prevStart = start;
      prevLen = shared + unshared;
      const offset = r.varint();
      const size = r.varint();
      if (offset !== expectOffset || size < minBlockSize || size > 0xffffffff) {
        throw new FormatError(`block ${i} has impossible handle ${offset}+${size} (expected offset ${expectOffset})`);
      }
      offsets[i] = offset;
      sizes[i] = size;
      expectOffset = offset + size;
    }
    starts[n] = keys.length;
    if (expectOffset !== metaOffset) throw new FormatError(`data blocks end at ${expectOffset}, but the meta section starts at ${metaOffset}`);
    if (r.remaining !== 0) throw new FormatError(`${r.remaining} stray bytes after the last index entry`);
    return new BlockIndex(Buffer.from(keys.bytes()), starts, offsets, sizes);
  }

  /** Index of the first block whose separator is >= key, or -1 when key is beyond every separator. */
  find(key: Uint8Array): number {
    const keys = this.keys;
    const starts = this.starts;
    let lo = 0;
    let hi = this.sizes.length; // answer in [lo, hi]; hi = n means none
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (compareRange(keys, starts[mid]!, starts[mid + 1]!, key, 0, key.length) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo === this.sizes.length ? -1 : lo;
  }
}
