/**
 * In-memory CRC32C of every 4 KiB chunk of the pages this process wrote into disk-cache slots, so that a hit
 * reads and verifies only the chunks a request covers instead of the whole page (a 16 KiB block out of a
 * 64 KiB page: about a third of the bytes read, checksummed and allocated).
 *
 * Why it is safe: a slot's chunk checksums are recorded only after its page write completed, from the bytes
 * written, and dropped whenever the slot is unmapped or re-published; a torn, stale or corrupted chunk on
 * disk fails its checksum. Slots loaded from a persisted index have no chunk checksums until their first
 * whole-page read (which checks the slot header's own CRC and then records them).
 */
import { crc32c } from '../util/crc32c.js';

export const CHUNK_BYTES = 4096;

export class ChunkChecksums {
  private readonly perSlot: number;
  private readonly crcs: Uint32Array;
  private readonly known: Uint8Array;

  /** REQUIRES: pageBytes a multiple of CHUNK_BYTES. */
  constructor(slotCount: number, pageBytes: number) {
    this.perSlot = pageBytes / CHUNK_BYTES;
    this.crcs = new Uint32Array(slotCount * this.perSlot);
    this.known = new Uint8Array(slotCount);
  }

  has(slot: number): boolean {
    return this.known[slot] === 1;
  }

  /** Records the chunk checksums of `page` (the slot's whole page data, possibly short at the file's end). */
  record(slot: number, page: Uint8Array): void {
    const base = slot * this.perSlot;
    for (let c = 0, at = 0; at < page.length; c++, at += CHUNK_BYTES) {
      this.crcs[base + c] = crc32c(page.subarray(at, Math.min(at + CHUNK_BYTES, page.length)));
    }
    this.known[slot] = 1;
  }

  forget(slot: number): void {
    this.known[slot] = 0;
  }

  /**
   * Whether `bytes`, read from the slot's page data starting at chunk `firstChunk`, match the recorded
   * checksums chunk by chunk (the last chunk may be short: the page's end).
   */
  verify(slot: number, firstChunk: number, bytes: Uint8Array): boolean {
    if (this.known[slot] !== 1) return false;
    const base = slot * this.perSlot + firstChunk;
    for (let c = 0, at = 0; at < bytes.length; c++, at += CHUNK_BYTES) {
      if (crc32c(bytes.subarray(at, Math.min(at + CHUNK_BYTES, bytes.length))) !== this.crcs[base + c]) return false;
    }
    return true;
  }
}
