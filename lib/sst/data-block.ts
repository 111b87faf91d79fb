/**
 * Reading one decoded data block (docs/format.md, "Data block"): point lookups that binary-search the restart
 * array comparing keys in place and then scan at most one restart interval, and range decoding.
 *
 * Blocks are immutable, so results share memory with the block: an entry's `value` (and, for range decoding,
 * sometimes its `key`) is a view of the block bytes. Callers that keep them longer than the block must not
 * mind retaining the block; nobody may write into them.
 */
import { corruption } from '../errors.js';
import type { Entry, EntryKind } from './entry.js';
import { FormatError, compareRange, readVarint, u32At } from './coding.js';
import { TTL_FLAG, decodeTtlValue } from './ttl-value.js';

export { readAllEntries } from './read-all.js';

/** Largest arena that decoded keys of one range are copied into (smaller when the rest of the block is). */
const KEY_ARENA_BYTES = 8 * 1024;

export class DataBlock {
  /** Decoded block bytes (entries, restart array, count). */
  readonly bytes: Uint8Array;
  readonly byteLength: number;
  /** Offset of the restart array = end of the entries. */
  private readonly restartsAt: number;
  private readonly numRestarts: number;
  /** Decoding cursor, one per block object, so decoding allocates nothing. */
  private readonly c = { pos: 0 };

  /**
   * Wraps decoded block bytes. Checks only what is O(1) (the restart count fits), so wrapping a cached block
   * is cheap; use `DataBlock.decode` for a block fresh from storage. `path` and `blockOffset` (the block's
   * offset in its file, -1 if unknown) name the block in error messages.
   */
  constructor(
    bytes: Uint8Array,
    readonly path = '<memory>',
    readonly blockOffset = -1,
  ) {
    this.bytes = bytes;
    this.byteLength = bytes.length;
    const len = bytes.length;
    const n = len >= 4 ? u32At(bytes, len - 4) : 0;
    if (len < 8 || n < 1 || n > (len - 4) / 4) {
      throw corruption(this.path, `${this.where()}: ${len} bytes cannot hold a restart array of ${n} entries`);
    }
    this.numRestarts = n;
    this.restartsAt = len - 4 - 4 * n;
  }

  /** Wraps and fully validates the restart array of a block just read from storage. */
  static decode(bytes: Uint8Array, path: string, blockOffset: number): DataBlock {
    const block = new DataBlock(bytes, path, blockOffset);
    let prev = -1;
    for (let i = 0; i < block.numRestarts; i++) {
      const r = block.restart(i);
      if ((i === 0 && r !== 0) || r <= prev || r >= block.restartsAt) {
        throw corruption(path, `${block.where()}: restart ${i} at ${r} is out of order or out of bounds`);
      }
      prev = r;
    }
    return block;
  }

  private where(): string {
    return this.blockOffset >= 0 ? `data block at offset ${this.blockOffset}` : 'data block';
  }

  private restart(i: number): number {
    return u32At(this.bytes, this.restartsAt + 4 * i);
  }

  private varint(): number {
    const b = this.bytes[this.c.pos]!;
    if (b < 0x80 && this.c.pos < this.restartsAt) {
      this.c.pos++;
      return b;
    }
    return readVarint(this.c, this.bytes, this.restartsAt);
  }

  private fail(e: unknown): never {
    if (e instanceof FormatError) throw corruption(this.path, `${this.where()}: ${e.message}`, e);
    throw e;
  }

  /**
   * The entry for `key`, or undefined. PROMISES: no decoding beyond one restart interval; the returned
   * entry's `key` is the argument itself and its `value` is a view of the block bytes.
   */
  get(key: Uint8Array): Entry | undefined {
    try {
      return this.lookup(key);
    } catch (e) {
      this.fail(e);
    }
  }

  private lookup(key: Uint8Array): Entry | undefined {
    const bytes = this.bytes;
    const klen = key.length;
    const end = this.restartsAt;
    // Binary search: the last restart whose key is <= `key`.
    let lo = 0;
    let hi = this.numRestarts - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      this.c.pos = this.restart(mid);
      if (this.varint() !== 0) throw new FormatError(`restart entry at ${this.restart(mid)} shares a prefix`);
      const unshared = this.varint();
      const valueLen = this.varint();
      const ks = this.c.pos;
      if (ks + unshared > end) throw new FormatError(`restart key at ${ks} runs past the entries`);
      const cmp = compareRange(bytes, ks, ks + unshared, key, 0, klen);
      if (cmp === 0) return this.entryAt(key, ks + unshared, valueLen);
      if (cmp < 0) {
        at = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (at < 0) return undefined;
    // Scan the interval after restart `at`, whose key is < `key`. `match` = length of the common prefix
    // of the previous key and `key`; since each key sorts after the previous one, an entry sharing more
    // than `match` bytes with its predecessor still sorts before `key`, and one sharing fewer sorts after.
    const limit = at + 1 < this.numRestarts ? this.restart(at + 1) : end;
    this.c.pos = this.restart(at);
    let match = 0;
    let prevLen = 0;
    while (this.c.pos < limit) {
      const shared = this.varint();
      const unshared = this.varint();
      const valueLen = this.varint();
      const ks = this.c.pos;
      const ke = ks + unshared;
      if (shared > prevLen || ke > end) throw new FormatError(`entry at ${ks} has an impossible key length`);
      prevLen = shared + unshared;
      if (shared <= match) {
        // key[0, shared) equals this entry's key prefix; compare the rest in place.
        let i = 0;
        while (i < unshared && shared + i < klen && bytes[ks + i] === key[shared + i]) i++;
        if (i === unshared) {
          if (shared + i === klen) return this.entryAt(key, ke, valueLen);
          match = shared + i; // entry key is a proper prefix of `key`: still before it
        } else if (shared + i === klen || bytes[ks + i]! > key[shared + i]!) {
          return undefined; // passed the place where `key` would be
        } else {
          match = shared + i;
        }
      }
      // Skip kind, seq and value.
      this.c.pos = ke + 1;
      while (this.c.pos < end && bytes[this.c.pos]! >= 0x80) this.c.pos++;
      this.c.pos += 1 + valueLen;
      if (this.c.pos > end) throw new FormatError(`entry at ${ks} runs past the entries`);
    }
    return undefined;
  }

  /** Decodes kind, seq and value of the entry whose key ends at `ke`. */
  private entryAt(key: Uint8Array, ke: number, valueLen: number): Entry {
    const end = this.restartsAt;
    if (ke >= end) throw new FormatError(`entry key ending at ${ke} leaves no room for its kind`);
    const kind = this.bytes[ke]!;
    if ((kind & ~TTL_FLAG) > 2) throw new FormatError(`entry at ${ke} has unknown kind ${kind}`);
    this.c.pos = ke + 1;
    const seq = this.varint();
    const vs = this.c.pos;
    if (vs + valueLen > end) throw new FormatError(`value at ${vs} of ${valueLen} bytes runs past the entries`);
    if (kind & TTL_FLAG) return { key, kind: (kind & ~TTL_FLAG) as EntryKind, seq, ...decodeTtlValue(this.bytes, vs, vs + valueLen) };
    return { key, kind: kind as EntryKind, seq, value: this.bytes.subarray(vs, vs + valueLen) };
  }

  /**
   * Entries with `gte <= key < lt` (bounds optional), in key order. Keys of restart entries and all values
   * are views of the block bytes; other keys are views of fresh copies (an arena shared by several keys).
   */
  entries(gte?: Uint8Array, lt?: Uint8Array): Entry[] {
    return this.entriesUpTo(gte, lt, Number.POSITIVE_INFINITY).entries;
  }

  /**
   * As `entries`, decoding at most `max` entries: a short scan need not decode the rest of a 16 KiB block
   * from each of its sources. PROMISES `resume`, when more entries in range follow, is the key of the first
   * of them (call again with it as `gte`: keys in a block are strictly increasing, so nothing repeats).
   */
  entriesUpTo(gte: Uint8Array | undefined, lt: Uint8Array | undefined, max: number): { entries: Entry[]; resume: Uint8Array | undefined } {
    try {
      return this.decodeRange(gte, lt, max);
    } catch (e) {
      this.fail(e);
    }
  }

  private decodeRange(gte: Uint8Array | undefined, lt: Uint8Array | undefined, max: number): { entries: Entry[]; resume: Uint8Array | undefined } {
    const bytes = this.bytes;
    const end = this.restartsAt;
    const out: Entry[] = [];
    let start = 0;
    if (gte !== undefined) {
      // The last restart whose key is <= gte; earlier entries are all < gte.
      let lo = 0;
      let hi = this.numRestarts - 1;
      while (lo <= hi) {
        const mid = (lo + hi) >>> 1;
        this.c.pos = this.restart(mid);
        this.varint();
        const unshared = this.varint();
        this.varint();
        const ks = this.c.pos;
        if (ks + unshared > end) throw new FormatError(`restart key at ${ks} runs past the entries`);
        if (compareRange(bytes, ks, ks + unshared, gte, 0, gte.length) <= 0) {
          start = mid;
          lo = mid + 1;
        } else {
          hi = mid - 1;
        }
      }
    }
    this.c.pos = this.restart(start);
    let scratch = new Uint8Array(64);
    let len = 0;
    // Keys that are not restart keys are copied into a shared arena: a view per key, not an ArrayBuffer.
    let arena = new Uint8Array(0);
    let arenaUsed = 0;
    while (this.c.pos < end) {
      const shared = this.varint();
      const unshared = this.varint();
      const valueLen = this.varint();
      const ks = this.c.pos;
      const ke = ks + unshared;
      if (shared > len || ke > end) throw new FormatError(`entry at ${ks} has an impossible key length`);
      const klen = shared + unshared;
      if (klen > scratch.length) {
        const bigger = new Uint8Array(Math.max(klen, scratch.length * 2));
        bigger.set(scratch.subarray(0, shared));
        scratch = bigger;
      }
      if (unshared < 32) for (let i = 0; i < unshared; i++) scratch[shared + i] = bytes[ks + i]!;
      else scratch.set(bytes.subarray(ks, ke), shared);
      len = klen;
      if (ke >= end) throw new FormatError(`entry key ending at ${ke} leaves no room for its kind`);
      const kind = bytes[ke]!;
      if ((kind & ~TTL_FLAG) > 2) throw new FormatError(`entry at ${ke} has unknown kind ${kind}`);
      this.c.pos = ke + 1;
      const seq = this.varint();
      const vs = this.c.pos;
      const ve = vs + valueLen;
      if (ve > end) throw new FormatError(`value at ${vs} of ${valueLen} bytes runs past the entries`);
      this.c.pos = ve;
      if (gte !== undefined && compareRange(scratch, 0, len, gte, 0, gte.length) < 0) continue;
      if (lt !== undefined && compareRange(scratch, 0, len, lt, 0, lt.length) >= 0) break;
      if (out.length >= max) return { entries: out, resume: scratch.slice(0, len) };
      let key: Uint8Array;
      if (shared === 0) {
        key = bytes.subarray(ks, ke);
      } else {
        if (arenaUsed + len > arena.length) {
          arena = new Uint8Array(Math.max(len, Math.min(KEY_ARENA_BYTES, end - this.c.pos + len)));
          arenaUsed = 0;
        }
        if (len < 32) for (let i = 0; i < len; i++) arena[arenaUsed + i] = scratch[i]!;
        else arena.set(scratch.subarray(0, len), arenaUsed);
        key = arena.subarray(arenaUsed, arenaUsed + len);
        arenaUsed += len;
      }
      if (kind & TTL_FLAG) out.push({ key, kind: (kind & ~TTL_FLAG) as EntryKind, seq, ...decodeTtlValue(bytes, vs, ve) });
      else out.push({ key, kind: kind as EntryKind, seq, value: bytes.subarray(vs, ve) });
    }
    return { entries: out, resume: undefined };
  }
}
