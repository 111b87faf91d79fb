/**
 * How an entry with TTL metadata (lib/lsm/ttl.ts) is stored, in SST data blocks (format version 2) and in
 * WAL records: the kind byte has bit `TTL_FLAG` set, and the stored value is
 *   varint n | n × (varint length, varint expiresAt, varint ttlMs) | value bytes
 * where the n lengths add up to the value's length. Entries without TTL are stored exactly as in version 1.
 * docs/format.md ("Data block", "TTL metadata") is the specification.
 */
import { ByteWriter, FormatError, readVarint } from './coding.js';

export const TTL_FLAG = 0x10;

/** The stored value: TTL prefix then the value. REQUIRES: `ttl` covers exactly `value.length` bytes. */
export function encodeTtlValue(ttl: readonly number[], value: Uint8Array): Uint8Array {
  const w = new ByteWriter(16 + ttl.length * 4 + value.length);
  w.varint(ttl.length / 3);
  for (const n of ttl) w.varint(n);
  w.bytesFrom(value);
  return w.bytes();
}

/**
 * Splits a stored value `[start, end)` of `buf` into TTL metadata and value. PROMISES: FormatError when the
 * prefix does not decode or its lengths do not add up to the remaining bytes.
 */
export function decodeTtlValue(buf: Uint8Array, start: number, end: number): { ttl: number[]; value: Uint8Array } {
  const c = { pos: start };
  const n = readVarint(c, buf, end);
  if (n === 0 || n > end - start) throw new FormatError(`TTL metadata at ${start} has ${n} segments`);
  const ttl: number[] = new Array<number>(3 * n);
  let total = 0;
  for (let i = 0; i < 3 * n; i++) {
    ttl[i] = readVarint(c, buf, end);
    if (i % 3 === 0) total += ttl[i]!;
  }
  if (total !== end - c.pos) throw new FormatError(`TTL metadata at ${start} covers ${total} bytes, the value has ${end - c.pos}`);
  return { ttl, value: buf.subarray(c.pos, end) };
}
