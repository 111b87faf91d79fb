/**
 * When background work runs: freezing the live memtable, the single flush loop that writes frozen
 * memtables to L0 SSTs (oldest first), the single compaction loop that keeps levels in shape, and the
 * periodic GC pass. What a compaction rewrites is picked in compaction-picker.ts; the rewrite and its
 * manifest commit are lsm-commit.ts's.
 *
 * The first background failure is sticky (LsmCore.fail): the loops stop, writes fail with it until reopen.
 */
import { pickCompaction, type CompactionJob } from './compaction-picker.js';
import type { RewriteSource } from './compaction-rewrite.js';
import type { FileMeta } from './file-meta.js';
import type { ManifestCommitter } from './lsm-commit.js';
import type { LsmCore } from './lsm-core.js';
import { Memtable } from './memtable.js';
import { maxTombstoneSeq } from './range-tombstones.js';
import { deletionOf } from './version.js';

const GC_INTERVAL_MS = 60_000;

export class BackgroundWork {
  private flushLoop: Promise<void> | undefined;
  private compactionLoop: Promise<void> | undefined;
  private gcRunning: Promise<void> | undefined;
  private lastGcAt = 0;

  constructor(
    private readonly core: LsmCore,
    private readonly committer: ManifestCommitter,
    /** One GC pass (supplied by lib/checkpoint through the store). */
    private readonly collectGarbage: () => Promise<void>,
  ) {}

  /** Moves a non-empty live memtable to the frozen list and makes sure the flush loop runs. */
  freeze(): void {
    const core = this.core;
    if (core.mem.isEmpty) return;
    core.imm.unshift(core.mem);
    core.mem = new Memtable();
    this.startFlushLoop();
  }

  /** True while a flush or compaction is in progress (it needs event-loop turns to advance). */
  pending(): boolean {
    return this.flushLoop !== undefined || this.compactionLoop !== undefined;
  }

  /**
   * PROMISES: while writers stall, work that will release them is in progress: a flush for frozen memtables,
   * a compaction for L0 files (a restored or reopened store can start with too many).
   */
  ensureDrainingWork(): void {
    if (this.core.imm.length > 0) this.startFlushLoop();
    this.startCompactionLoop();
  }

  /**
   * Waits until the memtables frozen so far (this call freezes the active one) are flushed. Not for the
   * flush loop to go idle: under a steady write load later memtables keep it busy, and waiting for those
   * too starved flush (and checkpoints, close) for as long as the load lasted. Flushes go oldest first,
   * so once the newest memtable frozen here is gone from `imm`, every older one is gone too.
   */
  async flushFrozen(): Promise<void> {
    const core = this.core;
    if (core.backgroundError) throw core.backgroundError;
    this.freeze();
    const newest = core.imm[0];
    // Woken after every flushed memtable and on a background failure (wakeWriters).
    while (newest !== undefined && core.imm.includes(newest) && core.backgroundError === undefined) {
      await core.waitForRoom();
    }
    if (core.backgroundError) throw core.backgroundError;
  }

  /** Waits until no flush is running (writes already under way may have frozen later memtables). */
  async flushesIdle(): Promise<void> {
    while (this.flushLoop !== undefined) await this.flushLoop;
  }

  /** Waits until no compaction or GC pass is running (close: the store is already marked closed). */
  async compactionAndGcIdle(): Promise<void> {
    while (this.compactionLoop !== undefined) await this.compactionLoop;
    if (this.gcRunning !== undefined) await this.gcRunning;
  }

  private startFlushLoop(): void {
    if (this.flushLoop !== undefined) return;
    this.flushLoop = this.runFlushes().finally(() => {
      this.flushLoop = undefined;
      // A memtable frozen while the loop was finishing still needs a flush.
      if (this.core.imm.length > 0 && this.core.backgroundError === undefined) this.startFlushLoop();
    });
  }

  private async runFlushes(): Promise<void> {
    const core = this.core;
    while (core.imm.length > 0 && core.backgroundError === undefined) {
      const oldest = core.imm[core.imm.length - 1]!;
      try {
        await this.flushMemtable(oldest, () => {
          core.imm.pop();
        });
      } catch (e) {
        core.fail(e, 'flush');
        return;
      }
      core.wakeWriters();
      this.startCompactionLoop();
      // The flushed writes are in SSTs now: their log segments are redundant (best effort).
      core.wal?.truncate(core.state).catch(() => undefined);
    }
  }

  /** Writes `m` as L0 SSTs; `retire` runs in the same synchronous step that installs the new version. */
  private async flushMemtable(m: Memtable, retire: () => void): Promise<void> {
    const image = await m.imageAsync(); // in slices: writers keep going meanwhile
    // The memtable applied its own range deletes to its keys; the version takes them for older data.
    const addedTombstones = m.rangeTombstones.slice();
    await this.committer.rewriteAndCommit(
      { ...this.committer.rewriteShape(), runs: [[{ kind: 'memtable', image }]], bottommost: false },
      (added) => ({ deleted: [], added: added.map((file) => ({ level: 0, file })), ...(addedTombstones.length > 0 ? { addedTombstones } : {}) }),
      { lastSequence: m.lastSequence, onInstalled: retire, rangeDelSeq: maxTombstoneSeq(addedTombstones) },
    );
  }

  startCompactionLoop(): void {
    if (this.compactionLoop !== undefined || this.core.closed) return;
    this.compactionLoop = this.runCompactions().finally(() => {
      this.compactionLoop = undefined;
    });
  }

  /** Runs compactions until no level needs one; fails with the sticky background error. */
  async compactUntilIdle(): Promise<void> {
    this.startCompactionLoop();
    while (this.compactionLoop !== undefined) await this.compactionLoop;
    if (this.core.backgroundError) throw this.core.backgroundError;
  }

  private async runCompactions(): Promise<void> {
    const core = this.core;
    for (;;) {
      if (core.backgroundError || core.closed) return;
      const job = pickCompaction(core.state.version, core.options, core.state.compactPointers);
      if (job === undefined) break;
      try {
        await this.runCompaction(job);
      } catch (e) {
        core.fail(e, 'compaction');
        return;
      }
      core.wakeWriters();
    }
    this.maybeCollectGarbage();
  }

  private async runCompaction(job: CompactionJob): Promise<void> {
    const pointer = { level: job.level, key: job.nextPointer };
    if (job.trivialMove) {
      const f = job.inputs[0]!;
      await this.committer.commit({ deleted: [deletionOf(job.level, f)], added: [{ level: job.outputLevel, file: f }] }, { compactPointer: pointer });
      return;
    }
    const runs: RewriteSource[][] = [];
    if (job.level === 0) for (const f of job.inputs) runs.push([sstSource(f)]);
    else runs.push(job.inputs.map(sstSource));
    if (job.overlapping.length > 0) runs.push(job.overlapping.map(sstSource));
    const rangeTombstones = this.core.state.version.rangeTombstones.slice();
    await this.committer.rewriteAndCommit(
      { ...this.committer.rewriteShape(), runs, bottommost: job.bottommost, ...(rangeTombstones.length > 0 ? { rangeTombstones } : {}) },
      (outputs) => ({
        deleted: [
          ...job.inputs.map((f) => deletionOf(job.level, f)),
          ...job.overlapping.map((f) => deletionOf(job.outputLevel, f)),
        ],
        added: outputs.map((file) => ({ level: job.outputLevel, file })),
      }),
      { compactPointer: pointer, rangeDelSeq: maxTombstoneSeq(rangeTombstones) },
    );
  }

  private maybeCollectGarbage(): void {
    const now = this.core.deps.clock.now();
    if (this.gcRunning !== undefined || now - this.lastGcAt < GC_INTERVAL_MS || this.core.closed) return;
    this.lastGcAt = now;
    this.gcRunning = this.collectGarbage()
      .catch(() => {
        // GC is best effort: a failed pass deletes nothing wrongly and the next pass retries.
      })
      .finally(() => {
        this.gcRunning = undefined;
      });
  }
}

/** A compaction input: an SST of the current version (with its key-group clip after a restore or rescale). */
function sstSource(f: FileMeta): RewriteSource {
  return {
    kind: 'sst',
    fileId: f.fileId,
    size: f.size,
    metaOffset: f.metaOffset,
    ...(f.clip ? { clip: f.clip } : {}),
  };
}
