/**
 * The registry of a daemon's named stores on primary storage: for each name, immutable numbered records
 * `named/<daemon>/<nameKey>/<seq>.json` (lib/store/paths.ts; create-if-absent, the highest seq is current),
 * so a restarted daemon reopens a named store by name without local state. `nameKey` is a hash of the
 * name; the record holds the name itself, checked on read.
 *
 * A record says which LSM instance holds the name now. A restore writes a new record naming a new
 * instance; retiring the store (ephemeral, or dropped) writes a record with `dropped: true`, after which
 * the name opens empty again.
 *
 * Format (JSON): { format: 'floe-named-store', formatVersion: 1, name, seq, maxKeyGroups, keyGroups,
 *                  instanceId, ephemeral, createdAt, restoredFrom?: checkpointId[], dropped?: true }
 * Format version 2 (a store split into parts, each an instance on its own shard thread) adds
 *   parts: [{ instanceId, keyGroups: [first, last] }]   (>= 2 parts, contiguous, in order, covering keyGroups;
 *                                                        instanceId is then parts[0].instanceId)
 * A one-part store is written as version 1, exactly as before parts existed, so older daemons still read it;
 * a daemon that only reads version 1 refuses a version-2 record with VERSION instead of opening one part.
 */
import { createHash } from 'node:crypto';
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { namedStorePath, namedStorePrefix, namedStoreRoot, parseNamedStorePath } from '../store/paths.js';
import { readVerified } from '../store/read-verified.js';
import type { Random } from '../util/random.js';

/** The newest record format this code reads (1: one instance; 2: adds `parts`). */
export const NAMED_FORMAT_VERSION = 2;

/** One part of a named store: an LSM instance owning a contiguous sub-range of the store's key groups. */
export interface NamedPart {
  instanceId: string;
  keyGroups: [number, number];
}

export interface NamedRecord {
  name: string;
  seq: number;
  maxKeyGroups: number;
  keyGroups: [number, number];
  instanceId: string;
  ephemeral: boolean;
  createdAt: string;
  restoredFrom?: string[];
  /** The store was retired: the name is free (its next open creates it empty). */
  dropped?: true;
  /** Two or more parts (format version 2); absent: one part, `instanceId` owning all of `keyGroups`. */
  parts?: NamedPart[];
}

/** The parts of a record, in key-group order (a record without `parts` is one part). */
export function partsOf(record: NamedRecord): NamedPart[] {
  return record.parts ?? [{ instanceId: record.instanceId, keyGroups: record.keyGroups }];
}

/** The object-name key of a store name: 32 hex digits of its SHA-256. */
export function nameKey(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
}

/** A fresh instance id for `name` at record `seq`: unique across restores (random tag). */
export function namedInstanceId(name: string, seq: number, random: Random): string {
  return `named-${nameKey(name).slice(0, 16)}-${seq}-${random.nextU32().toString(16).padStart(8, '0')}`;
}

function decodeRecord(bytes: Uint8Array, path: string, name: string | undefined): NamedRecord {
  let json: NamedRecord & { format?: string; formatVersion?: number };
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as typeof json;
  } catch (cause) {
    throw new FloeError('CORRUPTION', `corrupt named store record ${path}: not valid JSON`, { path, cause });
  }
  if (json?.format !== 'floe-named-store' || typeof json.instanceId !== 'string' || !Array.isArray(json.keyGroups)) {
    throw new FloeError('CORRUPTION', `corrupt named store record ${path}: not a Floe named store record`, { path });
  }
  if (json.formatVersion !== 1 && json.formatVersion !== NAMED_FORMAT_VERSION) {
    throw new FloeError('VERSION', `named store record ${path} has format version ${json.formatVersion}; this Floe reads 1 to ${NAMED_FORMAT_VERSION}. Upgrade Floe.`, { path });
  }
  if (json.formatVersion === 2) checkParts(json, path);
  else if (json.parts !== undefined) throw new FloeError('CORRUPTION', `corrupt named store record ${path}: format version 1 has no parts`, { path });
  if (typeof json.name !== 'string' || (name !== undefined && json.name !== name)) {
    throw new FloeError('CORRUPTION', `named store record ${path} is for ${JSON.stringify(json.name)}, not ${JSON.stringify(name)} (a hash collision or a misplaced object)`, { path });
  }
  const { format: _f, formatVersion: _v, ...record } = json;
  return record;
}

/** A version-2 record's parts: two or more, contiguous and in order over keyGroups, the first named by instanceId. */
function checkParts(json: NamedRecord, path: string): void {
  const parts = json.parts;
  const bad = (what: string): FloeError => new FloeError('CORRUPTION', `corrupt named store record ${path}: ${what}`, { path });
  if (!Array.isArray(parts) || parts.length < 2) throw bad('format version 2 needs two or more parts');
  let next = json.keyGroups[0];
  for (const p of parts) {
    if (typeof p?.instanceId !== 'string' || !Array.isArray(p.keyGroups) || p.keyGroups[0] !== next || !(p.keyGroups[1] >= p.keyGroups[0])) {
      throw bad(`its parts do not split keyGroups [${json.keyGroups[0]}, ${json.keyGroups[1]}] into contiguous ranges`);
    }
    next = p.keyGroups[1] + 1;
  }
  if (next !== json.keyGroups[1] + 1 || parts[0]!.instanceId !== json.instanceId) throw bad('its parts do not cover keyGroups, or the first is not instanceId');
}

/** The current record of `name`, or undefined if the name was never used. */
export async function readNamedRecord(store: ObjectStore, daemon: string, name: string): Promise<NamedRecord | undefined> {
  const key = nameKey(name);
  const seqs = (await store.list(namedStorePrefix(daemon, key)))
    .map((o) => parseNamedStorePath(o.path))
    .filter((p): p is { daemon: string; nameKey: string; seq: number } => p !== undefined && p.nameKey === key)
    .map((p) => p.seq)
    .sort((a, b) => a - b);
  if (seqs.length === 0) return undefined;
  const path = namedStorePath(daemon, key, seqs[seqs.length - 1]!);
  return readVerified(store, path, (bytes) => decodeRecord(bytes, path, name));
}

/** The current record of every name this daemon ever registered. */
export async function readAllNamedRecords(store: ObjectStore, daemon: string): Promise<NamedRecord[]> {
  const latest = new Map<string, number>();
  for (const o of await store.list(namedStoreRoot(daemon))) {
    const p = parseNamedStorePath(o.path);
    if (p !== undefined && p.daemon === daemon && p.seq > (latest.get(p.nameKey) ?? -1)) latest.set(p.nameKey, p.seq);
  }
  return Promise.all(
    [...latest].map(([key, seq]) => {
      const path = namedStorePath(daemon, key, seq);
      return readVerified(store, path, (bytes) => decodeRecord(bytes, path, undefined));
    }),
  );
}

/** Writes `record` create-if-absent. PROMISES: resolves only if this call created it (a racing writer: BUSY). */
export async function writeNamedRecord(store: ObjectStore, daemon: string, record: NamedRecord): Promise<void> {
  const path = namedStorePath(daemon, nameKey(record.name), record.seq);
  // One part: version 1, byte for byte what a daemon without parts wrote (it can read it back).
  const formatVersion = record.parts === undefined ? 1 : 2;
  const body = Buffer.from(JSON.stringify({ format: 'floe-named-store', formatVersion, ...record }, null, 1), 'utf8');
  try {
    await store.put(path, body, { ifNoneMatch: true });
  } catch (e) {
    if (isFloeError(e, 'ALREADY_EXISTS')) {
      throw new FloeError('BUSY', `another process changed named store ${JSON.stringify(record.name)} at the same time (${path}); make sure one daemon owns this primary and retry`, {
        path,
        retryable: true,
        cause: e,
      });
    }
    throw e;
  }
}
