/**
 * The key groups of a multiGet on a shard socket (direct-server.ts), checked before the request runs. A
 * WRITE batch's are found by the scan the router uses too (write-scan.ts).
 */
import { FloeError } from '../errors.js';
import { defaultKeyGroup } from '../keys.js';
import { DEFAULT_KG } from '../protocol/protocol.js';
import { protocolError, Reader } from '../protocol/wire.js';

function groupOf(kg: number, key: Uint8Array, maxKeyGroups: number, where: string): number {
  if (kg === DEFAULT_KG) return defaultKeyGroup(key, maxKeyGroups);
  if (kg >= maxKeyGroups) throw new FloeError('INVALID_ARGUMENT', `${where}keyGroup must be an integer in [0, ${maxKeyGroups}), got ${kg}; omit it to use the default hash`);
  return kg;
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
