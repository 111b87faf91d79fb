/**
 * Packs memtable entries into one contiguous buffer so a flush can hand them to a worker thread by
 * transfer (no per-entry structured clone). Process-local only; never stored.
 *   per entry: u32 keyLen | key | u8 kind | f64 seq | u32 valueLen | value
 */
import type { Entry, EntryKind } from '../sst/entry.js';

export function packEntries(entries: Iterable<Entry>): Uint8Array {
  const list: Entry[] = [];
  let size = 0;
  for (const e of entries) {
    list.push(e);
    size += 17 + e.key.length + e.value.length;
  }
  const out = Buffer.allocUnsafeSlow(size);
  let pos = 0;
  for (const e of list) {
    out.writeUInt32LE(e.key.length, pos);
    out.set(e.key, pos + 4);
    pos += 4 + e.key.length;
    out[pos] = e.kind;
    out.writeDoubleLE(e.seq, pos + 1);
    out.writeUInt32LE(e.value.length, pos + 9);
    out.set(e.value, pos + 13);
    pos += 13 + e.value.length;
  }
  return out;
}

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
