/**
 * `SstFileInfo`: what the manifest records about one SST, produced identically by the builder (from what it
 * wrote) and by the reader (from the properties block and footer). Re-exported by builder.ts.
 */
import type { TableProperties } from './properties.js';

/**
 * JSON-serialisable apart from the two keys, which stay Uint8Array: the manifest chooses their encoding.
 */
export type SstFileInfo = Pick<
  TableProperties,
  'entries' | 'deletes' | 'merges' | 'smallestKey' | 'largestKey' | 'minSeq' | 'maxSeq' | 'minKeyGroup' | 'maxKeyGroup'
> & {
  /** File size in bytes. */
  size: number;
  /** Offset of the meta section (index, filter, properties, footer): one ranged read of [metaOffset, size). */
  metaOffset: number;
  /** Logical, uncompressed payload: sum of key lengths plus sum of value lengths. */
  dataBytes: number;
};

export function fileInfo(p: TableProperties, size: number, metaOffset: number): SstFileInfo {
  return {
    size,
    metaOffset,
    entries: p.entries,
    deletes: p.deletes,
    merges: p.merges,
    smallestKey: p.smallestKey,
    largestKey: p.largestKey,
    minSeq: p.minSeq,
    maxSeq: p.maxSeq,
    minKeyGroup: p.minKeyGroup,
    maxKeyGroup: p.maxKeyGroup,
    dataBytes: p.rawKeyBytes + p.rawValueBytes,
  };
}
