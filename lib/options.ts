/**
 * Store options: every default lives here, and every option is validated here with a CONFIG error that
 * names the option and the accepted values.
 */
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { isAbsolute } from 'node:path';
import type { StoreOptions } from './api.js';
import { FloeError } from './errors.js';
import { MAX_KEY_GROUPS } from './keys.js';
import { defaultLocalDirPath } from './store/paths.js';
import { MAX_TTL_MS, type TtlConfig } from './lsm/ttl.js';

const MiB = 2 ** 20;

export interface ResolvedOptions {
  primary: string;
  localDir: string;
  maxKeyGroups: number;
  blockCacheBytes: number;
  diskCacheBytes: number;
  s3: NonNullable<StoreOptions['s3']>;
  hdfs: NonNullable<StoreOptions['hdfs']>;
  shards: number | undefined;
  memtableBytes: number;
  maxImmutableMemtables: number;
  targetFileBytes: number;
  blockBytes: number;
  compression: 'none' | 'lz4' | 'zstd';
  l0CompactionTrigger: number;
  l0StopWritesTrigger: number;
  levelBaseBytes: number;
  levelMultiplier: number;
  readConcurrency: number;
  compactionWorkers: number;
  compactionMemoryBytes: number;
  instanceId: string;
  gcGraceMs: number;
  durability: 'checkpoint' | 'wal';
  ttl: TtlConfig;
}

export const DEFAULT_INSTANCE_ID = 'main';

const KNOWN_OPTIONS = new Set([
  'primary', 'localDir', 'maxKeyGroups', 'blockCacheBytes', 'diskCacheBytes', 's3', 'hdfs', 'shards', 'memtableBytes',
  'maxImmutableMemtables', 'targetFileBytes', 'blockBytes', 'compression', 'l0CompactionTrigger', 'l0StopWritesTrigger',
  'levelBaseBytes', 'levelMultiplier', 'readConcurrency', 'compactionWorkers', 'compactionMemoryBytes', 'instanceId', 'gcGraceMs', 'durability',
  'defaultTtlMs', 'ttlVisibility', 'ttlUpdate',
]);

export const defaults = {
  maxKeyGroups: 128,
  blockCacheBytes: 64 * MiB,
  diskCacheBytes: 1024 * MiB,
  memtableBytes: 32 * MiB,
  maxImmutableMemtables: 2,
  targetFileBytes: 16 * MiB,
  blockBytes: 16 * 1024,
  /**
   * Data block size of tables on an s3:// or hdfs:// primary: a block-cache miss there is a GET of one block
   * (plus 10+ ms), and a 4 KiB GET costs less client CPU and wire time than a 16 KiB one, while the same block
   * cache holds 4x as many blocks (measured in docs/benchmarks.md, "Issue 10 peers" → "Remote miss path").
   */
  remoteBlockBytes: 4 * 1024,
  compression: 'lz4' as const,
  l0CompactionTrigger: 4,
  l0StopWritesTrigger: 12,
  levelBaseBytes: 64 * MiB,
  levelMultiplier: 10,
  readConcurrency: 64,
  /**
   * Block reads in flight per store on an s3:// or hdfs:// primary: each waits ~10 ms on the wire and holds
   * one keep-alive connection and one block buffer (4 KiB by default), so 64 capped cold reads at 6,400
   * GETs/s while the store sat idle; 256 (as many as the callers SlateDB's peer run keeps) measured 2.4x the
   * keys/s at lower CPU per GET (docs/benchmarks.md, "Issue 10 peers", round 3).
   */
  remoteReadConcurrency: 256,
  compactionWorkers: 1,
  compactionMemoryBytes: 32 * MiB,
  gcGraceMs: 10 * 60_000,
};

function int(options: Record<string, unknown>, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = options[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new FloeError('CONFIG', `option ${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * The default localDir: stable across restarts, so a reopened store finds its disk cache. One per primary
 * for embedded stores (every instance of a primary shares one cache, so a restore reuses cached files),
 * and one per primary and layout name for a sharded store (its folder holds per-shard folders instead).
 */
export function defaultLocalDir(primary: string, shardedLayoutName?: string): string {
  const hash = createHash('sha256').update(primary, 'utf8').digest('hex').slice(0, 16);
  return defaultLocalDirPath(tmpdir(), hash, shardedLayoutName);
}

export function resolveOptions(input: StoreOptions): ResolvedOptions {
  if (input === null || typeof input !== 'object') {
    throw new FloeError('CONFIG', 'openStore needs an options object such as { primary: "file:///var/lib/floe" }');
  }
  const o = input as unknown as Record<string, unknown>;
  for (const name of Object.keys(o)) {
    if (!KNOWN_OPTIONS.has(name)) {
      throw new FloeError('CONFIG', `unknown option ${JSON.stringify(name)}; known options: ${[...KNOWN_OPTIONS].sort().join(', ')}`);
    }
  }
  if (typeof input.primary !== 'string' || input.primary.length === 0) {
    throw new FloeError('CONFIG', 'option primary is required: a URI such as file:///abs/path, mem://name, s3://bucket/prefix or hdfs://host:port/path');
  }
  if (input.localDir !== undefined && (typeof input.localDir !== 'string' || !isAbsolute(input.localDir))) {
    throw new FloeError('CONFIG', `option localDir must be an absolute path, got ${JSON.stringify(input.localDir)}`);
  }
  const compression = input.compression ?? defaults.compression;
  if (!['none', 'lz4', 'zstd'].includes(compression)) {
    throw new FloeError('CONFIG', `option compression must be 'none', 'lz4' or 'zstd', got ${JSON.stringify(compression)}`);
  }
  const workers = input.compactionWorkers;
  let compactionWorkers = defaults.compactionWorkers;
  if (workers === false) compactionWorkers = 0;
  else if (typeof workers === 'number') compactionWorkers = int(o, 'compactionWorkers', 1, 0, 64);
  else if (workers !== undefined && workers !== true) {
    throw new FloeError('CONFIG', `option compactionWorkers must be a boolean or a thread count, got ${JSON.stringify(workers)}`);
  }
  const l0CompactionTrigger = int(o, 'l0CompactionTrigger', defaults.l0CompactionTrigger, 2, 1000);
  const l0StopWritesTrigger = int(o, 'l0StopWritesTrigger', defaults.l0StopWritesTrigger, 2, 10000);
  if (l0StopWritesTrigger <= l0CompactionTrigger) {
    throw new FloeError('CONFIG', `option l0StopWritesTrigger (${l0StopWritesTrigger}) must exceed l0CompactionTrigger (${l0CompactionTrigger})`);
  }
  const instanceId = input.instanceId ?? DEFAULT_INSTANCE_ID;
  if (typeof instanceId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(instanceId)) {
    throw new FloeError('CONFIG', `option instanceId must be 1-64 characters of [A-Za-z0-9_-], got ${JSON.stringify(instanceId)}`);
  }
  const shards = input.shards === undefined ? undefined : int(o, 'shards', 1, 1, 256);
  const durability = input.durability ?? 'checkpoint';
  if (durability !== 'checkpoint' && durability !== 'wal') {
    throw new FloeError('CONFIG', `option durability must be 'checkpoint' (durable at flush, checkpoint and close) or 'wal' (every acknowledged write), got ${JSON.stringify(input.durability)}`);
  }
  const ttl = resolveTtl(input);
  // Remote primaries get a disk cache and smaller blocks by default (see `defaults`).
  const remote = /^(s3|hdfs):\/\//.test(input.primary);
  return {
    ttl,
    primary: input.primary,
    localDir: input.localDir ?? defaultLocalDir(input.primary, shards === undefined ? undefined : instanceId),
    maxKeyGroups: int(o, 'maxKeyGroups', defaults.maxKeyGroups, 1, MAX_KEY_GROUPS),
    blockCacheBytes: int(o, 'blockCacheBytes', defaults.blockCacheBytes, 0),
    // A disk cache in front of a local folder or memory only duplicates it: off unless asked for.
    diskCacheBytes: int(o, 'diskCacheBytes', remote ? defaults.diskCacheBytes : 0, 0),
    s3: input.s3 ?? {},
    hdfs: input.hdfs ?? {},
    shards,
    memtableBytes: int(o, 'memtableBytes', defaults.memtableBytes, 64 * 1024),
    maxImmutableMemtables: int(o, 'maxImmutableMemtables', defaults.maxImmutableMemtables, 1, 64),
    targetFileBytes: int(o, 'targetFileBytes', defaults.targetFileBytes, 64 * 1024),
    blockBytes: int(o, 'blockBytes', remote ? defaults.remoteBlockBytes : defaults.blockBytes, 256, 4 * MiB),
    compression,
    l0CompactionTrigger,
    l0StopWritesTrigger,
    levelBaseBytes: int(o, 'levelBaseBytes', defaults.levelBaseBytes, 64 * 1024),
    levelMultiplier: int(o, 'levelMultiplier', defaults.levelMultiplier, 2, 100),
    readConcurrency: int(o, 'readConcurrency', remote ? defaults.remoteReadConcurrency : defaults.readConcurrency, 1, 4096),
    compactionWorkers,
    // Below 1 MiB the read-ahead windows shrink to single blocks and every block is a round trip.
    compactionMemoryBytes: int(o, 'compactionMemoryBytes', defaults.compactionMemoryBytes, MiB, 2 ** 40),
    instanceId,
    gcGraceMs: int(o, 'gcGraceMs', defaults.gcGraceMs, 0),
    durability,
  };
}

function resolveTtl(input: StoreOptions): TtlConfig {
  const visibility = input.ttlVisibility ?? 'NeverReturnExpired';
  if (visibility !== 'NeverReturnExpired' && visibility !== 'ReturnExpiredIfNotCleanedUp') {
    throw new FloeError('CONFIG', `option ttlVisibility must be 'NeverReturnExpired' or 'ReturnExpiredIfNotCleanedUp', got ${JSON.stringify(input.ttlVisibility)}`);
  }
  const update = input.ttlUpdate ?? 'OnCreateAndWrite';
  if (update !== 'OnCreateAndWrite' && update !== 'OnReadAndWrite') {
    throw new FloeError('CONFIG', `option ttlUpdate must be 'OnCreateAndWrite' or 'OnReadAndWrite', got ${JSON.stringify(input.ttlUpdate)}`);
  }
  const defaultTtlMs = int(input as unknown as Record<string, unknown>, 'defaultTtlMs', 0, 0, MAX_TTL_MS);
  return { defaultTtlMs, visibility, update };
}
