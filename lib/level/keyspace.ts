/**
 * How the level adapter's keys map onto Floe keys (docs/level.md).
 *
 * Floe orders keys by (keyGroup, key); a `level` database needs ONE global byte order. The adapter therefore
 * keeps its whole keyspace in one key group (option `keyGroup`, default 0) and stores level key `k` as the
 * Floe user key `TAG ++ k`. The tag byte keeps the byte order of level keys (a constant prefix), makes the
 * empty key, which `level` allows and Floe does not, a one-byte Floe key, and marks the adapter's keys so
 * that other keys a program writes into the same key group directly never show up in the adapter's
 * iterators (the adapter reads only keys starting with TAG).
 */
import type { IteratorOptions } from '../api.js';

/** First byte of every Floe key the adapter writes (version 0 of this mapping). */
export const TAG = 0x00;

const LOWEST = Uint8Array.of(TAG);
const PAST_TAG = Uint8Array.of(TAG + 1);

export function toFloeKey(key: Uint8Array): Uint8Array {
  const out = new Uint8Array(key.length + 1);
  out[0] = TAG;
  out.set(key, 1);
  return out;
}

/** The level key of a Floe key the adapter wrote (a view, no copy). */
export function fromFloeKey(key: Uint8Array): Uint8Array {
  return key.subarray(1);
}

/** Encoded level range options (what abstract-level passes to private methods). */
export interface LevelRange {
  gt?: Uint8Array;
  gte?: Uint8Array;
  lt?: Uint8Array;
  lte?: Uint8Array;
}

/**
 * Floe iterator bounds for a level range: each bound tagged, and the tag's own range when a side is open,
 * so only the adapter's keys are visited.
 */
export function floeBounds(range: LevelRange): Pick<IteratorOptions, 'gt' | 'gte' | 'lt' | 'lte'> {
  const out: Pick<IteratorOptions, 'gt' | 'gte' | 'lt' | 'lte'> = {};
  if (range.gt !== undefined) out.gt = toFloeKey(range.gt);
  if (range.gte !== undefined) out.gte = toFloeKey(range.gte);
  if (range.gt === undefined && range.gte === undefined) out.gte = LOWEST;
  if (range.lt !== undefined) out.lt = toFloeKey(range.lt);
  if (range.lte !== undefined) out.lte = toFloeKey(range.lte);
  if (range.lt === undefined && range.lte === undefined) out.lt = PAST_TAG;
  return out;
}

/** A plain Uint8Array view of the same bytes (abstract-level's 'view' format; Buffers compare differently in some tests). */
export function plainView(b: Uint8Array): Uint8Array {
  return b.constructor === Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
