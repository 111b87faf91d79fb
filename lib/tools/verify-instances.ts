/**
 * `floe verify`, the instances: every manifest still present decodes (magic, CRC, JSON, instance id and seq
 * match its name), manifest epochs never go backwards as seqs go up, the latest manifest's epoch was claimed
 * (a fencing record at or above it), and every WAL segment decodes (a torn tail only in the last one).
 * Collects the file references of every live (not retired) instance's latest manifest for the SST checks.
 */
import { FloeError, isFloeError } from '../errors.js';
import { decodeManifest, type ManifestState } from '../lsm/manifest.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { manifestPath, parseEpochPath, parseManifestPath, parseWalPath, walPath } from '../store/paths.js';
import { Semaphore } from '../util/semaphore.js';
import { decodeSegment } from '../wal/format.js';
import type { Findings } from './verify-report.js';
import type { SstReference } from './verify-sst.js';

interface InstanceObjects {
  seqs: number[];
  epochs: number[];
  wal: number[];
}

export interface InstanceResult {
  /** References of the latest manifests of live instances, by file id. */
  refs: Map<string, SstReference[]>;
  /** Instance ids with a readable latest manifest, live or retired. */
  known: Set<string>;
}

const RESTORE = 'Restore the instance from a retained checkpoint (floe checkpoints list), or put back the original object from a backup.';

/** REQUIRES listings of `instances/` and `wal/`. PROMISES every problem is in `findings`. */
export async function verifyInstances(store: ObjectStore, instanceObjs: ObjectInfo[], walObjs: ObjectInfo[], f: Findings): Promise<InstanceResult> {
  const byId = new Map<string, InstanceObjects>();
  const entry = (id: string): InstanceObjects => {
    let e = byId.get(id);
    if (e === undefined) byId.set(id, (e = { seqs: [], epochs: [], wal: [] }));
    return e;
  };
  for (const o of instanceObjs) {
    const m = parseManifestPath(o.path);
    if (m) entry(m.instanceId).seqs.push(m.seq);
    const e = parseEpochPath(o.path);
    if (e) entry(e.instanceId).epochs.push(e.epoch);
  }
  for (const o of walObjs) {
    const w = parseWalPath(o.path);
    if (w) {
      entry(w.instanceId).wal.push(w.seq);
      f.counts.walBytes += o.size;
    }
  }
  const result: InstanceResult = { refs: new Map(), known: new Set() };
  // Instances are independent: a few at a time hide the latency of a remote store's small reads.
  const pool = new Semaphore(INSTANCES_AT_ONCE);
  await Promise.all([...byId].map(([id, objs]) => pool.run(() => verifyInstance(store, id, objs, f, result))));
  return result;
}

/** The instances verified at once; each holds at most one manifest or one WAL segment (≤ 4 MiB). */
const INSTANCES_AT_ONCE = 8;

async function verifyInstance(store: ObjectStore, id: string, objs: InstanceObjects, f: Findings, result: InstanceResult): Promise<void> {
  for (const list of [objs.seqs, objs.epochs, objs.wal]) list.sort((a, b) => a - b);
  f.counts.fencingRecords += objs.epochs.length;
  const latest = await verifyManifests(store, id, objs, f);
  await verifyWal(store, id, objs.wal, f);
  if (latest === undefined) return;
  result.known.add(id);
  f.counts.instances++;
  if (latest.retired !== undefined) {
    f.counts.retiredInstances++;
    return;
  }
  f.counts.liveInstances++;
  const from = `instance ${id} (manifest ${latest.seq})`;
  for (const meta of latest.version.allFiles()) {
    const list = result.refs.get(meta.fileId) ?? [];
    list.push({ from, meta });
    result.refs.set(meta.fileId, list);
  }
}

/** Reads every manifest of one instance; returns the latest one if it is readable. */
async function verifyManifests(store: ObjectStore, id: string, objs: InstanceObjects, f: Findings): Promise<ManifestState | undefined> {
  if (objs.seqs.length === 0) {
    if (objs.epochs.length > 0) {
      f.info(`instances/${id}/`, `fencing record(s) but no manifest: a writer claimed the instance and stopped before its first commit`, 'Nothing to do.');
    }
    return undefined;
  }
  const latestSeq = objs.seqs[objs.seqs.length - 1]!;
  let prev: ManifestState | undefined;
  let latest: ManifestState | undefined;
  for (const seq of objs.seqs) {
    const path = manifestPath(id, seq);
    const m = await readOne(store, id, seq, path, seq === latestSeq, f);
    if (m === undefined) continue;
    f.counts.manifests++;
    if (prev !== undefined && m.epoch < prev.epoch) {
      f.error(path, `manifest ${seq} has writer epoch ${m.epoch}, below epoch ${prev.epoch} of manifest ${prev.seq}: the fencing chain went backwards`, RESTORE);
    }
    prev = m;
    if (seq === latestSeq) latest = m;
  }
  const highestRecord = objs.epochs[objs.epochs.length - 1];
  if (latest !== undefined && highestRecord !== undefined && latest.epoch > highestRecord) {
    f.error(
      manifestPath(id, latest.seq),
      `the latest manifest has writer epoch ${latest.epoch}, but the highest fencing record is epoch ${highestRecord}: a stale writer could still commit`,
      'Stop every writer of this instance, then reopen it once (opening claims a new epoch) and run floe verify again.',
    );
  }
  return latest;
}

async function readOne(store: ObjectStore, id: string, seq: number, path: string, isLatest: boolean, f: Findings): Promise<ManifestState | undefined> {
  const action = isLatest
    ? `This is the instance's current state: it cannot open. ${RESTORE}`
    : 'An older manifest: the instance opens from its latest one, and GC deletes old ones. Check the storage for other damage.';
  try {
    const m = decodeManifest(await store.get(path), `${store.uri}/${path}`);
    if (m.seq !== seq || m.instanceId !== id) {
      f.error(path, `the manifest says instance ${m.instanceId} seq ${m.seq}, but its name says instance ${id} seq ${seq}`, action);
      return undefined;
    }
    return m;
  } catch (e) {
    if (isFloeError(e, 'NOT_FOUND')) {
      f.info(path, 'vanished while verifying (collected by a running store)', 'Nothing to do.');
      return undefined;
    }
    if (!(e instanceof FloeError) || (e.code !== 'CORRUPTION' && e.code !== 'VERSION')) throw e;
    f.error(path, e.message, action);
    return undefined;
  }
}

/** Every segment decodes; only the last may end in a torn record (a write cut by a crash). */
async function verifyWal(store: ObjectStore, id: string, seqs: number[], f: Findings): Promise<void> {
  const lastSeq = seqs[seqs.length - 1];
  for (const seq of seqs) {
    const path = walPath(id, seq);
    try {
      const seg = decodeSegment(await store.get(path), `${store.uri}/${path}`, seq === lastSeq);
      f.counts.walSegments++;
      if (seg.tornAt !== undefined) {
        f.info(path, `the last WAL segment ends in a torn record at byte ${seg.tornAt} (a crash cut an unacknowledged write)`, 'Nothing to do: the next open replays up to it.');
      }
    } catch (e) {
      if (isFloeError(e, 'NOT_FOUND')) {
        f.info(path, 'vanished while verifying (truncated by a running store)', 'Nothing to do.');
        continue;
      }
      if (!isFloeError(e, 'CORRUPTION')) throw e;
      f.error(path, e.message, `Acknowledged writes logged there are lost if the instance must replay it. ${RESTORE}`);
    }
  }
}
