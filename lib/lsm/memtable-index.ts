/**
 * The memtable's ordered index: its nodes sorted by key (latin1 strings, whose JS order is byte order), kept
 * as a list of sorted chunks of at most CHUNK_MAX nodes plus the first key of each chunk.
 *
 * Why not a skip list: an insert into a skip list of ~150,000 keys compares ~35 keys, each behind two
 * dependent pointer loads (node, then its `next` array), and allocates a `next` array per node; it was most
 * of the cost of a batch write. Here an insert is a binary search over the contiguous array of chunk first
 * keys, one in the chunk, and a short in-array move; a node is just the caller's object.
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

export class MemtableIndex<N extends { readonly key: string }> {
  private readonly chunks: N[][] = [];
  /** keys[c][i] === chunks[c][i].key: searches compare strings without loading each node first. */
  private readonly keys: string[][] = [];
  /** firsts[c] === chunks[c][0].key */
  private readonly firsts: string[] = [];

  /** Adds `node`. REQUIRES: no node with its key is present. */
  insert(node: N): void {
    const k = node.key;
    if (this.chunks.length === 0) {
      this.chunks.push([node]);
      this.keys.push([k]);
      this.firsts.push(k);
      return;
    }
    const c = Math.max(0, this.chunkFor(k));
    const chunk = this.chunks[c]!;
    const keys = this.keys[c]!;
    const i = lowerBound(keys, k, false);
    if (i === chunk.length) {
      chunk.push(node);
      keys.push(k);
    } else {
      chunk.splice(i, 0, node);
      keys.splice(i, 0, k);
    }
    if (i === 0) this.firsts[c] = k;
    if (chunk.length > CHUNK_MAX) {
      const upper = chunk.splice(CHUNK_MAX >>> 1);
      this.chunks.splice(c + 1, 0, upper);
      this.keys.splice(c + 1, 0, keys.splice(CHUNK_MAX >>> 1));
      this.firsts.splice(c + 1, 0, upper[0]!.key);
    }
  }

  /** The position of the first node with key >= k (> k when `strict`); undefined past the end. */
  seek(k: string, strict: boolean): IndexPos | undefined {
    const c = this.chunkFor(k);
    if (c < 0) return this.chunks.length === 0 ? undefined : { c: 0, i: 0 };
    const i = lowerBound(this.keys[c]!, k, strict);
    return this.normalize(c, i);
  }

  /** The position of the first node; undefined when empty. */
  first(): IndexPos | undefined {
    return this.chunks.length === 0 ? undefined : { c: 0, i: 0 };
  }

  /** The position of the last node with key < k (the last node when k is undefined); undefined if none. */
  before(k: string | undefined): IndexPos | undefined {
    if (k === undefined) {
      const c = this.chunks.length - 1;
      return c < 0 ? undefined : { c, i: this.chunks[c]!.length - 1 };
    }
    const c = this.chunkFor(k);
    if (c < 0) return undefined;
    const i = lowerBound(this.keys[c]!, k, false) - 1;
    if (i >= 0) return { c, i };
    return c === 0 ? undefined : { c: c - 1, i: this.chunks[c - 1]!.length - 1 };
  }

  at(p: IndexPos): N {
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
