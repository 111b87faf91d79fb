/**
 * Key groups and physical keys.
 *
 * Physical key = [keyGroup: u16 big-endian][user key bytes], so every key group is one contiguous range of
 * the key space and a key-group range is a key range. The default key group of a key is Flink's scheme:
 * murmur3_32(keyBytes, seed 0) % maxKeyGroups.
 */
import { FloeError } from './errors.js';

/** Longest user key accepted (bytes). Keys are repeated in index blocks and memtables; keep them small. */
export const MAX_KEY_BYTES = 64 * 1024;
/** Largest value accepted (bytes). Larger values belong in a blob store with a key here. */
export const MAX_VALUE_BYTES = 64 * 1024 * 1024;
/** Upper bound for maxKeyGroups: the key group must fit in the u16 prefix (Flink's limit is 32768). */
export const MAX_KEY_GROUPS = 32768;

export type Bytes = Uint8Array | string;

/** Converts a user key or value to bytes. REQUIRES nothing; throws INVALID_ARGUMENT naming `what`. */
export function toBytes(input: unknown, what: string): Uint8Array {
  // Buffer.from is several times faster than TextEncoder for short strings (it may slice a shared pool:
  // callers that keep the bytes copy them).
  if (typeof input === 'string') return Buffer.from(input, 'utf8');
  if (input instanceof Uint8Array) return input;
  throw new FloeError(
    'INVALID_ARGUMENT',
    `${what} must be a Uint8Array or a string, got ${describe(input)}; convert it to bytes first`,
  );
}

export function checkKey(input: unknown): Uint8Array {
  const key = toBytes(input, 'key');
  if (key.length === 0) throw new FloeError('INVALID_ARGUMENT', 'key must not be empty; use at least one byte');
  if (key.length > MAX_KEY_BYTES) {
    throw new FloeError('INVALID_ARGUMENT', `key is ${key.length} bytes, over the limit of ${MAX_KEY_BYTES}; use a shorter key (hash long keys)`);
  }
  return key;
}

export function checkValue(input: unknown, what = 'value'): Uint8Array {
  const value = toBytes(input, what);
  if (value.length > MAX_VALUE_BYTES) {
    throw new FloeError('INVALID_ARGUMENT', `${what} is ${value.length} bytes, over the limit of ${MAX_VALUE_BYTES}; split it or store it elsewhere`);
  }
  return value;
}

export function checkKeyGroup(keyGroup: unknown, maxKeyGroups: number): number {
  if (typeof keyGroup !== 'number' || !Number.isInteger(keyGroup) || keyGroup < 0 || keyGroup >= maxKeyGroups) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `keyGroup must be an integer in [0, ${maxKeyGroups}), got ${describe(keyGroup)}; omit it to use the default hash`,
    );
  }
  return keyGroup;
}

/** The key group of a key: an explicit one if given (validated), else the default hash. */
export function resolveKeyGroup(key: Uint8Array, keyGroup: unknown, maxKeyGroups: number): number {
  if (keyGroup === undefined) return defaultKeyGroup(key, maxKeyGroups);
  return checkKeyGroup(keyGroup, maxKeyGroups);
}

export function defaultKeyGroup(key: Uint8Array, maxKeyGroups: number): number {
  return murmur3_32(key, 0) % maxKeyGroups;
}

/** defaultKeyGroup of the key `buf[start, end)`, without a view of it. */
export function defaultKeyGroupAt(buf: Uint8Array, start: number, end: number, maxKeyGroups: number): number {
  return murmur3_32Range(buf, start, end, 0) % maxKeyGroups;
}

export function physicalKey(keyGroup: number, userKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(userKey.length + 2);
  out[0] = keyGroup >>> 8;
  out[1] = keyGroup & 0xff;
  out.set(userKey, 2);
  return out;
}

export function keyGroupOf(physical: Uint8Array): number {
  return (physical[0]! << 8) | physical[1]!;
}

export function userKeyOf(physical: Uint8Array): Uint8Array {
  return physical.subarray(2);
}

/** First physical key of a key group (inclusive bound). */
export function keyGroupStart(keyGroup: number): Uint8Array {
  return Uint8Array.of(keyGroup >>> 8, keyGroup & 0xff);
}

/** MurmurHash3 x86 32-bit, as Flink and Guava use it for key-group assignment. Returns an unsigned int. */
export function murmur3_32(data: Uint8Array, seed: number): number {
  return murmur3_32Range(data, 0, data.length, seed);
}

/**
 * murmur3_32 of `data[start, end)` without a view of it (the daemon client and router hash keys inside
 * request frames). REQUIRES: 0 <= start <= end <= data.length.
 */
export function murmur3_32Range(data: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed >>> 0;
  const len = end - start;
  const blocks = start + (len & ~3);
  for (let i = start; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail > 0) {
    let k = 0;
    if (tail === 3) k ^= data[blocks + 2]! << 16;
    if (tail >= 2) k ^= data[blocks + 1]! << 8;
    k ^= data[blocks]!;
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Bytewise comparison, the order of all keys in Floe. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}
