/**
 * Sequential reading of an SST's data blocks, verified as compaction needs it: every checksum, each block
 * against the index and its predecessor, and the entry count against the properties. Two front ends share
 * one checker: `readAllEntries` (the whole file in memory, synchronous) and the streaming compaction input
 * (lib/lsm/rewrite-input.ts, block ranges fetched from the object store).
 */
import { corruption } from '../errors.js';
import { DataBlock } from './data-block.js';
import type { Entry } from './entry.js';
import { FOOTER_BYTES, decodeBlock, decodeFooter } from './format.js';
import type { BlockIndex } from './index-block.js';
import type { TableProperties } from './properties.js';
import { decodeMeta } from './table-meta.js';

/** Verifies data blocks fed in order 0, 1, … of one file. REQUIRES one checker per pass over a file. */
export class DataBlockChecker {
  private count = 0;
  private next = 0;
  private prevLast: Uint8Array | undefined;

  constructor(
    private readonly path: string,
    private readonly index: BlockIndex,
    private readonly properties: TableProperties,
  ) {}

  /**
   * Decodes data block `i` from its framed bytes (exactly the index handle's bytes). REQUIRES `i` is the
   * next block in order. PROMISES its entries (values may be views of `framed` or of the decoded block:
   * read-only), or CORRUPTION naming the block.
   */
  entries(i: number, framed: Uint8Array): Entry[] {
    if (i !== this.next) throw new Error(`internal: data block ${i} fed out of order (expected ${this.next})`);
    this.next++;
    const offset = this.index.offsets[i]!;
    const what = `data block ${i} (offset ${offset}, ${this.index.sizes[i]!} bytes)`;
    const decoded = decodeBlock(framed, this.path, what);
    const entries = DataBlock.decode(decoded, this.path, offset).entries();
    const firstKey = entries[0]?.key;
    const lastKey = entries[entries.length - 1]?.key;
    if (firstKey === undefined || lastKey === undefined) throw corruption(this.path, `${what} holds no entries`);
    if (this.prevLast !== undefined && Buffer.compare(this.prevLast, firstKey) >= 0) {
      throw corruption(this.path, `${what} does not start after the previous block's last key`);
    }
    if (Buffer.compare(lastKey, this.index.separator(i)) > 0 || (i > 0 && Buffer.compare(firstKey, this.index.separator(i - 1)) <= 0)) {
      throw corruption(this.path, `${what} holds keys outside the range the index gives it`);
    }
    this.prevLast = lastKey;
    this.count += entries.length;
    return entries;
  }

  /** After the last block: the entry count must match the properties. */
  finish(): void {
    if (this.count !== this.properties.entries) {
      throw corruption(this.path, `data blocks hold ${this.count} entries, the properties say ${this.properties.entries}`);
    }
  }
}

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
  const checker = new DataBlockChecker(path, index, properties);
  for (let i = 0; i < index.count; i++) {
    const offset = index.offsets[i]!;
    yield* checker.entries(i, bytes.subarray(offset, offset + index.sizes[i]!));
  }
  checker.finish();
}
