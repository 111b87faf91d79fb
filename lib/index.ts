/**
 * Floe's public API (ARCHITECTURE.md section 1): openStore, restoreStore, connect, FloeError.
 */
import type { CheckpointHandle, RestoreOptions, Store, StoreOptions } from './api.js';
import { openLsmStore } from './embedded.js';
import { restoreStore as restoreLsm } from './checkpoint/restore.js';
import { openShardedStore, restoreShardedStore } from './daemon/sharded-store.js';

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
export { connect, type ConnectOptions, type FloeClient, type FloeNamedStoreClient } from './client/client.js';
export type { OpenStoreRequest, OpenStoreResult } from './protocol/named-store.js';
export { retireInstance, type RetireResult } from './checkpoint/retire.js';

/**
 * Opens (or creates) the store under `options.primary`. With `options.shards`, the store runs that many
 * shard worker threads behind an in-process router (lib/daemon/sharded-store.ts).
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  if (options?.shards !== undefined) return openShardedStore(options);
  return openLsmStore(options);
}

/**
 * Opens a NEW writable store whose state equals the checkpoints' state clipped to `restore.keyGroups`,
 * referencing (not copying) their files. With `options.shards`, the result is a sharded store of that many
 * shards (any shard count: this is how a store is rescaled).
 */
export async function restoreStore(options: StoreOptions, handles: CheckpointHandle[], restore: RestoreOptions = {}): Promise<Store> {
  if (options?.shards !== undefined) return restoreShardedStore(options, handles, restore);
  return restoreLsm(options, handles, restore);
}
