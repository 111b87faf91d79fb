/**
 * What instances live on a primary store (for `floe instances list` and operators): each instance's latest
 * manifest, summarized. Reads only.
 */
import { readManifest } from '../lsm/manifest.js';
import type { ObjectStore } from '../store/object-store.js';
import { INSTANCES_PREFIX, parseManifestPath } from '../store/paths.js';
import { isFloeError } from '../errors.js';

export interface InstanceSummary {
  instanceId: string;
  seq: number;
  epoch: number;
  keyGroups: [number, number];
  /** File references in the latest version, and their bytes (shared files counted in full). */
  references: number;
  bytes: number;
  /** ISO time it was retired, if it was. */
  retired?: string;
}

export async function listInstanceSummaries(store: ObjectStore): Promise<InstanceSummary[]> {
  const latestSeq = new Map<string, number>();
  for (const o of await store.list(INSTANCES_PREFIX)) {
    const m = parseManifestPath(o.path);
    if (m && m.seq > (latestSeq.get(m.instanceId) ?? -1)) latestSeq.set(m.instanceId, m.seq);
  }
  const out: InstanceSummary[] = [];
  for (const [instanceId, seq] of [...latestSeq].sort((a, b) => a[0].localeCompare(b[0]))) {
    let m;
    try {
      m = await readManifest(store, instanceId, seq);
    } catch (e) {
      if (isFloeError(e, 'NOT_FOUND')) continue; // superseded and collected while we listed
      throw e;
    }
    const files = m.version.allFiles();
    out.push({
      instanceId,
      seq,
      epoch: m.epoch,
      keyGroups: m.keyGroups,
      references: files.length,
      bytes: files.reduce((n, f) => n + f.size, 0),
      ...(m.retired !== undefined ? { retired: m.retired } : {}),
    });
  }
  return out;
}
