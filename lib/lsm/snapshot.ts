/**
 * Explicit snapshots of an embedded store (`store.snapshot()`) and point reads at a read view.
 *
 * A snapshot owns one pinned read view (lib/lsm/scan-iterator.ts: the memtables' snapshot sequence and the
 * files of its version, with the store's read lease naming files a newer version dropped). Scans and
 * iterators that name it pin the same view again for themselves, so they may outlive the snapshot. Point
 * reads borrow the snapshot's own pins: `release()` waits until reads in flight finish. An abandoned
 * snapshot is released after garbage collection finds it unreachable (like an abandoned scan), but code
 * should call `release()`; closing the store releases every snapshot.
 */
import type { Snapshot } from '../api.js';
import { FloeError } from '../errors.js';
import type { SstReader } from '../sst/reader.js';
import { concatParts } from './memtable.js';
import { PointResolver } from './merge-values.js';
import { coveringSeq } from './range-tombstones.js';
import { inClip } from './file-meta.js';
import type { PinnedView } from './scan-iterator.js';
import type { ScanView } from './scan.js';

const abandoned = new FinalizationRegistry<PinnedView>((pinned) => pinned.release());

export class StoreSnapshot implements Snapshot {
  private inflight = 0;
  private releasing = false;

  /** `owner` identifies the store that took it (a snapshot of another store is refused). */
  constructor(
    readonly owner: object,
    private readonly pinned: PinnedView,
  ) {
    abandoned.register(this, pinned, this);
  }

  get sequence(): number {
    return this.pinned.view.snapshot;
  }

  get released(): boolean {
    return this.releasing;
  }

  release(): void {
    if (this.releasing) return;
    this.releasing = true;
    abandoned.unregister(this);
    if (this.inflight === 0) this.pinned.release();
  }

  /**
   * The view, for a read of `owner` that must pin it again (scans, iterators). REQUIRES nothing; throws
   * INVALID_ARGUMENT for a released or foreign snapshot, CLOSED once the store closed.
   */
  viewFor(owner: object): ScanView {
    if (this.owner !== owner) {
      throw new FloeError('INVALID_ARGUMENT', 'this snapshot was taken on another store; take one with snapshot() on the store you read');
    }
    if (this.pinned.revoked) throw new FloeError('CLOSED', 'the store this snapshot belongs to was closed; open the store again and take a new snapshot');
    if (this.releasing) throw new FloeError('INVALID_ARGUMENT', 'this snapshot was released; take a new one with snapshot()');
    return this.pinned.view;
  }

  /** Runs a read on the view, holding the snapshot's pins until it settles. */
  async read<T>(owner: object, fn: (view: ScanView) => Promise<T>): Promise<T> {
    const view = this.viewFor(owner);
    this.inflight++;
    try {
      return await fn(view);
    } catch (e) {
      throw this.pinned.revoked ? new FloeError('CLOSED', 'the store was closed during a read at a snapshot; open it again', { cause: e }) : e;
    } finally {
      if (--this.inflight === 0 && this.releasing) this.pinned.release();
    }
  }
}

/** Whether `s` is a snapshot object of this module (not a look-alike). */
export function asStoreSnapshot(s: unknown): StoreSnapshot {
  if (s instanceof StoreSnapshot) return s;
  throw new FloeError('INVALID_ARGUMENT', 'options.snapshot must be a snapshot returned by store.snapshot()');
}

/**
 * The value of physical key `pk` as of `view`: memtables at the view's sequence, then the files of its
 * version, newest first (the rules of LsmStore's point lookup, range deletes of the view included). With
 * `ttlNow`, bytes expired at that time are left out (state TTL, NeverReturnExpired).
 */
export async function getAtView(view: ScanView, pk: Uint8Array, ttlNow?: number): Promise<Uint8Array | undefined> {
  const tombstones = view.rangeTombstones ?? [];
  const resolver = new PointResolver(tombstones.length === 0 ? 0 : coveringSeq(tombstones, pk));
  for (const m of view.memtables) {
    const v = m.lookup(pk, view.snapshot);
    // Memtable values are copied out, so callers cannot mutate the memtable.
    if (v !== undefined && resolver.push(v.kind, v.parts.length === 1 ? new Uint8Array(v.parts[0]!) : concatParts(v.parts), v.ttl, v.seq)) return resolver.value(ttlNow);
  }
  const files = view.version.filesForKey(pk);
  const readers: SstReader[] = await Promise.all(files.map((f) => view.tables.get(f)));
  for (let i = 0; i < files.length; i++) {
    const reader = readers[i]!;
    if (!inClip(files[i]!, pk) || !reader.mayContain(pk)) continue;
    const bi = reader.blockFor(pk);
    if (bi < 0) continue;
    const block = reader.cachedBlock(bi) ?? (await reader.readBlock(bi, { cacheChecked: true }));
    const e = block.get(pk);
    if (e !== undefined && resolver.push(e.kind, e.value, e.ttl, e.seq)) break;
  }
  return resolver.value(ttlNow);
}
