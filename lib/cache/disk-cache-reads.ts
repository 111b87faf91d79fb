/**
 * Reads of cached pages out of the disk cache's data file, each verified: a page whose chunk checksums are
 * known (written by this process, see chunk-checksums.ts) is read only in the 4 KiB chunks a request covers
 * and checked against them; any other page is read whole with its slot header and checked against the
 * header's CRC32C (and then gets chunk checksums). A slot that fails is dropped (unless it was reused while
 * it was read) and the page counts as missing. Small chunk reads are synchronous (SYNC_READ_MAX_BYTES).
 */
import type { LocalFile } from '../store/local-file.js';
import { CHUNK_BYTES } from './chunk-checksums.js';
import { SLOT_HEADER_BYTES, verifySlot } from './disk-cache-layout.js';
import { READY, type FileRecord, type SlotTable } from './disk-cache-slots.js';

/**
 * Chunk reads up to this size are done with a synchronous pread on the event-loop thread: the data file was
 * written by this process and is in the page cache as a rule, so the read takes a few µs, less than the
 * thread-pool hop of an asynchronous read (measured in docs/benchmarks.md, "Remote miss path").
 */
const SYNC_READ_MAX_BYTES = 16 * 1024;

/** A part of the file held in memory: bytes starting at file offset `base`; `shared` if other readers see them too. */
export interface Piece {
  bytes: Uint8Array;
  base: number;
  shared: boolean;
}

export class SlotReader {
  /** The reused read buffer of readCachedSync (a request's chunks of one page, at most SYNC_READ_MAX_BYTES). */
  private readonly syncScratch = new Uint8Array(SYNC_READ_MAX_BYTES);

  constructor(
    private readonly slots: SlotTable,
    private readonly data: LocalFile,
    private readonly pageBytes: number,
    private readonly slotBytes: number,
    /** Makes close wait for a read before it closes the data file. */
    private readonly hold: <T>(work: Promise<T>) => Promise<T>,
    /** Counts a local I/O failure. */
    private readonly onError: () => void,
  ) {}

  /**
   * Fills `pieces[p - p0]` for every page p in [p0, p1] of `rec` that is cached and verifies, with the bytes
   * of [offset, offset + length) it covers (at least). `pageLen(p)` is the page's length in the file.
   */
  async readCached(rec: FileRecord, p0: number, p1: number, offset: number, length: number, pageLen: (p: number) => number, pieces: (Piece | undefined)[]): Promise<void> {
    const P = this.pageBytes;
    const reads: Promise<void>[] = [];
    for (let p = p0; p <= p1; p++) {
      const slot = rec.pages.get(p);
      if (slot === undefined || this.slots.slotLen[slot] !== pageLen(p)) continue;
      // Only the chunks the request covers when their checksums are known (see chunk-checksums.ts).
      const c0 = Math.floor((Math.max(offset, p * P) - p * P) / CHUNK_BYTES);
      const c1 = Math.floor((Math.min(offset + length, (p + 1) * P) - 1 - p * P) / CHUNK_BYTES);
      const partial = this.slots.chunks.has(slot) ? { from: c0 * CHUNK_BYTES, to: Math.min(pageLen(p), (c1 + 1) * CHUNK_BYTES) } : undefined;
      reads.push(
        this.readSlot(rec, slot, p, pageLen(p), partial).then((bytes) => {
          if (bytes !== undefined) pieces[p - p0] = { bytes, base: p * P + (partial?.from ?? 0), shared: false };
        }),
      );
    }
    if (reads.length > 0) await Promise.all(reads);
  }

  /**
   * The synchronous form of readCached, for a request ALL of whose pages are cached with known chunk
   * checksums and whose chunks are at most SYNC_READ_MAX_BYTES per page: copies the verified bytes of
   * [offset, offset + length) of `rec`'s file (of `fileSize` bytes) into `dest[0, length)`. PROMISES: true
   * when it did; false when any page is missing, has no chunk checksums, fails verification or cannot be
   * read (the caller then reads asynchronously, which drops a slot that fails).
   */
  readCachedSync(rec: FileRecord, fileSize: number, offset: number, length: number, dest: Uint8Array): boolean {
    const data = this.data;
    if (data.readSync === undefined) return false;
    const slots = this.slots;
    const P = this.pageBytes;
    const p0 = Math.floor(offset / P);
    const p1 = Math.floor((offset + length - 1) / P);
    for (let p = p0; p <= p1; p++) {
      const slot = rec.pages.get(p);
      if (slot === undefined || slots.slotLen[slot] !== Math.min(P, fileSize - p * P) || !slots.chunks.has(slot)) return false;
    }
    for (let p = p0; p <= p1; p++) {
      const slot = rec.pages.get(p)!;
      const start = Math.max(offset, p * P) - p * P; // within the page
      const end = Math.min(offset + length, (p + 1) * P) - p * P;
      const from = Math.floor(start / CHUNK_BYTES) * CHUNK_BYTES;
      const to = Math.min(slots.slotLen[slot]!, Math.ceil(end / CHUNK_BYTES) * CHUNK_BYTES);
      if (to - from > SYNC_READ_MAX_BYTES) return false;
      const generation = slots.gen[slot]!;
      let raw: Uint8Array;
      try {
        // Into a reused buffer: the bytes are copied into `dest` below, before anything else can run.
        raw = data.readSync(slot * this.slotBytes + SLOT_HEADER_BYTES + from, to - from, this.syncScratch);
      } catch {
        this.onError();
        return false;
      }
      if (raw.length !== to - from || slots.gen[slot] !== generation || !slots.chunks.verify(slot, from / CHUNK_BYTES, raw)) return false;
      slots.ref[slot] = 1;
      dest.set(raw.subarray(start - from, end - from), p * P + start - offset);
    }
    return true;
  }

  /**
   * The verified page in `slot` (or, with `part`, its bytes [part.from, part.to) checked against the chunk
   * checksums), or undefined (the slot is then dropped unless it was reused meanwhile).
   */
  private async readSlot(rec: FileRecord, slot: number, page: number, length: number, part?: { from: number; to: number }): Promise<Uint8Array | undefined> {
    const slots = this.slots;
    const generation = slots.gen[slot]!;
    slots.pins[slot]!++;
    let raw: Uint8Array | undefined;
    try {
      const at = slot * this.slotBytes;
      if (part === undefined) raw = await this.hold(this.data.read(at, SLOT_HEADER_BYTES + length));
      else if (this.data.readSync !== undefined && part.to - part.from <= SYNC_READ_MAX_BYTES) raw = this.data.readSync(at + SLOT_HEADER_BYTES + part.from, part.to - part.from);
      else raw = await this.hold(this.data.read(at + SLOT_HEADER_BYTES + part.from, part.to - part.from));
    } catch {
      this.onError();
    } finally {
      slots.pins[slot]!--;
    }
    let bytes: Uint8Array | undefined;
    if (raw !== undefined && part !== undefined) {
      if (raw.length === part.to - part.from && slots.gen[slot] === generation && slots.chunks.verify(slot, part.from / CHUNK_BYTES, raw)) bytes = raw;
    } else if (raw !== undefined) {
      bytes = verifySlot(raw, { hi: rec.hi, lo: rec.lo, page, length });
      if (bytes !== undefined && slots.gen[slot] === generation && !slots.chunks.has(slot)) slots.chunks.record(slot, bytes);
    }
    if (bytes !== undefined) {
      slots.ref[slot] = 1;
      return bytes;
    }
    if (slots.gen[slot] === generation && slots.state[slot] === READY) slots.release(slot);
    return undefined;
  }
}
