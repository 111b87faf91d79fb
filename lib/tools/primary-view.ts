/**
 * A read-only view of the data on a primary store, for `floe get|scan --primary URI`: it reads the latest
 * manifest of each instance of the store and reads their SSTs, and claims nothing (no epoch, no manifest, no
 * lease, no cache folder), like `floe verify` and lib/checkpoint/instances.ts. So it is safe on a store a
 * daemon or application owns right now.
 *
 * What it sees: the state the owners last made durable in a manifest (every flush, compaction and
 * checkpoint writes one). Writes still only in an owner's memtable, or only in its write-ahead log, are not
 * visible until the owner flushes. Files an owner drops while a read is under way stay readable for the GC
 * grace period (gcGraceMs, 10 minutes by default), which bounds how long one command may run.
 *
 * Which instances: the shard layout named `name` (a daemon or `openStore({ shards })`), else the single
 * instance `name` (an embedded store).
 */
import type { ScanEntry, ScanOptions } from '../api.js';
import { readLatestLayout } from '../daemon/layout.js';
import { FloeError } from '../errors.js';
import { checkKey, checkKeyGroup, keyGroupOf, physicalKey, resolveKeyGroup, toBytes } from '../keys.js';
import { inClip } from '../lsm/file-meta.js';
import { readLatestManifest, type ManifestState } from '../lsm/manifest.js';
import { PointResolver } from '../lsm/merge-values.js';
import { coveringSeq } from '../lsm/range-tombstones.js';
import { scanEntries, type ScanView } from '../lsm/scan.js';
import { groupRange, scanBoundedGroups, type KeyBounds } from '../lsm/scan-groups.js';
import { TableCache } from '../lsm/table-cache.js';
import type { ObjectStore } from '../store/object-store.js';
import { Semaphore } from '../util/semaphore.js';
import type { DataTarget } from './data-target.js';

/** Remote reads in flight at once (one command; the owner's budget is separate). */
const READ_CONCURRENCY = 16;

interface InstanceView {
  state: ManifestState;
  tables: TableCache;
}

export class PrimaryView implements DataTarget {
  readonly where: string;

  private constructor(
    private readonly store: ObjectStore,
    readonly maxKeyGroups: number,
    /** Sorted by key-group range; ranges do not overlap. */
    private readonly instances: InstanceView[],
  ) {
    this.where = `${store.uri} (read-only, as of its latest manifests)`;
  }

  /**
   * Reads the layout (or instance) `name` and the latest manifest of each of its instances.
   * PROMISES a view, or CONFIG when there is no such store or an instance of it was retired.
   * The view owns `store` and closes it.
   */
  static async open(store: ObjectStore, name: string): Promise<PrimaryView> {
    const layout = await readLatestLayout(store, name);
    const ids = layout ? layout.shards.map((s) => s.instanceId) : [name];
    const inflight = new Semaphore(READ_CONCURRENCY);
    const instances: InstanceView[] = [];
    for (const id of ids) {
      const state = await readLatestManifest(store, id);
      if (state === undefined) {
        throw new FloeError(
          'CONFIG',
          layout
            ? `shard layout ${name} on ${store.uri} names instance ${id}, which has no manifest; run floe verify ${store.uri}`
            : `there is no store named ${name} on ${store.uri} (no shard layout, no instance); floe instances list --config FILE shows what is there, and --store NAME picks one`,
        );
      }
      if (state.retired !== undefined) {
        throw new FloeError('CONFIG', `instance ${id} on ${store.uri} was retired at ${state.retired}; its data is gone. Pick a live store with --store NAME`);
      }
      instances.push({ state, tables: new TableCache(store, inflight, undefined, undefined) });
    }
    instances.sort((a, b) => a.state.keyGroups[0] - b.state.keyGroups[0]);
    return new PrimaryView(store, layout?.maxKeyGroups ?? instances[0]!.state.maxKeyGroups, instances);
  }

  /** The value of `key`, resolved newest first through the instance's levels (merge operands fold). */
  async get(key: Uint8Array, keyGroup: number | undefined): Promise<Uint8Array | undefined> {
    const k = checkKey(key);
    const kg = resolveKeyGroup(k, keyGroup, this.maxKeyGroups);
    const inst = this.owner(kg);
    if (inst === undefined) return undefined;
    const pk = physicalKey(kg, k);
    // The engine's read rules: entries older than a covering range tombstone are deleted, and bytes
    // whose TTL expired are not returned (NeverReturnExpired, the default visibility).
    const version = inst.state.version;
    const resolver = new PointResolver(version.rangeTombstones.length === 0 ? 0 : coveringSeq(version.rangeTombstones, pk));
    for (const f of version.filesForKey(pk)) {
      if (!inClip(f, pk)) continue;
      const reader = await inst.tables.get(f);
      const e = await reader.get(pk);
      if (e !== undefined && resolver.push(e.kind, e.value, e.ttl, e.seq)) break;
    }
    return resolver.value(Date.now());
  }

  /** Entries in (keyGroup, key) order, as Store.scan: instance by instance, in key-group order. */
  async *scan(options: ScanOptions = {}): AsyncGenerator<ScanEntry> {
    let remaining = options.limit ?? Number.POSITIVE_INFINITY;
    const bounds: KeyBounds = {
      gte: options.gte === undefined ? undefined : toBytes(options.gte, 'scan gte'),
      lt: options.lt === undefined ? undefined : toBytes(options.lt, 'scan lt'),
      prefix: options.prefix === undefined ? undefined : toBytes(options.prefix, 'scan prefix'),
    };
    const only = options.keyGroup === undefined ? undefined : checkKeyGroup(options.keyGroup, this.maxKeyGroups);
    const unbounded = bounds.gte === undefined && bounds.lt === undefined && bounds.prefix === undefined;
    for (const inst of this.instances) {
      const [lo, hi] = inst.state.keyGroups;
      if (only !== undefined && (only < lo || only > hi)) continue;
      const version = inst.state.version;
      const view: ScanView = {
        snapshot: inst.state.lastSequence,
        memtables: [],
        version,
        tables: inst.tables,
        prefetchBlocks: 4,
        rangeTombstones: version.rangeTombstones,
        ttlNow: Date.now(),
      };
      let source: AsyncIterable<{ key: Uint8Array; value: Uint8Array }>;
      if (only !== undefined || unbounded) {
        const range = groupRange(only ?? lo, only ?? hi, bounds);
        if (range === undefined) continue;
        source = scanEntries(view, range, remaining);
      } else {
        source = scanBoundedGroups(view, bounds, this.maxKeyGroups, remaining, () => undefined);
      }
      for await (const e of source) {
        const kg = keyGroupOf(e.key);
        // A file shared after a rescale may hold other instances' key groups; only the owner's count here.
        if (kg < lo || kg > hi) continue;
        yield { keyGroup: kg, key: e.key.subarray(2), value: e.value };
        if (--remaining <= 0) return;
      }
    }
  }

  put(): Promise<void> {
    return Promise.reject(readOnly());
  }

  del(): Promise<void> {
    return Promise.reject(readOnly());
  }

  close(): Promise<void> {
    return this.store.close();
  }

  private owner(kg: number): InstanceView | undefined {
    return this.instances.find((i) => kg >= i.state.keyGroups[0] && kg <= i.state.keyGroups[1]);
  }
}

function readOnly(): FloeError {
  return new FloeError('INVALID_ARGUMENT', 'this view of the primary store is read-only; write through the daemon (--socket PATH), or with --claim');
}
