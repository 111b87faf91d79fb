/**
 * File safety, checked after every step: every SST that a live instance's current version, its latest
 * manifest on storage, or a retained checkpoint names must exist. (Open scans are checked as they read.)
 */
import { readLatestManifest } from '../../lib/lsm/manifest.js';
import { join } from 'node:path';
import { localNames, sstPath } from '../../lib/store/paths.js';
import type { Lifecycle } from './lifecycle.js';
import { Violation } from './violation.js';

export async function checkFiles(life: Lifecycle): Promise<void> {
  const exists = async (fileId: string): Promise<boolean> => (await life.raw.head(sstPath(fileId))) !== undefined;
  const who = (fileId: string): string => ` (${life.sched.deletions.get(sstPath(fileId)) ?? 'deleted outside the simulated processes'})`;
  for (const inst of life.live) {
    if (inst.proc.crashed) continue;
    for (const f of inst.store.internals().state.version.allFiles()) {
      if (!(await exists(f.fileId))) throw new Violation('missing-file', `the current version of live instance ${inst.instanceId} names ${f.fileId}, which was deleted${who(f.fileId)}`);
    }
    const latest = await readLatestManifest(life.raw, inst.instanceId);
    for (const f of latest?.version.allFiles() ?? []) {
      if (!(await exists(f.fileId))) throw new Violation('missing-file', `the latest manifest (${latest!.seq}) of live instance ${inst.instanceId} names ${f.fileId}, which was deleted${who(f.fileId)}`);
    }
  }
  const budget = life.base.diskCacheBytes ?? 0;
  for (const inst of life.live) {
    if (budget === 0 || inst.proc.crashed) continue;
    const dir = join(inst.localDir, localNames.diskCacheDir, inst.instanceId);
    const used = life.disk.usage(dir);
    const counted = inst.store.stats().diskCache.bytes;
    life.maxDiskUsed = Math.max(life.maxDiskUsed, used);
    if (used > budget || counted > budget) {
      throw new Violation('disk-budget', `the disk cache of ${inst.instanceId} uses ${used} bytes on disk (${counted} counted) over its budget of ${budget}`);
    }
  }
  for (const ck of life.retained) {
    for (const f of ck.files) {
      if (!(await exists(f))) throw new Violation('missing-file', `retained checkpoint ${ck.handles.map((h) => h.checkpointId).join('+')} names ${f}, which was deleted${who(f)}`);
    }
  }
}
