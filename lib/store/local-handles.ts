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
  /** The handle's fd once it opened (-1 before): what synchronous reads use. */
  fd: number;
  refs: number;
  stale: boolean;
  /** Used since eviction last looked at it: a second chance (CLOCK), so a use costs no Map reordering. */
  used: boolean;
}

export class FileHandleCache {
  private readonly slots = new Map<string, Slot>();

  constructor(private readonly capacity: number) {}

  /** Runs `fn` with an open handle of `file`; opening errors propagate (and are not cached). */
  async with<T>(file: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    let slot = this.slots.get(file);
    if (slot === undefined) {
      // Starts used, so the eviction this insertion may trigger never picks the slot being opened.
      const opened: Slot = { handle: open(file, 'r'), fd: -1, refs: 0, stale: false, used: true };
      opened.handle.then(
        (fh) => {
          opened.fd = fh.fd;
        },
        () => undefined, // the opener sees the error
      );
      slot = opened;
      this.slots.set(file, slot);
      this.evictIfFull();
    } else {
      slot.used = true;
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

  /**
   * The fd of `file`'s open handle, or -1 when it is not open (yet) or is being retired. A caller may use the
   * fd for synchronous calls made before it next yields to the event loop: a handle is only closed
   * asynchronously after it was retired, and a retired slot is never returned. Counts as a use (eviction order).
   */
  fdIfOpen(file: string): number {
    const slot = this.slots.get(file);
    if (slot === undefined || slot.fd < 0) return -1;
    slot.used = true;
    return slot.fd;
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

  /**
   * Retires the oldest slot not used since it was last looked at (CLOCK over the insertion order: a used
   * slot loses its flag and moves to the end). Ends within capacity + 1 steps, as flags are only cleared here.
   */
  private evictIfFull(): void {
    if (this.slots.size <= this.capacity) return;
    for (;;) {
      const [oldest, slot] = this.slots.entries().next().value as [string, Slot];
      this.slots.delete(oldest);
      if (slot.used) {
        slot.used = false;
        this.slots.set(oldest, slot);
        continue;
      }
      void this.retire(slot);
      return;
    }
  }

  private async retire(slot: Slot): Promise<void> {
    slot.stale = true;
    if (slot.refs > 0) return;
    const fh = await slot.handle.catch(() => undefined);
    await fh?.close().catch(() => undefined);
  }
}
