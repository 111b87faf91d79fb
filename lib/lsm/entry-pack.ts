/**
 * Memtable entries packed into one contiguous buffer, so a flush hands them to a worker thread by
 * transfer (no per-entry structured clone). Written by `Memtable.pack()`; process-local, never stored.
 *   per entry: u32 LE keyLen | key | u8 kind | f64 LE seq | u32 LE valueLen | value
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
    yield { key, kind, seq, value };
  }
}
