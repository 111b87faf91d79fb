/**
 * Whole-file, synchronous reading of an SST held in memory: what compaction (in piscina workers) uses to
 * stream a table's entries. Verifies every checksum (footer, index, filter, properties, each data block)
 * and cross-checks the data against the index and the entry count.
 */
import { corruption } from '../errors.js';
import { DataBlock } from './data-block.js';
import type { Entry } from './entry.js';
import { FOOTER_BYTES, decodeBlock, decodeFooter } from './format.js';
import { decodeMeta } from './table-meta.js';

/**
 * Yields every entry of the SST `bytes` in key order. Validation of the meta section happens on the first
 * `next()`; a damaged data block throws CORRUPTION when iteration reaches it. Values (and some keys) are
 * views of `bytes` or of a decompressed block: they must not be written to.
 */
export function* readAllEntries(bytes: Uint8Array, path: string): Generator<Entry> {
  const size = bytes.length;
  if (size < FOOTER_BYTES) throw corruption(path, `file is ${size} bytes, shorter than the ${FOOTER_BYTES}-byte footer (truncated?)`);
  const footer = decodeFooter(bytes.subarray(size - FOOTER_BYTES), size, path);
  const { index, properties } = decodeMeta(path, footer, bytes.subarray(footer.metaOffset, size - FOOTER_BYTES));
  let count = 0;
  let prevLast: Uint8Array | undefined;
  for (let i = 0; i < index.count; i++) {
    const offset = index.offsets[i]!;
    const blockSize = index.sizes[i]!;
    const what = `data block ${i} (offset ${offset}, ${blockSize} bytes)`;
    const decoded = decodeBlock(bytes.subarray(offset, offset + blockSize), path, what);
    const entries = DataBlock.decode(decoded, path, offset).entries();
    const firstKey = entries[0]?.key;
    const lastKey = entries[entries.length - 1]?.key;
    if (firstKey === undefined || lastKey === undefined) throw corruption(path, `${what} holds no entries`);
    if (prevLast !== undefined && Buffer.compare(prevLast, firstKey) >= 0) {
      throw corruption(path, `${what} does not start after the previous block's last key`);
    }
    if (Buffer.compare(lastKey, index.separator(i)) > 0 || (i > 0 && Buffer.compare(firstKey, index.separator(i - 1)) <= 0)) {
      throw corruption(path, `${what} holds keys outside the range the index gives it`);
    }
    prevLast = lastKey;
    count += entries.length;
    yield* entries;
  }
  if (count !== properties.entries) throw corruption(path, `data blocks hold ${count} entries, the properties say ${properties.entries}`);
}
