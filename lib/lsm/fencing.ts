/**
 * Fencing records: `instances/<id>/epoch/<epoch>`, one small object per writer epoch ever claimed.
 *
 * Why manifests alone do not fence: GC keeps only the newest manifests of an instance, so once the new
 * owner's first manifests are collected, a stale writer's create-if-absent of its next seq no longer
 * collides. Epoch records close that gap:
 *  - A writer claims an instance by creating the record of an epoch above every epoch seen (records and the
 *    latest manifest) BEFORE it reads the state it will build on.
 *  - After every durable write (manifest commit, checkpoint), a writer lists the records; a record above its
 *    own epoch means it was taken over: the write is reported FENCED, never acknowledged.
 * Why this is enough: if the check found no newer record, the new owner created its record after the check,
 * hence read the instance's state after our manifest was durable, and builds on it. If a newer record was
 * found, nothing is acknowledged (the manifest we wrote is either an old seq no reader follows, or included
 * by the new owner as an unacknowledged write).
 * GC deletes every record but the highest of an instance, so "any record above mine" (a listing), not a
 * lookup of `epoch + 1`, is the test.
 *
 * Record format: JSON { instanceId, epoch, writer, claimedAt } (informational; the name is what counts).
 */
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { listNumbered } from '../store/list-numbered.js';
import { epochPath, epochPrefix, parseEpochPath } from '../store/paths.js';

/** Epochs of every fencing record of an instance, ascending. */
export function listEpochs(store: ObjectStore, instanceId: string): Promise<number[]> {
  return listNumbered(store, epochPrefix(instanceId), (path) => parseEpochPath(path)?.epoch);
}

/**
 * Claims a writer epoch above `atLeastAbove` and above every recorded epoch of the instance. PROMISES: the
 * returned epoch's record was created by this call (no other writer holds it).
 */
export async function claimEpoch(store: ObjectStore, instanceId: string, atLeastAbove: number, writer: string, now: number): Promise<number> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const recorded = await listEpochs(store, instanceId);
    const epoch = Math.max(atLeastAbove, recorded[recorded.length - 1] ?? 0) + 1;
    const body = Buffer.from(JSON.stringify({ instanceId, epoch, writer, claimedAt: new Date(now).toISOString() }), 'utf8');
    try {
      await store.put(epochPath(instanceId, epoch), body, { ifNoneMatch: true });
      return epoch;
    } catch (e) {
      if (!isFloeError(e, 'ALREADY_EXISTS')) throw e;
    }
  }
  throw new FloeError('BUSY', `could not claim instance ${instanceId} on ${store.uri}: other writers keep claiming it; make sure only one process opens it`);
}

/** Throws FENCED if a writer with a newer epoch has claimed the instance. */
export async function checkNotFenced(store: ObjectStore, instanceId: string, epoch: number, what: string): Promise<void> {
  const recorded = await listEpochs(store, instanceId);
  const newest = recorded[recorded.length - 1] ?? 0;
  if (newest > epoch) {
    throw new FloeError(
      'FENCED',
      `instance ${instanceId} on ${store.uri} was taken over by another writer (epoch ${newest}; this writer has epoch ${epoch}), ` +
        `so ${what} is not durable. This store can no longer write; close it (and reopen if this process should own the instance).`,
      { path: epochPath(instanceId, newest) },
    );
  }
}
