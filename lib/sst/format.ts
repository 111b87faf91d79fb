/**
 * SST format constants, block framing and the footer (docs/format.md is the specification).
 *
 * Owns: the per-block trailer (compression type + CRC32C), compression codecs, the 60-byte footer and the
 * validation of the meta-section layout. Everything that reads bytes here reports damage as FloeError
 * CORRUPTION (or VERSION for an unknown format version) naming the file path and the part.
 */
import { compressSync as lz4Compress, uncompressSync as lz4Uncompress } from 'lz4-napi';
import { compress as zstdCompress, decompress as zstdDecompress } from 'zstd-napi';
import { FloeError, corruption, invalidArgument } from '../errors.js';
import { crc32c } from '../util/crc32c.js';
import type { Compression } from './entry.js';
import { ByteReader, type ByteWriter, FormatError, asBuffer } from './coding.js';

/** Version the builder writes: 2 added TTL metadata on entries (docs/format.md); readers accept 1 and 2. */
export const FORMAT_VERSION = 2;
export const READABLE_FORMAT_VERSIONS: ReadonlySet<number> = new Set([1, 2]);
export const FOOTER_BYTES = 60;
export const BLOCK_TRAILER_BYTES = 5;
export const MAGIC = Uint8Array.of(0x8a, 0x46, 0x4c, 0x4f, 0x45, 0x53, 0x53, 0x54);
/** zstd level the builder uses; pinned so output is reproducible (golden files). */
export const ZSTD_LEVEL = 3;

export const enum BlockType {
  None = 0,
  Lz4 = 1,
  Zstd = 2,
}

export function compressionCode(c: Compression): BlockType {
  switch (c) {
    case 'none':
      return BlockType.None;
    case 'lz4':
      return BlockType.Lz4;
    case 'zstd':
      return BlockType.Zstd;
    default:
      throw invalidArgument(`compression must be 'none', 'lz4' or 'zstd', got ${String(c)}`);
  }
}

export function compressionName(code: number): Compression | undefined {
  return code === 0 ? 'none' : code === 1 ? 'lz4' : code === 2 ? 'zstd' : undefined;
}

export interface BlockHandle {
  offset: number;
  size: number;
}

/**
 * Appends one framed block (payload possibly compressed, type, CRC32C) to `out` and returns its handle,
 * `fileOffset` being the file offset at which `out` starts. Stores the block uncompressed when compression
 * saves less than 1/8 of it.
 */
export function appendBlock(out: ByteWriter, fileOffset: number, decoded: Uint8Array, compression: BlockType): BlockHandle {
  const start = out.length;
  let type: BlockType = BlockType.None;
  let payload: Uint8Array = decoded;
  if (compression !== BlockType.None && decoded.length > 0) {
    const compressed: Uint8Array =
      compression === BlockType.Lz4 ? lz4Compress(asBuffer(decoded)) : zstdCompress(decoded, { compressionLevel: ZSTD_LEVEL });
    if (compressed.length < decoded.length - (decoded.length >>> 3)) {
      type = compression;
      payload = compressed;
    }
  }
  out.bytesFrom(payload);
  out.u8(type);
  const crc = crc32c(out.raw().subarray(start, out.length));
  out.u32(crc);
  return { offset: fileOffset + start, size: out.length - start };
}

/**
 * Verifies and decodes one framed block held in `framed` (exactly the handle's bytes). PROMISES: the decoded
 * bytes, or CORRUPTION naming `path` and `what`. For type none the result is a view of `framed`.
 */
export function decodeBlock(framed: Uint8Array, path: string, what: string): Buffer {
  return decodeFramed(asBuffer(framed), framed.length, path, what) as Buffer;
}

/**
 * As decodeBlock, for the block held in `framed[0, size)` (a reusable read buffer); `what` names the block in
 * error messages (a function: the name is built only on failure). PROMISES: the decoded bytes, a view of
 * `framed` for type none (valid only until the caller reuses it), fresh memory for lz4 and zstd.
 */
export function decodeBlockAt(framed: Buffer, size: number, path: string, what: () => string): Uint8Array {
  return decodeFramed(framed, size, path, what);
}

function decodeFramed(buf: Buffer, size: number, path: string, what: string | (() => string)): Uint8Array {
  const name = (): string => (typeof what === 'string' ? what : what());
  if (size < BLOCK_TRAILER_BYTES) throw corruption(path, `${name()} is ${size} bytes, shorter than its 5-byte trailer`);
  const stored = buf.readUInt32LE(size - 4);
  const actual = crc32c(buf.subarray(0, size - 4));
  if (stored !== actual) {
    throw corruption(path, `${name()} checksum mismatch (stored 0x${hex32(stored)}, computed 0x${hex32(actual)})`);
  }
  const type = buf[size - 5]!;
  const payload = buf.subarray(0, size - 5);
  try {
    switch (type) {
      case BlockType.None:
        return payload;
      case BlockType.Lz4: {
        if (payload.length < 4) throw new FormatError('lz4 payload shorter than its length prefix');
        const expected = payload.readUInt32LE(0);
        const out = lz4Uncompress(payload);
        if (out.length !== expected) throw new FormatError(`lz4 decoded ${out.length} bytes, expected ${expected}`);
        return out;
      }
      case BlockType.Zstd:
        return zstdDecompress(payload);
      default:
        throw new FormatError(`unknown compression type ${type}`);
    }
  } catch (e) {
    if (e instanceof FloeError) throw e;
    throw corruption(path, `${name()} does not decode: ${e instanceof Error ? e.message : String(e)}`, e);
  }
}

export interface Footer {
  metaOffset: number;
  index: BlockHandle;
  filter: BlockHandle;
  properties: BlockHandle;
  version: number;
}

export function encodeFooter(out: ByteWriter, f: Omit<Footer, 'version'>): void {
  const start = out.length;
  out.u64(f.metaOffset);
  out.u64(f.index.offset);
  out.u32(f.index.size);
  out.u64(f.filter.offset);
  out.u32(f.filter.size);
  out.u64(f.properties.offset);
  out.u32(f.properties.size);
  out.u32(FORMAT_VERSION);
  out.u32(crc32c(out.raw().subarray(start, out.length)));
  out.bytesFrom(MAGIC);
}

/**
 * Parses and validates the footer (the last 60 bytes of a file of `fileSize` bytes), checking magic, version,
 * CRC and that the meta-section handles are laid out exactly as the format requires.
 */
export function decodeFooter(footer: Uint8Array, fileSize: number, path: string): Footer {
  if (footer.length !== FOOTER_BYTES) throw corruption(path, `footer is ${footer.length} bytes, expected ${FOOTER_BYTES}`);
  const buf = asBuffer(footer);
  for (let i = 0; i < 8; i++) {
    if (buf[52 + i] !== MAGIC[i]) {
      throw corruption(path, `bad magic number in the footer (not a Floe SST, or the file is truncated)`);
    }
  }
  const version = buf.readUInt32LE(44);
  if (!READABLE_FORMAT_VERSIONS.has(version)) {
    throw new FloeError(
      'VERSION',
      `SST ${path} has format version ${version}; this build reads versions 1 and ${FORMAT_VERSION}. Upgrade Floe to read it (or, if no newer Floe wrote it, the footer is damaged: restore from a checkpoint)`,
      { path },
    );
  }
  const stored = buf.readUInt32LE(48);
  const actual = crc32c(buf.subarray(0, 48));
  if (stored !== actual) throw corruption(path, `footer checksum mismatch (stored 0x${hex32(stored)}, computed 0x${hex32(actual)})`);
  let f: Footer;
  try {
    const r = new ByteReader(buf);
    const metaOffset = r.u64();
    const index = { offset: r.u64(), size: r.u32() };
    const filter = { offset: r.u64(), size: r.u32() };
    const properties = { offset: r.u64(), size: r.u32() };
    f = { metaOffset, index, filter, properties, version };
  } catch (e) {
    throw corruption(path, `footer: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const metaEnd = fileSize - FOOTER_BYTES;
  const ok =
    f.metaOffset <= metaEnd &&
    f.index.offset === f.metaOffset &&
    f.index.size >= BLOCK_TRAILER_BYTES &&
    f.filter.offset === f.index.offset + f.index.size &&
    f.filter.size >= BLOCK_TRAILER_BYTES &&
    f.properties.offset === f.filter.offset + f.filter.size &&
    f.properties.size >= BLOCK_TRAILER_BYTES &&
    f.properties.offset + f.properties.size === metaEnd;
  if (!ok) {
    throw corruption(
      path,
      `impossible meta-section handles in the footer (metaOffset ${f.metaOffset}, index ${fmt(f.index)}, filter ${fmt(f.filter)}, properties ${fmt(f.properties)}, file size ${fileSize})`,
    );
  }
  return f;
}

function fmt(h: BlockHandle): string {
  return `${h.offset}+${h.size}`;
}

export function hex32(v: number): string {
  return v.toString(16).padStart(8, '0');
}

/** Wraps a FormatError (or anything) raised while decoding `what` as CORRUPTION. */
export function asCorruption(e: unknown, path: string, what: string): FloeError {
  if (e instanceof FloeError) return e;
  return corruption(path, `${what}: ${e instanceof Error ? e.message : String(e)}`, e);
}
