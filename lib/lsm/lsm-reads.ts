/**
 * Point reads: `get` and `multiGet`, merging the memtables (newest first) with the current Version's
 * files, range tombstones and TTL visibility; and the renewal of a value's expiry on read
 * (TTL update 'OnReadAndWrite'). Reads keep working after a background failure.
 */
import type { KeyGroupOption, ReadOptions } from '../api.js';
import { FloeError } from '../errors.js';
import { checkKey, physicalKey, resolveKeyGroup } from '../keys.js';
import { EntryKind } from '../sst/entry.js';
import { NOT_CACHED, filterHash, type FilterHash, type SstReader } from '../sst/reader.js';
import { inClip, type FileMeta } from './file-meta.js';
import type { LsmCore } from './lsm-core.js';
import type { WritePath } from './lsm-writes.js';
import { concatParts } from './memtable.js';
import { PointResolver } from './merge-values.js';
import { coveringSeq } from './range-tombstones.js';
import { asStoreSnapshot, getAtView } from './snapshot.js';
import { liveValue, readTtl, refreshedTtl, type TtlConfig, type TtlSegments } from './ttl.js';

/** How one read treats TTL: the store's setting or the read's override. */
type ReadTtl = Pick<TtlConfig, 'visibility' | 'update'>;

const CACHE_CHECKED = { cacheChecked: true } as const;

export class PointReads {
  constructor(
    private readonly core: LsmCore,
    /** Renewals on read are writes (refreshOnRead). */
    private readonly writes: WritePath,
  ) {}

  get(key: Uint8Array | string, options?: ReadOptions): Promise<Uint8Array | undefined> {
    let pk: Uint8Array;
    let ttl: ReadTtl;
    try {
      pk = this.readKey(key, options);
      ttl = readTtl(options, this.core.options.ttl);
      if (options?.snapshot !== undefined) {
        const now = this.core.ttlNow(ttl.visibility);
        return asStoreSnapshot(options.snapshot).read(this.core.views, (view) => getAtView(view, pk, now));
      }
    } catch (e) {
      return Promise.reject(e); // a promise-returning API fails by rejecting, never by throwing
    }
    return this.getPhysical(pk, ttl);
  }

  async multiGet(keys: Array<Uint8Array | string>, options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    if (!Array.isArray(keys)) throw new FloeError('INVALID_ARGUMENT', 'multiGet() takes an array of keys');
    const pks = keys.map((k) => this.readKey(k, options));
    const ttl = readTtl(options, this.core.options.ttl);
    if (options?.snapshot !== undefined) {
      const now = this.core.ttlNow(ttl.visibility);
      return asStoreSnapshot(options.snapshot).read(this.core.views, (view) => Promise.all(pks.map((pk) => getAtView(view, pk, now))));
    }
    // Lookups run concurrently: identical block fetches coalesce in the table readers and remote reads
    // are bounded by the in-flight budget, so this issues at most one GET per distinct missing block.
    return Promise.all(pks.map((pk) => this.getPhysical(pk, ttl)));
  }

  private readKey(key: unknown, options: KeyGroupOption | undefined): Uint8Array {
    this.core.checkOpen();
    const k = checkKey(key);
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new FloeError('INVALID_ARGUMENT', 'options must be an object like { keyGroup: 3 }');
    }
    return physicalKey(resolveKeyGroup(k, options?.keyGroup, this.core.state.maxKeyGroups), k);
  }

  /**
   * Point lookup. Synchronous while everything it needs is in memory (memtables, open table readers, cached
   * blocks, searched in place); the first table open or block read continues in `getFromFiles`.
   */
  private getPhysical(pk: Uint8Array, ttl: ReadTtl): Promise<Uint8Array | undefined> {
    const core = this.core;
    try {
      const readFrom = core.lastSeq;
      const resolver = new PointResolver(this.coveredSeq(pk));
      const frozen = core.imm;
      if (!core.mem.isEmpty || frozen.length > 0) {
        let v = core.mem.lookup(pk);
        if (v !== undefined && resolver.push(v.kind, copyOut(v.parts), v.ttl, v.seq)) return Promise.resolve(this.finishGet(resolver, pk, readFrom, ttl));
        for (const m of frozen) {
          v = m.lookup(pk);
          if (v !== undefined && resolver.push(v.kind, copyOut(v.parts), v.ttl, v.seq)) return Promise.resolve(this.finishGet(resolver, pk, readFrom, ttl));
        }
      }
      const files = core.state.version.filesForKey(pk);
      const hash = filterHash(pk);
      for (let i = 0; i < files.length; i++) {
        const f = files[i]!;
        if (!inClip(f, pk)) continue;
        const reader = core.tables.peek(f.fileId);
        if (reader === undefined) return this.getFromFiles(pk, hash, resolver, files.slice(i), false, readFrom, ttl);
        if (!reader.mayContainHash(hash)) continue;
        const bi = reader.blockFor(pk);
        if (bi < 0) continue;
        let e = reader.getCached(bi, pk);
        if (e === NOT_CACHED) e = reader.getUncachedSync(bi, pk);
        if (e === NOT_CACHED) return this.getFromFiles(pk, hash, resolver, files.slice(i), true, readFrom, ttl);
        if (e !== undefined && resolver.push(e.kind, e.value, e.ttl, e.seq)) break;
      }
      return Promise.resolve(this.finishGet(resolver, pk, readFrom, ttl));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** The rest of a lookup over `files` (newest first); `firstMissed`: the first file's block just missed the cache. */
  private async getFromFiles(
    pk: Uint8Array,
    hash: FilterHash,
    resolver: PointResolver,
    files: FileMeta[],
    firstMissed: boolean,
    readFrom: number,
    ttl: ReadTtl,
  ): Promise<Uint8Array | undefined> {
    const tables = this.core.tables;
    let readers: Array<SstReader | undefined> = files.map((f) => tables.peek(f.fileId));
    // Tables not open yet (first reads after open or restore) are opened together: one round trip.
    if (readers.includes(undefined)) readers = await Promise.all(files.map((f) => tables.get(f)));
    for (let i = 0; i < files.length; i++) {
      const f = files[i]!;
      if (!inClip(f, pk)) continue;
      const reader = readers[i]!;
      if (!reader.mayContainHash(hash)) continue;
      const bi = reader.blockFor(pk);
      if (bi < 0) continue;
      // The first file's block was already looked up (cache, then a synchronous read) by the caller.
      const triedAlready = i === 0 && firstMissed;
      let e = triedAlready ? NOT_CACHED : reader.getCached(bi, pk);
      if (e === NOT_CACHED && !triedAlready) e = reader.getUncachedSync(bi, pk);
      if (e === NOT_CACHED) e = (await reader.readBlock(bi, CACHE_CHECKED)).get(pk);
      if (e !== undefined && resolver.push(e.kind, e.value, e.ttl, e.seq)) break;
    }
    return this.finishGet(resolver, pk, readFrom, ttl);
  }

  /** Highest seq of the range tombstones covering `pk` in the memtables and the version (0: none). */
  private coveredSeq(pk: Uint8Array): number {
    const core = this.core;
    // The common case (no range deletes anywhere) costs three length checks and no allocation.
    let seq = core.state.version.rangeTombstones.length === 0 ? 0 : coveringSeq(core.state.version.rangeTombstones, pk);
    if (core.mem.rangeTombstones.length > 0) seq = Math.max(seq, coveringSeq(core.mem.rangeTombstones, pk));
    for (const m of core.imm) if (m.rangeTombstones.length > 0) seq = Math.max(seq, coveringSeq(m.rangeTombstones, pk));
    return seq;
  }

  /** The value a point read returns, by the store's TTL visibility; renews the TTL on read when configured. */
  private finishGet(resolver: PointResolver, pk: Uint8Array, readFrom: number, ttl: ReadTtl): Uint8Array | undefined {
    const raw = resolver.rawValue();
    if (raw === undefined || raw.ttl === undefined) return raw?.value;
    const now = this.core.deps.ttlClock.now();
    const live = liveValue(raw.value, raw.ttl, now);
    if (live !== undefined && ttl.update === 'OnReadAndWrite') this.refreshOnRead(pk, live, readFrom, now);
    return ttl.visibility === 'NeverReturnExpired' ? live?.value : raw.value;
  }

  /**
   * OnReadAndWrite: rewrites the value just read with renewed expiry, unless the key was written (or range
   * deleted) after the read began, or writes are still on their way to the WAL: then a newer write decides
   * and the renewal is skipped. Best effort: a renewal that fails leaves the old expiry.
   */
  private refreshOnRead(pk: Uint8Array, live: { value: Uint8Array; ttl: TtlSegments | undefined }, readFrom: number, now: number): void {
    const core = this.core;
    const ttl = refreshedTtl(live.ttl, now);
    if (ttl === undefined || core.closed || core.backgroundError !== undefined || core.appliedSeq !== core.lastSeq) return;
    for (const m of [core.mem, ...core.imm]) {
      if ((m.lookup(pk)?.seq ?? 0) > readFrom) return;
      if (m.rangeTombstones.length > 0 && coveringSeq(m.rangeTombstones, pk) > readFrom) return;
    }
    this.writes.sequenceAndApply([{ key: pk, kind: EntryKind.Put, value: live.value, ttl }]).catch(() => undefined);
  }
}

/** Memtable values are returned as fresh copies, so callers cannot mutate the memtable. */
function copyOut(parts: Uint8Array[]): Uint8Array {
  const v = concatParts(parts);
  return parts.length === 1 ? new Uint8Array(v) : v;
}
