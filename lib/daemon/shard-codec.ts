/**
 * Payload codecs of the shard worker's data path (shard-service.ts): MULTI_GET requests and answers, WRITE
 * batches into engine ops. Keys and values are views into the request frame (the engine copies what it
 * keeps); an answer is written straight into the service's one output buffer.
 */
import type { WriteOp } from '../api.js';
import { ABSENT, DEFAULT_KG, WriteType } from '../protocol/protocol.js';
import { protocolError, Reader, type Writer } from '../protocol/wire.js';

/** A MULTI_GET payload: u16 kg, u32 count, count × bytes32 key (views into the payload). */
export function readMultiGet(payload: Uint8Array): { kg: number; keys: Uint8Array[] } {
  const r = new Reader(payload, 0, payload.length, 'MULTI_GET payload');
  const kg = r.u16();
  const n = r.u32();
  if (n > (payload.length - 6) / 4) throw protocolError(`malformed MULTI_GET payload: ${n} keys cannot fit in ${payload.length} bytes`);
  const keys: Uint8Array[] = new Array(n);
  for (let i = 0; i < n; i++) keys[i] = r.bytes32();
  r.done();
  return { kg, keys };
}

/** A MULTI_GET answer body: u32 count, then each value (bytes32) or ABSENT. */
export function writeValues(w: Writer, values: ReadonlyArray<Uint8Array | undefined>): void {
  let bytes = 4;
  for (const v of values) bytes += v === undefined ? 4 : 4 + v.length;
  w.ensure(bytes);
  w.u32(values.length);
  for (const v of values) {
    if (v === undefined) w.u32(ABSENT);
    else w.bytes32(v);
  }
}

/** WRITE payload → engine ops (views into the payload; the engine copies what it keeps). */
export function parseWriteOps(payload: Uint8Array): WriteOp[] {
  const r = new Reader(payload, 0, payload.length, 'WRITE payload');
  const n = r.u32();
  if (n > payload.length / 7) throw protocolError(`malformed WRITE payload: ${n} ops cannot fit in ${payload.length} bytes`);
  const ops: WriteOp[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const type = r.u8();
    const kg = r.u16();
    const key = r.bytes32();
    // One object literal per op (no spread of a key-group object): this runs for every op of every batch.
    if (type === WriteType.put || type === WriteType.merge) {
      const t = type === WriteType.put ? 'put' : 'merge';
      const value = r.bytes32();
      ops[i] = kg === DEFAULT_KG ? { type: t, key, value } : { type: t, key, value, keyGroup: kg };
    } else if (type === WriteType.delete) {
      ops[i] = kg === DEFAULT_KG ? { type: 'delete', key } : { type: 'delete', key, keyGroup: kg };
    } else if (type === WriteType.putTtl || type === WriteType.mergeTtl) {
      // Protocol 2: a put or merge carrying its own TTL.
      const t = type === WriteType.putTtl ? 'put' : 'merge';
      const ttlMs = r.u64();
      const value = r.bytes32();
      ops[i] = kg === DEFAULT_KG ? { type: t, key, value, ttlMs } : { type: t, key, value, ttlMs, keyGroup: kg };
    } else throw protocolError(`WRITE op ${i} has unknown type ${type} (1 put, 2 delete, 3 merge, 4 put with TTL, 5 merge with TTL)`);
  }
  r.done();
  return ops;
}
