/**
 * A small cache of open read-only file handles for the local backend's ranged reads, so a block read is
 * one positional read instead of open + read + close (three thread-pool hops).
 *
 * Safe because objects are immutable: a cached handle can only go stale if this process rewrites or
 * deletes the path, and the store invalidates the path before it does either. A deletion by another
 * process leaves the handle reading the old (still correct) bytes, as with any open file on POSIX.
 */
import { open, type FileHandle } from 'node:fs/promises';

interface Slot {
  handle: Promise<FileHandle>;
  refs: number;
  stale: boolean;
}

export class FileHandleCache {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly capacity: number) {}

  /** Runs `fn` with an open handle of `file`; opening errors propagate (and are not cached). */
  async with<T>(file: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    let slot = this.slots.get(file);
    if (slot === undefined) {
      slot = { handle: open(file, 'r'), refs: 0, stale: false };
      this.slots.set(file, slot);
      this.evictIfFull();
    } else {
      // LRU: move to the end of the insertion order.
      this.slots.delete(file);
      this.slots.set(file, slot);
    }
    slot.refs++;
    let fh: FileHandle;
    try {
      fh = await slot.handle;
    } catch (error) {
      slot.refs--;
      if (this.slots.get(file) === slot) this.slots.delete(file);
      throw error;
    }
    try {
      return await fn(fh);
    } finally {
      slot.refs--;
      if (slot.stale && slot.refs === 0) await fh.close().catch(() => undefined);
    }
  }

  /** Forgets `file` (before it is replaced or deleted); its handle closes once no read uses it. */
  async invalidate(file: string): Promise<void> {
    const slot = this.slots.get(file);
    if (slot === undefined) return;
    this.slots.delete(file);
    await this.retire(slot);
  }

  async closeAll(): Promise<void> {
    const slots = [...this.slots.values()];
    this.slots.clear();
    await Promise.all(slots.map((s) => this.retire(s)));
  }

  private evictIfFull(): void {
    if (this.slots.size <= this.capacity) return;
    const [oldest, slot] = this.slots.entries().next().value as [string, Slot];
    this.slots.delete(oldest);
    void this.retire(slot);
  }

  private async retire(slot: Slot): Promise<void> {
    slot.stale = true;
    if (slot.refs > 0) return;
    const fh = await slot.handle.catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }
}
