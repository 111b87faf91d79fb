/**
 * Decoding the meta section of an SST (index, filter, properties; docs/format.md) once the footer is known.
 * Shared by the remote reader (`reader.ts`) and whole-file reading (`read-all.ts`) so both validate alike.
 */
import { corruption } from '../errors.js';
import { BloomFilter } from './bloom.js';
import { BLOCK_TRAILER_BYTES, type Footer, asCorruption, decodeBlock } from './format.js';
import { BlockIndex } from './index-block.js';
import { type TableProperties, decodeProperties } from './properties.js';

export interface TableMeta {
  footer: Footer;
  index: BlockIndex;
  filter: BloomFilter;
  properties: TableProperties;
}

/**
 * REQUIRES `meta` = the file bytes [footer.metaOffset, fileSize - 60) and `footer` validated by
 * `decodeFooter`. PROMISES the three blocks are checksum-verified and structurally consistent, or CORRUPTION.
 */
export function decodeMeta(path: string, footer: Footer, meta: Uint8Array): TableMeta {
  const base = footer.metaOffset;
  const slice = (h: { offset: number; size: number }): Uint8Array => meta.subarray(h.offset - base, h.offset - base + h.size);
  if (meta.length !== footer.properties.offset + footer.properties.size - base) {
    throw corruption(path, `meta section is ${meta.length} bytes, the footer describes ${footer.properties.offset + footer.properties.size - base}`);
  }
  const where = (name: string, h: { offset: number; size: number }): string => `${name} block (offset ${h.offset}, ${h.size} bytes)`;

  /** Verifies and decodes one meta block, then parses it; any failure is CORRUPTION naming the block. */
  const parse = <T>(name: string, h: { offset: number; size: number }, parser: (decoded: Uint8Array) => T): T => {
    const what = where(name, h);
    const decoded = decodeBlock(slice(h), path, what);
    try {
      return parser(decoded);
    } catch (e) {
      throw asCorruption(e, path, what);
    }
  };
  const index = parse('index', footer.index, (b) => BlockIndex.decode(b, footer.metaOffset, BLOCK_TRAILER_BYTES));
  // Copy the filter: it is pinned for the life of the reader; do not retain the whole meta read.
  const filter = parse('filter', footer.filter, (b) => BloomFilter.decode(new Uint8Array(b)));
  const properties = parse('properties', footer.properties, decodeProperties);
  const propsWhat = where('properties', footer.properties);
  const indexWhat = where('index', footer.index);
  if (properties.dataBlocks !== index.count) {
    throw corruption(path, `${propsWhat}: says ${properties.dataBlocks} data blocks, the index lists ${index.count}`);
  }
  if (Buffer.compare(index.separator(index.count - 1), properties.largestKey) !== 0) {
    throw corruption(path, `${indexWhat}: last separator is not the largest key`);
  }
  return { footer, index, filter, properties };
}
