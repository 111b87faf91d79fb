/**
 * The one module that names objects on primary storage. Nothing else concatenates object paths.
 *
 *   sst/<fileId>.sst                         immutable tables, shared by instances and checkpoints
 *   instances/<instanceId>/manifest/<seq>    immutable numbered manifests (20-digit, zero-padded)
 *   instances/<instanceId>/epoch/<epoch>     fencing records: one per claimed writer epoch (lib/lsm/fencing.ts)
 *   checkpoints/<checkpointId>.json          retained checkpoint records (what GC must keep)
 *   leases/<leaseId>.json                    read leases: files open readers still need (lib/checkpoint/leases.ts)
 *   wal/<instanceId>/<seq>.log               optional write-ahead log segments
 *   layouts/<name>/<seq>.json                shard layouts of the daemon / sharded store (lib/daemon/layout.ts)
 *   named/<daemon>/<nameKey>/<seq>.json      records of the daemon's named stores (lib/daemon/named-registry.ts)
 *   _floe/probe/<nonce>                      short-lived: the conditional-write probe at open (conditional-probe.ts)
 *   _floe/store-id                           random id of this store's data, written once (lib/store/store-id.ts)
 *
 * Sequence numbers are zero-padded so that lexicographic listing order is numeric order.
 *
 * It also names every file and folder Floe keeps on local disk, under a store's `localDir` (`localNames`
 * below) and the default localDir itself.
 */
import { join } from 'node:path';
import { FloeError } from '../errors.js';

const SEQ_DIGITS = 20;
const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

function pad(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new FloeError('INVALID_ARGUMENT', `sequence number must be a non-negative integer, got ${n}`);
  return String(n).padStart(SEQ_DIGITS, '0');
}

export function checkId(kind: string, id: string): string {
  if (!ID_PATTERN.test(id)) {
    throw new FloeError('INVALID_ARGUMENT', `${kind} id ${JSON.stringify(id)} is not valid: use 1-128 characters of [A-Za-z0-9_-]`);
  }
  return id;
}

export const SST_PREFIX = 'sst/';
export const INSTANCES_PREFIX = 'instances/';
export const CHECKPOINTS_PREFIX = 'checkpoints/';
export const WAL_PREFIX = 'wal/';
export const LAYOUTS_PREFIX = 'layouts/';
export const NAMED_STORES_PREFIX = 'named/';
/** Probe objects of the conditional-write check at open; nothing but the probe reads or lists them. */
export const PROBE_PREFIX = '_floe/probe/';
/** The store id object: names this incarnation of the data, so local caches never mix two stores at one URI. */
export const STORE_ID_PATH = '_floe/store-id';

export function sstPath(fileId: string): string {
  return `${SST_PREFIX}${checkId('file', fileId)}.sst`;
}

/** The file id of an SST path, or undefined if `path` is not an SST path. */
export function parseSstPath(path: string): string | undefined {
  const m = /^sst\/([A-Za-z0-9_-]{1,128})\.sst$/.exec(path);
  return m ? m[1] : undefined;
}

export function manifestPrefix(instanceId: string): string {
  return `${INSTANCES_PREFIX}${checkId('instance', instanceId)}/manifest/`;
}

export function manifestPath(instanceId: string, seq: number): string {
  return `${manifestPrefix(instanceId)}${pad(seq)}`;
}

/** The manifest sequence number of a manifest path, or undefined. */
export function parseManifestPath(path: string): { instanceId: string; seq: number } | undefined {
  const m = /^instances\/([A-Za-z0-9_-]{1,128})\/manifest\/(\d{20})$/.exec(path);
  return m ? { instanceId: m[1]!, seq: Number(m[2]) } : undefined;
}

export function epochPrefix(instanceId: string): string {
  return `${INSTANCES_PREFIX}${checkId('instance', instanceId)}/epoch/`;
}

export function epochPath(instanceId: string, epoch: number): string {
  return `${epochPrefix(instanceId)}${pad(epoch)}`;
}

/** The instance and epoch of a fencing record path, or undefined. */
export function parseEpochPath(path: string): { instanceId: string; epoch: number } | undefined {
  const m = /^instances\/([A-Za-z0-9_-]{1,128})\/epoch\/(\d{20})$/.exec(path);
  return m ? { instanceId: m[1]!, epoch: Number(m[2]) } : undefined;
}

export const LEASES_PREFIX = 'leases/';

export function leasePath(leaseId: string): string {
  return `${LEASES_PREFIX}${checkId('lease', leaseId)}.json`;
}

export function checkpointPath(checkpointId: string): string {
  return `${CHECKPOINTS_PREFIX}${checkId('checkpoint', checkpointId)}.json`;
}

export function parseCheckpointPath(path: string): string | undefined {
  const m = /^checkpoints\/([A-Za-z0-9_-]{1,128})\.json$/.exec(path);
  return m ? m[1] : undefined;
}

export function walPrefix(instanceId: string): string {
  return `${WAL_PREFIX}${checkId('instance', instanceId)}/`;
}

export function walPath(instanceId: string, seq: number): string {
  return `${walPrefix(instanceId)}${pad(seq)}.log`;
}

/** The instance and segment sequence of a WAL segment path, or undefined. */
export function parseWalPath(path: string): { instanceId: string; seq: number } | undefined {
  const m = /^wal\/([A-Za-z0-9_-]{1,128})\/(\d{20})\.log$/.exec(path);
  return m ? { instanceId: m[1]!, seq: Number(m[2]) } : undefined;
}

/** Numbered shard layouts of one sharded store (name = its layout name); the highest seq is current. */
export function layoutPrefix(name: string): string {
  return `${LAYOUTS_PREFIX}${checkId('layout', name)}/`;
}

export function layoutPath(name: string, seq: number): string {
  return `${layoutPrefix(name)}${pad(seq)}.json`;
}

/** The layout name and seq of a layout path, or undefined. */
export function parseLayoutPath(path: string): { name: string; seq: number } | undefined {
  const m = /^layouts\/([A-Za-z0-9_-]{1,128})\/(\d{20})\.json$/.exec(path);
  return m ? { name: m[1]!, seq: Number(m[2]) } : undefined;
}

/**
 * Numbered records of one named store of a daemon: `daemon` is the daemon's layout name, `nameKey` a hash of
 * the store's name (store names may hold characters object names should not); the highest seq is current.
 */
/** Every named store record of one daemon. */
export function namedStoreRoot(daemon: string): string {
  return `${NAMED_STORES_PREFIX}${checkId('layout', daemon)}/`;
}

export function namedStorePrefix(daemon: string, nameKey: string): string {
  return `${NAMED_STORES_PREFIX}${checkId('layout', daemon)}/${checkId('named store key', nameKey)}/`;
}

export function namedStorePath(daemon: string, nameKey: string, seq: number): string {
  return `${namedStorePrefix(daemon, nameKey)}${pad(seq)}.json`;
}

/** The parts of a named store record path, or undefined. */
export function parseNamedStorePath(path: string): { daemon: string; nameKey: string; seq: number } | undefined {
  const m = /^named\/([A-Za-z0-9_-]{1,128})\/([A-Za-z0-9_-]{1,128})\/(\d{20})\.json$/.exec(path);
  return m ? { daemon: m[1]!, nameKey: m[2]!, seq: Number(m[3]) } : undefined;
}

/**
 * The object the conditional-write probe writes twice and deletes at open. `nonce` is unique per probe
 * (random), so concurrent opens never share one.
 */
export function probePath(nonce: string): string {
  return `${PROBE_PREFIX}${checkId('probe', nonce)}`;
}

/**
 * SST file ids are `<instanceId>-<epoch>-<fileNumber>`: unique across instances that share one `sst/`
 * folder, and across writer epochs of one instance, so a number handed out before a crash (an orphan upload
 * never recorded in a manifest) is never reused for different bytes — caches key pages by file id.
 */
export function sstFileId(instanceId: string, epoch: number, fileNumber: number): string {
  return `${checkId('instance', instanceId)}-${epoch}-${String(fileNumber).padStart(8, '0')}`;
}

/**
 * The instance that wrote an SST (its owner, for the GC ownership rule) and the writer epoch, parsed from the
 * file id; undefined for ids not made by `sstFileId`. Instance ids may contain '-', so parse from the right.
 */
export function sstOwner(fileId: string): { instanceId: string; epoch: number } | undefined {
  const m = /^([A-Za-z0-9_-]+)-(\d+)-(\d{8,})$/.exec(fileId);
  return m ? { instanceId: m[1]!, epoch: Number(m[2]) } : undefined;
}

/**
 * Names of everything Floe keeps under a store's `localDir` (caches only: deleting the folder loses nothing).
 * Layout, for an embedded store and for a sharded store (daemon) respectively:
 *
 *   <localDir>/floe.lock                  exclusive owner of the folder: "floe-lock 1 <pid> <process start>"
 *   <localDir>/disk-cache/pages.dat       the disk cache of every instance using this localDir
 *   <localDir>/disk-cache/index.bin       its persisted index
 *   <localDir>/disk-cache/index.tmp       the next index.bin while it is written
 *
 *   <localDir>/floe.lock                  held by the router
 *   <localDir>/shard-<i>/                 the localDir of shard i (an embedded layout as above)
 *
 * Anything else bearing a Floe name (an older version's `disk-cache/<instanceId>/`, `shard-<i>` of a shard
 * count no longer in use, a leftover `floe.lock.<token>` of an interrupted stale-lock takeover) is removed
 * when the folder is opened; other files are left alone and counted against the budget (docs/caches.md).
 */
export const localNames = {
  lockFile: 'floe.lock',
  diskCacheDir: 'disk-cache',
  diskCacheData: 'pages.dat',
  diskCacheIndex: 'index.bin',
  diskCacheIndexTmp: 'index.tmp',
} as const;

/**
 * The default localDir of a store (under the OS temp folder `tmp`): `floe-cache/<primaryHash>` for an
 * embedded store, `floe-cache/<primaryHash>-sharded-<layoutName>` for a sharded store.
 */
export function defaultLocalDirPath(tmp: string, primaryHash: string, layoutName?: string): string {
  if (!/^[0-9a-f]{16}$/.test(primaryHash)) throw new FloeError('INVALID_ARGUMENT', `primary hash must be 16 hex digits, got ${JSON.stringify(primaryHash)}`);
  return join(tmp, 'floe-cache', layoutName === undefined ? primaryHash : `${primaryHash}-sharded-${checkId('layout', layoutName)}`);
}

/** The lock file name used while a stale lock is being taken over (`token` is unique to the taker). */
export function localLockTakeoverName(token: string): string {
  return `${localNames.lockFile}.${checkId('token', token)}`;
}

/** Whether `name` is a lock takeover leftover (see localLockTakeoverName). */
export function isLocalLockTakeoverName(name: string): boolean {
  return /^floe\.lock\.[A-Za-z0-9_-]{1,128}$/.test(name);
}

/** The folder (inside a sharded store's localDir) that is the localDir of shard `index`. */
export function shardLocalDirName(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new FloeError('INVALID_ARGUMENT', `shard index must be a non-negative integer, got ${index}`);
  return `shard-${index}`;
}

/** The shard index of a shard folder name, or undefined. */
export function parseShardLocalDirName(name: string): number | undefined {
  const m = /^shard-(0|[1-9]\d{0,8})$/.exec(name);
  return m ? Number(m[1]) : undefined;
}
