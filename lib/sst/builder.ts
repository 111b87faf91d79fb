/**
 * Writes one SST (docs/format.md) in memory from entries in strictly increasing key order: data blocks cut at
 * `blockBytes`, then index, filter, properties and footer. Output is a pure function of the entries and the
 * options (no clock, no randomness), which the golden-file tests rely on.
 *
 * REQUIRES external synchronization (one builder per flush/compaction output).
 */
import { invalidArgument } from '../errors.js';
import { BloomBuilder } from './bloom.js';
import { ByteWriter, commonPrefix } from './coding.js';
import { DataBlockBuilder } from './data-block-builder.js';
import type { Compression, Entry, EntryKind } from './entry.js';
import { type SstFileInfo, fileInfo } from './file-info.js';
import { BlockType, FOOTER_BYTES, type BlockHandle, appendBlock, compressionCode, encodeFooter } from './format.js';
import { IndexBuilder, shortSeparator } from './index-block.js';
import { type TableProperties, encodeProperties, keyGroupOfKey } from './properties.js';
import { TTL_FLAG, encodeTtlValue } from './ttl-value.js';

export type { SstFileInfo } from './file-info.js';

export interface SstBuildOptions {
  /** Target decoded size of a data block (default 16 KiB). */
  blockBytes?: number;
  /** Entries between restart points in a data block (default 16). */
  restartInterval?: number;
  /** Block compression (default 'lz4'). */
  compression?: Compression;
  /** Bloom filter bits per key (default 10, about 1% false positives); 0 = no filter. */
  bloomBitsPerKey?: number;
  /** Creation time recorded in the properties (ms since the epoch, from the caller's Clock); default 0 = not given. */
  createdAtMs?: number;
  /** Writer identification recorded in the properties (default 'floe-sst/1'). */
  creator?: string;
}

export const SST_BUILD_DEFAULTS = {
  blockBytes: 16 * 1024,
  restartInterval: 16,
  compression: 'lz4' as Compression,
  bloomBitsPerKey: 10,
  createdAtMs: 0,
  creator: 'floe-sst/1',
} as const;

const MAX_BLOCK_BYTES = 256 * 1024 * 1024;

export class SstBuilder {
  private readonly blockBytes: number;
  private readonly restartInterval: number;
  private readonly compression: Compression;
  private readonly blockType: BlockType;
  private readonly bloomBitsPerKey: number;
  private readonly createdAtMs: number;
  private readonly creator: string;

  private readonly block: DataBlockBuilder;
  private readonly index = new IndexBuilder();
  private readonly bloom: BloomBuilder;
  /** Scratch for framing one block before it is copied into `chunks`. */
  private readonly framed = new ByteWriter(32 * 1024);
  private readonly chunks: Buffer[] = [];
  /** Bytes of `chunks` (framed blocks not yet taken by `takeChunks`). */
  private chunkBytes = 0;
  /** Some chunks were taken: `finish()` can no longer return the whole file. */
  private drained = false;
  private fileBytes = 0;
  /** Decoded bytes of the data blocks written so far, for the compression-ratio estimate. */
  private rawBlockBytes = 0;
  private pending: BlockHandle | undefined;
  private lastKey: Buffer = Buffer.allocUnsafe(256);
  private lastLen = -1;
  private smallestKey: Uint8Array | undefined;
  private finished = false;

  private entries = 0;
  private deletes = 0;
  private merges = 0;
  private minSeq = Number.MAX_SAFE_INTEGER;
  private maxSeq = 0;
  private rawKeyBytes = 0;
  private rawValueBytes = 0;
  private dataBlocks = 0;

  constructor(options: SstBuildOptions = {}) {
    const o = { ...SST_BUILD_DEFAULTS, ...stripUndefined(options) };
    if (!Number.isInteger(o.blockBytes) || o.blockBytes < 1 || o.blockBytes > MAX_BLOCK_BYTES) {
      throw invalidArgument(`blockBytes must be an integer in [1, ${MAX_BLOCK_BYTES}], got ${String(o.blockBytes)}`);
    }
    if (!Number.isInteger(o.restartInterval) || o.restartInterval < 1 || o.restartInterval > 65536) {
      throw invalidArgument(`restartInterval must be an integer in [1, 65536], got ${String(o.restartInterval)}`);
    }
    if (typeof o.bloomBitsPerKey !== 'number' || !(o.bloomBitsPerKey >= 0 && o.bloomBitsPerKey <= 64)) {
      throw invalidArgument(`bloomBitsPerKey must be a number in [0, 64] (0 = no filter), got ${String(o.bloomBitsPerKey)}`);
    }
    if (!Number.isSafeInteger(o.createdAtMs) || o.createdAtMs < 0) {
      throw invalidArgument(`createdAtMs must be a non-negative integer (ms since the epoch), got ${String(o.createdAtMs)}`);
    }
    if (typeof o.creator !== 'string') throw invalidArgument(`creator must be a string, got ${typeof o.creator}`);
    this.blockBytes = o.blockBytes;
    this.restartInterval = o.restartInterval;
    this.compression = o.compression;
    this.blockType = compressionCode(o.compression);
    this.bloomBitsPerKey = o.bloomBitsPerKey;
    this.createdAtMs = o.createdAtMs;
    this.creator = o.creator;
    this.block = new DataBlockBuilder(this.restartInterval);
    this.bloom = new BloomBuilder(this.bloomBitsPerKey);
  }

  get entryCount(): number {
    return this.entries;
  }

  /**
   * Appends an entry. REQUIRES `entry.key` sorts strictly after the previous key (else INVALID_ARGUMENT),
   * `seq` a non-negative safe integer. The builder copies what it keeps; the caller may reuse its buffers.
   */
  add(entry: Entry): void {
    if (this.finished) throw invalidArgument('SstBuilder.add after finish(); start a new builder');
    const { key, kind, seq, value } = entry;
    if (!(key instanceof Uint8Array) || !(value instanceof Uint8Array)) {
      throw invalidArgument('entry key and value must be Uint8Array');
    }
    if (kind !== 0 && kind !== 1 && kind !== 2) throw invalidArgument(`entry kind must be Put (0), Delete (1) or Merge (2), got ${String(kind)}`);
    if (!Number.isSafeInteger(seq) || seq < 0) throw invalidArgument(`entry seq must be a non-negative safe integer, got ${String(seq)}`);

    const klen = key.length;
    let shared = 0;
    if (this.lastLen >= 0) {
      const last = this.lastKey;
      shared = commonPrefix(last, this.lastLen, key, klen);
      const after = shared < this.lastLen ? shared < klen && key[shared]! > last[shared]! : klen > shared;
      if (!after) {
        throw invalidArgument(
          `SST keys must be added in strictly increasing order: key ${hexKey(key)} does not sort after ${hexKey(last.subarray(0, this.lastLen))}`,
        );
      }
      if (this.pending !== undefined) {
        this.index.add(shortSeparator(last, this.lastLen, key), this.pending.offset, this.pending.size);
        this.pending = undefined;
      }
    } else {
      this.smallestKey = Uint8Array.from(key);
    }

    // TTL metadata travels in the stored value, flagged on the kind byte (format version 2, ttl-value.ts).
    if (entry.ttl === undefined) this.block.add(key, shared, kind, seq, value);
    else this.block.add(key, shared, (kind | TTL_FLAG) as EntryKind, seq, encodeTtlValue(entry.ttl, value));
    this.bloom.add(key);
    this.entries++;
    if (kind === 1) this.deletes++;
    else if (kind === 2) this.merges++;
    if (seq < this.minSeq) this.minSeq = seq;
    if (seq > this.maxSeq) this.maxSeq = seq;
    this.rawKeyBytes += klen;
    this.rawValueBytes += value.length;

    if (klen > this.lastKey.length) this.lastKey = Buffer.allocUnsafe(Math.max(klen, this.lastKey.length * 2));
    this.lastKey.set(key);
    this.lastLen = klen;

    if (this.block.estimatedSize >= this.blockBytes) this.flushBlock();
  }

  private flushBlock(): void {
    const decoded = this.block.finish();
    this.rawBlockBytes += decoded.length;
    this.pending = this.appendFramed(decoded, this.blockType);
    this.block.reset();
    this.dataBlocks++;
  }

  /** Frames `decoded` as the next block of the file and returns its handle. */
  private appendFramed(decoded: Uint8Array, type: BlockType): BlockHandle {
    this.framed.reset();
    const h = appendBlock(this.framed, this.fileBytes, decoded, type);
    this.chunks.push(Buffer.from(this.framed.bytes()));
    this.chunkBytes += h.size;
    this.fileBytes += h.size;
    return h;
  }

  /** Bytes of finished blocks held by the builder that `takeChunks()` would hand out. */
  get pendingBytes(): number {
    return this.chunkBytes;
  }

  /**
   * Streaming: hands out the finished blocks written so far (the next bytes of the file, in order) and
   * stops holding them. After a call, finish with `finishChunks()`, not `finish()`.
   */
  takeChunks(): Buffer[] {
    this.drained = true;
    const out = this.chunks.splice(0);
    this.chunkBytes = 0;
    return out;
  }

  /**
   * Bytes the file would have if finished now (close, not exact: the open block is counted at the average
   * compression ratio so far). O(1); meant for cutting compaction output files.
   */
  estimatedBytes(): number {
    const ratio = this.rawBlockBytes > 0 ? this.fileBytes / this.rawBlockBytes : 1;
    const open = this.block.entryCount > 0 ? Math.ceil(this.block.estimatedSize * ratio) + 5 : 0;
    const lastKeyLen = Math.max(0, this.lastLen);
    const indexBytes = this.index.estimatedSize + (this.dataBlocks - this.index.count + (open > 0 ? 1 : 0)) * (lastKeyLen + 12) + 5;
    const filterBytes = BloomBuilder.encodedBytes(this.bloomBitsPerKey, this.entries) + 5;
    const propsBytes = 120 + (this.smallestKey?.length ?? 0) + lastKeyLen + this.creator.length + 5;
    return this.fileBytes + open + indexBytes + filterBytes + propsBytes + FOOTER_BYTES;
  }

  /**
   * Completes the table. REQUIRES at least one entry (else INVALID_ARGUMENT). PROMISES `bytes` is the whole
   * file (its own exact-size buffer) and `info` describes it. The builder cannot be used afterwards.
   */
  finish(): { bytes: Uint8Array; info: SstFileInfo } {
    if (this.drained) throw invalidArgument('SstBuilder.finish after takeChunks(); use finishChunks() for a streamed file');
    const { chunks, info } = this.finishChunks();
    // allocUnsafeSlow: an unpooled buffer, so `bytes.buffer` is this file alone (safe to transfer).
    const bytes = Buffer.allocUnsafeSlow(info.size);
    let at = 0;
    for (const c of chunks) {
      c.copy(bytes, at);
      at += c.length;
    }
    return { bytes, info };
  }

  /**
   * As `finish()`, for a streamed file: PROMISES `chunks` are the bytes of the file after those already
   * taken by `takeChunks()`, and `info` describes the whole file.
   */
  finishChunks(): { chunks: Buffer[]; info: SstFileInfo } {
    if (this.finished) throw invalidArgument('SstBuilder.finish called twice; start a new builder');
    if (this.entries === 0) throw invalidArgument('cannot finish an SST with no entries; add at least one entry or skip the file');
    this.finished = true;
    if (this.block.entryCount > 0) this.flushBlock();
    const largestKey = Uint8Array.from(this.lastKey.subarray(0, this.lastLen));
    const last = this.pending;
    if (last === undefined) throw new Error('internal: SstBuilder has entries but no pending data block');
    this.index.add(largestKey, last.offset, last.size);
    this.pending = undefined;
    const metaOffset = this.fileBytes;

    const scratch = new ByteWriter(4096);
    this.index.encode(scratch);
    const indexHandle = this.appendFramed(scratch.bytes(), this.blockType);

    scratch.reset();
    this.bloom.encode(scratch);
    const filterHandle = this.appendFramed(scratch.bytes(), BlockType.None);

    const smallestKey = this.smallestKey!;
    const props: TableProperties = {
      entries: this.entries,
      deletes: this.deletes,
      merges: this.merges,
      smallestKey,
      largestKey,
      minSeq: this.minSeq,
      maxSeq: this.maxSeq,
      minKeyGroup: keyGroupOfKey(smallestKey),
      maxKeyGroup: keyGroupOfKey(largestKey),
      rawKeyBytes: this.rawKeyBytes,
      rawValueBytes: this.rawValueBytes,
      dataBlocks: this.dataBlocks,
      compression: this.compression,
      restartInterval: this.restartInterval,
      blockBytes: this.blockBytes,
      bloomBitsPerKey: this.bloomBitsPerKey,
      createdAtMs: this.createdAtMs,
      creator: this.creator,
    };
    scratch.reset();
    encodeProperties(scratch, props);
    const propsHandle = this.appendFramed(scratch.bytes(), BlockType.None);

    scratch.reset();
    encodeFooter(scratch, { metaOffset, index: indexHandle, filter: filterHandle, properties: propsHandle });
    this.chunks.push(Buffer.from(scratch.bytes()));
    this.fileBytes += FOOTER_BYTES;
    const chunks = this.chunks.splice(0);
    this.chunkBytes = 0;
    return { chunks, info: fileInfo(props, this.fileBytes, metaOffset) };
  }
}

function stripUndefined(o: SstBuildOptions): SstBuildOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = v;
  return out as SstBuildOptions;
}

function hexKey(key: Uint8Array): string {
  const hex = Buffer.from(key.buffer, key.byteOffset, Math.min(key.length, 32)).toString('hex');
  return key.length > 32 ? `0x${hex}… (${key.length} bytes)` : `0x${hex}`;
}
