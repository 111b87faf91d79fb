/**
 * Garbage collection of primary storage: mark and sweep over listings, never reference counts (a crash can
 * skew counts; it cannot skew a listing). docs/guarantees.md states the rules; in short:
 *
 * Live (never deleted): every file referenced by a retained checkpoint record, by the latest manifest of any
 * instance that is not retired, by an unexpired read lease (lib/checkpoint/leases.ts), or pinned by a store
 * of this thread (uploads not yet committed, files open scans read: lib/checkpoint/pins.ts).
 *
 * Ownership (who may delete what): the objects of an instance (the SSTs it wrote, which carry its id, its
 * manifests and fencing records) are deleted only by that instance's current writer (the collector holding
 * its newest epoch), or by any collector once the instance is retired or has vanished. So a writer's
 * uploads, pinned in its own process until committed, are never taken by another process's pass, and a
 * fenced writer deletes nothing.
 *
 * Grace: an unreferenced file is deleted only after this collector has seen it unreferenced for `graceMs`
 * (and it is at least `graceMs` old), so a reader in another process that loaded a version just before the
 * file was dropped has `graceMs` to finish. Counting from the first sighting, not from the upload, is what
 * makes the grace period protect readers of long-lived files.
 *
 * Order: SSTs are listed FIRST, so every candidate existed before the instance listing: its writer's
 * fencing record (created before any upload) is in that listing, and ownership is never misjudged.
 * Checkpoint records are listed before AND after the manifests:
 *  - before: a claiming restore writes its own manifest before it deletes the records;
 *  - after: a checkpoint written (under its instance's manifest lock) before a later manifest drops its files
 *    is seen by the second listing.
 */
import { isFloeError } from '../errors.js';
import { readManifest } from '../lsm/manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import {
  CHECKPOINTS_PREFIX,
  INSTANCES_PREFIX,
  SST_PREFIX,
  epochPath,
  manifestPath,
  parseEpochPath,
  parseManifestPath,
  parseSstPath,
  sstOwner,
  sstPath,
  walPrefix,
} from '../store/paths.js';
import { FENCE_RETENTION_MS } from '../wal/log.js';
import type { Clock } from '../util/clock.js';
import { readCheckpointRecord } from './checkpoint-record.js';
import { markLeasedFiles } from './leases.js';

export interface GcOptions {
  clock: Clock;
  /** Unreferenced files are kept this long after this collector first saw them unreferenced (ms). */
  graceMs: number;
  /** Files this thread still needs; consulted at deletion time, so pins taken during the pass count. */
  pinned?: { has(fileId: string): boolean };
  /** Manifests to keep per live instance (the newest). Default 3. */
  keepManifests?: number;
  /**
   * The writer running this pass: it may delete the objects of its own instance while it holds the newest
   * epoch. Without one, only objects of retired or vanished instances are collected.
   */
  collector?: { instanceId: string; epoch: number };
  /** When each file was first seen unreferenced by this collector; keep it across passes. */
  unreferencedSince?: Map<string, number>;
}

export interface GcResult {
  liveFiles: number;
  deletedFiles: string[];
  deletedManifests: number;
}

export interface InstanceListing {
  seqs: number[];
  /** Epochs of the fencing records found. */
  recordEpochs: number[];
  /** Epoch of the latest manifest (0 if none). */
  manifestEpoch: number;
  retired: boolean;
  /** The latest manifest records a WAL position: the instance has (or had) a log to collect. */
  logged: boolean;
}

export async function collectGarbage(store: ObjectStore, o: GcOptions): Promise<GcResult> {
  const candidates = await store.list(SST_PREFIX);
  const live = new Set<string>();
  const seenRecords = new Set<string>();
  const markCheckpoints = async (): Promise<void> => {
    for (const c of await store.list(CHECKPOINTS_PREFIX)) {
      if (seenRecords.has(c.path)) continue;
      seenRecords.add(c.path);
      let record;
      try {
        record = await readCheckpointRecord(store, c.path);
      } catch (e) {
        if (isFloeError(e, 'NOT_FOUND')) continue; // released meanwhile
        throw e;
      }
      for (const f of record.files) live.add(f);
    }
  };
  await markCheckpoints();
  const instances = await listInstances(store);
  for (const [instanceId, inst] of instances) {
    if (inst.seqs.length === 0) continue;
    let latest;
    try {
      latest = await readManifest(store, instanceId, inst.seqs[inst.seqs.length - 1]!);
    } catch (e) {
      // A manifest that vanished between list and read was collected by its owner after a newer one was
      // written: this pass's view is stale, so it deletes nothing; the next pass retries.
      if (isFloeError(e, 'NOT_FOUND')) return { liveFiles: live.size, deletedFiles: [], deletedManifests: 0 };
      throw e;
    }
    inst.retired = latest.retired !== undefined;
    inst.manifestEpoch = latest.epoch;
    inst.logged = latest.walSeq !== undefined;
    if (!inst.retired) for (const f of latest.version.allFiles()) live.add(f.fileId);
  }
  await markCheckpoints();
  await markLeasedFiles(store, o.clock.now(), live);

  const mayDelete = (instanceId: string): boolean => {
    const inst = instances.get(instanceId);
    if (inst === undefined || inst.retired) return true;
    return o.collector?.instanceId === instanceId && o.collector.epoch >= Math.max(inst.manifestEpoch, ...inst.recordEpochs);
  };
  const deletedManifests = await trimInstanceRecords(store, instances, mayDelete, o.keepManifests ?? 3, o.clock.now());

  const now = o.clock.now();
  const since = o.unreferencedSince ?? new Map<string, number>();
  const listed = new Set<string>();
  const deletedFiles: string[] = [];
  for (const obj of candidates) {
    const fileId = parseSstPath(obj.path);
    if (fileId === undefined) continue;
    listed.add(fileId);
    if (live.has(fileId)) {
      since.delete(fileId); // referenced again (e.g. restored from a checkpoint): the clock restarts
      continue;
    }
    const owner = sstOwner(fileId);
    if (owner !== undefined && !mayDelete(owner.instanceId)) continue;
    const firstSeen = since.get(fileId) ?? now;
    since.set(fileId, firstSeen);
    // Without an mtime we cannot prove the file is old: keep it.
    if (obj.mtimeMs === undefined || now - obj.mtimeMs < o.graceMs || now - firstSeen < o.graceMs) continue;
    if (o.pinned?.has(fileId)) continue;
    await store.delete(sstPath(fileId));
    since.delete(fileId);
    deletedFiles.push(fileId);
  }
  for (const id of since.keys()) if (!listed.has(id)) since.delete(id);
  return { liveFiles: live.size, deletedFiles, deletedManifests };
}

/** Manifest seqs and fencing-record epochs of every instance on the store. */
async function listInstances(store: ObjectStore): Promise<Map<string, InstanceListing>> {
  const instances = new Map<string, InstanceListing>();
  const entry = (id: string): InstanceListing => {
    let e = instances.get(id);
    if (e === undefined) {
      e = { seqs: [], recordEpochs: [], manifestEpoch: 0, retired: false, logged: false };
      instances.set(id, e);
    }
    return e;
  };
  for (const obj of await store.list(INSTANCES_PREFIX)) {
    const manifest = parseManifestPath(obj.path);
    if (manifest) entry(manifest.instanceId).seqs.push(manifest.seq);
    const epoch = parseEpochPath(obj.path);
    if (epoch) entry(epoch.instanceId).recordEpochs.push(epoch.epoch);
  }
  for (const e of instances.values()) {
    e.seqs.sort((a, b) => a - b);
    e.recordEpochs.sort((a, b) => a - b);
  }
  return instances;
}

/**
 * Deletes manifests beyond the newest `keep` (a retired instance keeps only its final one) and every fencing
 * record but the highest, of the instances this collector may delete from. Returns the manifests deleted.
 */
async function trimInstanceRecords(
  store: ObjectStore,
  instances: Map<string, InstanceListing>,
  mayDelete: (instanceId: string) => boolean,
  keep: number,
  now: number,
): Promise<number> {
  let deleted = 0;
  for (const [instanceId, inst] of instances) {
    if (!mayDelete(instanceId)) continue;
    const keepHere = inst.retired ? 1 : keep;
    for (const seq of inst.seqs.slice(0, Math.max(0, inst.seqs.length - keepHere))) {
      await store.delete(manifestPath(instanceId, seq));
      deleted++;
    }
    const highest = inst.recordEpochs[inst.recordEpochs.length - 1] ?? 0;
    for (const epoch of inst.recordEpochs) if (epoch < highest) await deleteIfPresent(store, epochPath(instanceId, epoch));
    if (inst.retired && inst.logged) await deleteRetiredLog(store, instanceId, now);
  }
  return deleted;
}

/**
 * A retired instance's write-ahead log is dead weight once its fence plugs have outlived every stale
 * writer's lease (lib/wal/log.ts): delete its segments older than that.
 */
async function deleteRetiredLog(store: ObjectStore, instanceId: string, now: number): Promise<void> {
  for (const obj of await store.list(walPrefix(instanceId))) {
    if (obj.mtimeMs !== undefined && now - obj.mtimeMs > FENCE_RETENTION_MS) await deleteIfPresent(store, obj.path);
  }
}

async function deleteIfPresent(store: ObjectStore, path: string): Promise<void> {
  try {
    await store.delete(path);
  } catch (e) {
    if (!isFloeError(e, 'NOT_FOUND')) throw e;
  }
}
