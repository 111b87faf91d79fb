/**
 * Checkpoints by reference: a checkpoint is a record listing the live SST references of an instance at one
 * version; no SST is copied. Consecutive checkpoints share every unchanged file (incremental by nature).
 */
import type { CheckpointHandle } from '../api.js';
import { isFloeError } from '../errors.js';
import type { CheckpointOps, LsmStore } from '../lsm/lsm-store.js';
import { checkpointPath } from '../store/paths.js';
import { collectGarbage } from './gc.js';
import { pinsOfThread } from './pins.js';
import { writeCheckpointRecord } from './checkpoint-record.js';
import { validateHandle } from './handle.js';

export const CHECKPOINT_HANDLE_VERSION = 1;

/** REQUIRES: called with the store's manifest commits serialized and memtables flushed (LsmStore.checkpoint). */
async function checkpoint(lsm: LsmStore): Promise<CheckpointHandle> {
  const { state, options, store, clock, random, cachedRanges, settleCache } = lsm.internals();
  const suffix = random.nextU32().toString(16).padStart(8, '0');
  const checkpointId = `${state.instanceId}-${state.epoch}-${state.seq}-${suffix}`;
  const handle: CheckpointHandle = {
    format: 'floe-checkpoint',
    version: CHECKPOINT_HANDLE_VERSION,
    checkpointId,
    primary: options.primary,
    maxKeyGroups: state.maxKeyGroups,
    createdAt: new Date(clock.now()).toISOString(),
    instances: [{ instanceId: state.instanceId, manifestSeq: state.seq, keyGroups: state.keyGroups, lastSequence: state.lastSequence }],
  };
  const levels = state.version.levels.map((l) => l.slice());
  const files = [...new Set(state.version.allFiles().map((f) => f.fileId))];
  await settleCache();
  const hot: Record<string, Array<[number, number]>> = {};
  for (const f of files) {
    const ranges = cachedRanges(f);
    if (ranges.length > 0) hot[f] = ranges;
  }
  await writeCheckpointRecord(store, {
    handle,
    instances: [{ instanceId: state.instanceId, keyGroups: state.keyGroups, lastSequence: state.lastSequence, levels, rangeTombstones: state.version.rangeTombstones.slice() }],
    files,
    hot,
  });
  return handle;
}

async function release(lsm: LsmStore, handle: CheckpointHandle): Promise<void> {
  const { store, options } = lsm.internals();
  validateHandle(handle, options.primary, options.maxKeyGroups);
  try {
    await store.delete(checkpointPath(handle.checkpointId));
  } catch (e) {
    if (!isFloeError(e, 'NOT_FOUND')) throw e;
  }
}

async function gc(lsm: LsmStore): Promise<void> {
  const { store, clock, options, state, unreferencedSince, lease } = lsm.internals();
  await lease.refreshIfDue();
  await collectGarbage(store, {
    clock,
    graceMs: options.gcGraceMs,
    pinned: pinsOfThread(store.uri),
    collector: { instanceId: state.instanceId, epoch: state.epoch },
    unreferencedSince,
  });
}

export const checkpointOps: CheckpointOps = { checkpoint, release, collectGarbage: gc };

