/**
 * Read views: scans, positioned iterators and explicit snapshots. Each reads one consistent view pinned
 * when it is created (the memtables' snapshot and the version's files, see scan-iterator.ts), so it sees
 * exactly the writes acknowledged before it began, and GC keeps the files it reads.
 */
import type { IteratorEntry, IteratorOptions, ScanEntry, Snapshot, SnapshotScanOptions } from '../api.js';
import { FloeError } from '../errors.js';
import { checkKeyGroup, toBytes } from '../keys.js';
import { planIterator, StoreIterator } from './iterator.js';
import type { LsmCore } from './lsm-core.js';
import { MergeScan, type ScanView } from './scan.js';
import { groupRange, scanBoundedGroups } from './scan-groups.js';
import { ScanIterator, type PinnedView } from './scan-iterator.js';
import { asStoreSnapshot, StoreSnapshot } from './snapshot.js';
import { readTtl, type TtlVisibility } from './ttl.js';

/** Reads expected to stay within about two blocks (a typical block holds ~100 small entries). */
const SHORT_SCAN_ENTRIES = 200;

export class ReadViews {
  constructor(private readonly core: LsmCore) {}

  scan(options: SnapshotScanOptions = {}): AsyncIterableIterator<ScanEntry> {
    const core = this.core;
    core.checkOpen();
    if (options === null || typeof options !== 'object') throw new FloeError('INVALID_ARGUMENT', 'scan() takes an options object');
    const maxKg = core.state.maxKeyGroups;
    const limit = options.limit ?? Number.POSITIVE_INFINITY;
    if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
      throw new FloeError('INVALID_ARGUMENT', `scan(): limit must be a non-negative number, got ${JSON.stringify(options.limit)}`);
    }
    const gte = options.gte === undefined ? undefined : toBytes(options.gte, 'scan gte');
    const lt = options.lt === undefined ? undefined : toBytes(options.lt, 'scan lt');
    const prefix = options.prefix === undefined ? undefined : toBytes(options.prefix, 'scan prefix');
    const bounds = { gte, lt, prefix };
    const keyGroup = options.keyGroup === undefined ? undefined : checkKeyGroup(options.keyGroup, maxKg);
    // Snapshot now (not at first next()): the scan sees exactly the writes acknowledged before it began.
    // Short scans (a typical block holds ~100 small entries) read ahead nothing: every source would
    // otherwise fetch blocks the scan never reaches.
    const { visibility } = readTtl({ ttlVisibility: options.ttlVisibility }, core.options.ttl);
    const pinned = this.openView(limit <= SHORT_SCAN_ENTRIES ? 0 : 4, this.snapshotView(options.snapshot), visibility);
    const counted = (): void => {
      core.scanRanges++;
    };
    // The producer must not reference the iterator (see scan-iterator.ts): it gets the view as argument.
    return new ScanIterator(pinned, (view) => {
      if (keyGroup === undefined && gte === undefined && lt === undefined && prefix === undefined) {
        counted();
        return new MergeScan(view, groupRange(0, maxKg - 1, bounds)!, limit); // one contiguous physical range
      }
      if (keyGroup === undefined) return scanBoundedGroups(view, bounds, maxKg, limit, counted);
      const range = groupRange(keyGroup, keyGroup, bounds);
      if (range === undefined) return [];
      counted();
      return new MergeScan(view, range, limit);
    });
  }

  /**
   * A positioned iterator (lib/lsm/iterator.ts) over a view pinned now, or over the named snapshot's view
   * (pinned again, so the iterator may outlive the snapshot).
   */
  iterator<O extends IteratorOptions = IteratorOptions>(options?: O): StoreIterator<IteratorEntry<O>> {
    const core = this.core;
    core.checkOpen();
    const plan = planIterator(options, core.state.maxKeyGroups, () => {
      core.scanRanges++;
    });
    return new StoreIterator<IteratorEntry<O>>(this.openView(plan.limit <= SHORT_SCAN_ENTRIES ? 0 : 4, this.snapshotView(options?.snapshot)), plan);
  }

  /** An explicit snapshot (lib/lsm/snapshot.ts): a read view pinned until released. */
  snapshot(): Snapshot {
    this.core.checkOpen();
    return new StoreSnapshot(this.core.views, this.openView(4));
  }

  private snapshotView(snapshot: Snapshot | undefined): ScanView | undefined {
    return snapshot === undefined ? undefined : asStoreSnapshot(snapshot).viewFor(this.core.views);
  }

  /**
   * A consistent read view: pins the memtables' snapshot and the files of the current version (or of
   * `base`, a view that is still pinned) until the view is released (see scan-iterator.ts for what
   * releases it; close() releases every open one). Expiry (state TTL) is judged at the time it opens.
   */
  private openView(prefetchBlocks: number, base?: ScanView, visibility: TtlVisibility = this.core.options.ttl.visibility): PinnedView {
    const core = this.core;
    const snapshot = base?.snapshot ?? core.appliedSeq;
    const memtables = base?.memtables ?? [core.mem, ...core.imm];
    const unpins = memtables.map((m) => m.pinSnapshot(snapshot));
    const version = base?.version ?? core.state.version;
    const files = version.allFiles().map((f) => f.fileId);
    const rangeTombstones = [...version.rangeTombstones, ...memtables.flatMap((m) => m.rangeTombstones.filter((t) => t.seq <= snapshot))];
    const ttlNow = core.ttlNow(visibility);
    return core.views.pin(
      { snapshot, memtables, version, tables: core.tables, prefetchBlocks, rangeTombstones, ...(ttlNow !== undefined ? { ttlNow } : {}) },
      files,
      () => {
        for (const u of unpins) u();
      },
      (released) => this.afterRelease(released),
    );
  }

  /** Runs after a view's files are unpinned: drops readers no one needs and shrinks the read lease. */
  private afterRelease(released: string[]): void {
    const core = this.core;
    // Readers of files only this view still used are dropped now rather than at the next commit.
    const current = core.currentFiles();
    if (released.some((f) => !current.has(f) && !core.scanPins.has(f))) {
      core.tables.retain(new Set([...current, ...core.scanPins.keys()]));
    }
    // Withdraw (or shrink) the read lease; best effort: an unneeded lease only delays collection. Most
    // scans end with no lease at all, and then there is nothing to compute on this path.
    if (core.lease.held) core.lease.update(core.droppedButRead(current)).catch(() => undefined);
  }
}
