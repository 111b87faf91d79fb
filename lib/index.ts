/**
 * Floe's public API (docs/architecture.md, section 1 "Public contract"): openStore, restoreStore, connect, FloeError.
 */
import type { CheckpointHandle, EmbeddedStore, RestoreOptions, Store, StoreOptions } from './api.js';
import { openLsmStore } from './embedded.js';
import { restoreStore as restoreLsm } from './checkpoint/restore.js';
import { openShardedStore, restoreShardedStore } from './daemon/sharded-store.js';

export type {
  CheckpointHandle,
  DeleteRangeOptions,
  EmbeddedStore,
  ExtendedStore,
  FloeIterator,
  IteratorEntry,
  IteratorOptions,
  ReadOptions,
  Snapshot,
  SnapshotScanOptions,
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
  WriteOptions,
} from './api.js';
export { FloeError, type FloeErrorCode } from './errors.js';
export { defaultKeyGroup, murmur3_32, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './keys.js';
export { connect, type ConnectOptions, type FloeClient, type FloeNamedStoreClient } from './client/client.js';
export type { OpenStoreRequest, OpenStoreResult } from './protocol/named-store.js';
export { retireInstance, type RetireResult } from './checkpoint/retire.js';

/**
 * Opens (or creates) the store under `options.primary`. With `options.shards`, the store runs that many
 * shard worker threads behind an in-process router (lib/daemon/sharded-store.ts). Without `shards` the store
 * is embedded: it also has `iterator()` and `snapshot()` (EmbeddedStore).
 */
export function openStore(options: StoreOptions & { shards?: undefined }): Promise<EmbeddedStore>;
export function openStore(options: StoreOptions): Promise<Store>;
export async function openStore(options: StoreOptions): Promise<Store> {
  if (options?.shards !== undefined) return openShardedStore(options);
  return openLsmStore(options);
}

/**
 * Opens a NEW writable store whose state equals the checkpoints' state clipped to `restore.keyGroups`,
 * referencing (not copying) their files. With `options.shards`, the result is a sharded store of that many
 * shards (any shard count: this is how a store is rescaled).
 */
export function restoreStore(options: StoreOptions & { shards?: undefined }, handles: CheckpointHandle[], restore?: RestoreOptions): Promise<EmbeddedStore>;
export function restoreStore(options: StoreOptions, handles: CheckpointHandle[], restore?: RestoreOptions): Promise<Store>;
export async function restoreStore(options: StoreOptions, handles: CheckpointHandle[], restore: RestoreOptions = {}): Promise<Store> {
  if (options?.shards !== undefined) return restoreShardedStore(options, handles, restore);
  return restoreLsm(options, handles, restore);
}
