/**
 * The properties block (docs/format.md, "Properties block"): tagged fields describing the table, written by
 * the builder and parsed by readers into `TableProperties`. Unknown tags are skipped; required tags missing,
 * duplicated or out of order are corruption.
 */
import type { Compression } from './entry.js';
import { ByteReader, type ByteWriter, FormatError, varintLength } from './coding.js';
import { compressionCode, compressionName } from './format.js';

export interface TableProperties {
  entries: number;
  deletes: number;
  merges: number;
  smallestKey: Uint8Array;
  largestKey: Uint8Array;
  minSeq: number;
  maxSeq: number;
  minKeyGroup: number;
  maxKeyGroup: number;
  rawKeyBytes: number;
  rawValueBytes: number;
  dataBlocks: number;
  /** Configured compression (individual blocks may be stored uncompressed). */
  compression: Compression;
  restartInterval?: number;
  blockBytes?: number;
  bloomBitsPerKey?: number;
  /** Creation time (ms since the epoch, from the writer's clock); 0 = not given. */
  createdAtMs?: number;
  creator?: string;
}

const enum Tag {
  Entries = 1,
  Deletes = 2,
  Merges = 3,
  SmallestKey = 4,
  LargestKey = 5,
  MinSeq = 6,
  MaxSeq = 7,
  MinKeyGroup = 8,
  MaxKeyGroup = 9,
  RawKeyBytes = 10,
  RawValueBytes = 11,
  DataBlocks = 12,
  Compression = 13,
  RestartInterval = 14,
  BlockBytes = 15,
  BloomMilliBitsPerKey = 16,
  CreatedAtMs = 17,
  Creator = 18,
}
const LAST_REQUIRED_TAG = Tag.Compression;

/** Key group of a physical key: its first two bytes big-endian, missing bytes read as 0. */
export function keyGroupOfKey(key: Uint8Array): number {
  return ((key.length > 0 ? key[0]! : 0) << 8) | (key.length > 1 ? key[1]! : 0);
}

export function encodeProperties(out: ByteWriter, p: TableProperties): void {
  const num = (tag: Tag, v: number): void => {
    out.varint(tag);
    out.varint(varintLength(v));
    out.varint(v);
  };
  const bytes = (tag: Tag, v: Uint8Array): void => {
    out.varint(tag);
    out.varint(v.length);
    out.bytesFrom(v);
  };
  num(Tag.Entries, p.entries);
  num(Tag.Deletes, p.deletes);
  num(Tag.Merges, p.merges);
  bytes(Tag.SmallestKey, p.smallestKey);
  bytes(Tag.LargestKey, p.largestKey);
  num(Tag.MinSeq, p.minSeq);
  num(Tag.MaxSeq, p.maxSeq);
  num(Tag.MinKeyGroup, p.minKeyGroup);
  num(Tag.MaxKeyGroup, p.maxKeyGroup);
  num(Tag.RawKeyBytes, p.rawKeyBytes);
  num(Tag.RawValueBytes, p.rawValueBytes);
  num(Tag.DataBlocks, p.dataBlocks);
  num(Tag.Compression, compressionCode(p.compression));
  if (p.restartInterval !== undefined) num(Tag.RestartInterval, p.restartInterval);
  if (p.blockBytes !== undefined) num(Tag.BlockBytes, p.blockBytes);
  if (p.bloomBitsPerKey !== undefined) num(Tag.BloomMilliBitsPerKey, Math.round(p.bloomBitsPerKey * 1000));
  if (p.createdAtMs !== undefined) num(Tag.CreatedAtMs, p.createdAtMs);
  if (p.creator !== undefined) bytes(Tag.Creator, Buffer.from(p.creator, 'utf8'));
}

/** Parses a decoded properties block. Throws FormatError. Returned keys are copies (not views of `block`). */
export function decodeProperties(block: Uint8Array): TableProperties {
  const r = new ByteReader(block);
  const nums = new Map<number, number>();
  const raw = new Map<number, Uint8Array>();
  let lastTag = 0;
  while (r.remaining > 0) {
    const tag = r.varint();
    if (tag <= lastTag) throw new FormatError(`property tag ${tag} after tag ${lastTag}`);
    lastTag = tag;
    const len = r.varint();
    const value = r.bytes(len);
    raw.set(tag, value);
    if (tag !== Tag.SmallestKey && tag !== Tag.LargestKey && tag !== Tag.Creator && tag <= Tag.Creator) {
      const v = new ByteReader(value);
      nums.set(tag, v.varint());
      if (v.remaining !== 0) throw new FormatError(`property ${tag} is not a single varint`);
    }
  }
  for (let tag = 1; tag <= LAST_REQUIRED_TAG; tag++) {
    if (!raw.has(tag)) throw new FormatError(`required property ${tag} is missing`);
  }
  const n = (tag: Tag): number => nums.get(tag)!;
  const compression = compressionName(n(Tag.Compression));
  if (compression === undefined) throw new FormatError(`unknown table compression ${n(Tag.Compression)}`);
  const p: TableProperties = {
    entries: n(Tag.Entries),
    deletes: n(Tag.Deletes),
    merges: n(Tag.Merges),
    smallestKey: Uint8Array.from(raw.get(Tag.SmallestKey)!),
    largestKey: Uint8Array.from(raw.get(Tag.LargestKey)!),
    minSeq: n(Tag.MinSeq),
    maxSeq: n(Tag.MaxSeq),
    minKeyGroup: n(Tag.MinKeyGroup),
    maxKeyGroup: n(Tag.MaxKeyGroup),
    rawKeyBytes: n(Tag.RawKeyBytes),
    rawValueBytes: n(Tag.RawValueBytes),
    dataBlocks: n(Tag.DataBlocks),
    compression,
  };
  if (nums.has(Tag.RestartInterval)) p.restartInterval = n(Tag.RestartInterval);
  if (nums.has(Tag.BlockBytes)) p.blockBytes = n(Tag.BlockBytes);
  if (nums.has(Tag.BloomMilliBitsPerKey)) p.bloomBitsPerKey = n(Tag.BloomMilliBitsPerKey) / 1000;
  if (nums.has(Tag.CreatedAtMs)) p.createdAtMs = n(Tag.CreatedAtMs);
  if (raw.has(Tag.Creator)) p.creator = Buffer.from(raw.get(Tag.Creator)!).toString('utf8');
  if (p.entries < 1) throw new FormatError('table has no entries');
  if (p.deletes + p.merges > p.entries) throw new FormatError(`${p.deletes} deletes and ${p.merges} merges exceed ${p.entries} entries`);
  if (p.minSeq > p.maxSeq) throw new FormatError(`minSeq ${p.minSeq} > maxSeq ${p.maxSeq}`);
  if (Buffer.compare(p.smallestKey, p.largestKey) > 0 || (p.entries > 1 && Buffer.compare(p.smallestKey, p.largestKey) === 0)) {
    throw new FormatError('smallest key sorts after the largest key');
  }
  if (p.minKeyGroup !== keyGroupOfKey(p.smallestKey) || p.maxKeyGroup !== keyGroupOfKey(p.largestKey)) {
    throw new FormatError('key-group range does not match the key range');
  }
  return p;
}
