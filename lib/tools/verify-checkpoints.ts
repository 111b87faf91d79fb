/**
 * `floe verify`, checkpoint records and shard layouts: every record decodes, its name matches its handle,
 * every file its instances reference is in its `files` list (what GC keeps alive for it); and every shard
 * layout decodes. Collects the records' file references for the SST checks (existence and size included).
 */
import { FloeError, isFloeError } from '../errors.js';
import { decodeCheckpointRecord, type CheckpointRecord } from '../checkpoint/checkpoint-record.js';
import { decodeLayout } from '../daemon/layout.js';
import type { ObjectInfo, ObjectStore } from '../store/object-store.js';
import { parseCheckpointPath, parseLayoutPath } from '../store/paths.js';
import type { Findings } from './verify-report.js';
import type { SstReference } from './verify-sst.js';

export interface CheckpointResult {
  /** References of every checkpoint record, by file id. */
  refs: Map<string, SstReference[]>;
}

/** REQUIRES the listing of `checkpoints/`. PROMISES every problem is in `findings`. */
export async function verifyCheckpoints(store: ObjectStore, objects: ObjectInfo[], f: Findings): Promise<CheckpointResult> {
  const refs = new Map<string, SstReference[]>();
  for (const o of objects) {
    const id = parseCheckpointPath(o.path);
    if (id === undefined) continue;
    const action = `This checkpoint cannot be restored. Release it (floe checkpoints release ${id}) and take a new checkpoint.`;
    let record: CheckpointRecord;
    try {
      record = decodeCheckpointRecord(await store.get(o.path), `${store.uri}/${o.path}`);
    } catch (e) {
      if (isFloeError(e, 'NOT_FOUND')) {
        f.info(o.path, 'vanished while verifying (released meanwhile)', 'Nothing to do.');
        continue;
      }
      if (!(e instanceof FloeError) || (e.code !== 'CORRUPTION' && e.code !== 'VERSION')) throw e;
      f.error(o.path, e.message, action);
      continue;
    }
    f.counts.checkpoints++;
    if (record.handle?.checkpointId !== id) {
      f.error(o.path, `the record's handle names checkpoint ${JSON.stringify(record.handle?.checkpointId)}, not ${id}`, action);
    }
    const listed = new Set(record.files);
    const from = `checkpoint ${id}`;
    for (const inst of record.instances) {
      for (const meta of inst.levels.flat()) {
        if (!listed.has(meta.fileId)) {
          f.error(o.path, `instance ${inst.instanceId} references ${meta.fileId}, which is missing from the record's files list, so GC may delete it`, action);
        }
        const list = refs.get(meta.fileId) ?? [];
        list.push({ from, meta });
        refs.set(meta.fileId, list);
      }
    }
  }
  return { refs };
}

/** Every shard layout decodes and its name matches its contents. */
export async function verifyLayouts(store: ObjectStore, objects: ObjectInfo[], f: Findings): Promise<void> {
  for (const o of objects) {
    const parsed = parseLayoutPath(o.path);
    if (parsed === undefined) continue;
    const action = 'A daemon or sharded store using this layout cannot start. Restore from a checkpoint (floe daemon --restore), or put back the object from a backup.';
    try {
      const layout = decodeLayout(await store.get(o.path), `${store.uri}/${o.path}`);
      f.counts.layouts++;
      if (layout.name !== parsed.name || layout.seq !== parsed.seq) {
        f.error(o.path, `the layout says name ${layout.name} seq ${layout.seq}, its object name says ${parsed.name} seq ${parsed.seq}`, action);
      }
    } catch (e) {
      if (isFloeError(e, 'NOT_FOUND')) continue;
      if (!(e instanceof FloeError) || (e.code !== 'CORRUPTION' && e.code !== 'VERSION')) throw e;
      f.error(o.path, e.message, action);
    }
  }
}
