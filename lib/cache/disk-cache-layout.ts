/**
 * On-disk layout of the disk cache (format decisions in docs/caches.md): the budget arithmetic that turns
 * `capacityBytes` into a number of page slots, the 32-byte header every slot starts with, and the persisted
 * index file. Pure functions over bytes; the DiskCacheFolder does the I/O.
 *
 * Files in the cache folder:
 *   pages.dat    slot i at byte i × slotBytes: [header 32 B][page data ≤ pageBytes]
 *   index.bin    which slot holds which (file key, page, length); written whole, replaced by rename
 *   index.tmp    the next index.bin while it is being written
 *
 * Slot header (little-endian): magic u32 | file key hi u32 | file key lo u32 | page u32 | length u32 |
 * crc u32 | 8 reserved bytes. crc = CRC32C over the first 20 header bytes, continued over the data, so a
 * header that matches but sits in front of other data (torn or stale write) fails.
 *
 * Index (little-endian): magic u32 | version u32 | pageBytes u32 | slotCount u32 | entries u32 | 12 reserved
 * bytes | entries × (slot u32, hi u32, lo u32, page u32, length u32) | CRC32C of everything before it.
 */
import { localNames } from '../store/paths.js';
import { crc32c } from '../util/crc32c.js';

export const DATA_FILE = localNames.diskCacheData;
export const INDEX_FILE = localNames.diskCacheIndex;
export const INDEX_TMP_FILE = localNames.diskCacheIndexTmp;

export const SLOT_HEADER_BYTES = 32;
const SLOT_MAGIC = 0x50444c46; // 'FLDP'
const INDEX_MAGIC = 0x49444c46; // 'FLDI'
const INDEX_VERSION = 1;
const INDEX_HEADER_BYTES = 32;
const INDEX_ENTRY_BYTES = 20;
/** Page numbers are stored as u32: pages at or past this are not cached (files over 2^32 pages). */
export const MAX_PAGES = 2 ** 32;

/** Allocation unit assumed for disk usage (ext4/xfs default). Sizes are rounded up to it in the budget. */
export const FS_BLOCK = 4096;

export interface DiskCacheGeometry {
  pageBytes: number;
  slotBytes: number;
  slotCount: number;
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

export function indexBytes(slotCount: number): number {
  return INDEX_HEADER_BYTES + slotCount * INDEX_ENTRY_BYTES + 4;
}

/**
 * Worst-case disk use of a cache of `slotCount` slots: the data file, the index plus its replacement while
 * it is written, and a reserve for filesystem metadata (one block per 256 slots covers an extent-tree leaf
 * even if every slot were its own extent, plus the folder itself).
 */
export function diskUsageBound(g: { slotBytes: number; slotCount: number }): number {
  const n = g.slotCount;
  return roundUp(n * g.slotBytes, FS_BLOCK) + 2 * roundUp(indexBytes(n), FS_BLOCK) + FS_BLOCK * (2 + Math.ceil(n / 256));
}

/** PROMISES: the largest slot count whose `diskUsageBound` is ≤ capacityBytes (0 if none fits). */
export function diskCacheGeometry(capacityBytes: number, pageBytes: number): DiskCacheGeometry {
  const slotBytes = SLOT_HEADER_BYTES + pageBytes;
  let n = Math.floor(capacityBytes / (slotBytes + 2 * INDEX_ENTRY_BYTES));
  while (n > 0 && diskUsageBound({ slotBytes, slotCount: n }) > capacityBytes) n--;
  return { pageBytes, slotBytes, slotCount: n };
}

/** The identity a slot claims: which page of which file, and how many bytes of it. */
export interface SlotKey {
  hi: number;
  lo: number;
  page: number;
  length: number;
}

/** The 32-byte slot header for `data` (its CRC covers the header's first 20 bytes, then the data). */
export function encodeSlotHeader(key: SlotKey, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(SLOT_HEADER_BYTES);
  const v = new DataView(out.buffer);
  v.setUint32(0, SLOT_MAGIC, true);
  v.setUint32(4, key.hi, true);
  v.setUint32(8, key.lo, true);
  v.setUint32(12, key.page, true);
  v.setUint32(16, data.length, true);
  v.setUint32(20, crc32c(data, crc32c(out.subarray(0, 20))), true);
  return out;
}

/**
 * The page data if `slot` (bytes read from a slot) is exactly `expected`'s page with a matching checksum,
 * else undefined. Never returns bytes that fail any check.
 */
export function verifySlot(slot: Uint8Array, expected: SlotKey): Uint8Array | undefined {
  if (slot.length < SLOT_HEADER_BYTES + expected.length) return undefined;
  const v = new DataView(slot.buffer, slot.byteOffset, SLOT_HEADER_BYTES);
  if (
    v.getUint32(0, true) !== SLOT_MAGIC ||
    v.getUint32(4, true) !== expected.hi >>> 0 ||
    v.getUint32(8, true) !== expected.lo >>> 0 ||
    v.getUint32(12, true) !== expected.page ||
    v.getUint32(16, true) !== expected.length
  ) {
    return undefined;
  }
  const data = slot.subarray(SLOT_HEADER_BYTES, SLOT_HEADER_BYTES + expected.length);
  if (crc32c(data, crc32c(slot.subarray(0, 20))) !== v.getUint32(20, true)) return undefined;
  return data;
}

export interface IndexEntry extends SlotKey {
  slot: number;
}

export function encodeIndex(pageBytes: number, slotCount: number, entries: readonly IndexEntry[]): Uint8Array {
  const size = INDEX_HEADER_BYTES + entries.length * INDEX_ENTRY_BYTES + 4;
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, INDEX_MAGIC, true);
  v.setUint32(4, INDEX_VERSION, true);
  v.setUint32(8, pageBytes, true);
  v.setUint32(12, slotCount, true);
  v.setUint32(16, entries.length, true);
  let at = INDEX_HEADER_BYTES;
  for (const e of entries) {
    v.setUint32(at, e.slot, true);
    v.setUint32(at + 4, e.hi, true);
    v.setUint32(at + 8, e.lo, true);
    v.setUint32(at + 12, e.page, true);
    v.setUint32(at + 16, e.length, true);
    at += INDEX_ENTRY_BYTES;
  }
  v.setUint32(at, crc32c(out.subarray(0, at)), true);
  return out;
}

/**
 * The entries of an index file written for the same `pageBytes`, or undefined if the bytes are not a
 * complete, checksummed index of this version and page size. Entries are only hints: every slot is
 * verified again when read.
 */
export function decodeIndex(bytes: Uint8Array, pageBytes: number): IndexEntry[] | undefined {
  if (bytes.length < INDEX_HEADER_BYTES + 4) return undefined;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (v.getUint32(0, true) !== INDEX_MAGIC || v.getUint32(4, true) !== INDEX_VERSION) return undefined;
  if (v.getUint32(8, true) !== pageBytes) return undefined;
  const count = v.getUint32(16, true);
  const end = INDEX_HEADER_BYTES + count * INDEX_ENTRY_BYTES;
  if (bytes.length !== end + 4) return undefined;
  if (crc32c(bytes.subarray(0, end)) !== v.getUint32(end, true)) return undefined;
  const entries: IndexEntry[] = [];
  for (let at = INDEX_HEADER_BYTES; at < end; at += INDEX_ENTRY_BYTES) {
    entries.push({
      slot: v.getUint32(at, true),
      hi: v.getUint32(at + 4, true),
      lo: v.getUint32(at + 8, true),
      page: v.getUint32(at + 12, true),
      length: v.getUint32(at + 16, true),
    });
  }
  return entries;
}
