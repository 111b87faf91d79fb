/**
 * File safety, checked after every step: every SST that a live instance's current version, its latest
 * manifest on storage, or a retained checkpoint names must exist. (Open scans are checked as they read.)
 */
import { readLatestManifest } from '../../lib/lsm/manifest.js';
import { sstPath } from '../../lib/store/paths.js';
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
  for (const ck of life.retained) {
    for (const f of ck.files) {
      if (!(await exists(f))) throw new Violation('missing-file', `retained checkpoint ${ck.handles.map((h) => h.checkpointId).join('+')} names ${f}, which was deleted${who(f)}`);
    }
  }
}
