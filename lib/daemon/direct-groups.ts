/**
 * The key groups of a WRITE batch or a multiGet on a shard socket (direct-server.ts), checked before the
 * request runs: the batch is validated as a whole exactly as the router validates it (route-keyed.ts), so
 * an invalid op rejects the batch with the same error whichever socket carried it.
 */
import { FloeError } from '../errors.js';
import { defaultKeyGroup } from '../keys.js';
import { DEFAULT_KG, WriteType } from '../protocol/protocol.js';
import { protocolError, Reader } from '../protocol/wire.js';
import { checkBatchOp } from './route-keyed.js';

function groupOf(kg: number, key: Uint8Array, maxKeyGroups: number, where: string): number {
  if (kg === DEFAULT_KG) return defaultKeyGroup(key, maxKeyGroups);
  if (kg >= maxKeyGroups) throw new FloeError('INVALID_ARGUMENT', `${where}keyGroup must be an integer in [0, ${maxKeyGroups}), got ${kg}; omit it to use the default hash`);
  return kg;
}

/**
 * Each op's key group, in order. Throws PROTOCOL for a malformed payload, VERSION for a TTL op on a
 * version-1 connection, INVALID_ARGUMENT for an invalid op (key, value, TTL or key group).
 */
export function writeKeyGroups(payload: Uint8Array, maxKeyGroups: number, version: number): number[] {
  const r = new Reader(payload, 0, payload.length, 'WRITE payload');
  const n = r.u32();
  if (n > payload.length / 7) throw protocolError(`malformed WRITE payload: ${n} ops cannot fit in ${payload.length} bytes`);
  const groups: number[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const type = r.u8();
    const rawKg = r.u16();
    const key = r.bytes32();
    if (type < WriteType.put || type > WriteType.mergeTtl) {
      throw protocolError(`WRITE op ${i} has unknown type ${type} (1 put, 2 delete, 3 merge, 4 put with TTL, 5 merge with TTL)`);
    }
    if (type >= WriteType.putTtl && version < 2) {
      throw new FloeError('VERSION', `WRITE op type ${type} needs protocol version 2, but this connection negotiated version ${version} in HELLO; send HELLO with maxVersion >= 2`);
    }
    const ttlMs = type >= WriteType.putTtl ? r.u64() : undefined;
    const value = type === WriteType.delete ? undefined : r.bytes32();
    const where = checkBatchOp(i, key, value, ttlMs);
    groups[i] = groupOf(rawKg, key, maxKeyGroups, where);
  }
  r.done();
  return groups;
}

/** Each key's group, in order (MULTI_GET payload). Throws PROTOCOL when malformed, INVALID_ARGUMENT for a bad kg. */
export function multiGetKeyGroups(payload: Uint8Array, maxKeyGroups: number): number[] {
  const r = new Reader(payload, 0, payload.length, 'MULTI_GET payload');
  const rawKg = r.u16();
  const n = r.u32();
  if (n > (payload.length - 6) / 4) throw protocolError(`malformed MULTI_GET payload: ${n} keys cannot fit in ${payload.length} bytes`);
  const groups: number[] = new Array(n);
  for (let i = 0; i < n; i++) groups[i] = groupOf(rawKg, r.bytes32(), maxKeyGroups, '');
  r.done();
  return groups;
}
