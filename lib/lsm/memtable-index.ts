/**
 * The memtable's ordered index: its entry ids sorted by key bytes, kept as a list of sorted chunks of at
 * most CHUNK_MAX ids plus the first id of each chunk. Keys live in the entries (memtable-entries.ts); the
 * index compares through `compareKey(key, id)` and holds only small integers, which the garbage collector
 * does not trace.
 *
 * Why not a skip list: an insert into a skip list of ~150,000 keys compares ~35 keys, each behind two
 * dependent pointer loads (node, then its `next` array), and allocates a `next` array per node; it was most
 * of the cost of a batch write. Here an insert is a binary search over the chunk first ids, one in the
 * chunk, and a short in-array move.
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

/** Byte order of `key` against the key of entry `id`: <0, 0, >0. */
export type CompareKey = (key: Uint8Array, id: number) => number;

export class MemtableIndex {
  private readonly chunks: number[][] = [];
  /** firsts[c] === chunks[c][0] */
  private readonly firsts: number[] = [];

  constructor(private readonly compare: CompareKey) {}

  /** Adds entry `id`, whose key is `key`. REQUIRES: no entry with that key is present. */
  insert(id: number, key: Uint8Array): void {
    if (this.chunks.length === 0) {
      this.chunks.push([id]);
      this.firsts.push(id);
      return;
    }
    // Ascending loads (sequential keys, sorted batches) append: one comparison with the last key instead
    // of two binary searches.
    const lastChunk = this.chunks[this.chunks.length - 1]!;
    const appending = this.compare(key, lastChunk[lastChunk.length - 1]!) > 0;
    const c = appending ? this.chunks.length - 1 : Math.max(0, this.chunkFor(key));
    const chunk = this.chunks[c]!;
    const i = appending ? chunk.length : this.lowerBound(chunk, key, false);
    if (i === chunk.length) chunk.push(id);
    else chunk.splice(i, 0, id);
    if (i === 0) this.firsts[c] = id;
    if (chunk.length > CHUNK_MAX) {
      const upper = chunk.splice(CHUNK_MAX >>> 1);
      this.chunks.splice(c + 1, 0, upper);
      this.firsts.splice(c + 1, 0, upper[0]!);
    }
  }

  /** The position of the first entry with key >= k (> k when `strict`); undefined past the end. */
  seek(k: Uint8Array, strict: boolean): IndexPos | undefined {
    const c = this.chunkFor(k);
    if (c < 0) return this.chunks.length === 0 ? undefined : { c: 0, i: 0 };
    const i = this.lowerBound(this.chunks[c]!, k, strict);
    return this.normalize(c, i);
  }

  /** The position of the first node; undefined when empty. */
  first(): IndexPos | undefined {
    return this.chunks.length === 0 ? undefined : { c: 0, i: 0 };
  }

  /** The position of the last entry with key < k (the last entry when k is undefined); undefined if none. */
  before(k: Uint8Array | undefined): IndexPos | undefined {
    if (k === undefined) {
      const c = this.chunks.length - 1;
      return c < 0 ? undefined : { c, i: this.chunks[c]!.length - 1 };
    }
    const c = this.chunkFor(k);
    if (c < 0) return undefined;
    const i = this.lowerBound(this.chunks[c]!, k, false) - 1;
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
  private chunkFor(k: Uint8Array): number {
    const f = this.firsts;
    let lo = 0;
    let hi = f.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(k, f[mid]!) >= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }

  /** The first slot of sorted `ids` whose key is >= k (> k when `strict`). */
  private lowerBound(ids: number[], k: Uint8Array, strict: boolean): number {
    let lo = 0;
    let hi = ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const d = this.compare(k, ids[mid]!);
      if (strict ? d >= 0 : d > 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private normalize(c: number, i: number): IndexPos | undefined {
    if (i < this.chunks[c]!.length) return { c, i };
    return c + 1 < this.chunks.length ? { c: c + 1, i: 0 } : undefined;
  }
}
