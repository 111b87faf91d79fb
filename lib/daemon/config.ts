/**
 * The daemon's configuration: a JSON file (config/floe.json is the default used by `make run`), then
 * environment overrides, then defaults — every default of the daemon lives here, the store's in
 * lib/options.ts. Every problem is a CONFIG error naming the key (or variable) and the file.
 *
 * Paths: relative paths in the FILE resolve against the folder of the config file (so a unit file or a
 * script can run the daemon from any working directory); relative paths in ENVIRONMENT VARIABLES resolve
 * against the working directory. `primary` may be a URI (file:///abs, s3://, hdfs://), `file://` followed by
 * a relative path, or a plain path (both meaning a local folder).
 *
 * Documented in docs/operations.md (keys, defaults, variables).
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { StoreOptions } from '../api.js';
import { FloeError, isFloeError } from '../errors.js';
import { MAX_KEY_GROUPS } from '../keys.js';
import { defaultLocalDir, defaults as storeDefaults, resolveOptions } from '../options.js';
import { LOG_LEVELS, type LogLevel } from './log.js';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_IN_FLIGHT } from '../protocol/protocol.js';

export interface DaemonConfig {
  /** Absolute path of the file read, if any. */
  configPath: string | undefined;
  /** Absolute path of the Unix socket. */
  socket: string;
  /** Options of the sharded store (primary is a URI, localDir absolute, shards set). */
  store: StoreOptions;
  /** `shards` came from the file or the environment (else it is the default and an existing layout wins). */
  shardsExplicit: boolean;
  maxInFlightPerConnection: number;
  maxFrameBytes: number;
  maxConnections: number;
  shutdownTimeoutMs: number;
  /** Port of the Prometheus endpoint on 127.0.0.1; undefined = no HTTP server. 0 = any free port. */
  metricsPort: number | undefined;
  logLevel: LogLevel;
  /** Worker shards also serve their own sockets, `<socket>.shard<i>` (shard-aware clients). Default true. */
  shardSockets: boolean;
}

export const daemonDefaults = {
  socket: '/run/floe/floe.sock',
  name: 'main',
  maxInFlightPerConnection: DEFAULT_MAX_IN_FLIGHT,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxConnections: 1024,
  shutdownTimeoutMs: 30_000,
  logLevel: 'info' as LogLevel,
};

/** Keys of the daemon itself. */
const DAEMON_KEYS = ['socket', 'shards', 'name', 'metricsPort', 'maxInFlightPerConnection', 'maxFrameBytes', 'maxConnections', 'shutdownTimeoutMs', 'logLevel', 'shardSockets'];
/** Keys passed to the store (validated by lib/options.ts). */
const STORE_KEYS = [
  'primary', 'localDir', 'maxKeyGroups', 'blockCacheBytes', 'diskCacheBytes', 's3', 'hdfs', 'memtableBytes', 'maxImmutableMemtables',
  'targetFileBytes', 'blockBytes', 'compression', 'l0CompactionTrigger', 'l0StopWritesTrigger', 'levelBaseBytes', 'levelMultiplier',
  'readConcurrency', 'compactionWorkers', 'compactionMemoryBytes', 'gcGraceMs', 'durability',
];

/** Environment variable → config key, and how to parse it. */
export const ENV_OVERRIDES: ReadonlyArray<{ env: string; key: string; kind: 'string' | 'int' | 'path' }> = [
  { env: 'FLOE_PRIMARY', key: 'primary', kind: 'path' },
  { env: 'FLOE_LOCAL_DIR', key: 'localDir', kind: 'path' },
  { env: 'FLOE_SOCKET', key: 'socket', kind: 'path' },
  { env: 'FLOE_SHARDS', key: 'shards', kind: 'int' },
  { env: 'FLOE_NAME', key: 'name', kind: 'string' },
  { env: 'FLOE_MAX_KEY_GROUPS', key: 'maxKeyGroups', kind: 'int' },
  { env: 'FLOE_BLOCK_CACHE_BYTES', key: 'blockCacheBytes', kind: 'int' },
  { env: 'FLOE_DISK_CACHE_BYTES', key: 'diskCacheBytes', kind: 'int' },
  { env: 'FLOE_METRICS_PORT', key: 'metricsPort', kind: 'int' },
  { env: 'FLOE_MAX_IN_FLIGHT', key: 'maxInFlightPerConnection', kind: 'int' },
  { env: 'FLOE_LOG_LEVEL', key: 'logLevel', kind: 'string' },
];

type Raw = Record<string, unknown>;

/**
 * Loads `path` (optional), applies `env` overrides and defaults, and validates everything.
 * PROMISES: a complete config, or a CONFIG error that names the key and where it came from.
 */
export function loadConfig(path: string | undefined, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): DaemonConfig {
  const configPath = path === undefined ? undefined : resolve(cwd, path);
  const where = configPath ?? '(no config file)';
  const fail = (key: string, message: string): never => {
    throw new FloeError('CONFIG', `config ${where}: key "${key}" ${message}`);
  };
  let raw: Raw = {};
  if (configPath !== undefined) {
    let text: string;
    try {
      text = readFileSync(configPath, 'utf8');
    } catch (e) {
      throw new FloeError('CONFIG', `cannot read config file ${configPath}: ${(e as Error).message}`, { cause: e });
    }
    try {
      raw = JSON.parse(text) as Raw;
    } catch (e) {
      throw new FloeError('CONFIG', `config file ${configPath} is not valid JSON: ${(e as Error).message}`, { cause: e });
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new FloeError('CONFIG', `config file ${configPath} must hold a JSON object`);
    for (const key of Object.keys(raw)) {
      if (!DAEMON_KEYS.includes(key) && !STORE_KEYS.includes(key)) {
        fail(key, `is unknown; known keys: ${[...DAEMON_KEYS, ...STORE_KEYS].sort().join(', ')}`);
      }
    }
  }
  const fileBase = configPath === undefined ? cwd : dirname(configPath);
  // Relative paths of the file resolve against its folder; those of the environment against cwd.
  const values: Raw = {};
  const bases: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    values[k] = v;
    bases[k] = fileBase;
  }
  for (const o of ENV_OVERRIDES) {
    const text = env[o.env];
    if (text === undefined || text === '') continue;
    if (o.kind === 'int') {
      if (!/^-?\d+$/.test(text.trim())) throw new FloeError('CONFIG', `environment variable ${o.env} must be an integer, got ${JSON.stringify(text)}`);
      values[o.key] = Number(text.trim());
    } else values[o.key] = text;
    bases[o.key] = cwd;
  }

  const str = (key: string, fallback: string): string => {
    const v = values[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'string' || v.length === 0) return fail(key, `must be a non-empty string, got ${JSON.stringify(v)}`);
    return v;
  };
  const int = (key: string, fallback: number, min: number, max: number): number => {
    const v = values[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) return fail(key, `must be an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v;
  };

  const name = str('name', daemonDefaults.name);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(name)) fail('name', `must be 1-64 characters of [A-Za-z0-9_-], got ${JSON.stringify(name)}`);
  const socket = resolve(bases.socket ?? cwd, str('socket', daemonDefaults.socket));
  if (values.primary === undefined) {
    fail('primary', 'is required: where the data lives, e.g. "file:///var/lib/floe/data", "s3://bucket/prefix" (or set FLOE_PRIMARY)');
  }
  const primary = primaryUri(str('primary', ''), bases.primary ?? cwd);
  // The default is the sharded store's: stable per primary and layout name, so a restart finds its cache.
  const localDir = values.localDir === undefined ? defaultLocalDir(primary, name) : resolve(bases.localDir ?? cwd, str('localDir', ''));
  const maxKeyGroups = int('maxKeyGroups', storeDefaults.maxKeyGroups, 1, MAX_KEY_GROUPS);
  const shardsExplicit = values.shards !== undefined;
  const shards = int('shards', Math.min(availableParallelism(), maxKeyGroups), 1, Math.min(256, maxKeyGroups));
  const logLevel = str('logLevel', daemonDefaults.logLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) fail('logLevel', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`);
  const shardSockets = values.shardSockets ?? true;
  if (typeof shardSockets !== 'boolean') fail('shardSockets', `must be true or false, got ${JSON.stringify(shardSockets)}`);
  const metricsPort = values.metricsPort === undefined || values.metricsPort === null ? undefined : int('metricsPort', 0, 0, 65535);

  const store: StoreOptions = { primary, localDir, maxKeyGroups, shards, instanceId: name };
  for (const key of STORE_KEYS) {
    if (key === 'primary' || key === 'localDir' || key === 'maxKeyGroups') continue;
    if (values[key] !== undefined) (store as unknown as Raw)[key] = values[key];
  }
  try {
    resolveOptions(store);
  } catch (e) {
    if (isFloeError(e, 'CONFIG')) throw new FloeError('CONFIG', `config ${where}: ${e.message}`, { cause: e });
    throw e;
  }
  return {
    configPath,
    socket,
    store,
    shardsExplicit,
    maxInFlightPerConnection: int('maxInFlightPerConnection', daemonDefaults.maxInFlightPerConnection, 1, 65536),
    maxFrameBytes: int('maxFrameBytes', daemonDefaults.maxFrameBytes, 2 ** 20, 2 ** 30),
    maxConnections: int('maxConnections', daemonDefaults.maxConnections, 1, 1_000_000),
    shutdownTimeoutMs: int('shutdownTimeoutMs', daemonDefaults.shutdownTimeoutMs, 0, 3_600_000),
    metricsPort,
    logLevel,
    shardSockets: shardSockets as boolean,
  };
}

/** A URI, `file://relative/path`, or a plain path → a primary URI (local paths resolved against `base`). */
export function primaryUri(value: string, base: string): string {
  if (value.startsWith('file://')) {
    const rest = value.slice('file://'.length);
    if (rest.startsWith('/')) return value;
    return pathToFileURL(resolve(base, rest)).href;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return value;
  return pathToFileURL(isAbsolute(value) ? value : resolve(base, value)).href;
}
