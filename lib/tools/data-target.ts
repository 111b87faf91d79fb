/**
 * Where `floe get|put|del|scan` read and write: a running daemon (over its socket), or a primary store URI.
 *
 * - Daemon (`--socket PATH`, or the socket of `--config FILE`, FLOE_SOCKET, ./.floe-run/floe.sock, the
 *   system default): reads and writes through the daemon, like any client.
 * - Primary URI (`--primary URI`): reads open a read-only view (primary-view.ts) that claims nothing, so a
 *   store owned by a running daemon or application can be inspected without disturbing it. Writes need
 *   `--claim`: they open the store as its writer, which fences whoever owns it now (the epoch claim of
 *   lib/lsm/fencing.ts), so they are only for a store nobody else has open.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ScanEntry, ScanOptions, Store, StoreOptions } from '../api.js';
import { connect } from '../client/client.js';
import { daemonDefaults, loadConfig } from '../daemon/config.js';
import { readLatestLayout } from '../daemon/layout.js';
import { FloeError, isFloeError } from '../errors.js';
import { openStore } from '../index.js';
import { readLatestManifest } from '../lsm/manifest.js';
import { DEFAULT_INSTANCE_ID } from '../options.js';
import { openObjectStore, parseStoreUri } from '../store/open.js';
import { type Flag, type FlagValues, stringFlag } from './command.js';
import { PrimaryView } from './primary-view.js';

/** The socket: --socket, else the config's (FLOE_SOCKET applied), else FLOE_SOCKET, else `make run`'s, else the default. */
export function socketFrom(values: { socket?: string; config?: string }): string {
  if (values.socket) return values.socket;
  if (values.config) return loadConfig(values.config).socket;
  if (process.env.FLOE_SOCKET) return process.env.FLOE_SOCKET;
  // The socket of `make run` (config/floe.json), when run from the repository.
  const local = resolve('.floe-run', 'floe.sock');
  return existsSync(local) ? local : daemonDefaults.socket;
}

export const TARGET_FLAGS: Flag[] = [
  { name: 'socket', type: 'string', short: 's', arg: 'PATH', help: 'the daemon socket (default: the config\'s, FLOE_SOCKET, ./.floe-run/floe.sock, /run/floe/floe.sock)' },
  { name: 'config', type: 'string', short: 'c', arg: 'FILE', help: 'daemon config: its socket, or with --primary its s3/hdfs options and store name' },
  { name: 'primary', type: 'string', short: 'p', arg: 'URI', help: 'work on a primary store directly (file:///path, s3://bucket/prefix, hdfs://host:port/path) instead of a daemon' },
  { name: 'store', type: 'string', arg: 'NAME', help: 'with --primary: the store (shard layout or instance) name (default: the config\'s instanceId, else main)' },
];

export const KEY_FLAGS: Flag[] = [
  { name: 'hex', type: 'boolean', short: 'x', help: 'keys and values are hex (in and out), for binary data; default UTF-8' },
  { name: 'key-group', type: 'string', short: 'g', arg: 'N', help: 'the key group (default: Flink\'s hash of the key, as the store computes it)' },
];

/** The operations the data commands need; a daemon client, a claimed store and a read-only view provide them. */
export interface DataTarget {
  /** Where it reads and writes, for messages. */
  readonly where: string;
  get(key: Uint8Array, keyGroup: number | undefined): Promise<Uint8Array | undefined>;
  scan(options: ScanOptions): AsyncIterable<ScanEntry>;
  /** Writes; a read-only view throws INVALID_ARGUMENT saying how to write. */
  put(key: Uint8Array, value: Uint8Array, keyGroup: number | undefined): Promise<void>;
  del(key: Uint8Array, keyGroup: number | undefined): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens the target the flags name. `write` asks for a writable target: with --primary that needs --claim.
 * PROMISES a target the caller must close, or INVALID_ARGUMENT / CONFIG / IO.
 */
export async function openTarget(values: FlagValues, write: boolean, command: string): Promise<DataTarget> {
  const primary = stringFlag(values, 'primary');
  const configPath = stringFlag(values, 'config');
  if (primary === undefined) {
    if (values.claim === true) throw new FloeError('INVALID_ARGUMENT', `--claim only applies with --primary URI; see floe ${command} --help`);
    if (stringFlag(values, 'store') !== undefined) throw new FloeError('INVALID_ARGUMENT', `--store only applies with --primary URI; see floe ${command} --help`);
    return daemonTarget(socketFrom({ socket: stringFlag(values, 'socket'), config: configPath }));
  }
  if (stringFlag(values, 'socket') !== undefined) throw new FloeError('INVALID_ARGUMENT', `give --socket PATH or --primary URI, not both; see floe ${command} --help`);
  try {
    parseStoreUri(primary);
  } catch (e) {
    if (isFloeError(e, 'CONFIG')) throw new FloeError('INVALID_ARGUMENT', `--primary: ${e.message}`);
    throw e;
  }
  const config: StoreOptions | undefined = configPath === undefined ? undefined : loadConfig(configPath).store;
  const name = stringFlag(values, 'store') ?? config?.instanceId ?? DEFAULT_INSTANCE_ID;
  if (write) {
    if (values.claim !== true) {
      throw new FloeError(
        'INVALID_ARGUMENT',
        `writing through --primary opens ${primary} as its writer, which fences whoever owns it now (a running daemon or application); ` +
          `pass --claim if nobody else has it open, or write through the daemon with --socket PATH`,
      );
    }
    return claimedTarget(primary, config, name);
  }
  const opened = await openObjectStore(primary, { s3: config?.s3 ?? {}, hdfs: config?.hdfs ?? {}, skipProbe: true });
  try {
    return await PrimaryView.open(opened.store, name);
  } catch (e) {
    await opened.store.close();
    throw e;
  }
}

async function daemonTarget(socket: string): Promise<DataTarget> {
  const client = await connect(socket, { reconnect: false, flushOnClose: false });
  return {
    where: `the daemon at ${socket}`,
    get: (key, keyGroup) => client.get(key, kgOption(keyGroup)),
    scan: (options) => client.scan(options),
    put: (key, value, keyGroup) => client.put(key, value, kgOption(keyGroup)),
    del: (key, keyGroup) => client.delete(key, kgOption(keyGroup)),
    close: () => client.close(),
  };
}

/**
 * Opens the store on `primary` as its writer: a sharded store of the layout's shard count when a shard layout
 * named `name` exists, else the instance `name`; maxKeyGroups is taken from the data (it is fixed for life).
 */
async function claimedTarget(primary: string, config: StoreOptions | undefined, name: string): Promise<DataTarget> {
  const probe = await openObjectStore(primary, { s3: config?.s3 ?? {}, hdfs: config?.hdfs ?? {}, skipProbe: true });
  let shards: number | undefined;
  let maxKeyGroups: number | undefined;
  try {
    const layout = await readLatestLayout(probe.store, name);
    shards = layout?.shards.length;
    maxKeyGroups = layout?.maxKeyGroups ?? (await readLatestManifest(probe.store, name))?.maxKeyGroups;
  } finally {
    await probe.store.close();
  }
  const { shards: _configured, ...base } = config ?? { primary };
  const options: StoreOptions = {
    ...base,
    primary,
    instanceId: name,
    compactionWorkers: 0,
    ...(maxKeyGroups !== undefined ? { maxKeyGroups } : {}),
    ...(shards !== undefined ? { shards } : {}),
  };
  const store: Store = await openStore(options);
  return {
    where: primary,
    get: (key, keyGroup) => store.get(key, kgOption(keyGroup)),
    scan: (o) => store.scan(o),
    put: (key, value, keyGroup) => store.put(key, value, kgOption(keyGroup)),
    del: (key, keyGroup) => store.delete(key, kgOption(keyGroup)),
    close: () => store.close(),
  };
}

function kgOption(keyGroup: number | undefined): { keyGroup: number } | undefined {
  return keyGroup === undefined ? undefined : { keyGroup };
}

export const CLAIM_FLAG: Flag = {
  name: 'claim',
  type: 'boolean',
  help: 'with --primary: open the store as its writer (fences its current owner; only when nobody else has it open)',
};
