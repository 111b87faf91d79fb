/**
 * One validating pass over a WRITE payload, shared by the router (route-keyed.ts, which splits a batch per
 * shard) and the shard sockets (direct-server.ts, which accept a batch only when every op is theirs), so a
 * batch is refused with the same error whichever socket carried it. Every op is validated as the embedded
 * store validates it, and an invalid op rejects the whole batch before any shard sees it. No object per
 * op: op i is `payload[starts[i], starts[i + 1])` in key group `groups[i]`; key and value views are made
 * only to word an error.
 */
import { FloeError, isFloeError } from '../errors.js';
import { checkKey, checkValue, defaultKeyGroupAt, MAX_KEY_BYTES, MAX_VALUE_BYTES } from '../keys.js';
import { checkTtlMs } from '../lsm/ttl.js';
import { DEFAULT_KG, WriteType } from '../protocol/protocol.js';
import { protocolError, Reader } from '../protocol/wire.js';

export interface ScannedWrite {
  n: number;
  /** Op i's bytes are payload[starts[i], starts[i + 1]). */
  starts: Uint32Array;
  /** Op i's key group (its explicit one, or its key's hash). */
  groups: Int32Array;
}

/** Validates one op's key, value and TTL; returns the prefix errors about op `i` carry. */
export function checkBatchOp(i: number, key: Uint8Array, value: Uint8Array | undefined, ttlMs: number | undefined): string {
  const where = batchOpWhere(i);
  try {
    checkKey(key);
    if (value !== undefined) checkValue(value, `operation ${i} value`);
    if (ttlMs !== undefined) checkTtlMs(ttlMs, 'ttlMs');
  } catch (e) {
    throw isFloeError(e) && !e.message.startsWith('operation') ? new FloeError(e.code, where + e.message) : e;
  }
  return where;
}

export function batchOpWhere(i: number): string {
  return `write(): operation ${i}: `;
}

/**
 * Scans a WRITE payload negotiated at protocol `version`. Throws PROTOCOL for a malformed payload or an
 * unknown op type, VERSION for a TTL op (types 4/5) on a version-1 connection, INVALID_ARGUMENT for an
 * invalid key, value, TTL or key group (prefixed with the op's index).
 */
export function scanWrite(payload: Uint8Array, maxKeyGroups: number, version: number): ScannedWrite {
  const r = new Reader(payload, 0, payload.length, 'WRITE payload');
  const n = r.u32();
  if (n > payload.length / 7) throw protocolError(`malformed WRITE payload: ${n} ops cannot fit in ${payload.length} bytes`);
  const starts = new Uint32Array(n + 1);
  const groups = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    starts[i] = r.pos;
    const type = r.u8();
    const rawKg = r.u16();
    const klen = r.u32();
    const keyAt = r.pos;
    r.skip(klen);
    if (type < WriteType.put || type > WriteType.mergeTtl) {
      throw protocolError(`WRITE op ${i} has unknown type ${type} (1 put, 2 delete, 3 merge, 4 put with TTL, 5 merge with TTL)`);
    }
    if (type >= WriteType.putTtl && version < 2) {
      throw new FloeError('VERSION', `WRITE op type ${type} needs protocol version 2, but this connection negotiated version ${version} in HELLO; send HELLO with maxVersion >= 2`);
    }
    const ttlMs = type >= WriteType.putTtl ? r.u64() : undefined;
    let vlen = -1;
    if (type !== WriteType.delete) {
      vlen = r.u32();
      r.skip(vlen);
    }
    if (klen === 0 || klen > MAX_KEY_BYTES || vlen > MAX_VALUE_BYTES || ttlMs !== undefined) {
      const value = vlen < 0 ? undefined : payload.subarray(r.pos - vlen, r.pos);
      checkBatchOp(i, payload.subarray(keyAt, keyAt + klen), value, ttlMs);
    }
    if (rawKg === DEFAULT_KG) groups[i] = defaultKeyGroupAt(payload, keyAt, keyAt + klen, maxKeyGroups);
    else if (rawKg >= maxKeyGroups) {
      throw new FloeError('INVALID_ARGUMENT', `${batchOpWhere(i)}keyGroup must be an integer in [0, ${maxKeyGroups}), got ${rawKg}; omit it to use the default hash`);
    } else groups[i] = rawKg;
  }
  starts[n] = r.pos;
  r.done();
  return { n, starts, groups };
}
