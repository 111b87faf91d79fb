/**
 * Write-ahead log segments: `wal/<instanceId>/<seq>.log`, each an immutable object written once
 * (create-if-absent) by the group commit (lib/wal/writer.ts). Documented in docs/format.md, "WAL segment".
 *
 *   header (16 bytes): "FLOEWAL1" | u32 BE writer epoch | u8 flags (bit 0: fence, bit 1: plug time) | 3 bytes zero
 *   plug time (12 bytes, only with flag bit 1): f64 BE ms since the Unix epoch | u32 BE CRC32C of those 8
 *   records, each:     u32 BE body length | u32 BE CRC32C of body | body
 *   body:              f64 BE first write sequence | u32 BE op count | ops
 *   op:                u8 kind (EntryKind) | u32 BE key length | physical key | u32 BE value length | value
 * kind 3 is a range delete: key = inclusive start, value = exclusive end (physical keys). A kind with bit
 * TTL_FLAG (0x10) set carries TTL metadata before the value, as in SSTs (lib/sst/ttl-value.ts).
 *
 * One record is one acknowledged write call (a put, delete, merge, or a whole atomic batch); its ops take
 * sequence numbers first, first+1, ... A fence segment (no records) is written by a new owner to end the
 * previous writer's log (see log.ts). It carries the time its writer opened the log (the plug time), so that
 * every later writer ages it from then: dating a plug by each reader's own open re-aged it at every restart,
 * and a crash loop of short lives never let one go. Plugs written before the plug time existed (no flag
 * bit 1) are aged from the reader's open, as before.
 *
 * Damage: a record that runs past the end of the LAST segment is a torn tail (cut back to the last whole
 * record, and reported); any other damage (bad magic, checksum mismatch, a short record elsewhere) is
 * CORRUPTION naming the segment, never skipped.
 */
import { FloeError } from '../errors.js';
import type { EntryKind } from '../sst/entry.js';
import { crc32c } from '../util/crc32c.js';
import { TTL_FLAG, decodeTtlValue, encodeTtlValue } from '../sst/ttl-value.js';

const MAGIC = Buffer.from('FLOEWAL1', 'ascii');
export const WAL_HEADER_BYTES = 16;
const FLAG_FENCE = 1;
const FLAG_PLUG_TIME = 2;
const PLUG_TIME_BYTES = 12;

/** WAL op kind of a range delete (not an SST entry kind). */
export const WAL_RANGE_DELETE = 3;

export interface WalOp {
  kind: EntryKind | typeof WAL_RANGE_DELETE;
  /** Physical key ([keyGroup u16][user key]); a range delete's start. */
  key: Uint8Array;
  /** The value; a range delete's exclusive end. */
  value: Uint8Array;
  /** TTL metadata of the value (lib/lsm/ttl.ts). */
  ttl?: number[];
}

/** The value bytes as logged: with the TTL prefix when the op has TTL metadata. */
function loggedValue(op: WalOp): Uint8Array {
  return op.ttl === undefined ? op.value : encodeTtlValue(op.ttl, op.value);
}

export interface WalRecord {
  firstSeq: number;
  ops: WalOp[];
}

export interface DecodedSegment {
  epoch: number;
  fence: boolean;
  /** A fence plug's plug time (ms since the Unix epoch, its writer's clock); undefined for older plugs. */
  plugTime?: number;
  records: WalRecord[];
  /** Set when the segment ended inside a record (only tolerated for the last segment). */
  tornAt?: number;
}

/** Bytes a record adds to a segment. */
export function recordBytes(ops: readonly WalOp[]): number {
  let n = 8 + 12;
  for (const op of ops) n += 9 + op.key.length + loggedValue(op).length;
  return n;
}

/** Encodes a fence plug written at `plugTime` (ms since the Unix epoch). */
export function encodePlug(epoch: number, plugTime: number): Uint8Array {
  const out = Buffer.alloc(WAL_HEADER_BYTES + PLUG_TIME_BYTES);
  writeHeader(out, epoch, FLAG_FENCE | FLAG_PLUG_TIME);
  out.writeDoubleBE(plugTime, WAL_HEADER_BYTES);
  out.writeUInt32BE(crc32c(out.subarray(WAL_HEADER_BYTES, WAL_HEADER_BYTES + 8)), WAL_HEADER_BYTES + 8);
  return out;
}

function writeHeader(out: Buffer, epoch: number, flags: number): void {
  MAGIC.copy(out, 0);
  out.writeUInt32BE(epoch, 8);
  out.writeUInt32BE(flags << 24, 12);
}

/**
 * Encodes a segment of records. `fence` without a plug time is the format before plug times (kept for
 * tests of old logs); new plugs use encodePlug. REQUIRES: records in ascending sequence order.
 */
export function encodeSegment(epoch: number, records: readonly WalRecord[], fence = false): Uint8Array {
  let size = WAL_HEADER_BYTES;
  for (const r of records) size += recordBytes(r.ops);
  const out = Buffer.allocUnsafe(size);
  writeHeader(out, epoch, fence ? FLAG_FENCE : 0);
  let pos = WAL_HEADER_BYTES;
  for (const r of records) {
    const bodyStart = pos + 8;
    let p = bodyStart;
    out.writeDoubleBE(r.firstSeq, p);
    out.writeUInt32BE(r.ops.length, p + 8);
    p += 12;
    for (const op of r.ops) {
      const value = loggedValue(op);
      out[p] = op.ttl === undefined ? op.kind : op.kind | TTL_FLAG;
      out.writeUInt32BE(op.key.length, p + 1);
      out.set(op.key, p + 5);
      p += 5 + op.key.length;
      out.writeUInt32BE(value.length, p);
      out.set(value, p + 4);
      p += 4 + value.length;
    }
    out.writeUInt32BE(p - bodyStart, pos);
    out.writeUInt32BE(crc32c(out.subarray(bodyStart, p)), pos + 4);
    pos = p;
  }
  return out;
}

/**
 * Decodes a segment. `last`: whether it is the last segment of the log (only there a torn tail is expected).
 * Throws CORRUPTION naming `path` for any damage that is not a torn tail of the last segment.
 */
export function decodeSegment(bytes: Uint8Array, path: string, last: boolean): DecodedSegment {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const corrupt = (what: string): FloeError =>
    new FloeError('CORRUPTION', `corrupt WAL segment ${path}: ${what}. Writes logged there cannot be replayed; restore from a checkpoint.`, { path });
  if (buf.length < WAL_HEADER_BYTES || !buf.subarray(0, 8).equals(MAGIC)) {
    if (last && buf.length < WAL_HEADER_BYTES && MAGIC.subarray(0, buf.length).equals(buf.subarray(0, Math.min(8, buf.length)))) {
      return { epoch: 0, fence: false, records: [], tornAt: 0 };
    }
    throw corrupt('bad magic or truncated header');
  }
  const epoch = buf.readUInt32BE(8);
  const flags = buf.readUInt32BE(12) >>> 24;
  const fence = (flags & FLAG_FENCE) !== 0;
  if ((flags & FLAG_PLUG_TIME) !== 0) return { epoch, fence, plugTime: decodePlugTime(buf, corrupt), records: [] };
  const records: WalRecord[] = [];
  let pos = WAL_HEADER_BYTES;
  while (pos < buf.length) {
    if (pos + 8 > buf.length) {
      if (last) return { epoch, fence, records, tornAt: pos };
      throw corrupt(`record header cut short at byte ${pos}`);
    }
    const length = buf.readUInt32BE(pos);
    const end = pos + 8 + length;
    if (end > buf.length) {
      if (last) return { epoch, fence, records, tornAt: pos };
      throw corrupt(`record at byte ${pos} runs past the end`);
    }
    const body = buf.subarray(pos + 8, end);
    if (crc32c(body) !== buf.readUInt32BE(pos + 4)) throw corrupt(`checksum mismatch in the record at byte ${pos}`);
    records.push(decodeBody(body, () => corrupt(`malformed record at byte ${pos}`)));
    pos = end;
  }
  return { epoch, fence, records };
}

/**
 * Whether an object of `size` bytes can be a fence plug rather than a data segment (a segment with a
 * record is larger): lets an opener find the plugs among segments it does not read.
 */
export function isPlugSized(size: number): boolean {
  return size <= WAL_HEADER_BYTES + PLUG_TIME_BYTES;
}

/** A plug is written whole by one create-if-absent PUT: anything but exactly its 12 bytes is damage. */
function decodePlugTime(buf: Buffer, corrupt: (what: string) => FloeError): number {
  if (buf.length !== WAL_HEADER_BYTES + PLUG_TIME_BYTES) throw corrupt(`a fence plug of ${buf.length} bytes (${WAL_HEADER_BYTES + PLUG_TIME_BYTES} expected)`);
  const time = buf.subarray(WAL_HEADER_BYTES, WAL_HEADER_BYTES + 8);
  if (crc32c(time) !== buf.readUInt32BE(WAL_HEADER_BYTES + 8)) throw corrupt('checksum mismatch in the fence plug time');
  return time.readDoubleBE(0);
}

function decodeBody(body: Buffer, malformed: () => FloeError): WalRecord {
  if (body.length < 12) throw malformed();
  const firstSeq = body.readDoubleBE(0);
  const count = body.readUInt32BE(8);
  const ops: WalOp[] = [];
  let p = 12;
  for (let i = 0; i < count; i++) {
    if (p + 5 > body.length) throw malformed();
    const kind = body[p]!;
    if ((kind & ~TTL_FLAG) > WAL_RANGE_DELETE) throw malformed();
    const kl = body.readUInt32BE(p + 1);
    if (p + 5 + kl + 4 > body.length) throw malformed();
    const key = body.subarray(p + 5, p + 5 + kl);
    p += 5 + kl;
    const vl = body.readUInt32BE(p);
    if (p + 4 + vl > body.length) throw malformed();
    const start = p + 4;
    p += 4 + vl;
    if ((kind & TTL_FLAG) === 0) {
      ops.push({ kind: kind as EntryKind, key, value: body.subarray(start, start + vl) });
      continue;
    }
    let decoded: { ttl: number[]; value: Uint8Array };
    try {
      decoded = decodeTtlValue(body, start, start + vl);
    } catch {
      throw malformed();
    }
    ops.push({ kind: (kind & ~TTL_FLAG) as EntryKind, key, value: decoded.value, ttl: decoded.ttl });
  }
  if (p !== body.length || !Number.isSafeInteger(firstSeq)) throw malformed();
  return { firstSeq, ops };
}
