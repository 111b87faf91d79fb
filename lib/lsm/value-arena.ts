/**
 * Copies of written values, carved from shared slabs.
 *
 * Why: a write keeps its own copy of the caller's bytes (the caller may reuse its buffer). A separate
 * 100-byte `Uint8Array` per value is an off-heap backing store that the garbage collector tracks one by
 * one; with one slab per SLAB_BYTES of small values, a batch of 100 puts allocates about one.
 *
 * A slab lives as long as any value carved from it: in practice until the memtables holding them are
 * flushed. Memtables therefore keep the bytes of a value carved from a slab charged to their budget even
 * when a later write replaces it (`isShared`), so the budget still bounds the memory held.
 * REQUIRES: one thread (the store's).
 */

const SLAB_BYTES = 64 * 1024;
/** Values above this get a buffer of their own (a large value must not pin a slab, nor waste most of one). */
const MAX_CARVED = 4 * 1024;

export class ValueArena {
  private slab = new Uint8Array(0);
  private used = 0;

  /** A copy of `b` that later changes to `b` cannot affect. */
  copy(b: Uint8Array): Uint8Array {
    const n = b.length;
    if (n > MAX_CARVED || n === 0) return new Uint8Array(b); // a plain copy: cheaper than slice() through Buffer's species
    if (this.used + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.used = 0;
    }
    const out = this.slab.subarray(this.used, this.used + n);
    out.set(b);
    this.used += n;
    return out;
  }
}

/** True when `b` is a view of a larger buffer (a carved value): its bytes stay held after it is replaced. */
export function isShared(b: Uint8Array): boolean {
  return b.byteLength !== b.buffer.byteLength;
}
