/**
 * SharedBlockCache: the in-memory block cache, one SharedArrayBuffer arena shared by every shard worker
 * thread. `create` allocates it, `shareable()` gives a structured-cloneable descriptor, and `attach` builds a
 * view over the same memory in another thread. The design is written up in docs/caches.md; in short:
 *
 * - Data lives in arenas (SharedArrayBuffers of at most `arenaBytes`) cut into fixed chunks (default 2 KiB).
 *   A block occupies `ceil(len / chunk)` CONTIGUOUS chunks inside one arena, so a hit is one memcpy.
 * - Per-chunk metadata (Int32, 8 words): state, file key hi/lo, offset lo/hi, length, span. Only the first
 *   chunk of an entry ("start") is meaningful; other chunks stay FREE.
 * - Index: open addressing with linear probing over an Int32Array (value = start chunk + 1, 0 = empty),
 *   sized to a power of two ≥ 2 × chunks, so its load factor stays ≤ 0.5.
 * - Eviction: CLOCK over chunk positions. The hand looks for a window of k contiguous chunks; cold unpinned
 *   entries in the window are evicted, a hot (referenced) or pinned entry gets its reference bit cleared and
 *   the window restarts after it. New entries start cold.
 *
 * Concurrency (all through Atomics; no torn or foreign block is ever returned):
 * - Writers (insert/evict) serialise on one futex-style lock word. They are rare next to lookups: every
 *   insert follows a disk or remote read.
 * - Readers take no lock. They probe the index (a concurrent delete may make them miss — a harmless false
 *   miss), then PIN the entry with a CAS on its state word (READY with pin count + 1, reference bit set),
 *   re-check the key under the pin, copy (or, through `pin`/`pinnedBytes`, search the block in place and
 *   copy out only what they need), and unpin. Eviction is a CAS from "READY, no pins, not referenced"
 *   to FREE, so it cannot happen while any reader holds a pin, and a reader cannot pin an entry that is
 *   being evicted or rewritten. The CAS chain on the state word orders the writer's data and key writes
 *   before the reader's reads (and the reader's reads before any later overwrite) in the JS memory model.
 * - Hit/miss counters are BigInt64 Atomics counters striped per view (per thread), so lookups from different
 *   threads do not bounce one cache line. Cached bytes are counted under the writer lock.
 */
import { FloeError } from '../errors.js';
import type { BlockCache, BlockCacheStats, CacheFileKey } from './block-cache.js';

export interface SharedBlockCacheOptions {
  /** Allocation unit in bytes: a power of two in [256, 1 MiB]. Default 2 KiB (≤ 1 KiB average waste per block). */
  chunkBytes?: number;
  /** Blocks larger than this are declined. Default min(4 MiB, capacity / 4, arenaBytes), at least one chunk. */
  maxBlockBytes?: number;
  /** Largest single SharedArrayBuffer for data; more arenas are made for larger capacities. Default 1 GiB. */
  arenaBytes?: number;
  /**
   * Size of the per-view buffer that lookup results up to half its size are carved from (default 64 KiB;
   * 0 = every result gets its own ArrayBuffer). A fresh ArrayBuffer costs microseconds in V8, a view ~100 ns.
   * A result is then a view: its `.buffer` is shared with other results (never overwritten), and a result
   * (or a value sliced from it) kept alive keeps its whole pool buffer alive.
   */
  copyPoolBytes?: number;
}

/** What `shareable()` returns and `attach()` takes: plain data plus SharedArrayBuffers (structured-cloneable). */
export interface SharedBlockCacheDescriptor {
  readonly kind: 'floe-shared-block-cache';
  readonly version: number;
  readonly capacity: number;
  readonly chunkBytes: number;
  readonly chunksPerArena: number;
  readonly chunkCount: number;
  readonly indexSlots: number;
  readonly maxBlockBytes: number;
  readonly control: SharedArrayBuffer;
  readonly arenas: readonly SharedArrayBuffer[];
}

const DESCRIPTOR_KIND = 'floe-shared-block-cache';
const LAYOUT_VERSION = 1;
const MAGIC = 0x466c4243; // 'FlBC'

const KiB = 1024;
const MiB = 1024 * KiB;
const DEFAULT_CHUNK_BYTES = 2 * KiB;
const DEFAULT_ARENA_BYTES = 1024 * MiB;
const DEFAULT_MAX_BLOCK_BYTES = 4 * MiB;
const DEFAULT_COPY_POOL_BYTES = 64 * KiB;

// Control words (Int32 indexes into the control buffer).
const C_MAGIC = 0;
const C_VERSION = 1;
const C_LOCK = 2;
const C_HAND = 3;
const C_NEXT_VIEW = 4;
const C_ENTRIES = 5;
const C_CHUNKS = 6;
const C_INDEX_SLOTS = 7;
const C_CHUNK_BYTES = 8;
/** Float64 index of the cached-bytes counter (byte offset 64). Changed and read only under the lock. */
const F64_BYTES = 8;
/** Hit/miss counter stripes: BigInt64, one 64-byte line per stripe, starting at byte 128. */
const STATS_OFFSET = 128;
const STRIPES = 64;
const STRIPE_WORDS = 8;
const S_HITS = 0;
const S_MISSES = 1;
const META_OFFSET = STATS_OFFSET + STRIPES * STRIPE_WORDS * 8;

// Per-chunk metadata (Int32 words, stride 8 = 32 bytes).
const META_STRIDE = 8;
const M_STATE = 0;
const M_HI = 1;
const M_LO = 2;
const M_OFF_LO = 3;
const M_OFF_HI = 4;
const M_LEN = 5;
const M_SPAN = 6;

// State word: [phase: bit 20][ref: bit 16][pins: bits 0-15].
const PIN_MASK = 0xffff;
const REF = 1 << 16;
const READY = 1 << 20;
const PHASE_MASK = 0xf << 20;
const FREE = 0;

/** Spins before a contended lock falls back to Atomics.wait. */
const LOCK_SPINS = 64;

const TWO_32 = 4294967296;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

function nextPowerOfTwo(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Hash of (file key, offset) for the index. Inputs are int32 (signed) words. */
function keyHash(hi: number, lo: number, offLo: number, offHi: number): number {
  let h = lo ^ Math.imul(hi, 0x9e3779b1);
  h ^= Math.imul(offLo, 0x85ebca6b) ^ Math.imul(offHi, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

function checkPoolBytes(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > 64 * MiB || n % 8 !== 0) {
    throw new FloeError('CONFIG', `block cache copyPoolBytes must be a multiple of 8 between 0 and 64 MiB, got ${n}`);
  }
  return n;
}

function checkOffset(offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new FloeError('INVALID_ARGUMENT', `block offset must be a non-negative safe integer, got ${offset}; pass the block's file offset`);
  }
}

export class SharedBlockCache implements BlockCache {
  readonly capacity: number;
  private readonly d: SharedBlockCacheDescriptor;
  private readonly ctl: Int32Array;
  private readonly f64: Float64Array;
  private readonly counters: BigInt64Array;
  private readonly meta: Int32Array;
  private readonly index: Int32Array;
  private readonly arenas: Uint8Array[];
  /** The same arenas as 8-byte words, for fast copies out of shared memory. */
  private readonly arenaWords: BigInt64Array[];
  private readonly chunkShift: number;
  private readonly chunksPerArena: number;
  private readonly chunkCount: number;
  private readonly indexMask: number;
  private readonly maxBlockBytes: number;
  private readonly hitSlot: number;
  /** Per-view (unshared) pool that lookup copies are carved from; see copyBytes. */
  private readonly poolBytes: number;
  private readonly poolBlockLimit: number;
  private pool: Uint8Array | undefined;
  private poolWords: BigInt64Array | undefined;
  private poolUsed = 0;
  private readonly missSlot: number;

  private constructor(d: SharedBlockCacheDescriptor, copyPoolBytes: number | undefined) {
    this.d = d;
    this.capacity = d.capacity;
    this.ctl = new Int32Array(d.control, 0, 16);
    this.f64 = new Float64Array(d.control, 0, 16);
    this.counters = new BigInt64Array(d.control, STATS_OFFSET, STRIPES * STRIPE_WORDS);
    this.meta = new Int32Array(d.control, META_OFFSET, d.chunkCount * META_STRIDE);
    this.index = new Int32Array(d.control, META_OFFSET + d.chunkCount * META_STRIDE * 4, d.indexSlots);
    this.arenas = d.arenas.map((sab) => new Uint8Array(sab));
    this.arenaWords = d.arenas.map((sab) => new BigInt64Array(sab));
    this.chunkShift = Math.log2(d.chunkBytes);
    this.chunksPerArena = d.chunksPerArena;
    this.chunkCount = d.chunkCount;
    this.indexMask = d.indexSlots - 1;
    this.maxBlockBytes = d.maxBlockBytes;
    this.poolBytes = checkPoolBytes(copyPoolBytes ?? DEFAULT_COPY_POOL_BYTES);
    this.poolBlockLimit = this.poolBytes >>> 1;
    // Each view (thread) counts into its own stripe so lookups in different threads do not share a line.
    const stripe = (Atomics.add(this.ctl, C_NEXT_VIEW, 1) & (STRIPES - 1)) * STRIPE_WORDS;
    this.hitSlot = stripe + S_HITS;
    this.missSlot = stripe + S_MISSES;
  }

  /**
   * Allocates a new cache of `capacityBytes` of block data (0 = disabled: every lookup misses, inserts are
   * dropped). Metadata (32 bytes per chunk plus an index of ≥ 8 bytes per chunk, ~2% at 2 KiB chunks) is
   * allocated on top of the budget.
   */
  static create(capacityBytes: number, options: SharedBlockCacheOptions = {}): SharedBlockCache {
    if (!Number.isSafeInteger(capacityBytes) || capacityBytes < 0) {
      throw new FloeError('CONFIG', `block cache capacity must be a non-negative integer of bytes, got ${capacityBytes}; use 0 to disable it`);
    }
    const chunkBytes = options.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    if (!isPowerOfTwo(chunkBytes) || chunkBytes < 256 || chunkBytes > MiB) {
      throw new FloeError('CONFIG', `block cache chunkBytes must be a power of two between 256 and 1 MiB, got ${chunkBytes}`);
    }
    const arenaLimit = options.arenaBytes ?? DEFAULT_ARENA_BYTES;
    if (!Number.isSafeInteger(arenaLimit) || arenaLimit < chunkBytes || arenaLimit > 2 * 1024 * MiB) {
      throw new FloeError('CONFIG', `block cache arenaBytes must be between one chunk (${chunkBytes}) and 2 GiB, got ${arenaLimit}`);
    }
    const chunkCount = Math.floor(capacityBytes / chunkBytes);
    const chunksPerArena = Math.max(1, Math.min(Math.floor(arenaLimit / chunkBytes), chunkCount));
    const arenaCount = chunkCount === 0 ? 0 : Math.ceil(chunkCount / chunksPerArena);
    const arenas: SharedArrayBuffer[] = [];
    for (let i = 0; i < arenaCount; i++) {
      const chunks = Math.min(chunksPerArena, chunkCount - i * chunksPerArena);
      arenas.push(new SharedArrayBuffer(chunks * chunkBytes));
    }
    const arenaBytes = chunksPerArena * chunkBytes;
    const defaultMax = Math.max(chunkBytes, Math.min(DEFAULT_MAX_BLOCK_BYTES, Math.floor(capacityBytes / 4)));
    const maxBlockBytes = Math.min(options.maxBlockBytes ?? defaultMax, arenaBytes);
    if (!Number.isSafeInteger(maxBlockBytes) || maxBlockBytes < 0) {
      throw new FloeError('CONFIG', `block cache maxBlockBytes must be a non-negative integer, got ${options.maxBlockBytes}`);
    }
    const indexSlots = chunkCount === 0 ? 1 : nextPowerOfTwo(chunkCount * 2);
    const control = new SharedArrayBuffer(META_OFFSET + chunkCount * META_STRIDE * 4 + indexSlots * 4);
    const ctl = new Int32Array(control, 0, 16);
    ctl[C_MAGIC] = MAGIC;
    ctl[C_VERSION] = LAYOUT_VERSION;
    ctl[C_CHUNKS] = chunkCount;
    ctl[C_INDEX_SLOTS] = indexSlots;
    ctl[C_CHUNK_BYTES] = chunkBytes;
    return new SharedBlockCache({
      kind: DESCRIPTOR_KIND,
      version: LAYOUT_VERSION,
      capacity: capacityBytes,
      chunkBytes,
      chunksPerArena,
      chunkCount,
      indexSlots,
      maxBlockBytes,
      control,
      arenas,
    }, options.copyPoolBytes);
  }

  /** A view over the same shared memory as the cache that made `descriptor` (e.g. in another worker thread). */
  static attach(descriptor: SharedBlockCacheDescriptor, options: Pick<SharedBlockCacheOptions, 'copyPoolBytes'> = {}): SharedBlockCache {
    const d = descriptor as Partial<SharedBlockCacheDescriptor> | undefined;
    const bad = (what: string): FloeError =>
      new FloeError('INVALID_ARGUMENT', `not a shared block cache descriptor (${what}); pass what SharedBlockCache.shareable() returned`);
    if (d === undefined || d === null || d.kind !== DESCRIPTOR_KIND) throw bad('wrong kind');
    if (d.version !== LAYOUT_VERSION) {
      throw new FloeError('VERSION', `shared block cache layout version ${String(d.version)} is not supported (expected ${LAYOUT_VERSION}); use one Floe version for all threads`);
    }
    if (!(d.control instanceof SharedArrayBuffer) || !Array.isArray(d.arenas)) throw bad('missing buffers');
    const ctl = new Int32Array(d.control, 0, 16);
    if (
      ctl[C_MAGIC] !== MAGIC ||
      ctl[C_CHUNKS] !== d.chunkCount ||
      ctl[C_INDEX_SLOTS] !== d.indexSlots ||
      ctl[C_CHUNK_BYTES] !== d.chunkBytes ||
      d.control.byteLength !== META_OFFSET + d.chunkCount * META_STRIDE * 4 + d.indexSlots * 4
    ) {
      throw bad('control buffer does not match');
    }
    let arenaChunks = 0;
    for (const a of d.arenas) {
      if (!(a instanceof SharedArrayBuffer) || a.byteLength % d.chunkBytes !== 0) throw bad('bad arena');
      arenaChunks += a.byteLength / d.chunkBytes;
    }
    if (arenaChunks !== d.chunkCount) throw bad('arena sizes do not match');
    return new SharedBlockCache(d as SharedBlockCacheDescriptor, options.copyPoolBytes);
  }

  /** The descriptor to post to another thread (structured clone keeps the SharedArrayBuffers shared). */
  shareable(): SharedBlockCacheDescriptor {
    return this.d;
  }

  /**
   * A copy of the cached block, or undefined. PROMISES: the bytes are exactly those inserted for
   * (file, offset), even while other threads insert and evict; the returned array is the caller's.
   */
  lookup(file: CacheFileKey, offset: number): Uint8Array | undefined {
    const c = this.pin(file, offset);
    if (c < 0) return undefined;
    try {
      const a = (c / this.chunksPerArena) | 0;
      return this.copyBytes(this.arenaWords[a]!, this.arenas[a]!, (c % this.chunksPerArena) << this.chunkShift, this.meta[c * META_STRIDE + M_LEN]!);
    } finally {
      this.unpin(c);
    }
  }

  /**
   * Pins the cached block of (file, offset) so it can be read in place: returns a handle (≥ 0) for
   * `pinnedBytes` and `unpin`, or -1 when the block is not cached. Counts a hit or a miss like `lookup`.
   * REQUIRES: the caller unpins exactly once, soon (a pinned block cannot be evicted), and synchronously:
   * never hold a pin across an await.
   */
  pin(file: CacheFileKey, offset: number): number {
    if (this.chunkCount !== 0) {
      const hi = file.hi | 0;
      const lo = file.lo | 0;
      const offLo = offset | 0;
      const offHi = (offset / TWO_32) | 0;
      const meta = this.meta;
      const index = this.index;
      const mask = this.indexMask;
      let pos = keyHash(hi, lo, offLo, offHi) & mask;
      for (let probes = 0; probes <= mask; probes++) {
        const e = Atomics.load(index, pos);
        if (e === 0) break;
        const m = (e - 1) * META_STRIDE;
        // Unlocked reads are only a hint; the key is checked again under the pin.
        if (meta[m + M_LO] === lo && meta[m + M_OFF_LO] === offLo && meta[m + M_HI] === hi && meta[m + M_OFF_HI] === offHi) {
          if (this.pinEntry(e - 1, hi, lo, offLo, offHi)) {
            Atomics.add(this.counters, this.hitSlot, 1n);
            return e - 1;
          }
          break;
        }
        pos = (pos + 1) & mask;
      }
    }
    Atomics.add(this.counters, this.missSlot, 1n);
    return -1;
  }

  /**
   * The bytes of a block pinned by `pin`: a view of the shared arena, valid only until `unpin(handle)`.
   * Nobody may write into it, and nothing read from it may be kept past the unpin without a copy.
   */
  pinnedBytes(handle: number): Uint8Array {
    const a = (handle / this.chunksPerArena) | 0;
    const start = (handle % this.chunksPerArena) << this.chunkShift;
    return this.arenas[a]!.subarray(start, start + this.meta[handle * META_STRIDE + M_LEN]!);
  }

  /** Releases a pin taken by `pin`. */
  unpin(handle: number): void {
    Atomics.sub(this.meta, handle * META_STRIDE, 1);
  }

  /** Pins entry `c` and checks its key under the pin; false (and no pin held) if it is no longer that block. */
  private pinEntry(c: number, hi: number, lo: number, offLo: number, offHi: number): boolean {
    const meta = this.meta;
    const si = c * META_STRIDE;
    for (;;) {
      const s = Atomics.load(meta, si);
      if ((s & PHASE_MASK) !== READY) return false;
      if (Atomics.compareExchange(meta, si, s, (s + 1) | REF) === s) break;
    }
    if (meta[si + M_HI] !== hi || meta[si + M_LO] !== lo || meta[si + M_OFF_LO] !== offLo || meta[si + M_OFF_HI] !== offHi) {
      Atomics.sub(meta, si, 1);
      return false;
    }
    return true;
  }

  /**
   * Copies `len` bytes at `start` (8-aligned) of an arena into memory the caller owns. Small copies are
   * carved out of a per-view pool buffer (bump allocation, never reused), because a fresh ArrayBuffer costs
   * microseconds in V8 while a view costs ~100 ns; larger ones get their own buffer.
   */
  private copyBytes(words: BigInt64Array, bytes: Uint8Array, start: number, len: number): Uint8Array {
    let used = this.poolUsed;
    let pool = this.pool;
    let poolWords = this.poolWords;
    if (len > this.poolBlockLimit) {
      // Uninitialised memory (no zero fill) that is fully overwritten; never a slice of Node's shared pool.
      pool = new Uint8Array(Buffer.allocUnsafeSlow(len).buffer, 0, len);
      poolWords = new BigInt64Array(pool.buffer, 0, len >>> 3);
      used = 0;
    } else if (pool === undefined || poolWords === undefined || used + len > pool.length) {
      pool = this.pool = new Uint8Array(Buffer.allocUnsafeSlow(this.poolBytes).buffer, 0, this.poolBytes);
      poolWords = this.poolWords = new BigInt64Array(pool.buffer, 0, this.poolBytes >>> 3);
      used = 0;
    }
    // Copies out of shared memory are relaxed atomic loads; 8-byte elements make them ~2x faster than bytes.
    // Same-type TypedArray#set copies bit patterns exactly.
    const n = len >>> 3;
    if (n > 0) poolWords.set(words.subarray(start >>> 3, (start >>> 3) + n), used >>> 3);
    for (let i = n << 3; i < len; i++) pool[used + i] = bytes[start + i]!;
    if (pool === this.pool) this.poolUsed = (used + len + 7) & ~7;
    return pool.subarray(used, used + len);
  }

  /**
   * Offers a block. Declined (silently) when the cache is disabled, the block is over `maxBlockBytes`, the
   * block is already cached, or no window can be freed (everything pinned). The bytes are copied.
   */
  insert(file: CacheFileKey, offset: number, block: Uint8Array): void {
    checkOffset(offset);
    const len = block.length;
    if (this.chunkCount === 0 || len > this.maxBlockBytes) return;
    const hi = file.hi | 0;
    const lo = file.lo | 0;
    const offLo = offset | 0;
    const offHi = (offset / TWO_32) | 0;
    const span = Math.max(1, Math.ceil(len / this.d.chunkBytes));
    const hash = keyHash(hi, lo, offLo, offHi);
    this.lock();
    try {
      if (this.findLocked(hash, hi, lo, offLo, offHi) >= 0) return;
      const c = this.allocateLocked(span);
      if (c < 0) return;
      const arena = this.arenas[(c / this.chunksPerArena) | 0]!;
      arena.set(block, (c % this.chunksPerArena) << this.chunkShift);
      const meta = this.meta;
      const m = c * META_STRIDE;
      meta[m + M_HI] = hi;
      meta[m + M_LO] = lo;
      meta[m + M_OFF_LO] = offLo;
      meta[m + M_OFF_HI] = offHi;
      meta[m + M_LEN] = len;
      meta[m + M_SPAN] = span;
      // Publish: the SC store orders the data and key writes above before any reader's pin CAS that sees it.
      Atomics.store(meta, m + M_STATE, READY);
      this.indexInsertLocked(hash, c);
      this.f64[F64_BYTES] = this.f64[F64_BYTES]! + len;
      this.ctl[C_ENTRIES]!++;
    } finally {
      this.unlock();
    }
  }

  stats(): BlockCacheStats {
    let hits = 0n;
    let misses = 0n;
    for (let s = 0; s < STRIPES; s++) {
      hits += Atomics.load(this.counters, s * STRIPE_WORDS + S_HITS);
      misses += Atomics.load(this.counters, s * STRIPE_WORDS + S_MISSES);
    }
    this.lock();
    const bytes = this.f64[F64_BYTES]!;
    this.unlock();
    return { capacity: this.capacity, bytes, hits: Number(hits), misses: Number(misses) };
  }

  /**
   * Checks the internal invariants under the writer lock (for tests): entries do not overlap and stay inside
   * one arena, every entry is indexed exactly once and found by a probe, the index holds nothing else, and the
   * byte count equals the sum of entry lengths. Throws a FloeError describing the first violation.
   */
  checkInvariants(): { entries: number; bytes: number } {
    this.lock();
    try {
      const meta = this.meta;
      const fail = (what: string): never => {
        throw new FloeError('CORRUPTION', `shared block cache invariant broken: ${what}`);
      };
      let entries = 0;
      let bytes = 0;
      const starts = new Set<number>();
      for (let c = 0; c < this.chunkCount; ) {
        const s = Atomics.load(meta, c * META_STRIDE);
        if ((s & PHASE_MASK) === FREE) {
          c++;
          continue;
        }
        if ((s & PIN_MASK) !== 0) fail(`chunk ${c} is pinned while the writer lock is held by the checker`);
        const span = meta[c * META_STRIDE + M_SPAN]!;
        const len = meta[c * META_STRIDE + M_LEN]!;
        if (span !== Math.max(1, Math.ceil(len / this.d.chunkBytes))) fail(`chunk ${c} has span ${span} for ${len} bytes`);
        if (((c + span - 1) / this.chunksPerArena | 0) !== ((c / this.chunksPerArena) | 0)) fail(`entry at ${c} crosses an arena`);
        for (let j = c + 1; j < c + span; j++) {
          if (Atomics.load(meta, j * META_STRIDE) !== FREE) fail(`entry at ${c} overlaps a live chunk ${j}`);
        }
        const m = c * META_STRIDE;
        const found = this.findLocked(keyHash(meta[m + M_HI]!, meta[m + M_LO]!, meta[m + M_OFF_LO]!, meta[m + M_OFF_HI]!), meta[m + M_HI]!, meta[m + M_LO]!, meta[m + M_OFF_LO]!, meta[m + M_OFF_HI]!);
        if (found !== c) fail(`entry at ${c} is not found by its key (found ${found})`);
        starts.add(c);
        entries++;
        bytes += len;
        c += span;
      }
      let indexed = 0;
      for (let i = 0; i <= this.indexMask; i++) {
        const e = this.index[i]!;
        if (e === 0) continue;
        indexed++;
        if (!starts.has(e - 1)) fail(`index slot ${i} points at chunk ${e - 1}, which is not a live entry`);
      }
      if (indexed !== entries) fail(`index holds ${indexed} entries, arena ${entries}`);
      if (bytes !== this.f64[F64_BYTES]) fail(`byte count ${this.f64[F64_BYTES]} != sum of entries ${bytes}`);
      if (entries !== this.ctl[C_ENTRIES]) fail(`entry count ${this.ctl[C_ENTRIES]} != ${entries}`);
      if (bytes > this.capacity) fail(`${bytes} bytes cached, over the capacity ${this.capacity}`);
      return { entries, bytes };
    } finally {
      this.unlock();
    }
  }

  // ---- writer side (REQUIRES: the lock is held) ----

  private findLocked(hash: number, hi: number, lo: number, offLo: number, offHi: number): number {
    const meta = this.meta;
    const mask = this.indexMask;
    for (let pos = hash & mask, n = 0; n <= mask; n++, pos = (pos + 1) & mask) {
      const e = this.index[pos]!;
      if (e === 0) return -1;
      const m = (e - 1) * META_STRIDE;
      if (meta[m + M_HI] === hi && meta[m + M_LO] === lo && meta[m + M_OFF_LO] === offLo && meta[m + M_OFF_HI] === offHi) return e - 1;
    }
    return -1;
  }

  private indexInsertLocked(hash: number, c: number): void {
    const mask = this.indexMask;
    let pos = hash & mask;
    while (this.index[pos] !== 0) pos = (pos + 1) & mask;
    Atomics.store(this.index, pos, c + 1);
  }

  /** Linear-probing delete with backward shift (no tombstones). Concurrent readers may miss meanwhile. */
  private indexRemoveLocked(c: number): void {
    const meta = this.meta;
    const index = this.index;
    const mask = this.indexMask;
    const m = c * META_STRIDE;
    let i = keyHash(meta[m + M_HI]!, meta[m + M_LO]!, meta[m + M_OFF_LO]!, meta[m + M_OFF_HI]!) & mask;
    while (index[i] !== c + 1) {
      if (index[i] === 0) throw new FloeError('CORRUPTION', `shared block cache index lost entry ${c}; this is a bug`);
      i = (i + 1) & mask;
    }
    for (let j = i; ; ) {
      j = (j + 1) & mask;
      const e = index[j]!;
      if (e === 0) break;
      const em = (e - 1) * META_STRIDE;
      const home = keyHash(meta[em + M_HI]!, meta[em + M_LO]!, meta[em + M_OFF_LO]!, meta[em + M_OFF_HI]!) & mask;
      // The entry at j may move to the hole at i only if its home is not cyclically within (i, j].
      const stays = i <= j ? home > i && home <= j : home > i || home <= j;
      if (stays) continue;
      Atomics.store(index, i, e);
      i = j;
    }
    Atomics.store(index, i, 0);
  }

  /**
   * Finds and frees a window of `span` contiguous chunks inside one arena, evicting cold entries (CLOCK).
   * Returns its first chunk, or -1 if none could be freed within two laps (everything hot is cleared on the
   * first lap, so only pinned entries can make it fail).
   */
  private allocateLocked(span: number): number {
    const meta = this.meta;
    const n = this.chunkCount;
    const per = this.chunksPerArena;
    let p = this.ctl[C_HAND]!;
    let q = p;
    const limit = 3 * (n + Math.ceil(n / per)) + 8;
    for (let steps = 0; steps < limit; steps++) {
      if (p >= n) p = q = 0;
      const segEnd = Math.min((((p / per) | 0) + 1) * per, n);
      if (p + span > segEnd) {
        p = q = segEnd;
        continue;
      }
      if (q >= p + span) {
        this.ctl[C_HAND] = p + span;
        return p;
      }
      const si = q * META_STRIDE;
      const s = Atomics.load(meta, si);
      if ((s & PHASE_MASK) === FREE) {
        q++;
        continue;
      }
      const entrySpan = meta[si + M_SPAN]!;
      if (s === READY && Atomics.compareExchange(meta, si, READY, FREE) === READY) {
        this.evictedLocked(q);
        q += entrySpan;
        continue;
      }
      // Referenced or pinned: second chance; the window restarts after it.
      if ((s & REF) !== 0) Atomics.and(meta, si, ~REF);
      p = q = q + entrySpan;
    }
    this.ctl[C_HAND] = p >= n ? 0 : p;
    return -1;
  }

  /** Bookkeeping after entry `c` went READY → FREE (no reader can pin it any more). */
  private evictedLocked(c: number): void {
    const m = c * META_STRIDE;
    this.indexRemoveLocked(c);
    this.f64[F64_BYTES] = this.f64[F64_BYTES]! - this.meta[m + M_LEN]!;
    this.ctl[C_ENTRIES]!--;
    this.meta[m + M_SPAN] = 0;
  }

  /** Futex-style mutex on C_LOCK: 0 free, 1 held, 2 held with waiters. */
  private lock(): void {
    const ctl = this.ctl;
    let c = Atomics.compareExchange(ctl, C_LOCK, 0, 1);
    if (c === 0) return;
    for (let i = 0; i < LOCK_SPINS; i++) {
      c = Atomics.compareExchange(ctl, C_LOCK, 0, 1);
      if (c === 0) return;
    }
    if (c !== 2) c = Atomics.exchange(ctl, C_LOCK, 2);
    while (c !== 0) {
      Atomics.wait(ctl, C_LOCK, 2);
      c = Atomics.exchange(ctl, C_LOCK, 2);
    }
  }

  private unlock(): void {
    if (Atomics.sub(this.ctl, C_LOCK, 1) !== 1) {
      Atomics.store(this.ctl, C_LOCK, 0);
      Atomics.notify(this.ctl, C_LOCK, 1);
    }
  }
}
