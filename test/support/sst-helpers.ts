/**
 * Test doubles and generators for the SST tests: an in-memory ByteSource that counts reads (and can hold
 * them until released, or serve them synchronously), a Map-based BlockCache, seeded random entry sets, and a sorted-array model.
 */
import type { BlockCache, BlockCacheStats, CacheFileKey } from '../../lib/cache/block-cache.js';
import type { ByteSource } from '../../lib/cache/byte-source.js';
import { EntryKind, type Entry } from '../../lib/sst/entry.js';
import type { Random } from '../../lib/util/random.js';

export interface ReadRecord {
  offset: number;
  length: number;
  fillCache: boolean | undefined;
}

/** Serves `bytes` exactly as asked (or short, when asked past the end), recording every read. */
export class MemSource implements ByteSource {
  readonly reads: ReadRecord[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private held: (() => void)[] = [];
  /** When true, reads wait for `release()` before answering. */
  hold = false;

  /** `immediate`: answer without yielding to the event loop (fast, for tests that do thousands of opens). */
  constructor(
    public bytes: Uint8Array,
    private readonly immediate = false,
  ) {}

  async read(offset: number, length: number, options?: { signal?: AbortSignal; fillCache?: boolean }): Promise<Uint8Array> {
    this.reads.push({ offset, length, fillCache: options?.fillCache });
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.hold) await new Promise<void>((resolve) => this.held.push(resolve));
      else if (!this.immediate) await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      this.inFlight--;
    }
    const end = Math.min(this.bytes.length, offset + length);
    return Uint8Array.from(this.bytes.subarray(offset, Math.max(offset, end)));
  }

  /** Lets every held read answer. */
  release(): void {
    const h = this.held;
    this.held = [];
    for (const r of h) r();
  }

  get heldCount(): number {
    return this.held.length;
  }
}

/**
 * A MemSource that can also read synchronously (like the file:// store once a handle is open), counting
 * those reads. `declineSync` makes it decline them (the caller must then use `read`); a sync read past the
 * end is short, so it is declined too, as ByteSource.readIntoSync requires.
 */
export class SyncMemSource extends MemSource {
  syncReads = 0;
  declineSync = false;

  readIntoSync(offset: number, length: number, dest: Uint8Array): boolean {
    if (this.declineSync || offset + length > this.bytes.length) return false;
    dest.set(this.bytes.subarray(offset, offset + length));
    this.syncReads++;
    return true;
  }
}

export class MapBlockCache implements BlockCache {
  readonly capacity = Number.MAX_SAFE_INTEGER;
  readonly map = new Map<string, Uint8Array>();
  hits = 0;
  misses = 0;
  inserts = 0;

  private id(file: CacheFileKey, offset: number): string {
    return `${file.hi}:${file.lo}:${offset}`;
  }

  lookup(file: CacheFileKey, offset: number): Uint8Array | undefined {
    const b = this.map.get(this.id(file, offset));
    if (b === undefined) this.misses++;
    else this.hits++;
    return b;
  }

  insert(file: CacheFileKey, offset: number, block: Uint8Array): void {
    this.inserts++;
    this.map.set(this.id(file, offset), Uint8Array.from(block));
  }

  stats(): BlockCacheStats {
    let bytes = 0;
    for (const b of this.map.values()) bytes += b.length;
    return { capacity: this.capacity, bytes, hits: this.hits, misses: this.misses };
  }
}

export const cmp = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b);
export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

export interface EntryGenOptions {
  count: number;
  /** Size of the occasional large value (make it larger than the block size). */
  bigValueBytes: number;
  /** Allow the empty key (only ever the first key). */
  allowEmptyKey?: boolean;
  /** Give about a third of the Puts and Merges TTL metadata of 1-3 segments (format version 2). */
  ttl?: boolean;
}

/**
 * Distinct random entries sorted by key: keys built from a few shared prefixes (so blocks prefix-compress and
 * some keys are prefixes of others), random lengths, bytes from a small alphabet including 0x00 and 0xff;
 * values empty, small and compressible, random, or large; all kinds; seqs up to 2^53 - 1.
 */
/** TTL metadata (lib/lsm/ttl.ts) of 1-3 segments covering `length` bytes, some never expiring. */
function randomTtl(rng: Random, length: number): number[] {
  const n = rng.range(1, 4);
  const out: number[] = [];
  let left = length;
  for (let i = 0; i < n; i++) {
    const len = i === n - 1 ? left : rng.int(left + 1);
    left -= len;
    const never = rng.bool(0.2);
    out.push(len, never ? 0 : rng.int(2 ** 31) * 1000 + rng.int(1000), never ? 0 : rng.int(2 ** 40));
  }
  return out;
}

export function randomEntries(rng: Random, o: EntryGenOptions): Entry[] {
  const alphabet = [0x00, 0x01, 0x41, 0x42, 0x7f, 0x80, 0xfe, 0xff];
  const prefixes: Uint8Array[] = [];
  for (let i = 0; i < 12; i++) {
    const len = rng.range(0, 10);
    const p = new Uint8Array(len);
    for (let j = 0; j < len; j++) p[j] = rng.bool(0.5) ? rng.pick(alphabet) : rng.int(256);
    prefixes.push(p);
  }
  const byHex = new Map<string, Uint8Array>();
  if (o.allowEmptyKey) byHex.set('', new Uint8Array(0));
  while (byHex.size < o.count) {
    const prefix = rng.pick(prefixes);
    const suffixLen = rng.bool(0.1) ? rng.range(20, 60) : rng.range(0, 6);
    const key = new Uint8Array(prefix.length + suffixLen);
    key.set(prefix);
    for (let j = 0; j < suffixLen; j++) key[prefix.length + j] = rng.bool(0.7) ? rng.pick(alphabet) : rng.int(256);
    if (key.length === 0) continue;
    byHex.set(hex(key), key);
  }
  const keys = [...byHex.values()].sort(cmp);
  return keys.map((key) => {
    const kind = rng.pick([EntryKind.Put, EntryKind.Put, EntryKind.Put, EntryKind.Delete, EntryKind.Merge]);
    const seq = rng.bool(0.05) ? Number.MAX_SAFE_INTEGER - rng.int(1000) : rng.bool(0.5) ? rng.int(200) : rng.int(2 ** 31) * 1024 + rng.int(1024);
    let value: Uint8Array;
    if (kind === EntryKind.Delete) value = new Uint8Array(0);
    else value = randomValue(rng, o.bigValueBytes);
    if (o.ttl && kind !== EntryKind.Delete && rng.bool(0.33)) return { key, kind, seq, value, ttl: randomTtl(rng, value.length) };
    return { key, kind, seq, value };
  });
}

export function randomValue(rng: Random, bigValueBytes: number): Uint8Array {
  const r = rng.next();
  if (r < 0.15) return new Uint8Array(0);
  if (r < 0.6) return Buffer.from(`value-${rng.int(1000)}-`.repeat(rng.range(1, 8)));
  if (r < 0.98) return rng.bytes(rng.range(1, 64));
  const len = bigValueBytes + rng.int(100);
  if (rng.bool()) return rng.bytes(len); // incompressible: the block is stored uncompressed
  const chunk = Buffer.from(rng.bytes(16)).toString('hex');
  return Buffer.from(chunk.repeat(Math.ceil(len / chunk.length)).slice(0, len));
}

/** Model of the entries with gte <= key < lt. */
export function modelRange(entries: Entry[], gte?: Uint8Array, lt?: Uint8Array): Entry[] {
  return entries.filter((e) => (gte === undefined || cmp(e.key, gte) >= 0) && (lt === undefined || cmp(e.key, lt) < 0));
}

/** A key not in `entries` (sorted), chosen at random: between two keys, before the first, or after the last. */
export function absentKey(rng: Random, entries: Entry[]): Uint8Array {
  for (;;) {
    const base = rng.pick(entries).key;
    const k = new Uint8Array(base.length + rng.range(0, 2));
    k.set(base);
    if (k.length > base.length) for (let i = base.length; i < k.length; i++) k[i] = rng.int(256);
    else if (k.length > 0) k[k.length - 1] = rng.int(256);
    if (!containsKey(entries, k)) return k;
  }
}

export function containsKey(entries: Entry[], key: Uint8Array): boolean {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = cmp(entries[mid]!.key, key);
    if (c === 0) return true;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Describes how two entry lists differ (first difference), or undefined when equal. */
export function diffEntries(actual: Entry[], expected: Entry[]): string | undefined {
  const n = Math.max(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    const a = actual[i];
    const e = expected[i];
    if (a === undefined || e === undefined) return `length ${actual.length} vs expected ${expected.length} (first missing at ${i})`;
    const d = diffEntry(a, e);
    if (d !== undefined) return `entry ${i}: ${d}`;
  }
  return undefined;
}

export function diffEntry(a: Entry | undefined, e: Entry | undefined): string | undefined {
  if (a === undefined || e === undefined) return a === e ? undefined : `got ${a ? 'an entry' : 'nothing'}, expected ${e ? 'an entry' : 'nothing'}`;
  if (cmp(a.key, e.key) !== 0) return `key ${hex(a.key)} != ${hex(e.key)}`;
  if (a.kind !== e.kind) return `kind ${a.kind} != ${e.kind} for key ${hex(e.key)}`;
  if (a.seq !== e.seq) return `seq ${a.seq} != ${e.seq} for key ${hex(e.key)}`;
  if (cmp(a.value, e.value) !== 0) return `value differs for key ${hex(e.key)} (${a.value.length} vs ${e.value.length} bytes)`;
  if (JSON.stringify(a.ttl) !== JSON.stringify(e.ttl)) return `TTL metadata ${JSON.stringify(a.ttl)} != ${JSON.stringify(e.ttl)} for key ${hex(e.key)}`;
  return undefined;
}
