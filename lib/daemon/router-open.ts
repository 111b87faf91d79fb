/**
 * Opening a router's shards: decide the layout (fresh, existing, or restored from checkpoints), start one
 * shard per layout entry (worker threads, or this thread for a single shard), write the layout, and on a
 * restore claim/retire what the new layout replaces.
 *
 * PROMISES: on failure every started thread is stopped and nothing is left open.
 */
import { newDirectSync } from './direct-sync.js';
import { join } from 'node:path';
import type { CheckpointHandle, StoreOptions } from '../api.js';
import { claimShardedLocalDir, type ShardedLocalDir } from '../cache/disk-cache-registry.js';
import { SharedBlockCache } from '../cache/shared-block-cache.js';
import { validateHandle } from '../checkpoint/handle.js';
import { claimCheckpoints, retireOn } from '../checkpoint/retire.js';
import { FloeError, isFloeError } from '../errors.js';
import { defaultLocalDir, resolveOptions, type ResolvedOptions } from '../options.js';
import type { ObjectStore } from '../store/object-store.js';
import { openObjectStore } from '../store/open.js';
import { shardLocalDirName } from '../store/paths.js';
import { systemClock, type Clock } from '../util/clock.js';
import { Random } from '../util/random.js';
import { freshLayout, readLatestLayout, restoredLayout, sameLayout, writeLayout, type ShardLayout } from './layout.js';
import { Shard, type LogFn } from './shard-bus.js';
import type { ShardInit } from './shard-service.js';
import { startInlineShard, startWorkerShard } from './shard-link.js';
import type { DirectSocketInit } from './direct-server.js';
import { ShardMap } from './shard-map.js';

export interface RouterOptions {
  /** Store options; `shards` is the wanted shard count. */
  options: StoreOptions;
  /** The shard count was chosen explicitly: it must then match an existing layout (else the layout's count wins). */
  shardsExplicit?: boolean;
  /** Start from these checkpoints (any shard count) instead of the current layout: writes a new layout. */
  restore?: { handles: CheckpointHandle[]; mode?: 'claim' | 'no-claim' };
  random?: Random;
  clock?: Clock;
  log?: LogFn;
  /** Called once when a shard thread dies unexpectedly. */
  onShardCrash?: (shard: number, error: FloeError) => void;
  /** Run the shards on this thread instead of worker threads. Default: only when there is one shard. */
  inline?: boolean;
  /**
   * Each worker shard also serves its own socket at `socketOf(i)` (shard-aware clients,
   * lib/daemon/direct-server.ts); the daemon's limits apply there too. Not for inline shards.
   */
  direct?: { socketOf: (shard: number) => string; maxFrameBytes: number; maxInFlight: number; maxConnections: number; serverName: string };
}

/** Everything a Router is made of. */
export interface RouterParts {
  options: ResolvedOptions;
  layout: ShardLayout;
  map: ShardMap;
  shards: Shard[];
  store: ObjectStore;
  cache: SharedBlockCache | undefined;
  localDir: ShardedLocalDir;
  /** The localDir path (shard i uses its sub-folder shardLocalDirName(i)). */
  localPath: string;
  /** The store options without `shards` (what each shard's, and each named store's, options start from). */
  baseOptions: StoreOptions;
  random: Random;
  clock: Clock;
  log: LogFn;
  /** Int32 slot 0, shared with every shard socket: nonzero while a checkpoint is cut (direct-server.ts). */
  directHold: Int32Array;
}

type Mode = 'fresh' | 'existing' | 'restore';

export async function openRouterParts(o: RouterOptions): Promise<RouterParts> {
  const resolved = resolveOptions(o.options);
  if (resolved.primary.startsWith('mem://')) {
    throw new FloeError(
      'CONFIG',
      `a sharded store (the shards option, or the daemon) needs primary storage every shard thread can reach: file://, s3:// or hdfs://; ${resolved.primary} lives inside one thread`,
    );
  }
  const clock = o.clock ?? systemClock;
  const random = o.random ?? new Random((Date.now() ^ (process.pid << 8)) >>> 0);
  const log: LogFn = o.log ?? (() => undefined);
  const { store } = await openObjectStore(resolved.primary, { s3: resolved.s3, hdfs: resolved.hdfs, clock, random: random.fork() });
  let shards: Shard[] = [];
  let local: ShardedLocalDir | undefined;
  try {
    const previous = await readLatestLayout(store, resolved.instanceId);
    const { layout, mode } = chooseLayout(o, resolved, previous, clock, random);
    const map = new ShardMap(resolved.maxKeyGroups, layout.shards.map((s) => s.keyGroups));
    const cache = resolved.blockCacheBytes > 0 ? SharedBlockCache.create(resolved.blockCacheBytes) : undefined;
    // Shards split the disk budget; folders of other shard counts go, so disk use stays within it across restarts.
    const localPath = o.options.localDir ?? defaultLocalDir(resolved.primary, resolved.instanceId);
    local = await claimShardedLocalDir({ localDir: localPath, capacityBytes: resolved.diskCacheBytes, shards: layout.shards.length });
    const hold = newDirectSync();
    const started = await startShards(o, layout, mode, cache, localPath, local.shardBytes, hold);
    shards = started.shards;
    if (started.failure !== undefined) throw started.failure;
    if (mode !== 'existing') await commitLayout(o, store, layout, previous, mode, clock, random, log);
    const { shards: _count, ...baseOptions } = o.options;
    return { options: resolved, layout, map, shards, store, cache, localDir: local, localPath, baseOptions, random, clock, log, directHold: new Int32Array(hold) };
  } catch (e) {
    await Promise.all(shards.map((s) => s.link.terminate().catch(() => undefined)));
    await local?.release();
    await store.close().catch(() => undefined);
    throw e;
  }
}

function chooseLayout(o: RouterOptions, resolved: ResolvedOptions, previous: ShardLayout | undefined, clock: Clock, random: Random): { layout: ShardLayout; mode: Mode } {
  const maxKg = resolved.maxKeyGroups;
  const name = resolved.instanceId;
  const wanted = resolved.shards;
  if (o.restore) {
    const handles = o.restore.handles;
    if (!Array.isArray(handles) || handles.length === 0) {
      throw new FloeError('INVALID_ARGUMENT', 'restore needs a non-empty array of checkpoint handles');
    }
    for (const h of handles) validateHandle(h, resolved.primary, maxKg);
    const n = wanted ?? previous?.shards.length ?? 1;
    return { layout: restoredLayout(previous, name, maxKg, n, clock.now(), random, handles.map((h) => h.checkpointId)), mode: 'restore' };
  }
  if (previous) {
    if (previous.maxKeyGroups !== maxKg) {
      throw new FloeError('CONFIG', `the sharded store ${JSON.stringify(name)} on ${resolved.primary} was created with maxKeyGroups ${previous.maxKeyGroups}, but the options say ${maxKg}; maxKeyGroups is fixed for the life of the data`);
    }
    if (o.shardsExplicit && wanted !== undefined && wanted !== previous.shards.length) {
      throw new FloeError(
        'CONFIG',
        `the sharded store ${JSON.stringify(name)} on ${resolved.primary} has ${previous.shards.length} shards, but ${wanted} were asked for; ` +
          `open it with shards: ${previous.shards.length} (or leave shards unset), or rescale: take a checkpoint and restore it with the new shard count (floe daemon --restore HANDLE.json --shards ${wanted})`,
      );
    }
    return { layout: previous, mode: 'existing' };
  }
  return { layout: freshLayout(name, maxKg, wanted ?? 1, clock.now()), mode: 'fresh' };
}

/** Starts every shard of `layout`. PROMISES: returns the shards that started, and the first failure if any. */
async function startShards(
  o: RouterOptions,
  layout: ShardLayout,
  mode: Mode,
  cache: SharedBlockCache | undefined,
  localPath: string,
  shardBytes: number,
  hold: SharedArrayBuffer,
): Promise<{ shards: Shard[]; failure: unknown }> {
  const n = layout.shards.length;
  const descriptor = cache?.shareable();
  // One shard runs on this thread: a worker would only add a hop per batch and no parallelism.
  const inline = o.inline ?? n === 1;
  const { shards: _ignored, ...rest } = o.options;
  const started = layout.shards.map(async (s, i) => {
    const init: ShardInit = {
      shard: i,
      options: { ...rest, instanceId: s.instanceId, localDir: join(localPath, shardLocalDirName(i)), maxKeyGroups: layout.maxKeyGroups, diskCacheBytes: shardBytes },
      keyGroups: s.keyGroups,
      expectExisting: mode === 'existing',
      ...(mode === 'restore' ? { restore: { handles: o.restore!.handles } } : {}),
    };
    const describe = `shard ${i} (instance ${s.instanceId}, key groups [${s.keyGroups[0]}, ${s.keyGroups[1]}])`;
    let direct: DirectSocketInit | undefined;
    if (o.direct !== undefined && !inline) {
      const { socketOf, ...limits } = o.direct;
      direct = { ...limits, socketPath: socketOf(i), shards: n, maxKeyGroups: layout.maxKeyGroups, hold };
    }
    const link = inline ? await startInlineShard(init, cache, o.clock) : await startWorkerShard(init, descriptor, describe, direct);
    const { restore: _restored, ...reopenInit } = init;
    return new Shard(i, s.instanceId, s.keyGroups, link, { init: { ...reopenInit, expectExisting: true }, inline, ...(direct ? { direct } : {}) });
  });
  const results = await Promise.allSettled(started);
  const shards = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  return { shards, failure: failed?.reason };
}

/** Writes a new layout; after a restore, claims the checkpoints (claim mode) and retires the replaced instances. */
async function commitLayout(o: RouterOptions, store: ObjectStore, layout: ShardLayout, previous: ShardLayout | undefined, mode: Mode, clock: Clock, random: Random, log: LogFn): Promise<void> {
  const name = layout.name;
  try {
    await writeLayout(store, layout);
  } catch (e) {
    // Two fresh opens racing write the same deterministic layout: the other one's is ours.
    const now = mode === 'fresh' && isFloeError(e, 'BUSY') ? await readLatestLayout(store, name) : undefined;
    if (now === undefined || !sameLayout(now, layout)) throw e;
  }
  log('info', mode === 'restore' ? 'layout_restored' : 'layout_created', { name, seq: layout.seq, shards: layout.shards.length, instances: layout.shards.map((s) => s.instanceId) });
  if (mode !== 'restore') return;
  const current = new Set(layout.shards.map((s) => s.instanceId));
  // The new instances' manifests reference the files now: in claim mode the records may go and
  // their source instances retire.
  if (o.restore!.mode === 'claim') await claimCheckpoints(store, o.restore!.handles, current, clock, random.fork());
  // The replaced layout's instances are unreachable through this store from now on: retire them so
  // GC can reclaim what only they kept (checkpoints taken from them stay restorable).
  for (const s of previous?.shards ?? []) {
    if (!current.has(s.instanceId)) await retireOn(store, s.instanceId, clock, random.fork()).catch(ignoreMissingInstance);
  }
}

/** An instance listed in an old layout may never have been created (a failed start): nothing to retire. */
export function ignoreMissingInstance(e: unknown): void {
  if (!isFloeError(e, 'INVALID_ARGUMENT')) throw e;
}
