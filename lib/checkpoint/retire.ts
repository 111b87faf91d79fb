/**
 * Retiring an instance: closing it for good so that GC can reclaim what only it kept alive.
 *
 * Restores and rescales create new instances; without retirement the old ones stay live forever and their
 * latest manifests keep every file they reference. Retiring claims the instance's next epoch (so a writer
 * still using it is fenced on its next durable write), then writes a final manifest with an empty version
 * and `retired` set. From then on the instance cannot be opened, and GC treats its files like any other
 * unreferenced files (collected after the grace period unless a checkpoint or another instance references
 * them); any collector may delete its objects, keeping only the final manifest and fencing record.
 *
 * Done automatically by a claiming restore (the new owner is durable, the sources are retired) and when a
 * sharded store's layout is replaced by a restore (instances of the old layout only); by hand with
 * `retireInstance()` or `floe instances retire`.
 */
import type { CheckpointHandle, StoreOptions } from '../api.js';
import { FloeError, isFloeError } from '../errors.js';
import { checkNotFenced, claimEpoch } from '../lsm/fencing.js';
import { readLatestManifest, writeManifest, type ManifestState } from '../lsm/manifest.js';
import { Version } from '../lsm/version.js';
import { listSegments, WalLog } from '../wal/log.js';
import { resolveOptions } from '../options.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkpointPath } from '../store/paths.js';
import { openObjectStore } from '../store/open.js';
import { systemClock, type Clock } from '../util/clock.js';
import { Random } from '../util/random.js';

export interface RetireResult {
  instanceId: string;
  /** False if it was retired already (retiring is idempotent). */
  retiredNow: boolean;
  /** File references its last live version held (now released to GC unless used elsewhere). */
  releasedReferences: number;
}

/** Retires `instanceId` on the primary of `options`. INVALID_ARGUMENT if there is no such instance. */
export async function retireInstance(options: StoreOptions, instanceId: string): Promise<RetireResult> {
  const resolved = resolveOptions({ ...options, instanceId });
  const { store } = await openObjectStore(resolved.primary, { s3: resolved.s3, hdfs: resolved.hdfs });
  try {
    return await retireOn(store, instanceId, systemClock, new Random((Date.now() ^ (process.pid << 8)) >>> 0));
  } finally {
    await store.close();
  }
}

/** Retires an instance through an open object store. */
export async function retireOn(store: ObjectStore, instanceId: string, clock: Clock, random: Random): Promise<RetireResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = await readLatestManifest(store, instanceId);
    if (before === undefined) {
      throw new FloeError('INVALID_ARGUMENT', `there is no instance ${instanceId} on ${store.uri}; list instances with \`floe instances list\``);
    }
    if (before.retired !== undefined) return { instanceId, retiredNow: false, releasedReferences: 0 };
    const writer = `retire-${random.nextU32().toString(16).padStart(8, '0')}`;
    const epoch = await claimEpoch(store, instanceId, before.epoch, writer, clock.now());
    const latest = (await readLatestManifest(store, instanceId)) ?? before;
    if (latest.retired !== undefined) return { instanceId, retiredNow: false, releasedReferences: 0 };
    // A writer still logging to the instance must fail now, not at its next lease check: plug its log.
    let walSeq = latest.walSeq;
    if (walSeq !== undefined || (await listSegments(store, instanceId)).length > 0) {
      const { log } = await WalLog.open(store, instanceId, epoch, { walSeq: walSeq ?? 0, afterSequence: Number.MAX_SAFE_INTEGER, ...(latest.walFloor !== undefined ? { walFloor: latest.walFloor } : {}) }, clock, () =>
        checkNotFenced(store, instanceId, epoch, 'retiring the instance'),
      );
      walSeq = log.nextSequence; // recorded in the final manifest: GC then knows there is a log to collect
    }
    const final: ManifestState = {
      ...latest,
      epoch,
      seq: latest.seq + 1,
      writer,
      version: Version.empty(),
      compactPointers: [],
      retired: new Date(clock.now()).toISOString(),
      ...(walSeq !== undefined ? { walSeq } : {}),
    };
    try {
      await writeManifest(store, final, clock.now());
      await checkNotFenced(store, instanceId, epoch, 'retiring the instance');
      return { instanceId, retiredNow: true, releasedReferences: latest.version.allFiles().length };
    } catch (e) {
      if (!isFloeError(e, 'FENCED')) throw e;
    }
  }
  throw new FloeError('BUSY', `could not retire instance ${instanceId} on ${store.uri}: writers keep claiming it; stop them first`);
}

/**
 * Claim mode, once the new owner(s) are durable: drops the checkpoint records and retires every source
 * instance of the handles except `keep` (instances the new owner itself uses).
 */
export async function claimCheckpoints(store: ObjectStore, handles: CheckpointHandle[], keep: ReadonlySet<string>, clock: Clock, random: Random): Promise<void> {
  for (const h of handles) {
    try {
      await store.delete(checkpointPath(h.checkpointId));
    } catch (e) {
      if (!isFloeError(e, 'NOT_FOUND')) throw e;
    }
  }
  const sources = new Set(handles.flatMap((h) => h.instances.map((i) => i.instanceId)));
  for (const id of sources) {
    if (keep.has(id)) continue;
    try {
      await retireOn(store, id, clock, random);
    } catch (e) {
      // A source that vanished was retired and collected already.
      if (!isFloeError(e, 'INVALID_ARGUMENT')) throw e;
    }
  }
}
