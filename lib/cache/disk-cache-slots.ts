/**
 * The disk cache's in-memory slot table: which slot of the data file holds which page of which file, each
 * slot's state, pins, CLOCK reference bit and generation, the free list, the CLOCK hand and the chunk
 * checksums of pages this process wrote. No I/O: DiskCacheFolder (disk-cache.ts) reads and writes the slots
 * and calls these to publish, drop and reuse them.
 *
 * Invariants: a READY slot is in exactly one record's `pages` (unless a newer copy of the page replaced it
 * and it is being released); `cachedBytes` is the sum of the lengths of READY slots; WRITING slots are never
 * handed out by `allocate` and are never victims; a slot's generation changes whenever it is unmapped or
 * claimed for a write, so a read that started before can tell the slot was reused.
 */
import { ChunkChecksums } from './chunk-checksums.js';
import type { IndexEntry } from './disk-cache-layout.js';

export const FREE = 0;
export const READY = 1;
export const WRITING = 2;

/** What the cache knows about one file. Replaced by a new record after `forget`. */
export interface FileRecord {
  readonly keyStr: string;
  readonly hi: number;
  readonly lo: number;
  /** page → slot, READY slots only. */
  readonly pages: Map<number, number>;
  /** Pages being written to a slot right now. */
  readonly writing: Set<number>;
  forgotten: boolean;
}

export function keyString(hi: number, lo: number): string {
  return `${hi}:${lo}`;
}

export class SlotTable {
  readonly files = new Map<string, FileRecord>();
  readonly state: Uint8Array;
  readonly pins: Int32Array;
  readonly ref: Uint8Array;
  readonly gen: Uint32Array;
  readonly slotFile: (FileRecord | undefined)[];
  readonly slotPage: Uint32Array;
  readonly slotLen: Uint32Array;
  /** Chunk checksums of pages written by this process: hits then read only the chunks they need. */
  readonly chunks: ChunkChecksums;
  private readonly free: number[] = [];
  private hand = 0;
  /** Bytes of READY slots. */
  cachedBytes = 0;

  /**
   * @param grown slots below this exist in the data file; it grows one slot at a time up to `slotCount`.
   */
  constructor(
    readonly slotCount: number,
    pageBytes: number,
    private grownSlots: number,
  ) {
    const n = slotCount;
    this.state = new Uint8Array(n);
    this.pins = new Int32Array(n);
    this.ref = new Uint8Array(n);
    this.gen = new Uint32Array(n);
    this.slotFile = new Array<FileRecord | undefined>(n).fill(undefined);
    this.slotPage = new Uint32Array(n);
    this.slotLen = new Uint32Array(n);
    this.chunks = new ChunkChecksums(n, pageBytes);
  }

  get grown(): number {
    return this.grownSlots;
  }

  /** Loads persisted entries as READY slots (hints: each is verified when read) and builds the free list. */
  install(entries: readonly IndexEntry[], pageBytes: number): void {
    for (const e of entries) {
      if (e.slot >= this.grownSlots || this.state[e.slot] !== FREE || e.length === 0 || e.length > pageBytes) continue;
      const rec = this.record(keyString(e.hi, e.lo), e.hi, e.lo);
      if (rec.pages.has(e.page)) continue;
      this.publish(e.slot, rec, e.page, e.length);
    }
    for (let s = this.grownSlots - 1; s >= 0; s--) if (this.state[s] === FREE) this.free.push(s);
  }

  /** The READY slots as index entries, in slot order. */
  entries(): IndexEntry[] {
    const out: IndexEntry[] = [];
    for (let s = 0; s < this.grownSlots; s++) {
      if (this.state[s] !== READY) continue;
      const rec = this.slotFile[s]!;
      out.push({ slot: s, hi: rec.hi, lo: rec.lo, page: this.slotPage[s]!, length: this.slotLen[s]! });
    }
    return out;
  }

  record(keyStr: string, hi: number, lo: number): FileRecord {
    let rec = this.files.get(keyStr);
    if (rec === undefined) {
      rec = { keyStr, hi, lo, pages: new Map(), writing: new Set(), forgotten: false };
      this.files.set(keyStr, rec);
    }
    return rec;
  }

  publish(slot: number, rec: FileRecord, page: number, length: number): void {
    this.chunks.forget(slot);
    this.state[slot] = READY;
    this.slotFile[slot] = rec;
    this.slotPage[slot] = page;
    this.slotLen[slot] = length;
    this.ref[slot] = 0;
    rec.pages.set(page, slot);
    this.cachedBytes += length;
  }

  /** Unmaps a READY slot (its bytes no longer count). The caller reuses it or it goes to the free list. */
  private unmap(slot: number): void {
    const rec = this.slotFile[slot]!;
    if (rec.pages.get(this.slotPage[slot]!) === slot) rec.pages.delete(this.slotPage[slot]!);
    this.cachedBytes -= this.slotLen[slot]!;
    this.state[slot] = FREE;
    this.slotFile[slot] = undefined;
    this.gen[slot]!++;
    this.chunks.forget(slot);
    this.dropIfEmpty(rec);
  }

  /** Records of files with nothing cached or being written are dropped: the map must not grow with every file ever read. */
  dropIfEmpty(rec: FileRecord): void {
    if (rec.pages.size === 0 && rec.writing.size === 0 && this.files.get(rec.keyStr) === rec) this.files.delete(rec.keyStr);
  }

  /**
   * The record to publish a finished write of `rec` into: `rec` itself (re-attached if it was dropped for
   * being empty), a newer record of the same file, or undefined if the file was forgotten.
   */
  live(rec: FileRecord): FileRecord | undefined {
    if (rec.forgotten) return undefined;
    const current = this.files.get(rec.keyStr);
    if (current !== undefined) return current;
    this.files.set(rec.keyStr, rec);
    return rec;
  }

  /** Unmaps a READY slot and puts it on the free list. */
  release(slot: number): void {
    this.unmap(slot);
    this.free.push(slot);
  }

  /** Returns a WRITING slot whose write failed or was not published to the free list. */
  abandon(slot: number): void {
    this.state[slot] = FREE;
    this.free.push(slot);
  }

  /** A FREE slot to write into: the free list, a new slot at the end of the file, or a CLOCK victim. -1 if none. */
  allocate(): number {
    while (this.free.length > 0) {
      const s = this.free.pop()!;
      if (this.state[s] === FREE) return s;
    }
    if (this.grownSlots < this.slotCount) return this.grownSlots++;
    for (let step = 0; step < 2 * this.slotCount; step++) {
      const s = this.hand;
      this.hand = (this.hand + 1) % this.slotCount;
      if (this.state[s] !== READY || this.pins[s] !== 0) continue;
      if (this.ref[s] !== 0) {
        this.ref[s] = 0;
        continue;
      }
      this.unmap(s);
      return s;
    }
    return -1;
  }
}
