/**
 * When and how the disk cache persists its index (disk-cache-layout.ts has the format): after
 * `everyPages` admissions (at most once per `minIntervalMs`) or on the first admission `everyMs` after the
 * last persist, and on close. No timers: triggers are checked when a page is admitted. One persist runs at a
 * time; a trigger during one queues exactly one more.
 *
 * A persist fsyncs the data file first (so every listed slot is on disk), then writes, fsyncs and renames a
 * new index over the old one. Failures are counted and leave the old index in place: the index is only a
 * hint, every slot is verified when read.
 */
import { join } from 'node:path';
import type { LocalFile, LocalFs } from '../store/local-file.js';
import type { Clock } from '../util/clock.js';
import { INDEX_FILE, INDEX_TMP_FILE, encodeIndex, type IndexEntry } from './disk-cache-layout.js';

const noop = (): void => {};

export interface IndexPersisterOptions {
  fs: LocalFs;
  dir: string;
  data: LocalFile;
  clock: Clock;
  pageBytes: number;
  slotCount: number;
  everyPages: number;
  everyMs: number;
  minIntervalMs: number;
  /** The READY slots to list, taken when a persist starts. */
  entries: () => IndexEntry[];
  /** Runs background work so that close waits for it (never rejects; failures are counted by it). */
  track: (work: Promise<void>) => Promise<void>;
  /** Counts a local I/O failure. */
  onError: () => void;
}

export class IndexPersister {
  private changes = 0;
  private lastAt: number;
  private persisting: Promise<void> | undefined;
  private queued = false;
  private stopped = false;

  constructor(private readonly o: IndexPersisterOptions) {
    this.lastAt = o.clock.now();
  }

  /** A change that does not trigger a persist by itself (a forgotten file). */
  changed(): void {
    this.changes++;
  }

  /** A page was admitted: counts it and starts a persist if a trigger is due. */
  admitted(): void {
    this.changes++;
    const sinceLast = this.o.clock.now() - this.lastAt;
    if ((this.changes >= this.o.everyPages && sinceLast >= this.o.minIntervalMs) || sinceLast >= this.o.everyMs) this.schedule();
  }

  /** No queued persist starts after this (close persists once more itself). */
  stop(): void {
    this.stopped = true;
  }

  private schedule(): void {
    if (this.persisting !== undefined) {
      this.queued = true;
      return;
    }
    this.persisting = this.o.track(
      (async () => {
        do {
          this.queued = false;
          await this.persistNow();
        } while (this.queued && !this.stopped);
      })().finally(() => {
        this.persisting = undefined;
      }),
    );
  }

  /** Writes the index now (see the module comment). Never rejects. */
  async persistNow(): Promise<void> {
    const { fs, dir, data } = this.o;
    this.changes = 0;
    this.lastAt = this.o.clock.now();
    const bytes = encodeIndex(this.o.pageBytes, this.o.slotCount, this.o.entries());
    const tmpPath = join(dir, INDEX_TMP_FILE);
    try {
      await data.sync();
      const tmp = await fs.open(tmpPath, 'truncate');
      try {
        await tmp.write(0, bytes);
        await tmp.sync();
      } finally {
        await tmp.close();
      }
      await fs.rename(tmpPath, join(dir, INDEX_FILE));
    } catch {
      this.o.onError();
      await fs.remove(tmpPath).catch(noop);
    }
  }
}
