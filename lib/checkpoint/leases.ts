/**
 * Read leases: `leases/<leaseId>.json`, the files a store's open scans still read after the store's own
 * version dropped them (a compaction replaced them while a scan was open). In this thread, pins keep such
 * files (lib/checkpoint/pins.ts); a lease makes the same need visible to GC passes of other threads (the
 * daemon's shards) and other processes.
 *
 * Ordering: a store publishes the lease BEFORE it commits the manifest that drops the files, so there is no
 * moment at which a file an open scan reads is referenced by neither a manifest nor a lease.
 * Lifetime: a lease expires `ttlMs` after it was last written (a crashed holder's lease does not keep files
 * forever); the holder rewrites it at every commit, every GC pass and (with the system clock) on a timer, and
 * deletes it once no scan needs a dropped file.
 *
 * Format: JSON { format: 'floe-lease', formatVersion: 1, instanceId, epoch, files: string[], expiresAt: ms }
 */
import { isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { LEASES_PREFIX, leasePath } from '../store/paths.js';
import { systemClock, type Clock } from '../util/clock.js';

export const LEASE_FORMAT_VERSION = 1;
/** How long a lease outlives its last refresh (ms). */
export const DEFAULT_LEASE_TTL_MS = 60 * 60_000;

interface LeaseJson {
  format: 'floe-lease';
  formatVersion: number;
  instanceId: string;
  epoch: number;
  files: string[];
  expiresAt: number;
}

/** Adds the files of every unexpired lease to `live`; deletes expired leases (their holders are gone or late). */
export async function markLeasedFiles(store: ObjectStore, now: number, live: Set<string>): Promise<void> {
  for (const obj of await store.list(LEASES_PREFIX)) {
    let lease: LeaseJson;
    try {
      lease = JSON.parse(Buffer.from(await store.get(obj.path)).toString('utf8')) as LeaseJson;
    } catch (e) {
      if (isFloeError(e, 'NOT_FOUND')) continue; // dropped by its holder meanwhile
      if (isFloeError(e)) throw e;
      continue; // not JSON: not a lease this Floe wrote; ignore it rather than fail every pass
    }
    if (lease?.format !== 'floe-lease' || !Array.isArray(lease.files)) continue;
    if (typeof lease.expiresAt === 'number' && lease.expiresAt > now) {
      for (const f of lease.files) live.add(f);
    } else {
      await store.delete(obj.path).catch(() => undefined);
    }
  }
}

/** One store's lease: publishes the set of dropped files its open scans need, and withdraws it when empty. */
export class LeaseHolder {
  private published: string[] = [];
  /** The last update asked for a non-empty lease (set at once, before its write completes). */
  private wanted = false;
  private publishedAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    private readonly id: { leaseId: string; instanceId: string; epoch: number },
    private readonly clock: Clock,
    private readonly ttlMs = DEFAULT_LEASE_TTL_MS,
  ) {}

  /**
   * Makes the lease name exactly `files` (sorted ids). PROMISES: when it resolves with `files` non-empty, the
   * lease is durable. Calls are serialized; withdrawing (empty) is best effort.
   */
  update(files: string[]): Promise<void> {
    this.wanted = files.length > 0;
    const next = this.chain.then(() => this.write(files));
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Whether the lease names files, or is about to: only then can a shrinking reader set change it. */
  get held(): boolean {
    return this.wanted || this.published.length > 0;
  }

  /** Rewrites the lease if it is half way to expiry (called on commits and GC passes). */
  refreshIfDue(): Promise<void> {
    if (this.published.length === 0 || this.clock.now() - this.publishedAt < this.ttlMs / 2) return Promise.resolve();
    return this.update(this.published);
  }

  private async write(files: string[]): Promise<void> {
    const path = leasePath(this.id.leaseId);
    if (files.length === 0) {
      if (this.published.length === 0) return;
      this.published = [];
      this.stopTimer();
      await this.store.delete(path).catch(() => undefined);
      return;
    }
    const now = this.clock.now();
    const body: LeaseJson = {
      format: 'floe-lease',
      formatVersion: LEASE_FORMAT_VERSION,
      instanceId: this.id.instanceId,
      epoch: this.id.epoch,
      files,
      expiresAt: now + this.ttlMs,
    };
    await this.store.put(path, Buffer.from(JSON.stringify(body), 'utf8'));
    this.published = files;
    this.publishedAt = now;
    this.startTimer();
  }

  // Real-time refreshes only with the system clock: an injected (simulated) clock must see no I/O that real
  // time schedules, so there the holder refreshes at commits and GC passes only.
  private startTimer(): void {
    if (this.timer !== undefined || this.clock !== systemClock) return;
    this.timer = setInterval(() => void this.refreshIfDue().catch(() => undefined), Math.max(1000, this.ttlMs / 4));
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Withdraws the lease and stops refreshing (store close). */
  async close(): Promise<void> {
    await this.update([]);
    this.stopTimer();
  }
}
