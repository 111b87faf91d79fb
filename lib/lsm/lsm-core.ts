/**
 * The state one LSM instance's parts share: the memtables, the installed manifest, sequence numbers, the
 * sticky background error, the writers waiting for room, and the bookkeeping of files that must not be
 * collected. The parts are the write path (lsm-writes.ts), flush and compaction scheduling
 * (lsm-background.ts) with manifest commits (lsm-commit.ts), point reads (lsm-reads.ts) and read views
 * (lsm-views.ts); `LsmStore` (lsm-store.ts) wires them together.
 *
 * Fields are plain and public to those parts: they are one object split by job, not separate owners.
 * REQUIRES: used from one thread (the event loop that opened the store).
 */
import { FloeError, isFloeError } from '../errors.js';
import { LeaseHolder } from '../checkpoint/leases.js';
import type { ResolvedOptions } from '../options.js';
import { Semaphore } from '../util/semaphore.js';
import type { WalLog } from '../wal/log.js';
import type { LsmDeps } from './lsm-store.js';
import type { ManifestState } from './manifest.js';
import { Memtable } from './memtable.js';
import { ScanViews } from './scan-iterator.js';
import { TableCache } from './table-cache.js';
import type { TtlVisibility } from './ttl.js';

export class LsmCore {
  mem: Memtable;
  /** Frozen memtables, newest first. */
  imm: Memtable[] = [];
  state: ManifestState;
  /** Highest write sequence handed out. */
  lastSeq: number;
  /** Highest write sequence applied to the memtable (visible to reads); below lastSeq while WAL appends wait. */
  appliedSeq: number;
  /** The write-ahead log (durability 'wal'). */
  readonly wal: WalLog | undefined;
  readonly tables: TableCache;
  closed = false;
  backgroundError: FloeError | undefined;
  /** Writers stalled for room, and flush() callers waiting for their memtables (woken by wakeWriters). */
  roomWaiters: Array<() => void> = [];
  stalls = 0;
  /** Open scan views (scan-iterator.ts) and the files they pin, count per file id. */
  readonly scanPins = new Map<string, number>();
  readonly views = new ScanViews(this.scanPins);
  scanRanges = 0;
  /** New SSTs uploaded but not yet named by a manifest. */
  readonly uploading = new Set<string>();
  /** Files this store needs that may not be in a manifest (see lib/checkpoint/gc.ts). */
  readonly pins: { has(fileId: string): boolean };
  readonly lease: LeaseHolder;
  private currentFilesOf: { version: unknown; ids: Set<string> } | undefined;

  constructor(
    readonly options: ResolvedOptions,
    state: ManifestState,
    readonly deps: LsmDeps,
  ) {
    this.state = state;
    this.lastSeq = state.lastSequence;
    this.appliedSeq = state.lastSequence;
    this.wal = deps.wal;
    this.mem = new Memtable();
    this.tables = new TableCache(deps.store, new Semaphore(options.readConcurrency), deps.blockCache, deps.diskCache);
    this.pins = { has: (id) => this.scanPins.has(id) || this.uploading.has(id) || this.currentFiles().has(id) };
    this.lease = new LeaseHolder(deps.store, { leaseId: `${state.instanceId}-${state.epoch}-${state.writer || 'w'}`, instanceId: state.instanceId, epoch: state.epoch }, deps.clock);
  }

  checkOpen(): void {
    if (this.closed) throw new FloeError('CLOSED', 'the store is closed; open a new one with openStore()');
  }

  /** Resolves at the next wakeWriters(): after a flush, a compaction, a WAL acknowledgement or a failure. */
  waitForRoom(): Promise<void> {
    return new Promise<void>((resolve) => this.roomWaiters.push(resolve));
  }

  wakeWriters(): void {
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const w of waiters) w();
  }

  /** Records the first background failure (sticky: writes fail with it until reopen) and wakes writers. */
  fail(e: unknown, what: string): void {
    if (this.backgroundError) return;
    const err = isFloeError(e)
      ? new FloeError(e.code, `background ${what} failed: ${e.message}. Writes are refused until the store is reopened; reads keep working.`, {
          cause: e,
          retryable: false,
          ...(e.path ? { path: e.path } : {}),
        })
      : new FloeError('IO', `background ${what} failed: ${String(e)}. Writes are refused until the store is reopened.`, { cause: e });
    this.backgroundError = err;
    this.wakeWriters();
  }

  /** File ids of the current version (cached per version). GC consults it at deletion time, so a file
   * committed while a GC pass runs is never taken for garbage even with a zero grace period. */
  currentFiles(): Set<string> {
    const version = this.state.version;
    if (this.currentFilesOf?.version !== version) {
      this.currentFilesOf = { version, ids: new Set(version.allFiles().map((f) => f.fileId)) };
    }
    return this.currentFilesOf.ids;
  }

  /** Files open scans read that `version` no longer references: what this store's read lease must name. */
  droppedButRead(files: Set<string>): string[] {
    return [...this.scanPins.keys()].filter((id) => !files.has(id)).sort();
  }

  /** The time expiry is judged at for a read with `visibility` (undefined: expired values are returned). */
  ttlNow(visibility: TtlVisibility): number | undefined {
    return visibility === 'NeverReturnExpired' ? this.deps.ttlClock.now() : undefined;
  }
}
