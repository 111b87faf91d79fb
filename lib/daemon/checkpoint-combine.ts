/**
 * One checkpoint of a store made of several instances (the default store's shards, or a named store's
 * parts): every instance checkpoints at one point of the router's order, and their one-instance records
 * are folded into ONE record whose handle lists every instance (docs/format.md, "Checkpoint record").
 *
 * The cut: new writes to the instances are held in the router (and everything queued behind a held write,
 * to keep each instance's order) from before the checkpoint frames are sent until every instance has
 * answered, so a batch spanning instances is either entirely before the cut or entirely after it.
 */
import type { CheckpointHandle } from '../api.js';
import { CHECKPOINT_HANDLE_VERSION } from '../checkpoint/checkpoint.js';
import { decodeCheckpointRecord, writeCheckpointRecord, type CheckpointRecord } from '../checkpoint/checkpoint-record.js';
import { asFloeError, InternalOp } from '../protocol/protocol.js';
import type { ObjectStore } from '../store/object-store.js';
import { checkpointPath } from '../store/paths.js';
import type { LogFn, ShardBus, Target } from './shard-bus.js';

export interface CombinedCheckpoint {
  bus: ShardBus;
  store: ObjectStore;
  /** The instances, in key-group order (the handle lists them in this order). */
  targets: readonly Target[];
  checkpointId: string;
  primary: string;
  maxKeyGroups: number;
  now: number;
  /** What the targets are, for error messages (`<what> <i>`). */
  what: string;
  log: LogFn;
  /** Called once the holds are set (the default store also holds writes on its shards' own sockets). */
  onHold?: () => void;
  /** Called once the holds are released. */
  onRelease?: () => void;
}

/**
 * Takes the checkpoint (see the file comment) and writes its combined record. PROMISES: the holds are
 * released whatever happens; the per-instance records are deleted afterwards (best effort: a leftover only
 * keeps files alive longer).
 */
export async function combinedCheckpoint(c: CombinedCheckpoint): Promise<CheckpointHandle> {
  for (const t of c.targets) t.holding = true;
  c.onHold?.();
  let records: CheckpointRecord[];
  let handle: CheckpointHandle;
  try {
    const raw = await Promise.all(c.targets.map((t) => c.bus.call(t, InternalOp.SHARD_CHECKPOINT, undefined, true)));
    records = raw.map((bytes, i) => decodeCheckpointRecord(bytes, `checkpoint record of ${c.what} ${i}`));
    handle = {
      format: 'floe-checkpoint',
      version: CHECKPOINT_HANDLE_VERSION,
      checkpointId: c.checkpointId,
      primary: c.primary,
      maxKeyGroups: c.maxKeyGroups,
      createdAt: new Date(c.now).toISOString(),
      instances: records.flatMap((r) => r.handle.instances),
    };
    await writeCheckpointRecord(c.store, {
      handle,
      instances: records.flatMap((r) => r.instances),
      files: [...new Set(records.flatMap((r) => r.files))],
      // No `hot` (warm-up ranges): the daemon never warms a restore up, and an embedded restore with clip
      // would prefetch every instance's ranges, in its range or not (the default store's records never had it).
    });
  } finally {
    c.bus.releaseHolds(c.targets);
    c.onRelease?.();
  }
  for (const r of records) {
    await c.store.delete(checkpointPath(r.handle.checkpointId)).catch((e: unknown) => {
      c.log('warn', 'checkpoint_cleanup_failed', { checkpointId: r.handle.checkpointId, error: asFloeError(e).message });
    });
  }
  return handle;
}
