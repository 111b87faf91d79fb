/**
 * One versioned record as stored in memtables and SSTs. Within one memtable or SST there is at most one
 * entry per physical key: merge operands are list appends (new value = old bytes ++ operand bytes), which is
 * associative, so several operands combine into one MERGE entry whose value is their concatenation.
 */
export const enum EntryKind {
  Put = 0,
  Delete = 1,
  Merge = 2,
}

export interface Entry {
  /** Physical key: [keyGroup u16 BE][user key]. */
  key: Uint8Array;
  kind: EntryKind;
  /** Sequence number of the newest write folded into this entry. */
  seq: number;
  /** Value for Put, concatenated operands for Merge, empty for Delete. */
  value: Uint8Array;
  /** TTL metadata of the value (lib/lsm/ttl.ts): absent when no byte of it ever expires. */
  ttl?: number[];
}

export type Compression = 'none' | 'lz4' | 'zstd';
