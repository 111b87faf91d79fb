/**
 * The socket protocol, version 1 (docs/protocol.md is the contract; test/protocol-golden.test.ts pins it):
 * opcodes, the handshake, the error payload, and the payload codecs shared by the client, the in-process
 * sharded store, the router and the shard workers.
 *
 * Frame: [u32 length][u8 opcode][u32 requestId][payload], big-endian; length = 5 + payload bytes.
 */
import type { CheckpointHandle, ScanEntry, ScanOptions, StoreStats, WriteOp } from '../api.js';
import { FloeError, type FloeErrorCode } from '../errors.js';
import { MAX_KEY_GROUPS } from '../keys.js';
import { checkTtlMs } from '../lsm/ttl.js';
import { protocolError, Reader, Writer } from './wire.js';

/**
 * Version 2 adds opcodes only (TTL writes, range deletes, snapshots, iterators: lib/protocol/protocol-v2.ts);
 * every version-1 frame keeps its bytes and meaning. A connection that negotiated 1 is served exactly as
 * before; a version-2 opcode on it is answered with VERSION (docs/protocol.md, "Versions").
 */
export const PROTOCOL_VERSION = 2;
export const MIN_PROTOCOL_VERSION = 1;
export const MAGIC = Uint8Array.of(0x46, 0x4c, 0x4f, 0x45); // "FLOE"

export const Op = {
  HELLO: 0x01,
  PING: 0x02,
  PUT: 0x10,
  GET: 0x11,
  DELETE: 0x12,
  MERGE: 0x13,
  WRITE: 0x14,
  MULTI_GET: 0x15,
  SCAN: 0x16,
  SCAN_NEXT: 0x17,
  SCAN_CLOSE: 0x18,
  FLUSH: 0x20,
  CHECKPOINT: 0x21,
  RELEASE_CHECKPOINT: 0x22,
  STATS: 0x23,
  /** Binds the connection to a named store (lib/protocol/named-store.ts). */
  OPEN_STORE: 0x30,
  /** Unbinds it (back to the default store); optionally retires the store. */
  CLOSE_STORE: 0x31,
  /** The default store's shards and their own sockets (lib/protocol/shard-map.ts). */
  SHARD_MAP: 0x32,
  /**
   * Shard sockets only: a MULTI_GET payload whose keys all live on the shard, answered with `u8 quiet,
   * u32 epoch` before the MULTI_GET answer (the cross-shard write stamp, docs/protocol.md "Shard sockets").
   */
  MULTI_GET_PART: 0x33,
  // ---- protocol version 2 (lib/protocol/protocol-v2.ts)
  /** PUT with a TTL: u16 kg, u64 ttlMs, bytes32 key, rest value. */
  PUT_TTL: 0x19,
  /** MERGE with a TTL: u16 kg, u64 ttlMs, bytes32 key, rest operand. */
  MERGE_TTL: 0x1a,
  DELETE_RANGE: 0x1b,
  DELETE_KEY_GROUPS: 0x1c,
  /** GET at a snapshot: u32 snapshot, then a GET payload. */
  GET_AT: 0x1d,
  /** MULTI_GET at a snapshot: u32 snapshot, then a MULTI_GET payload. */
  MULTI_GET_AT: 0x1e,
  SNAPSHOT: 0x24,
  RELEASE_SNAPSHOT: 0x25,
  ITERATOR: 0x26,
  ITERATOR_NEXT: 0x27,
  ITERATOR_CLOSE: 0x28,
} as const;

/** The protocol version an opcode needs (1 unless listed). */
export function opVersion(op: number): number {
  return V2_OPS.has(op) ? 2 : 1;
}

const V2_OPS = new Set<number>([
  Op.PUT_TTL,
  Op.MERGE_TTL,
  Op.DELETE_RANGE,
  Op.DELETE_KEY_GROUPS,
  Op.GET_AT,
  Op.MULTI_GET_AT,
  Op.SNAPSHOT,
  Op.RELEASE_SNAPSHOT,
  Op.ITERATOR,
  Op.ITERATOR_NEXT,
  Op.ITERATOR_CLOSE,
]);

/** Router ↔ shard worker only (0x40–0x4F); a protocol violation on the socket. */
export const InternalOp = {
  SHARD_SCAN_OPEN: 0x40,
  SHARD_SCAN_NEXT: 0x41,
  SHARD_SCAN_CLOSE: 0x42,
  SHARD_CHECKPOINT: 0x43,
  SHARD_STATS: 0x44,
  SHARD_CLOSE: 0x45,
  SHARD_COMPACT: 0x46,
  /** Opens (creates, restores) one more LSM instance in a shard worker, in a new slot (named stores). */
  SHARD_STORE_OPEN: 0x47,
  // ---- protocol version 2: shard-side read handles (lib/daemon/shard-handles.ts)
  /** u32 handle: takes a snapshot after the shard's earlier writes. */
  SHARD_SNAPSHOT: 0x4c,
  /** u32 handle, u32 snapshot handle (0: own snapshot), ITERATOR options. */
  SHARD_ITER_OPEN: 0x4d,
  /** u32 handle, u32 maxEntries, u32 pageBytes, u8 flags (1: seek first), [u16 kg, bytes32 target]. */
  SHARD_ITER_NEXT: 0x4e,
  /** u32 handle: releases a snapshot or iterator handle. */
  SHARD_RELEASE: 0x4f,
} as const;

export const RESPONSE_BIT = 0x80;
export const ERROR_OP = 0xff;
/** The `kg` value meaning "default key group (hash of the key)". */
export const DEFAULT_KG = 0xffff;
/** MULTI_GET response length meaning "absent". */
export const ABSENT = 0xffffffff;
/** WRITE op types; 4 and 5 (protocol 2) carry a u64 ttlMs before the value. */
export const WriteType = { put: 1, delete: 2, merge: 3, putTtl: 4, mergeTtl: 5 } as const;
export const ScanFlag = { keyGroup: 1, limit: 2, gte: 4, lt: 8, prefix: 16 } as const;

export const DEFAULT_MAX_FRAME_BYTES = 80 * 2 ** 20;
export const DEFAULT_MAX_IN_FLIGHT = 1024;
export const MAX_PING_BYTES = 64 * 1024;
export const DEFAULT_PAGE_BYTES = 256 * 1024;
export const MIN_PAGE_BYTES = 4 * 1024;
export const MAX_PAGE_BYTES = 4 * 2 ** 20;
/** Open cursors per connection (or per in-process store). */
export const MAX_CURSORS = 64;

const OP_NAMES = new Map<number, string>([
  ...Object.entries(Op).map(([k, v]) => [v, k] as [number, string]),
  ...Object.entries(InternalOp).map(([k, v]) => [v, k] as [number, string]),
]);

export function opName(op: number): string {
  if (op === ERROR_OP) return 'ERROR';
  const base = OP_NAMES.get(op & ~RESPONSE_BIT);
  if (base === undefined) return `0x${op.toString(16).padStart(2, '0')}`;
  return op & RESPONSE_BIT ? `${base}_OK` : base;
}

export function isWriteOp(op: number): boolean {
  return (
    op === Op.PUT ||
    op === Op.DELETE ||
    op === Op.MERGE ||
    op === Op.WRITE ||
    op === Op.PUT_TTL ||
    op === Op.MERGE_TTL ||
    op === Op.DELETE_RANGE ||
    op === Op.DELETE_KEY_GROUPS
  );
}

// ------------------------------------------------------------------ errors

const CODES = new Set<FloeErrorCode>([
  'INVALID_ARGUMENT', 'CONFIG', 'CORRUPTION', 'IO', 'FENCED', 'CLOSED', 'BUSY', 'PROTOCOL', 'VERSION', 'NOT_FOUND', 'ALREADY_EXISTS',
]);

/** Any thrown value as a FloeError (non-Floe errors are internal failures: IO, not retryable). */
export function asFloeError(e: unknown): FloeError {
  if (e instanceof FloeError) return e;
  const message = e instanceof Error ? e.message : String(e);
  return new FloeError('IO', `internal error: ${message}`, { cause: e });
}

/** Writes an ERROR frame payload: u8 flags, u8 codeLength, code, u16 pathLength, path, message. */
export function writeErrorPayload(w: Writer, e: FloeError): void {
  w.u8(e.retryable ? 1 : 0);
  w.u8(e.code.length);
  w.rawOrUtf8(e.code);
  const path = e.path ?? '';
  const pathBytes = Buffer.from(path, 'utf8');
  w.u16(Math.min(pathBytes.length, 0xffff));
  w.raw(pathBytes.subarray(0, 0xffff));
  w.rawOrUtf8(e.message);
}

export function writeErrorFrame(w: Writer, requestId: number, e: FloeError): void {
  const start = w.beginFrame(ERROR_OP, requestId);
  writeErrorPayload(w, e);
  w.endFrame(start);
}

export function errorPayload(e: FloeError): Uint8Array {
  const w = new Writer(256);
  writeErrorPayload(w, e);
  return w.take();
}

/** Rebuilds the FloeError of an ERROR payload (an unknown code becomes PROTOCOL, saying so). */
export function decodeError(payload: Uint8Array): FloeError {
  const r = new Reader(payload, 0, payload.length, 'ERROR payload');
  const flags = r.u8();
  const code = Buffer.from(r.take(r.u8())).toString('latin1');
  const path = Buffer.from(r.take(r.u16())).toString('utf8');
  const message = Buffer.from(r.rest()).toString('utf8');
  if (!CODES.has(code as FloeErrorCode)) {
    return new FloeError('PROTOCOL', `the daemon answered with unknown error code ${JSON.stringify(code)}: ${message}`);
  }
  return new FloeError(code as FloeErrorCode, message, { retryable: (flags & 1) === 1, ...(path ? { path } : {}) });
}

// ------------------------------------------------------------------ handshake

export interface ServerHello {
  version: number;
  shards: number;
  maxKeyGroups: number;
  maxFrameBytes: number;
  maxInFlight: number;
  server: string;
}

export function writeHello(w: Writer, requestId: number, minVersion = MIN_PROTOCOL_VERSION, maxVersion = PROTOCOL_VERSION): void {
  const start = w.beginFrame(Op.HELLO, requestId);
  w.raw(MAGIC);
  w.u16(minVersion);
  w.u16(maxVersion);
  w.endFrame(start);
}

/** The version to speak, or a PROTOCOL (bad magic) / VERSION (no common version) error. */
export function negotiateHello(payload: Uint8Array): number {
  const r = new Reader(payload, 0, payload.length, 'HELLO payload');
  const magic = r.take(4);
  if (!magic.every((b, i) => b === MAGIC[i])) {
    throw protocolError('HELLO must start with the magic "FLOE"; this is not a Floe client (or it speaks another protocol)');
  }
  const min = r.u16();
  const max = r.u16();
  r.done();
  if (min > max || max < MIN_PROTOCOL_VERSION || min > PROTOCOL_VERSION) {
    throw new FloeError(
      'VERSION',
      `the client speaks protocol versions ${min}..${max}, this daemon speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}; upgrade the older side`,
    );
  }
  return Math.min(max, PROTOCOL_VERSION);
}

export function writeHelloOk(w: Writer, requestId: number, h: ServerHello): void {
  const start = w.beginFrame(Op.HELLO | RESPONSE_BIT, requestId);
  w.u16(h.version);
  w.u16(h.shards);
  w.u32(h.maxKeyGroups);
  w.u32(h.maxFrameBytes);
  w.u32(h.maxInFlight);
  w.rawOrUtf8(h.server);
  w.endFrame(start);
}

export function parseHelloOk(payload: Uint8Array): ServerHello {
  const r = new Reader(payload, 0, payload.length, 'HELLO response');
  return {
    version: r.u16(),
    shards: r.u16(),
    maxKeyGroups: r.u32(),
    maxFrameBytes: r.u32(),
    maxInFlight: r.u32(),
    server: Buffer.from(r.rest()).toString('utf8'),
  };
}

// ------------------------------------------------------------------ request encoders (client side)

/** Throws INVALID_ARGUMENT unless `input` is bytes or a string (what the API accepts). */
export function checkBytesArg(input: unknown, what: string): Uint8Array | string {
  if (typeof input === 'string' || input instanceof Uint8Array) return input;
  throw new FloeError('INVALID_ARGUMENT', `${what} must be a Uint8Array or a string, got ${describe(input)}; convert it to bytes first`);
}

/** The kg field for an optional key group (validated against the protocol's range; the daemon checks maxKeyGroups). */
export function kgField(keyGroup: unknown, where = ''): number {
  if (keyGroup === undefined) return DEFAULT_KG;
  if (typeof keyGroup !== 'number' || !Number.isInteger(keyGroup) || keyGroup < 0 || keyGroup >= MAX_KEY_GROUPS) {
    throw new FloeError('INVALID_ARGUMENT', `${where}keyGroup must be an integer in [0, maxKeyGroups), got ${describe(keyGroup)}; omit it to use the default hash`);
  }
  return keyGroup;
}

export function checkOptionsArg(options: unknown, where = ''): { keyGroup?: unknown } | undefined {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object') throw new FloeError('INVALID_ARGUMENT', `${where}options must be an object like { keyGroup: 3 }`);
  return options as { keyGroup?: unknown };
}

export function encodeKeyValue(w: Writer, op: number, id: number, key: unknown, value: unknown, options: unknown): void {
  const kg = kgField(checkOptionsArg(options)?.keyGroup);
  const k = checkBytesArg(key, 'key');
  const v = checkBytesArg(value, op === Op.MERGE ? 'merge operand' : 'value');
  const start = w.beginFrame(op, id);
  w.u16(kg);
  w.bytes32(k);
  w.rawOrUtf8(v);
  w.endFrame(start);
}

export function encodeKeyOnly(w: Writer, op: number, id: number, key: unknown, options: unknown): void {
  const kg = kgField(checkOptionsArg(options)?.keyGroup);
  const k = checkBytesArg(key, 'key');
  const start = w.beginFrame(op, id);
  w.u16(kg);
  w.rawOrUtf8(k);
  w.endFrame(start);
}

export function encodeWrite(w: Writer, id: number, ops: unknown): void {
  if (!Array.isArray(ops)) throw new FloeError('INVALID_ARGUMENT', 'write() takes an array of { type, key, value?, keyGroup? } operations');
  // Validate before writing anything, so a bad op leaves the writer untouched.
  for (const [i, op] of (ops as unknown[]).entries()) {
    if (op === null || typeof op !== 'object') throw new FloeError('INVALID_ARGUMENT', `write(): operation ${i} must be an object`);
    const o = op as WriteOp;
    if (o.type !== 'put' && o.type !== 'delete' && o.type !== 'merge') {
      throw new FloeError('INVALID_ARGUMENT', `write(): operation ${i} has type ${JSON.stringify((o as { type: unknown }).type)}; use 'put', 'delete' or 'merge'`);
    }
    kgField(o.keyGroup, `write(): operation ${i}: `);
    checkBytesArg(o.key, `operation ${i} key`);
    if (o.type !== 'delete') checkBytesArg(o.value, `operation ${i} value`);
    if (o.type !== 'delete' && o.ttlMs !== undefined) checkTtlMs(o.ttlMs, `write(): operation ${i}: ttlMs`);
  }
  const start = w.beginFrame(Op.WRITE, id);
  w.u32(ops.length);
  for (const o of ops as WriteOp[]) {
    // A put or merge with its own ttlMs is type 4/5 (protocol 2); without one, the v1 bytes exactly.
    const ttl = o.type === 'delete' ? undefined : o.ttlMs;
    w.u8(ttl === undefined ? WriteType[o.type] : o.type === 'put' ? WriteType.putTtl : WriteType.mergeTtl);
    w.u16(kgField(o.keyGroup));
    w.bytes32(o.key);
    if (ttl !== undefined) w.u64(ttl);
    if (o.type !== 'delete') w.bytes32(o.value);
  }
  w.endFrame(start);
}

export function encodeMultiGet(w: Writer, id: number, keys: unknown, options: unknown): void {
  if (!Array.isArray(keys)) throw new FloeError('INVALID_ARGUMENT', 'multiGet() takes an array of keys');
  const kg = kgField(checkOptionsArg(options)?.keyGroup);
  for (const [i, k] of (keys as unknown[]).entries()) checkBytesArg(k, `multiGet(): key ${i}`);
  const start = w.beginFrame(Op.MULTI_GET, id);
  w.u16(kg);
  w.u32(keys.length);
  for (const k of keys as Array<Uint8Array | string>) w.bytes32(k);
  w.endFrame(start);
}

/** Writes a SCAN payload (no frame header). Used by the client, the sharded store and the router. */
export function writeScanPayload(w: Writer, options: ScanOptions, pageBytes: number): void {
  let flags = 0;
  if (options.keyGroup !== undefined) flags |= ScanFlag.keyGroup;
  const limit = options.limit;
  if (limit !== undefined && limit < ABSENT) flags |= ScanFlag.limit;
  if (options.gte !== undefined) flags |= ScanFlag.gte;
  if (options.lt !== undefined) flags |= ScanFlag.lt;
  if (options.prefix !== undefined) flags |= ScanFlag.prefix;
  w.u8(flags);
  w.u16(options.keyGroup ?? 0);
  w.u32(flags & ScanFlag.limit ? Math.ceil(limit!) : 0);
  w.u32(pageBytes);
  if (options.gte !== undefined) w.bytes32(options.gte);
  if (options.lt !== undefined) w.bytes32(options.lt);
  if (options.prefix !== undefined) w.bytes32(options.prefix);
}

/** Validates scan options the way the embedded store does (so errors match in every mode). */
export function checkScanOptions(options: unknown): ScanOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new FloeError('INVALID_ARGUMENT', 'scan() takes an options object');
  const o = options as ScanOptions;
  if (o.keyGroup !== undefined) kgField(o.keyGroup, 'scan(): ');
  if (o.limit !== undefined && (typeof o.limit !== 'number' || Number.isNaN(o.limit) || o.limit < 0)) {
    throw new FloeError('INVALID_ARGUMENT', `scan(): limit must be a non-negative number, got ${JSON.stringify(o.limit)}`);
  }
  if (o.gte !== undefined) checkBytesArg(o.gte, 'scan gte');
  if (o.lt !== undefined) checkBytesArg(o.lt, 'scan lt');
  if (o.prefix !== undefined) checkBytesArg(o.prefix, 'scan prefix');
  return o;
}

export interface ParsedScan {
  keyGroup: number | undefined;
  limit: number | undefined;
  pageBytes: number;
  gte: Uint8Array | undefined;
  lt: Uint8Array | undefined;
  prefix: Uint8Array | undefined;
}

/** Parses a SCAN payload from `r` (views into the payload, no copies). */
export function readScanPayload(r: Reader): ParsedScan {
  const flags = r.u8();
  if (flags & ~0x1f) throw protocolError(`SCAN flags 0x${flags.toString(16)} has unknown bits set`);
  const kg = r.u16();
  const limit = r.u32();
  const pageBytes = r.u32();
  return {
    keyGroup: flags & ScanFlag.keyGroup ? kg : undefined,
    limit: flags & ScanFlag.limit ? limit : undefined,
    pageBytes: pageBytes === 0 ? DEFAULT_PAGE_BYTES : Math.min(MAX_PAGE_BYTES, Math.max(MIN_PAGE_BYTES, pageBytes)),
    gte: flags & ScanFlag.gte ? r.bytes32() : undefined,
    lt: flags & ScanFlag.lt ? r.bytes32() : undefined,
    prefix: flags & ScanFlag.prefix ? r.bytes32() : undefined,
  };
}

export function scanOptionsOf(p: ParsedScan): ScanOptions {
  return {
    ...(p.keyGroup !== undefined ? { keyGroup: p.keyGroup } : {}),
    ...(p.limit !== undefined ? { limit: p.limit } : {}),
    ...(p.gte !== undefined ? { gte: p.gte } : {}),
    ...(p.lt !== undefined ? { lt: p.lt } : {}),
    ...(p.prefix !== undefined ? { prefix: p.prefix } : {}),
  };
}

// ------------------------------------------------------------------ response payloads

export function writePageEntry(w: Writer, e: ScanEntry): void {
  w.ensure(10 + e.key.length + e.value.length);
  w.u16(e.keyGroup);
  w.bytes32(e.key);
  w.bytes32(e.value);
}

export interface Page {
  cursor: number;
  done: boolean;
  entries: ScanEntry[];
}

/** Decodes a page payload (u32 cursor, u8 done, u32 count, entries); keys and values are copied out. */
export function parsePage(payload: Uint8Array): Page {
  const r = new Reader(payload, 0, payload.length, 'scan page');
  const cursor = r.u32();
  const done = r.u8() === 1;
  const count = r.u32();
  const entries: ScanEntry[] = [];
  for (let i = 0; i < count; i++) {
    const keyGroup = r.u16();
    const key = r.bytes32().slice();
    const value = r.bytes32().slice();
    entries.push({ keyGroup, key, value });
  }
  r.done();
  return { cursor, done, entries };
}

export function parseGetOk(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < 1) throw protocolError('malformed GET response: empty payload');
  return payload[0] === 1 ? payload.slice(1) : undefined;
}

export function parseMultiGetOk(payload: Uint8Array, expected: number): Array<Uint8Array | undefined> {
  const r = new Reader(payload, 0, payload.length, 'MULTI_GET response');
  const n = r.u32();
  if (n !== expected) throw protocolError(`MULTI_GET response has ${n} values for ${expected} keys`);
  const out: Array<Uint8Array | undefined> = new Array(n);
  for (let i = 0; i < n; i++) {
    const len = r.u32();
    out[i] = len === ABSENT ? undefined : r.take(len).slice();
  }
  r.done();
  return out;
}

export function writeJson(w: Writer, value: unknown): void {
  w.rawOrUtf8(JSON.stringify(value));
}

export function parseJson<T>(payload: Uint8Array, what: string): T {
  try {
    return JSON.parse(Buffer.from(payload).toString('utf8')) as T;
  } catch (cause) {
    throw new FloeError('PROTOCOL', `malformed ${what}: not valid JSON`, { cause });
  }
}

export type DaemonStats = StoreStats & { daemon?: Record<string, unknown> };
export type { CheckpointHandle };

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return `an object (${(v as object).constructor?.name ?? 'Object'})`;
  return `${typeof v} ${String(v).slice(0, 40)}`;
}
