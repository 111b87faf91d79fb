/**
 * Memtable entries packed into one contiguous buffer: the entries of a flush's memtable image that have
 * version objects (memtable-image.ts `chained`), so they cross to a pool thread without a structured clone
 * per entry. Written by `Memtable.image()`; process-local, never stored.
 *   per entry: u32 LE keyLen | key | u8 kind | f64 LE seq | u32 LE valueLen | value | u32 LE n | n × f64 LE
 * where the n numbers are the entry's TTL metadata (lib/lsm/ttl.ts), n = 0 when it has none.
 */
import type { Entry, EntryKind } from '../sst/entry.js';

export function* unpackEntries(packed: Uint8Array): Generator<Entry> {
  const buf = Buffer.from(packed.buffer, packed.byteOffset, packed.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    const kl = buf.readUInt32LE(pos);
    const key = buf.subarray(pos + 4, pos + 4 + kl);
    pos += 4 + kl;
    const kind = buf[pos]! as EntryKind;
    const seq = buf.readDoubleLE(pos + 1);
    const vl = buf.readUInt32LE(pos + 9);
    const value = buf.subarray(pos + 13, pos + 13 + vl);
    pos += 13 + vl;
    const n = buf.readUInt32LE(pos);
    pos += 4;
    if (n === 0) {
      yield { key, kind, seq, value };
      continue;
    }
    const ttl: number[] = new Array<number>(n);
    for (let i = 0; i < n; i++, pos += 8) ttl[i] = buf.readDoubleLE(pos);
    yield { key, kind, seq, value, ttl };
  }
}
