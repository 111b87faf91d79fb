/**
 * `floe checkpoints list`: one line per checkpoint record retained on a primary (id, creation time, files,
 * instances with their key groups).
 */
import { listCheckpointRecords } from '../checkpoint/checkpoint-record.js';
import type { ObjectStore } from '../store/object-store.js';

/** The listing's lines, in path order; empty when no checkpoint is retained (one released meanwhile is left out). */
export async function checkpointListLines(store: ObjectStore): Promise<string[]> {
  return (await listCheckpointRecords(store)).map(({ id, record: r }) => {
    const groups = r.handle.instances.map((i) => `${i.instanceId}[${i.keyGroups[0]}-${i.keyGroups[1]}]`).join(' ');
    return `${id}  ${r.handle.createdAt}  ${r.files.length} file(s)  ${groups}`;
  });
}
