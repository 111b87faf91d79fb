/**
 * Restore and rescale by reference: a new writable instance whose first manifest references the files
 * of one or more checkpoints, clipped to a key-group range. No SST is read, copied or downloaded; the
 * only I/O is reading the checkpoint records, checking the files exist (HEAD), and writing one manifest.
 */
import type { CheckpointHandle, RestoreOptions, StoreOptions } from '../api.js';
import { FloeError, isFloeError } from '../errors.js';
import { openLsmStore, type OpenInternals } from '../embedded.js';
import { isEmptyReference, type FileMeta } from '../lsm/file-meta.js';
import type { LsmStore } from '../lsm/lsm-store.js';
import type { ManifestState } from '../lsm/manifest.js';
import { readLatestManifest } from '../lsm/manifest.js';
import { NUM_LEVELS, Version } from '../lsm/version.js';
import { clipTombstones, type RangeTombstone } from '../lsm/range-tombstones.js';
import { resolveOptions } from '../options.js';
import { openObjectStore } from '../store/open.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkpointPath, sstPath } from '../store/paths.js';
import { claimCheckpoints } from './retire.js';
import { Random } from '../util/random.js';
import { readCheckpointRecord, type CheckpointRecord } from './checkpoint-record.js';
import { validateHandle } from './handle.js';

export async function restoreStore(
  input: StoreOptions,
  handles: CheckpointHandle[],
  restore: RestoreOptions = {},
  internals: OpenInternals = {},
): Promise<LsmStore> {
  const options = resolveOptions(input);
  if (!Array.isArray(handles) || handles.length === 0) {
    throw new FloeError('INVALID_ARGUMENT', 'restoreStore needs a non-empty array of checkpoint handles');
  }
  for (const h of handles) validateHandle(h, options.primary, options.maxKeyGroups);
  const max = options.maxKeyGroups;
  const range = restore.keyGroups ?? [0, max - 1];
  if (!Array.isArray(range) || range.length !== 2 || !range.every((n) => Number.isInteger(n)) || range[0] < 0 || range[1] >= max || range[0] > range[1]) {
    throw new FloeError('INVALID_ARGUMENT', `keyGroups must be [start, endInclusive] within [0, ${max - 1}], got ${JSON.stringify(restore.keyGroups)}`);
  }
  const mode = restore.mode ?? 'no-claim';
  if (mode !== 'claim' && mode !== 'no-claim') throw new FloeError('INVALID_ARGUMENT', `mode must be 'claim' or 'no-claim', got ${JSON.stringify(mode)}`);

  const random = internals.random ?? new Random((Date.now() ^ (process.pid << 8)) >>> 0);
  const instanceId = input.instanceId ?? `restored-${random.nextU32().toString(16).padStart(8, '0')}${random.nextU32().toString(16).padStart(8, '0')}`;
  // The same stack the store itself will use (an injected latency or fault wrapper included), so the
  // record read and the existence checks see what the store's own I/O sees.
  // Only reads here; the restored store's own open probes the endpoint before anything is written.
  const { store } = await openObjectStore(options.primary, {
    skipProbe: true,
    s3: options.s3,
    hdfs: options.hdfs,
    random: random.fork(),
    ...(internals.clock ? { clock: internals.clock } : {}),
    ...(internals.inject ? { inject: internals.inject } : {}),
  });
  let initial: ManifestState;
  let records: CheckpointRecord[];
  try {
    records = await Promise.all(handles.map((h) => readRecord(store, h)));
    initial = planRestore(records, range, instanceId, max);
    if ((await readLatestManifest(store, instanceId)) !== undefined) {
      throw new FloeError('CONFIG', `instance ${instanceId} already exists on ${options.primary}; restore into a new instanceId`);
    }
    await checkFilesExist(store, initial.version.allFiles());
  } finally {
    await store.close();
  }
  const lsm = await openLsmStore({ ...input, instanceId }, { ...internals, random, initialState: () => initial });
  if (restore.warmUp === true) {
    const ranges = records.flatMap((r) => Object.entries(r.hot ?? {}).flatMap(([fileId, rs]) => rs.map(([offset, length]) => ({ fileId, offset, length }))));
    // Background: reads never wait for warm-up; a failure only leaves the cache colder.
    lsm.warmUp = lsm.prefetch(ranges).catch(() => 0);
  }
  if (mode === 'claim') {
    // The new instance's manifest now references the files; only then may the records go and the sources
    // be retired (GC lists checkpoints before manifests, so the files are never unreferenced in between).
    const { store: s, clock } = lsm.internals();
    await claimCheckpoints(s, handles, new Set([instanceId]), clock, random.fork());
  }
  return lsm;
}

async function readRecord(store: ObjectStore, h: CheckpointHandle): Promise<CheckpointRecord> {
  try {
    return await readCheckpointRecord(store, checkpointPath(h.checkpointId));
  } catch (e) {
    if (isFloeError(e, 'NOT_FOUND')) {
      throw new FloeError('INVALID_ARGUMENT', `checkpoint ${h.checkpointId} no longer exists on ${store.uri} (released or collected); use a retained checkpoint`);
    }
    throw e;
  }
}

/** The first manifest of the restored instance. Throws INVALID_ARGUMENT on overlapping inputs. */
export function planRestore(records: CheckpointRecord[], range: [number, number], instanceId: string, maxKeyGroups: number): ManifestState {
  const parts: Array<{ keyGroups: [number, number]; lastSequence: number; levels: FileMeta[][]; rangeTombstones?: RangeTombstone[] }> = [];
  for (const r of records) for (const inst of r.instances) parts.push(inst);
  const clipped = parts
    .map((p) => ({ ...p, clip: [Math.max(p.keyGroups[0], range[0]), Math.min(p.keyGroups[1], range[1])] as [number, number] }))
    .filter((p) => p.clip[0] <= p.clip[1])
    .sort((a, b) => a.clip[0] - b.clip[0]);
  for (let i = 1; i < clipped.length; i++) {
    if (clipped[i]!.clip[0] <= clipped[i - 1]!.clip[1]) {
      throw new FloeError(
        'INVALID_ARGUMENT',
        `the checkpoints overlap in key groups [${clipped[i]!.clip[0]}, ${Math.min(clipped[i]!.clip[1], clipped[i - 1]!.clip[1])}]; restore handles with disjoint key-group ranges`,
      );
    }
  }
  const levels: FileMeta[][] = Array.from({ length: NUM_LEVELS }, () => []);
  const tombstones: RangeTombstone[] = [];
  let lastSequence = 0;
  for (const p of clipped) {
    lastSequence = Math.max(lastSequence, p.lastSequence);
    // A part's tombstones cover only its own key groups, hence only its own files' entries (sequence
    // numbers of different instances are never compared).
    tombstones.push(...clipTombstones(p.rangeTombstones ?? [], p.clip[0], p.clip[1]));
    p.levels.forEach((files, level) => {
      for (const f of files) {
        const prev = f.clip ?? [0, maxKeyGroups - 1];
        const clip: [number, number] = [Math.max(prev[0], p.clip[0]), Math.min(prev[1], p.clip[1])];
        if (clip[0] > clip[1]) continue;
        const ref: FileMeta = { ...f, clip };
        if (!isEmptyReference(ref)) levels[level]!.push(ref);
      }
    });
  }
  return {
    instanceId,
    epoch: 1,
    seq: 1,
    nextFileNumber: 1,
    lastSequence,
    maxKeyGroups,
    keyGroups: range,
    // L0 keeps each part's newest-first order; parts are disjoint in key groups, so their relative order is free.
    version: new Version(levels, tombstones).apply({ deleted: [], added: [] }),
    compactPointers: [],
    writer: '', // replaced by the claiming writer's id when the instance is created
  };
}

/** Existence checks in flight at once: one round trip for typical stores (hundreds of files). */
const HEAD_CONCURRENCY = 256;

async function checkFilesExist(store: ObjectStore, files: FileMeta[]): Promise<void> {
  const ids = [...new Set(files.map((f) => f.fileId))];
  const missing: string[] = [];
  for (let i = 0; i < ids.length; i += HEAD_CONCURRENCY) {
    const heads = await Promise.all(ids.slice(i, i + HEAD_CONCURRENCY).map((id) => store.head(sstPath(id))));
    heads.forEach((h, j) => {
      if (h === undefined) missing.push(ids[i + j]!);
    });
  }
  if (missing.length > 0) {
    throw new FloeError(
      'CORRUPTION',
      `the checkpoint references ${missing.length} file(s) missing from ${store.uri} (e.g. ${sstPath(missing[0]!)}); they were deleted outside Floe. Use another checkpoint.`,
      { path: sstPath(missing[0]!) },
    );
  }
}
