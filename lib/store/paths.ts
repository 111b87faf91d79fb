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
 *   _floe/probe/<nonce>                      short-lived: the conditional-write probe at open (conditional-probe.ts)
 *
 * Sequence numbers are zero-padded so that lexicographic listing order is numeric order.
 */
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
/** Probe objects of the conditional-write check at open; nothing but the probe reads or lists them. */
export const PROBE_PREFIX = '_floe/probe/';

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

/** Names of files in the local directory (caches and scratch). */
export const localNames = {
  diskCacheDir: 'disk-cache',
  scratchDir: 'scratch',
} as const;
