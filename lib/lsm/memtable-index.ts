/**
 * The memtable's ordered index: its entry ids sorted by key, kept as a list of sorted chunks of at most
 * CHUNK_MAX ids plus, side by side, each id's key as a latin1 string (whose JS order is byte order) and the
 * first key of each chunk. The entries themselves (memtable-entries.ts) keep their bytes in slabs.
 *
 * Why strings here: a search compares ~17 keys; a string comparison is one native memcmp behind one
 * pointer, where comparing slab bytes from JS cost two dependent cache misses and a byte loop per key
 * (random inserts ran ~5x slower in the index that way). One string per key is the only JS object an
 * entry has.
 *
 * Why not a skip list: an insert into a skip list of ~150,000 keys compares ~35 keys, each behind two
 * dependent pointer loads (node, then its `next` array), and allocates a `next` array per node. Here an
 * insert is a binary search over the chunk first keys, one in the chunk, and a short in-array move.
 *
 * Ordered reads take a position (`seek`) and walk chunk by chunk. REQUIRES: no insert while a caller walks
 * with a position taken before it (every walk of a live memtable is one synchronous call; a frozen
 * memtable, which flush packs in slices, takes no more inserts).
 */

/** Nodes per chunk before it splits in two. Small enough that a splice is a short memmove. */
const CHUNK_MAX = 128;

/** A position in the index: chunk `c`, slot `i`. */
export interface IndexPos {
  c: number;
  i: number;
}

export class MemtableIndex {
  private readonly chunks: number[][] = [];
  /** keys[c][i] is the key of chunks[c][i]. */
  private readonly keys: string[][] = [];
  /** firsts[c] === keys[c][0] */
  private readonly firsts: string[] = [];

  /** Adds entry `id`, whose key is `key`. REQUIRES: no entry with that key is present. */
  insert(id: number, key: Uint8Array): void {
    const k = keyString(key);
    if (this.chunks.length === 0) {
      this.chunks.push([id]);
      this.keys.push([k]);
      this.firsts.push(k);
      return;
    }
    // Ascending loads (sequential keys, sorted batches) append: one comparison with the last key instead
    // of two binary searches.
    const lastKeys = this.keys[this.keys.length - 1]!;
    const appending = k > lastKeys[lastKeys.length - 1]!;
    const c = appending ? this.chunks.length - 1 : Math.max(0, this.chunkFor(k));
    const chunk = this.chunks[c]!;
    const keys = this.keys[c]!;
    const i = appending ? chunk.length : lowerBound(keys, k, false);
    if (i === chunk.length) {
      chunk.push(id);
      keys.push(k);
    } else {
      chunk.splice(i, 0, id);
      keys.splice(i, 0, k);
    }
    if (i === 0) this.firsts[c] = k;
    if (chunk.length > CHUNK_MAX) {
      const upper = chunk.splice(CHUNK_MAX >>> 1);
      const upperKeys = keys.splice(CHUNK_MAX >>> 1);
      this.chunks.splice(c + 1, 0, upper);
      this.keys.splice(c + 1, 0, upperKeys);
      this.firsts.splice(c + 1, 0, upperKeys[0]!);
    }
  }

  /** The position of the first entry with key >= k (> k when `strict`); undefined past the end. */
  seek(key: Uint8Array, strict: boolean): IndexPos | undefined {
    const k = keyString(key);
    const c = this.chunkFor(k);
    if (c < 0) return this.chunks.length === 0 ? undefined : { c: 0, i: 0 };
    const i = lowerBound(this.keys[c]!, k, strict);
    return this.normalize(c, i);
  }

  /** The position of the first node; undefined when empty. */
  first(): IndexPos | undefined {
    return this.chunks.length === 0 ? undefined : { c: 0, i: 0 };
  }

  /** The position of the last entry with key < k (the last entry when k is undefined); undefined if none. */
  before(key: Uint8Array | undefined): IndexPos | undefined {
    if (key === undefined) {
      const c = this.chunks.length - 1;
      return c < 0 ? undefined : { c, i: this.chunks[c]!.length - 1 };
    }
    const k = keyString(key);
    const c = this.chunkFor(k);
    if (c < 0) return undefined;
    const i = lowerBound(this.keys[c]!, k, false) - 1;
    if (i >= 0) return { c, i };
    return c === 0 ? undefined : { c: c - 1, i: this.chunks[c - 1]!.length - 1 };
  }

  /** The entry id at `p`. */
  at(p: IndexPos): number {
    return this.chunks[p.c]![p.i]!;
  }

  /** `p` moved to the next node (the same object, for loops), or undefined past the end. */
  next(p: IndexPos): IndexPos | undefined {
    if (++p.i < this.chunks[p.c]!.length) return p;
    p.c++;
    p.i = 0;
    return p.c < this.chunks.length ? p : undefined;
  }

  /** `p` moved to the previous node (the same object), or undefined past the start. */
  prev(p: IndexPos): IndexPos | undefined {
    if (--p.i >= 0) return p;
    if (--p.c < 0) return undefined;
    p.i = this.chunks[p.c]!.length - 1;
    return p;
  }

  /** The index of the last chunk whose first key is <= k (-1: k is below every key). */
  private chunkFor(k: string): number {
    const f = this.firsts;
    let lo = 0;
    let hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (f[mid]! <= k) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  private normalize(c: number, i: number): IndexPos | undefined {
    if (i < this.chunks[c]!.length) return { c, i };
    return c + 1 < this.chunks.length ? { c: c + 1, i: 0 } : undefined;
  }
}

/** The first slot of sorted `keys` whose key is >= k (> k when `strict`). */
function lowerBound(keys: string[], k: string, strict: boolean): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const mk = keys[mid]!;
    if (strict ? mk <= k : mk < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

// Buffer's native latin1 decoder applied to any Uint8Array, without wrapping it in a Buffer first.
const latin1Slice = (Buffer.prototype as unknown as { latin1Slice: (this: Uint8Array, start: number, end: number) => string }).latin1Slice;

/** A key as a latin1 string: one char per byte, so string order is byte order. */
function keyString(key: Uint8Array): string {
  return latin1Slice.call(key, 0, key.length);
}
