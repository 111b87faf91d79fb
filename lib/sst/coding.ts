/**
 * Byte-level encoding for the SST format (docs/format.md): a growable little-endian writer and bounds-checked
 * varint / fixed-width readers. Varints are unsigned LEB128 up to 2^53 - 1, written in shortest form.
 * Readers throw `FormatError` (an internal signal, turned into CORRUPTION with path and block by callers).
 */

/** Raised by the decoders here on malformed input; callers convert it to FloeError CORRUPTION. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FormatError';
  }
}

const TWO_32 = 4294967296;

/** A growable output buffer. PROMISES: `bytes()` is a view of exactly what was written (no copy). */
export class ByteWriter {
  private buf: Buffer;
  private len = 0;

  constructor(initialCapacity = 256) {
    this.buf = Buffer.allocUnsafe(Math.max(16, initialCapacity));
  }

  get length(): number {
    return this.len;
  }

  /** Forgets the contents, keeping the capacity. */
  reset(): void {
    this.len = 0;
  }

  /** View of the written bytes; invalidated by the next write or reset. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  /** The underlying buffer, for in-place work over [0, length) (e.g. a checksum over what was written). */
  raw(): Buffer {
    return this.buf;
  }

  private ensure(extra: number): void {
    const need = this.len + extra;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = Buffer.allocUnsafe(cap);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.len++] = v;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
  }

  /** REQUIRES 0 <= v < 2^53. */
  u64(v: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(v % TWO_32, this.len);
    this.buf.writeUInt32LE(Math.floor(v / TWO_32), this.len + 4);
    this.len += 8;
  }

  /** REQUIRES v a safe non-negative integer. */
  varint(v: number): void {
    this.ensure(8);
    const buf = this.buf;
    let pos = this.len;
    if (v < 0x80000000) {
      while (v >= 0x80) {
        buf[pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
    } else {
      while (v >= 0x80) {
        buf[pos++] = (v % 128) | 0x80;
        v = Math.floor(v / 128);
      }
    }
    buf[pos++] = v;
    this.len = pos;
  }

  bytesFrom(src: Uint8Array, start = 0, end = src.length): void {
    const n = end - start;
    this.ensure(n);
    const buf = this.buf;
    const at = this.len;
    // Short copies (key suffixes) by hand: cheaper than creating a subarray view for a native copy.
    if (n <= 32) for (let i = 0; i < n; i++) buf[at + i] = src[start + i]!;
    else buf.set(start === 0 && end === src.length ? src : src.subarray(start, end), at);
    this.len = at + n;
  }
}

/** Number of bytes `varint(v)` takes. */
export function varintLength(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/**
 * A bounds-checked reading cursor over `buf[pos, end)`. Every read past `end` or malformed varint throws
 * FormatError; so a decoder built on it never reads outside its block whatever the bytes say.
 */
export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  u8(): number {
    if (this.pos >= this.end) throw new FormatError(`unexpected end at byte ${this.pos}`);
    return this.buf[this.pos++]!;
  }

  u32(): number {
    if (this.pos + 4 > this.end) throw new FormatError(`unexpected end at byte ${this.pos}`);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi >= 0x200000) throw new FormatError(`64-bit value at byte ${this.pos - 8} exceeds 2^53`);
    return hi * TWO_32 + lo;
  }

  varint(): number {
    return readVarint(this, this.buf, this.end);
  }

  bytes(n: number): Uint8Array {
    if (n > this.end - this.pos) throw new FormatError(`field of ${n} bytes at byte ${this.pos} runs past the end`);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  skip(n: number): void {
    if (n > this.end - this.pos) throw new FormatError(`field of ${n} bytes at byte ${this.pos} runs past the end`);
    this.pos += n;
  }
}

/**
 * Decodes a varint at `cursor.pos` in `buf[.., end)`, advancing the cursor. Shared by ByteReader and the
 * data block's hot path (which keeps its own cursor object to avoid allocation).
 */
export function readVarint(cursor: { pos: number }, buf: Uint8Array, end: number): number {
  let pos = cursor.pos;
  if (pos >= end) throw new FormatError(`unexpected end at byte ${pos}`);
  let b = buf[pos++]!;
  if (b < 0x80) {
    cursor.pos = pos;
    return b;
  }
  let result = b & 0x7f;
  let shift = 7;
  // 32-bit fast part: up to 4 bytes (28 bits) with bit operations.
  while (shift < 28) {
    if (pos >= end) throw new FormatError(`unexpected end in varint at byte ${pos}`);
    b = buf[pos++]!;
    result |= (b & 0x7f) << shift;
    if (b < 0x80) {
      cursor.pos = pos;
      return result >>> 0;
    }
    shift += 7;
  }
  let value = result >>> 0;
  let scale = 268435456; // 2^28
  for (;;) {
    if (pos >= end) throw new FormatError(`unexpected end in varint at byte ${pos}`);
    b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
    if (scale > 2 ** 49) throw new FormatError(`varint longer than 8 bytes at byte ${cursor.pos}`);
  }
  if (value > Number.MAX_SAFE_INTEGER) throw new FormatError(`varint at byte ${cursor.pos} exceeds 2^53`);
  cursor.pos = pos;
  return value;
}

const nativeCompare = Buffer.prototype.compare;

/**
 * sign(a[aStart, aEnd) - b[bStart, bEnd)) in bytewise order, without allocating. A JS loop is several times
 * faster than the native call for the short keys of the hot path; long ranges go native.
 */
export function compareRange(a: Uint8Array, aStart: number, aEnd: number, b: Uint8Array, bStart: number, bEnd: number): number {
  const al = aEnd - aStart;
  const bl = bEnd - bStart;
  const n = al < bl ? al : bl;
  if (n > 64) return nativeCompare.call(a, b, bStart, bEnd, aStart, aEnd);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[bStart + i]!;
    if (x !== y) return x - y;
  }
  return al - bl;
}

/** Reads a little-endian u32 at `at` (caller checks bounds). */
export function u32At(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** Length of the common prefix of a[0, aLen) and b[0, bLen). */
export function commonPrefix(a: Uint8Array, aLen: number, b: Uint8Array, bLen: number): number {
  const n = aLen < bLen ? aLen : bLen;
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** A Buffer view of `u8` without copying. */
export function asBuffer(u8: Uint8Array): Buffer {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}
