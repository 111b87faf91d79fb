/**
 * Floe's public API (ARCHITECTURE.md section 1): openStore, restoreStore, connect, FloeError.
 */
import type { CheckpointHandle, RestoreOptions, Store, StoreOptions } from './api.js';
import { openLsmStore } from './embedded.js';
import { restoreStore as restoreLsm } from './checkpoint/restore.js';

export type {
  CheckpointHandle,
  KeyGroupOption,
  RestoreOptions,
  S3Options,
  HdfsOptions,
  ScanEntry,
  ScanOptions,
  Store,
  StoreOptions,
  StoreStats,
  WriteOp,
} from './api.js';
export { FloeError, type FloeErrorCode } from './errors.js';
export { defaultKeyGroup, murmur3_32, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './keys.js';

/** Opens (or creates) the store under `options.primary`. */
export async function openStore(options: StoreOptions): Promise<Store> {
  return openLsmStore(options);
}

/**
 * Opens a NEW writable store whose state equals the checkpoints' state clipped to `restore.keyGroups`,
 * referencing (not copying) their files.
 */
export async function restoreStore(options: StoreOptions, handles: CheckpointHandle[], restore: RestoreOptions = {}): Promise<Store> {
  return restoreLsm(options, handles, restore);
}
