/**
 * Payload codecs of protocol version 2 (docs/protocol.md, "Version 2"): writes with a TTL, range deletes,
 * snapshots and iterators. Shared by the client (lib/client/), the router (lib/daemon/route-handles.ts) and
 * the shard workers (lib/daemon/shard-handles.ts). Version-1 payloads live in protocol.ts and are unchanged.
 *
 * Snapshot and iterator ids are chosen by the client (unique among its open ones on the connection), so
 * `snapshot()` and `iterator()` need no round trip: the frames that name them can be pipelined behind the
 * frame that creates them, and the daemon executes a connection's frames in order.
 */
import type { DeleteRangeOptions, IteratorOptions } from '../api.js';
import { FloeError } from '../errors.js';
import { checkTtlMs } from '../lsm/ttl.js';
import { checkBytesArg, checkOptionsArg, DEFAULT_KG, kgField, Op } from './protocol.js';
import { protocolError, Reader, type Writer } from './wire.js';

/** Flags of the iterator options block. */
export const IterFlag = {
  keyGroup: 1,
  gt: 2,
  gte: 4,
  lt: 8,
  lte: 16,
  reverse: 32,
  limit: 64,
  noKeys: 128,
  noValues: 256,
} as const;
const ITER_FLAGS = 0x1ff;

export const RangeFlag = { keyGroup: 1, gte: 2, lt: 4 } as const;
export const NextFlag = { seek: 1 } as const;

/** Open iterators, and open snapshots, per connection (abstract-level's suite holds 100 snapshots at once). */
export const MAX_ITERATORS = 64;
export const MAX_SNAPSHOTS = 256;
/** Byte budget of one iterator page (ITERATOR_NEXT answers at least one entry, then stop near this). */
export const ITERATOR_PAGE_BYTES = 256 * 1024;

/** Iterator options as they travel: bounds as bytes, limit a whole number or undefined. */
export interface WireIteratorOptions {
  keyGroup?: number;
  gt?: Uint8Array | string;
  gte?: Uint8Array | string;
  lt?: Uint8Array | string;
  lte?: Uint8Array | string;
  reverse?: boolean;
  limit?: number;
  keys?: boolean;
  values?: boolean;
}

/**
 * Validates iterator options as the embedded store does (lib/lsm/iterator.ts planIterator; the store checks
 * the key group against its own range). Throws INVALID_ARGUMENT naming the option.
 */
export function checkIteratorOptions(options: unknown): WireIteratorOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new FloeError('INVALID_ARGUMENT', 'iterator() takes an options object');
  const o = options as IteratorOptions;
  if (o.keyGroup !== undefined) kgField(o.keyGroup, 'iterator(): ');
  for (const name of ['gt', 'gte', 'lt', 'lte'] as const) if (o[name] !== undefined) checkBytesArg(o[name], `iterator ${name}`);
  const limit = o.limit;
  if (limit !== undefined && (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0)) {
    throw new FloeError('INVALID_ARGUMENT', `iterator(): limit must be a non-negative number, got ${JSON.stringify(limit)}`);
  }
  for (const name of ['reverse', 'keys', 'values'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') throw new FloeError('INVALID_ARGUMENT', `iterator(): ${name} must be a boolean`);
  }
  return o as WireIteratorOptions;
}

/** The iterator options block: u16 flags, u16 kg, [u64 limit], [bytes32 gt], [gte], [lt], [lte]. */
export function writeIteratorOptions(w: Writer, o: WireIteratorOptions): void {
  let flags = 0;
  if (o.keyGroup !== undefined) flags |= IterFlag.keyGroup;
  if (o.gt !== undefined) flags |= IterFlag.gt;
  if (o.gte !== undefined) flags |= IterFlag.gte;
  if (o.lt !== undefined) flags |= IterFlag.lt;
  if (o.lte !== undefined) flags |= IterFlag.lte;
  if (o.reverse === true) flags |= IterFlag.reverse;
  const limit = o.limit !== undefined && Number.isFinite(o.limit) ? Math.min(Math.ceil(o.limit), Number.MAX_SAFE_INTEGER) : undefined;
  if (limit !== undefined) flags |= IterFlag.limit;
  if (o.keys === false) flags |= IterFlag.noKeys;
  if (o.values === false) flags |= IterFlag.noValues;
  w.u16(flags);
  w.u16(o.keyGroup ?? 0);
  if (limit !== undefined) w.u64(limit);
  for (const name of ['gt', 'gte', 'lt', 'lte'] as const) if (o[name] !== undefined) w.bytes32(o[name]);
}

/** Parsed iterator options (bounds are views into the payload). */
export interface ParsedIteratorOptions {
  keyGroup: number | undefined;
  gt: Uint8Array | undefined;
  gte: Uint8Array | undefined;
  lt: Uint8Array | undefined;
  lte: Uint8Array | undefined;
  reverse: boolean;
  limit: number | undefined;
  keys: boolean;
  values: boolean;
}

export function readIteratorOptions(r: Reader): ParsedIteratorOptions {
  const flags = r.u16();
  if (flags & ~ITER_FLAGS) throw protocolError(`iterator flags 0x${flags.toString(16)} have unknown bits set`);
  const kg = r.u16();
  const limit = flags & IterFlag.limit ? r.u64() : undefined;
  const bound = (bit: number): Uint8Array | undefined => (flags & bit ? r.bytes32() : undefined);
  return {
    keyGroup: flags & IterFlag.keyGroup ? kg : undefined,
    limit,
    gt: bound(IterFlag.gt),
    gte: bound(IterFlag.gte),
    lt: bound(IterFlag.lt),
    lte: bound(IterFlag.lte),
    reverse: (flags & IterFlag.reverse) !== 0,
    keys: (flags & IterFlag.noKeys) === 0,
    values: (flags & IterFlag.noValues) === 0,
  };
}

/** Engine iterator options of a parsed block (without limit: the router counts entries itself). */
export function engineIteratorOptions(p: ParsedIteratorOptions): IteratorOptions {
  return {
    ...(p.keyGroup !== undefined ? { keyGroup: p.keyGroup } : {}),
    ...(p.gt !== undefined ? { gt: p.gt } : {}),
    ...(p.gte !== undefined ? { gte: p.gte } : {}),
    ...(p.lt !== undefined ? { lt: p.lt } : {}),
    ...(p.lte !== undefined ? { lte: p.lte } : {}),
    reverse: p.reverse,
    keys: p.keys,
    values: p.values,
  };
}

// ------------------------------------------------------------------ client encoders

/** PUT_TTL / MERGE_TTL: u16 kg, u64 ttlMs, bytes32 key, rest value. */
export function encodeKeyValueTtl(w: Writer, op: number, id: number, key: unknown, value: unknown, options: unknown): void {
  const o = checkOptionsArg(options) as { keyGroup?: unknown; ttlMs?: unknown } | undefined;
  const kg = kgField(o?.keyGroup);
  const ttl = checkTtlMs(o?.ttlMs, `${op === Op.PUT_TTL ? 'put' : 'merge'}(): ttlMs`);
  const k = checkBytesArg(key, 'key');
  const v = checkBytesArg(value, op === Op.MERGE_TTL ? 'merge operand' : 'value');
  const start = w.beginFrame(op, id);
  w.u16(kg);
  w.u64(ttl);
  w.bytes32(k);
  w.rawOrUtf8(v);
  w.endFrame(start);
}

/** DELETE_RANGE: u8 flags (1 keyGroup, 2 gte, 4 lt), u16 kg, [bytes32 gte], [bytes32 lt]. */
export function encodeDeleteRange(w: Writer, id: number, options: unknown): void {
  if (options === null || typeof options !== 'object') {
    throw new FloeError('INVALID_ARGUMENT', 'deleteRange() takes an options object like { keyGroup: 3, gte: "a", lt: "m" }');
  }
  const o = options as DeleteRangeOptions;
  if (o.keyGroup !== undefined) kgField(o.keyGroup, 'deleteRange(): ');
  if (o.gte !== undefined) checkBytesArg(o.gte, 'deleteRange gte');
  if (o.lt !== undefined) checkBytesArg(o.lt, 'deleteRange lt');
  const start = w.beginFrame(Op.DELETE_RANGE, id);
  w.u8((o.keyGroup !== undefined ? RangeFlag.keyGroup : 0) | (o.gte !== undefined ? RangeFlag.gte : 0) | (o.lt !== undefined ? RangeFlag.lt : 0));
  w.u16(o.keyGroup ?? 0);
  if (o.gte !== undefined) w.bytes32(o.gte);
  if (o.lt !== undefined) w.bytes32(o.lt);
  w.endFrame(start);
}

export function readDeleteRange(payload: Uint8Array): DeleteRangeOptions {
  const r = new Reader(payload, 0, payload.length, 'DELETE_RANGE payload');
  const flags = r.u8();
  if (flags & ~7) throw protocolError(`DELETE_RANGE flags 0x${flags.toString(16)} have unknown bits set`);
  const kg = r.u16();
  const out: DeleteRangeOptions = {};
  if (flags & RangeFlag.keyGroup) out.keyGroup = kg;
  if (flags & RangeFlag.gte) out.gte = r.bytes32();
  if (flags & RangeFlag.lt) out.lt = r.bytes32();
  r.done();
  return out;
}

/** DELETE_KEY_GROUPS: u16 first, u16 last (inclusive). */
export function encodeDeleteKeyGroups(w: Writer, id: number, range: unknown): void {
  if (!Array.isArray(range) || range.length !== 2) {
    throw new FloeError('INVALID_ARGUMENT', `deleteKeyGroups() takes [first, last] (inclusive key groups), got ${JSON.stringify(range)}`);
  }
  const first = kgField(range[0], 'deleteKeyGroups(): first ');
  const last = kgField(range[1], 'deleteKeyGroups(): last ');
  const start = w.beginFrame(Op.DELETE_KEY_GROUPS, id);
  w.u16(first);
  w.u16(last);
  w.endFrame(start);
}

/** A frame whose payload is one u32 (SNAPSHOT, RELEASE_SNAPSHOT, ITERATOR_CLOSE). */
export function encodeIdFrame(w: Writer, op: number, id: number, handle: number): void {
  const start = w.beginFrame(op, id);
  w.u32(handle);
  w.endFrame(start);
}

/** GET_AT: u32 snapshot, u16 kg, rest key. */
export function encodeGetAt(w: Writer, id: number, snapshot: number, key: unknown, options: unknown): void {
  const kg = kgField(checkOptionsArg(options)?.keyGroup);
  const k = checkBytesArg(key, 'key');
  const start = w.beginFrame(Op.GET_AT, id);
  w.u32(snapshot);
  w.u16(kg);
  w.rawOrUtf8(k);
  w.endFrame(start);
}

/** MULTI_GET_AT: u32 snapshot, u16 kg, u32 count, count × bytes32 key. */
export function encodeMultiGetAt(w: Writer, id: number, snapshot: number, keys: unknown, options: unknown): void {
  if (!Array.isArray(keys)) throw new FloeError('INVALID_ARGUMENT', 'multiGet() takes an array of keys');
  const kg = kgField(checkOptionsArg(options)?.keyGroup);
  for (const [i, k] of (keys as unknown[]).entries()) checkBytesArg(k, `multiGet(): key ${i}`);
  const start = w.beginFrame(Op.MULTI_GET_AT, id);
  w.u32(snapshot);
  w.u16(kg);
  w.u32(keys.length);
  for (const k of keys as Array<Uint8Array | string>) w.bytes32(k);
  w.endFrame(start);
}

/** ITERATOR: u32 iterator, u32 snapshot (0: a new one), the iterator options block. */
export function encodeIterator(w: Writer, id: number, iterator: number, snapshot: number, o: WireIteratorOptions): void {
  const start = w.beginFrame(Op.ITERATOR, id);
  w.u32(iterator);
  w.u32(snapshot);
  writeIteratorOptions(w, o);
  w.endFrame(start);
}

/** A seek target: the user key and its key group (DEFAULT_KG: the key's default group). */
export interface SeekTarget {
  keyGroup: number;
  key: Uint8Array | string;
}

/** ITERATOR_NEXT: u32 iterator, u32 maxEntries, u8 flags (1: seek first), [u16 kg, bytes32 target]. */
export function encodeIteratorNext(w: Writer, id: number, iterator: number, maxEntries: number, seek: SeekTarget | undefined): void {
  const start = w.beginFrame(Op.ITERATOR_NEXT, id);
  w.u32(iterator);
  w.u32(maxEntries);
  w.u8(seek === undefined ? 0 : NextFlag.seek);
  if (seek !== undefined) {
    w.u16(seek.keyGroup);
    w.bytes32(seek.key);
  }
  w.endFrame(start);
}

export interface ParsedNext {
  iterator: number;
  maxEntries: number;
  seek: { keyGroup: number; key: Uint8Array } | undefined;
}

export function readIteratorNext(payload: Uint8Array): ParsedNext {
  const r = new Reader(payload, 0, payload.length, 'ITERATOR_NEXT payload');
  const iterator = r.u32();
  const maxEntries = r.u32();
  const flags = r.u8();
  if (flags & ~NextFlag.seek) throw protocolError(`ITERATOR_NEXT flags 0x${flags.toString(16)} have unknown bits set`);
  const seek = flags & NextFlag.seek ? { keyGroup: r.u16(), key: r.bytes32() } : undefined;
  r.done();
  return { iterator, maxEntries, seek };
}

/** One iterator entry of a page (key and value only when the iterator yields them). */
export interface WireEntry {
  keyGroup: number;
  key?: Uint8Array;
  value?: Uint8Array;
}

/** An iterator page (ITERATOR_NEXT answer): u8 done, u32 count, entries (u16 kg, [bytes32 key], [bytes32 value]). */
export function parseIteratorPage(payload: Uint8Array, keys: boolean, values: boolean): { done: boolean; entries: WireEntry[] } {
  const r = new Reader(payload, 0, payload.length, 'iterator page');
  const done = r.u8() === 1;
  const n = r.u32();
  const entries: WireEntry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const e: WireEntry = { keyGroup: r.u16() };
    // Copies (Buffer#slice would be a view into the received chunk or a reused buffer).
    if (keys) e.key = Uint8Array.prototype.slice.call(r.bytes32());
    if (values) e.value = Uint8Array.prototype.slice.call(r.bytes32());
    entries[i] = e;
  }
  r.done();
  return { done, entries };
}

/** Byte offset just past the first `count` entries of an iterator page body starting at `at`. */
export function iteratorEntriesEnd(page: Uint8Array, at: number, count: number, keys: boolean, values: boolean): number {
  const r = new Reader(page, at, page.length, 'iterator page');
  for (let i = 0; i < count; i++) {
    r.u16();
    if (keys) r.bytes32();
    if (values) r.bytes32();
  }
  return r.pos;
}

export { DEFAULT_KG };
