/**
 * Retained checkpoint records, `checkpoints/<checkpointId>.json`: what GC must keep alive, and what a
 * restore reads. A record is self-contained: it lists every file reference of every instance at the
 * checkpoint, so it does not depend on manifests that GC may later delete.
 *
 * Format (docs/format.md, "Checkpoint record"): JSON
 *   { format: 'floe-checkpoint-record', formatVersion: 1, handle: CheckpointHandle,
 *     instances: [{ instanceId, keyGroups, lastSequence, levels: FileMetaJson[][] }], files: string[],
 *     hot?: { [fileId]: [offset, length][] } }   (ranges in the disk cache at checkpoint time)
 * Version 2 adds `rangeTombstones` to an instance (written as version 2 only when some instance has any).
 */
import { readVerified } from '../store/read-verified.js';
import type { CheckpointHandle } from '../api.js';
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { CHECKPOINTS_PREFIX, checkpointPath, parseCheckpointPath } from '../store/paths.js';
import { fileMetaFromJson, fileMetaToJson, type FileMeta, type FileMetaJson } from '../lsm/file-meta.js';
import { tombstoneFromJson, tombstoneToJson, type RangeTombstone, type RangeTombstoneJson } from '../lsm/range-tombstones.js';

export const CHECKPOINT_RECORD_VERSION = 2;

export interface CheckpointInstance {
  instanceId: string;
  keyGroups: [number, number];
  lastSequence: number;
  levels: FileMeta[][];
  /** Range tombstones of the instance's version (lib/lsm/range-tombstones.ts); absent when none. */
  rangeTombstones?: RangeTombstone[];
}

export interface CheckpointRecord {
  handle: CheckpointHandle;
  instances: CheckpointInstance[];
  /** Every referenced file id (for GC). */
  files: string[];
  /** Byte ranges of files that were in the disk cache at checkpoint time: what warm-up prefetches. */
  hot?: Record<string, Array<[number, number]>>;
}

interface RecordJson {
  format: 'floe-checkpoint-record';
  formatVersion: number;
  handle: CheckpointHandle;
  instances: Array<{ instanceId: string; keyGroups: [number, number]; lastSequence: number; levels: FileMetaJson[][]; rangeTombstones?: RangeTombstoneJson[] }>;
  files: string[];
  hot?: Record<string, Array<[number, number]>>;
}

export function encodeCheckpointRecord(r: CheckpointRecord): Uint8Array {
  const json: RecordJson = {
    format: 'floe-checkpoint-record',
    formatVersion: r.instances.some((i) => (i.rangeTombstones?.length ?? 0) > 0) ? 2 : 1,
    handle: r.handle,
    instances: r.instances.map(({ rangeTombstones, ...i }) => ({
      ...i,
      levels: i.levels.map((l) => l.map(fileMetaToJson)),
      ...(rangeTombstones !== undefined && rangeTombstones.length > 0 ? { rangeTombstones: rangeTombstones.map(tombstoneToJson) } : {}),
    })),
    files: r.files,
    ...(r.hot ? { hot: r.hot } : {}),
  };
  return Buffer.from(JSON.stringify(json), 'utf8');
}

export function decodeCheckpointRecord(bytes: Uint8Array, path: string): CheckpointRecord {
  let json: RecordJson;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as RecordJson;
  } catch (cause) {
    throw new FloeError('CORRUPTION', `corrupt checkpoint record ${path}: not valid JSON`, { path, cause });
  }
  if (json?.format !== 'floe-checkpoint-record' || !Array.isArray(json.instances) || !Array.isArray(json.files)) {
    throw new FloeError('CORRUPTION', `corrupt checkpoint record ${path}: not a Floe checkpoint record`, { path });
  }
  if (json.formatVersion !== 1 && json.formatVersion !== CHECKPOINT_RECORD_VERSION) {
    throw new FloeError('VERSION', `checkpoint record ${path} has format version ${json.formatVersion}; this Floe reads ${CHECKPOINT_RECORD_VERSION}. Upgrade Floe.`, { path });
  }
  return {
    handle: json.handle,
    instances: json.instances.map(({ rangeTombstones, ...i }) => ({
      ...i,
      levels: i.levels.map((l) => l.map((f) => fileMetaFromJson(f, path))),
      ...(Array.isArray(rangeTombstones) ? { rangeTombstones: rangeTombstones.map((t) => tombstoneFromJson(t, path)) } : {}),
    })),
    files: json.files,
    ...(json.hot && typeof json.hot === 'object' ? { hot: json.hot } : {}),
  };
}

export async function readCheckpointRecord(store: ObjectStore, path: string): Promise<CheckpointRecord> {
  return readVerified(store, path, (bytes) => decodeCheckpointRecord(bytes, path));
}

/**
 * Every checkpoint record retained on `store`, with its id, in listing order. A record released between the
 * listing and its read (checkpoints are released while others list them) is left out, not an error.
 */
export async function listCheckpointRecords(store: ObjectStore): Promise<Array<{ id: string; record: CheckpointRecord }>> {
  const out: Array<{ id: string; record: CheckpointRecord }> = [];
  for (const o of await store.list(CHECKPOINTS_PREFIX)) {
    const id = parseCheckpointPath(o.path);
    if (id === undefined) continue;
    try {
      out.push({ id, record: await readCheckpointRecord(store, o.path) });
    } catch (e) {
      if (!isFloeError(e, 'NOT_FOUND')) throw e; // released while we listed
    }
  }
  return out;
}

export async function writeCheckpointRecord(store: ObjectStore, r: CheckpointRecord): Promise<void> {
  await store.put(checkpointPath(r.handle.checkpointId), encodeCheckpointRecord(r), { ifNoneMatch: true });
}
