/**
 * Shard-side read handles of protocol version 2 (docs/protocol.md, "Snapshots and iterators"): snapshots
 * and iterator parts of one LSM instance, by the handle ids the router chose (unique per router).
 *
 * An iterator part reads at a snapshot: its own (taken when it opens) or a snapshot handle it names. A
 * snapshot is reference-counted: the router's snapshot and every iterator part reading at it hold one
 * reference, so a client may release a snapshot while iterators over it stay usable (as in the embedded
 * store, where an iterator pins the view again). The router rewinds a part by a seek (route-handles.ts).
 *
 * REQUIRES: calls come from one ShardService, in its order (it orders opens after earlier writes).
 */
import type { FloeIterator, IteratorEntry, IteratorOptions, Snapshot } from '../api.js';
import { FloeError } from '../errors.js';
import type { LsmStore } from '../lsm/lsm-store.js';
import { engineIteratorOptions, NextFlag, readIteratorOptions } from '../protocol/protocol-v2.js';
import { DEFAULT_KG } from '../protocol/protocol.js';
import type { Reader, Writer } from '../protocol/wire.js';

interface SnapshotRef {
  snap: Snapshot;
  refs: number;
}

interface IteratorPart {
  snapshot: SnapshotRef;
  options: IteratorOptions;
  it: FloeIterator<Partial<IteratorEntry>>;
}

export class ShardHandles {
  private readonly snapshots = new Map<number, SnapshotRef>();
  private readonly iterators = new Map<number, IteratorPart>();

  constructor(private readonly lsm: LsmStore) {}

  get size(): number {
    return this.snapshots.size + this.iterators.size;
  }

  /** SHARD_SNAPSHOT: a snapshot of the instance now, as handle `handle`. */
  snapshot(handle: number): void {
    this.checkFree(handle);
    this.snapshots.set(handle, { snap: this.lsm.snapshot(), refs: 1 });
  }

  /** The snapshot of handle `handle` (for GET_AT / MULTI_GET_AT). */
  snapshotOf(handle: number): Snapshot {
    const s = this.snapshots.get(handle);
    if (s === undefined) throw unknownHandle('snapshot', handle);
    return s.snap;
  }

  /** SHARD_ITER_OPEN: u32 handle, u32 snapshot handle (0: own), iterator options. Validation errors throw. */
  openIterator(r: Reader): void {
    const handle = r.u32();
    const snapHandle = r.u32();
    const options = engineIteratorOptions(readIteratorOptions(r));
    r.done();
    this.checkFree(handle);
    let snapshot: SnapshotRef;
    if (snapHandle === 0) snapshot = { snap: this.lsm.snapshot(), refs: 0 };
    else {
      const s = this.snapshots.get(snapHandle);
      if (s === undefined) throw unknownHandle('snapshot', snapHandle);
      snapshot = s;
    }
    // Copy the bounds: the payload's bytes belong to the batch.
    const own = copyBounds(options);
    let it: FloeIterator<Partial<IteratorEntry>>;
    try {
      it = this.lsm.iterator({ ...own, snapshot: snapshot.snap });
    } catch (e) {
      if (snapshot.refs === 0) snapshot.snap.release();
      throw e;
    }
    snapshot.refs++;
    this.iterators.set(handle, { snapshot, options: own, it });
  }

  /**
   * SHARD_ITER_NEXT: u32 handle, u32 maxEntries, u32 pageBytes, u8 flags (1: seek first), [u16 kg,
   * bytes32 target]. Writes the page (u8 done, u32 count, entries) with `fill`.
   */
  async next(r: Reader): Promise<(w: Writer) => void> {
    const handle = r.u32();
    const maxEntries = Math.max(1, r.u32());
    const pageBytes = Math.max(1, r.u32());
    const flags = r.u8();
    const seek = flags & NextFlag.seek ? { keyGroup: r.u16(), key: Uint8Array.prototype.slice.call(r.bytes32()) } : undefined;
    r.done();
    const part = this.iterators.get(handle);
    if (part === undefined) throw unknownHandle('iterator', handle);
    if (seek !== undefined) part.it.seek(seek.key, seek.keyGroup === DEFAULT_KG ? {} : { keyGroup: seek.keyGroup });
    const entries: Array<Partial<IteratorEntry>> = [];
    let bytes = 0;
    let done = false;
    while (entries.length < maxEntries && bytes < pageBytes) {
      const e = await part.it.next();
      if (e === undefined) {
        done = true;
        break;
      }
      entries.push(e);
      bytes += 10 + (e.key?.length ?? 0) + (e.value?.length ?? 0);
    }
    const keys = part.options.keys !== false;
    const values = part.options.values !== false;
    return (w) => {
      w.u8(done ? 1 : 0);
      w.u32(entries.length);
      for (const e of entries) {
        w.ensure(10 + (e.key?.length ?? 0) + (e.value?.length ?? 0));
        w.u16(e.keyGroup!);
        if (keys) w.bytes32(e.key!);
        if (values) w.bytes32(e.value!);
      }
    };
  }

  /** SHARD_RELEASE: releases a snapshot or iterator handle; an unknown one is ignored (idempotent). */
  async release(handle: number): Promise<void> {
    const part = this.iterators.get(handle);
    if (part !== undefined) {
      this.iterators.delete(handle);
      await part.it.close();
      this.unref(part.snapshot);
      return;
    }
    const s = this.snapshots.get(handle);
    if (s !== undefined) {
      this.snapshots.delete(handle);
      this.unref(s);
    }
  }

  /** Releases every handle (the instance closes). */
  async closeAll(): Promise<void> {
    for (const h of [...this.iterators.keys(), ...this.snapshots.keys()]) await this.release(h);
  }

  private unref(s: SnapshotRef): void {
    if (--s.refs <= 0) s.snap.release();
  }

  private checkFree(handle: number): void {
    if (handle === 0 || this.snapshots.has(handle) || this.iterators.has(handle)) {
      throw new FloeError('INVALID_ARGUMENT', `shard handle ${handle} is 0 or in use (a router bug)`);
    }
  }
}

function unknownHandle(what: string, handle: number): FloeError {
  return new FloeError('INVALID_ARGUMENT', `unknown shard ${what} handle ${handle}: it was released or never opened`);
}

function copyBounds(o: IteratorOptions): IteratorOptions {
  const out: IteratorOptions = { ...o };
  for (const name of ['gt', 'gte', 'lt', 'lte'] as const) {
    const b = o[name];
    if (b instanceof Uint8Array) out[name] = Uint8Array.prototype.slice.call(b); // a copy even of a Buffer
  }
  return out;
}
