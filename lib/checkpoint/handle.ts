/** Validation of checkpoint handles handed back by users (they may be stale, foreign or hand-edited). */
import type { CheckpointHandle } from '../api.js';
import { FloeError } from '../errors.js';

export const HANDLE_VERSION = 1;

export function validateHandle(handle: unknown, primary: string, maxKeyGroups: number): CheckpointHandle {
  const h = handle as CheckpointHandle;
  if (h === null || typeof h !== 'object' || h.format !== 'floe-checkpoint' || typeof h.checkpointId !== 'string' || !Array.isArray(h.instances)) {
    throw new FloeError('INVALID_ARGUMENT', 'not a Floe checkpoint handle: pass the object that checkpoint() returned (JSON round trips are fine)');
  }
  if (h.version !== HANDLE_VERSION) {
    throw new FloeError('VERSION', `checkpoint handle ${h.checkpointId} has version ${h.version}; this Floe reads version ${HANDLE_VERSION}`);
  }
  if (h.primary !== primary) {
    throw new FloeError(
      'CONFIG',
      `checkpoint ${h.checkpointId} lives on ${h.primary} but this store's primary is ${primary}; restore with the same primary (files are referenced, not copied)`,
    );
  }
  if (h.maxKeyGroups !== maxKeyGroups) {
    throw new FloeError('CONFIG', `checkpoint ${h.checkpointId} was taken with maxKeyGroups ${h.maxKeyGroups}, but this store uses ${maxKeyGroups}; maxKeyGroups is fixed for the life of the data`);
  }
  return h;
}
