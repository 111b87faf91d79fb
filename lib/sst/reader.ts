/**
 * Reads one SST through a `ByteSource` (ranged reads of the remote file, maybe via the disk cache) and the
 * shared in-memory block cache. Opening fetches the meta section in one read when `metaOffset` is known;
 * index, filter and properties then stay pinned in the reader. Data blocks come from the block cache, or
 * from the source (one read per block, identical in-flight reads coalesced), verified before use.
 *
 * Damage is reported as FloeError CORRUPTION naming the path and the block, never as wrong data; an
 * unknown format version as VERSION; a short read from the source as retryable IO.
 */
import type { BlockCache, CacheFileKey } from '../cache/block-cache.js';
import type { ByteSource } from '../cache/byte-source.js';
import { abortable } from '../util/abortable.js';
import { cacheFileKey } from '../cache/file-key.js';
import { FloeError, corruption, invalidArgument } from '../errors.js';
import type { BloomFilter, FilterHash } from './bloom.js';
import { compareRange } from './coding.js';
import { DataBlock } from './data-block.js';
import type { Entry } from './entry.js';
import { type SstFileInfo, fileInfo } from './file-info.js';
import { FOOTER_BYTES, decodeBlock, decodeBlockAt, decodeFooter } from './format.js';
import type { BlockIndex } from './index-block.js';
import type { TableProperties } from './properties.js';
import { decodeMeta } from './table-meta.js';

export { readAllEntries } from './read-all.js';
export { filterHash, type FilterHash } from './bloom.js';

export interface SstOpenArgs {
  /** Object path, for error messages. */
  path: string;
  /** Unique, never reused file id: the block-cache identity. */
  fileId: string;
  /** Exact file size in bytes. */
  size: number;
  /** Where the meta section starts (from the manifest); when given, opening is one read. */
  metaOffset?: number;
  source: ByteSource;
  blockCache?: BlockCache;
  signal?: AbortSignal;
}

export interface ReadBlockOptions {
  /** Insert the block into the block cache (and let the source admit it to the disk cache). Default true. */
  fillCache?: boolean;
  /** Rejects this caller's promise on abort; a read shared with other callers still completes for them. */
  signal?: AbortSignal;
  /** The caller has just missed in `cachedBlock(index)`: skip the second lookup (and its miss count). */
  cacheChecked?: boolean;
}

export interface BlockRange {
  gte?: Uint8Array;
  lt?: Uint8Array;
  /** Block reads kept in flight ahead of the one being consumed (default 4; 0 = one at a time). */
  prefetch?: number;
  /** As for readBlock (default true). */
  fillCache?: boolean;
  /** At most this many entries per yielded array, decoded as they are asked for (default: whole blocks). */
  pageEntries?: number;
}

interface InFlight {
  promise: Promise<DataBlock>;
  /** Whether any waiter wants the block cached. */
  fill: boolean;
}

const noop = (): void => {};

/** What `getCached` returns when the block is not in the block cache. */
export const NOT_CACHED: unique symbol = Symbol('not cached');

/** Values up to this size are carved out of a shared pool buffer (bump allocation, never reused). */
const VALUE_POOL_BYTES = 64 * 1024;
const POOLED_VALUE_LIMIT = 4 * 1024;
let valuePool = new Uint8Array(0);
let valuePoolUsed = 0;

/**
 * A copy of `v` in memory the caller owns. Small values are views of a pool buffer (a fresh ArrayBuffer
 * costs microseconds in V8, a view ~100 ns); a kept value keeps its pool buffer (64 KiB) alive, as values
 * copied out of the block cache always did.
 */
function copyValue(v: Uint8Array): Uint8Array {
  const n = v.length;
  if (n > POOLED_VALUE_LIMIT) return new Uint8Array(v);
  if (valuePoolUsed + n > valuePool.length) {
    valuePool = new Uint8Array(VALUE_POOL_BYTES);
    valuePoolUsed = 0;
  }
  const at = valuePoolUsed;
  if (n <= 32) for (let i = 0; i < n; i++) valuePool[at + i] = v[i]!;
  else valuePool.set(v, at);
  valuePoolUsed = (at + n + 7) & ~7;
  return valuePool.subarray(at, at + n);
}

/**
 * The reusable read buffer of the synchronous miss path (`getUncachedSync`). Module state is per thread (per
 * isolate), and that path never yields between filling and last using it, so one buffer serves every reader
 * of the thread.
 */
let framedScratch = Buffer.allocUnsafeSlow(0);

/** Framed blocks up to this size are read synchronously when the source can (larger ones never are). */
const SYNC_BLOCK_LIMIT = 64 * 1024;

function framedBuffer(n: number): Buffer {
  // Own ArrayBuffer (never a slice of Node's pool), reused: no block-sized allocation per read.
  if (framedScratch.length < n) framedScratch = Buffer.allocUnsafeSlow(Math.max(n, 16 * 1024));
  return framedScratch;
}

export class SstReader {
  readonly path: string;
  readonly fileId: string;
  readonly info: SstFileInfo;
  readonly properties: TableProperties;
  readonly blockCount: number;
  private readonly index: BlockIndex;
  private readonly filter: BloomFilter;
  private readonly source: ByteSource;
  private readonly cache: BlockCache | undefined;
  private readonly fileKey: CacheFileKey;
  private readonly inflight = new Map<number, InFlight>();

  private constructor(args: SstOpenArgs, index: BlockIndex, filter: BloomFilter, properties: TableProperties, metaOffset: number) {
    this.path = args.path;
    this.fileId = args.fileId;
    this.source = args.source;
    this.cache = args.blockCache;
    this.fileKey = cacheFileKey(args.fileId);
    this.index = index;
    this.filter = filter;
    this.properties = properties;
    this.blockCount = index.count;
    this.info = fileInfo(properties, args.size, metaOffset);
  }

  /**
   * Opens a table: one read of [metaOffset, size) when `metaOffset` is known, else the footer first and then
   * the rest of the meta section (two reads). PROMISES a reader whose index, filter and properties are
   * verified, or CORRUPTION / VERSION / IO.
   */
  static async open(args: SstOpenArgs): Promise<SstReader> {
    const { path, size, metaOffset } = args;
    if (!Number.isSafeInteger(size) || size < 0) throw invalidArgument(`SST size must be a non-negative integer, got ${String(size)}`);
    if (metaOffset !== undefined && !Number.isSafeInteger(metaOffset)) {
      throw invalidArgument(`SST metaOffset must be an integer, got ${String(metaOffset)}`);
    }
    if (size < FOOTER_BYTES) throw corruption(path, `file is ${size} bytes, shorter than the ${FOOTER_BYTES}-byte footer (truncated?)`);
    const opts = args.signal ? { signal: args.signal } : undefined;
    let footerBytes: Uint8Array;
    let meta: Uint8Array | undefined;
    if (metaOffset !== undefined) {
      if (metaOffset < 0 || metaOffset > size - FOOTER_BYTES) {
        throw corruption(path, `metaOffset ${metaOffset} recorded for this file is impossible for its size ${size}`);
      }
      const tail = await readExact(args.source, path, metaOffset, size - metaOffset, opts);
      footerBytes = tail.subarray(tail.length - FOOTER_BYTES);
      meta = tail.subarray(0, tail.length - FOOTER_BYTES);
    } else {
      footerBytes = await readExact(args.source, path, size - FOOTER_BYTES, FOOTER_BYTES, opts);
    }
    const footer = decodeFooter(footerBytes, size, path);
    if (metaOffset !== undefined && footer.metaOffset !== metaOffset) {
      throw corruption(path, `footer says the meta section starts at ${footer.metaOffset}, but ${metaOffset} was recorded for this file`);
    }
    meta ??= await readExact(args.source, path, footer.metaOffset, size - FOOTER_BYTES - footer.metaOffset, opts);
    const m = decodeMeta(path, footer, meta);
    return new SstReader(args, m.index, m.filter, m.properties, footer.metaOffset);
  }

  /** Bloom filter check. False = `key` is definitely not in this table. */
  mayContain(key: Uint8Array): boolean {
    return this.filter.mayContain(key);
  }

  /** As mayContain, with `filterHash(key)` (from bloom.ts) computed once for all tables a lookup probes. */
  mayContainHash(hash: FilterHash): boolean {
    return this.filter.mayContainHash(hash);
  }

  /** Index of the only block that may hold `key`, or -1 if `key` is greater than the largest key. */
  blockFor(key: Uint8Array): number {
    return this.index.find(key);
  }

  blockHandle(index: number): { offset: number; size: number } {
    this.checkIndex(index);
    return { offset: this.index.offsets[index]!, size: this.index.sizes[index]! };
  }

  /** The block from the block cache, without I/O; undefined if not cached (or no cache). */
  cachedBlock(index: number): DataBlock | undefined {
    const cache = this.cache;
    if (cache === undefined) return undefined;
    const offset = this.index.offsets[index];
    if (offset === undefined) return undefined;
    const bytes = cache.lookup(this.fileKey, offset);
    return bytes === undefined ? undefined : new DataBlock(bytes, this.path, offset);
  }

  /**
   * Point lookup of `key` in block `index` if that block is cached: with a cache that supports pins the
   * cached bytes are searched in place and only the entry's value is copied out (into memory the caller
   * owns); otherwise the block is copied out and searched. NOT_CACHED (a cache miss, counted) when the
   * block is not cached: read it with `readBlock(index, { cacheChecked: true })`.
   */
  getCached(index: number, key: Uint8Array): Entry | undefined | typeof NOT_CACHED {
    const cache = this.cache;
    if (cache === undefined) return NOT_CACHED;
    const offset = this.index.offsets[index];
    if (offset === undefined) return NOT_CACHED;
    if (cache.pin === undefined || cache.pinnedBytes === undefined || cache.unpin === undefined) {
      const bytes = cache.lookup(this.fileKey, offset);
      return bytes === undefined ? NOT_CACHED : new DataBlock(bytes, this.path, offset).get(key);
    }
    const handle = cache.pin(this.fileKey, offset);
    if (handle < 0) return NOT_CACHED;
    try {
      const e = new DataBlock(cache.pinnedBytes(handle), this.path, offset).get(key);
      if (e !== undefined) e.value = copyValue(e.value); // the view dies with the pin
      return e;
    } finally {
      cache.unpin(handle);
    }
  }

  /**
   * Point lookup of `key` in block `index`, just missed in the cache (`getCached` returned NOT_CACHED), read
   * synchronously when the source can (a local file whose handle is open): the block is read into a reused
   * buffer, verified, decoded (in place for none; lz4 and zstd decode into fresh memory), searched, the value
   * copied out, and the block offered to the block cache (one copy into it). No promise, and for none no
   * block-sized allocation. NOT_CACHED when the read cannot be synchronous (no sync source, a block over 64 KiB,
   * the source declined) or a read of the block is already in flight (join it with `readBlock`, so reads of
   * one block still share one source read). Corruption throws CORRUPTION naming the file, as `readBlock`.
   */
  getUncachedSync(index: number, key: Uint8Array): Entry | undefined | typeof NOT_CACHED {
    const source = this.source;
    if (source.readIntoSync === undefined || this.inflight.has(index)) return NOT_CACHED;
    const offset = this.index.offsets[index];
    const size = this.index.sizes[index];
    if (offset === undefined || size === undefined || size > SYNC_BLOCK_LIMIT) return NOT_CACHED;
    const framed = framedBuffer(size);
    if (!source.readIntoSync(offset, size, framed)) return NOT_CACHED;
    const decoded = decodeBlockAt(framed, size, this.path, () => blockName(index, offset, size));
    const e = DataBlock.decode(decoded, this.path, offset).get(key);
    if (e !== undefined) e.value = copyValue(e.value); // the read buffer is reused by the next read
    if (this.cache !== undefined) this.cache.insert(this.fileKey, offset, decoded);
    return e;
  }

  /**
   * The block, from the block cache or the source. Concurrent reads of the same block share one source
   * read. With `fillCache` false a block read from the source is not inserted into the block cache (unless
   * another waiter of the same read wants it).
   */
  readBlock(index: number, options: ReadBlockOptions = {}): Promise<DataBlock> {
    let hit: DataBlock | undefined;
    try {
      this.checkIndex(index);
      // Callers that just missed in cachedBlock() say so, so one lookup is not counted as two misses.
      hit = options.cacheChecked === true ? undefined : this.cachedBlock(index);
    } catch (e) {
      return Promise.reject(e); // a promise-returning API fails by rejecting, never by throwing
    }
    if (hit !== undefined) return Promise.resolve(hit);
    return this.load(index, options.fillCache ?? true, options.signal);
  }

  /** Source read with coalescing; the caller has already missed the cache. */
  private load(index: number, fill: boolean, signal: AbortSignal | undefined): Promise<DataBlock> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    let f = this.inflight.get(index);
    if (f === undefined) {
      const entry: InFlight = { promise: undefined as unknown as Promise<DataBlock>, fill };
      entry.promise = this.fetch(index, entry).finally(() => {
        if (this.inflight.get(index) === entry) this.inflight.delete(index);
      });
      this.inflight.set(index, entry);
      f = entry;
    } else if (fill) {
      f.fill = true;
    }
    return abortable(f.promise, signal);
  }

  private async fetch(index: number, f: InFlight): Promise<DataBlock> {
    const offset = this.index.offsets[index]!;
    const size = this.index.sizes[index]!;
    const framed = await readExact(this.source, this.path, offset, size, { fillCache: f.fill });
    const decoded = decodeBlock(framed, this.path, blockName(index, offset, size));
    const block = DataBlock.decode(decoded, this.path, offset);
    if (f.fill && this.cache !== undefined) this.cache.insert(this.fileKey, offset, decoded);
    return block;
  }

  /** Point lookup: bloom filter, index, block (cache or one source read), search in the block. */
  async get(key: Uint8Array): Promise<Entry | undefined> {
    const smallest = this.info.smallestKey;
    if (compareRange(key, 0, key.length, smallest, 0, smallest.length) < 0) return undefined;
    if (!this.filter.mayContain(key)) return undefined;
    const i = this.index.find(key);
    if (i < 0) return undefined;
    const hit = this.getCached(i, key);
    if (hit !== NOT_CACHED) return hit;
    const read = this.getUncachedSync(i, key);
    if (read !== NOT_CACHED) return read;
    return (await this.load(i, true, undefined)).get(key);
  }

  /**
   * Entries with `gte <= key < lt`, in order, one non-empty array per block, keeping `prefetch` block reads
   * in flight ahead of the consumer. Stopping early is safe: outstanding reads finish in the background.
   */
  async *blocks(range: BlockRange = {}): AsyncGenerator<Entry[]> {
    const { gte, lt } = range;
    const prefetch = Math.max(0, Math.floor(range.prefetch ?? 4));
    const fill = range.fillCache ?? true;
    const pageEntries = Math.max(1, Math.floor(range.pageEntries ?? Number.POSITIVE_INFINITY));
    if (gte !== undefined && lt !== undefined && Buffer.compare(gte, lt) >= 0) return;
    if (lt !== undefined && Buffer.compare(lt, this.info.smallestKey) <= 0) return;
    const first = gte === undefined ? 0 : this.index.find(gte);
    if (first < 0) return;
    let last = this.blockCount - 1;
    if (lt !== undefined) {
      const j = this.index.find(lt);
      if (j >= 0) last = j;
    }
    const pending: Promise<DataBlock>[] = [];
    let next = first;
    for (let i = first; i <= last; i++) {
      while (next <= last && pending.length <= prefetch) {
        const cached = this.cachedBlock(next);
        const p = cached !== undefined ? Promise.resolve(cached) : this.load(next, fill, undefined);
        p.catch(noop); // awaited below in order; this only keeps an abandoned read from being "unhandled"
        pending.push(p);
        next++;
      }
      const block = await pending.shift()!;
      const upper = i === last ? lt : undefined;
      for (let from = i === first ? gte : undefined; ; ) {
        const { entries, resume } = block.entriesUpTo(from, upper, pageEntries);
        if (entries.length > 0) yield entries;
        if (resume === undefined) break;
        from = resume;
      }
    }
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.blockCount) {
      throw invalidArgument(`block index ${String(index)} is out of range for ${this.path} (${this.blockCount} blocks)`);
    }
  }
}

/** How errors name a data block. */
function blockName(index: number, offset: number, size: number): string {
  return `data block ${index} (offset ${offset}, ${size} bytes)`;
}

/** Reads exactly `length` bytes or fails; a short read is retryable IO (the object may be incomplete). */
async function readExact(
  source: ByteSource,
  path: string,
  offset: number,
  length: number,
  options: { signal?: AbortSignal; fillCache?: boolean } | undefined,
): Promise<Uint8Array> {
  const bytes = await source.read(offset, length, options);
  if (bytes.length !== length) {
    throw new FloeError('IO', `short read of ${path}: asked for ${length} bytes at offset ${offset}, got ${bytes.length}; retry`, {
      retryable: true,
      path,
    });
  }
  return bytes;
}
