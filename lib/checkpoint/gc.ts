/**
 * File garbage collection: mark and sweep over primary storage, never reference counts (a crash can skew
 * counts; it cannot skew a listing).
 *
 * Mark: every SST referenced by a retained checkpoint record or by the latest manifest of any instance.
 * Checkpoint records are listed BEFORE and AFTER the manifests:
 *  - before: a restore that claims a checkpoint writes its own manifest before it deletes the record, so
 *    either the first record listing or the manifest listing sees the files;
 *  - after: a checkpoint is written (under its instance's manifest lock) before any later manifest can
 *    drop its files, so a record that references files missing from the manifests we read already existed
 *    when we read them, and the second listing sees it.
 * Sweep: unreferenced SSTs older than the grace period (which protects uploads not yet in a manifest and
 * readers of just-replaced versions), and manifests older than the newest `keepManifests` per instance.
 */
import { isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { CHECKPOINTS_PREFIX, INSTANCES_PREFIX, SST_PREFIX, manifestPath, parseManifestPath, parseSstPath, sstPath } from '../store/paths.js';
import type { Clock } from '../util/clock.js';
import { readManifest } from '../lsm/manifest.js';
import { readCheckpointRecord } from './checkpoint-record.js';

export interface GcOptions {
  clock: Clock;
  /** Unreferenced files younger than this are kept (ms). */
  graceMs: number;
  /**
   * File ids this process still needs (scans of old versions, uploads not yet in a manifest); never
   * deleted. Consulted at deletion time, so files pinned while the pass runs are safe too.
   */
  pinned?: { has(fileId: string): boolean };
  /** Manifests to keep per instance (the newest). Default 3. */
  keepManifests?: number;
}

export interface GcResult {
  liveFiles: number;
  deletedFiles: string[];
  deletedManifests: number;
}

export async function collectGarbage(store: ObjectStore, o: GcOptions): Promise<GcResult> {
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
  const manifestObjects = await store.list(INSTANCES_PREFIX);
  const seqsByInstance = new Map<string, number[]>();
  for (const m of manifestObjects) {
    const parsed = parseManifestPath(m.path);
    if (!parsed) continue;
    const list = seqsByInstance.get(parsed.instanceId) ?? [];
    list.push(parsed.seq);
    seqsByInstance.set(parsed.instanceId, list);
  }
  let deletedManifests = 0;
  const keep = o.keepManifests ?? 3;
  for (const [instanceId, seqs] of seqsByInstance) {
    seqs.sort((a, b) => a - b);
    let latest;
    try {
      latest = await readManifest(store, instanceId, seqs[seqs.length - 1]!);
    } catch (e) {
      // A manifest that vanished between list and read was superseded; the next run sees the new one.
      if (isFloeError(e, 'NOT_FOUND')) return { liveFiles: live.size, deletedFiles: [], deletedManifests: 0 };
      throw e;
    }
    for (const f of latest.version.allFiles()) live.add(f.fileId);
    for (const seq of seqs.slice(0, Math.max(0, seqs.length - keep))) {
      await store.delete(manifestPath(instanceId, seq));
      deletedManifests++;
    }
  }
  await markCheckpoints();
  const now = o.clock.now();
  const deletedFiles: string[] = [];
  for (const obj of await store.list(SST_PREFIX)) {
    const fileId = parseSstPath(obj.path);
    if (fileId === undefined || live.has(fileId) || o.pinned?.has(fileId)) continue;
    // Without an mtime we cannot prove the file is old: keep it.
    if (obj.mtimeMs === undefined || now - obj.mtimeMs < o.graceMs) continue;
    await store.delete(sstPath(fileId));
    deletedFiles.push(fileId);
  }
  return { liveFiles: live.size, deletedFiles, deletedManifests };
}
