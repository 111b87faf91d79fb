/**
 * Manifests: the durable state of one LSM instance, written as immutable numbered objects
 * `instances/<id>/manifest/<seq>` with create-if-absent. The highest seq is the current state.
 *
 * Fencing: a writer opening an instance claims it by creating manifest `latest+1` with `epoch+1`. Every
 * later manifest it writes is also create-if-absent, so once a newer writer has claimed the instance the
 * older writer's next manifest write finds the name taken and fails with FENCED.
 *
 * On-storage format (docs/format.md, "Manifest"):
 *   "FLOEMAN1" (8 bytes ASCII) | u32 BE CRC32C of the JSON bytes | JSON (UTF-8) of ManifestJson
 */
import { readVerified } from '../store/read-verified.js';
import { listNumbered } from '../store/list-numbered.js';
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { manifestPath, manifestPrefix, parseManifestPath } from '../store/paths.js';
import { crc32c } from '../util/crc32c.js';
import { fileMetaFromJson, fileMetaToJson, type FileMeta, type FileMetaJson } from './file-meta.js';
import { NUM_LEVELS, Version } from './version.js';
import { tombstoneFromJson, tombstoneToJson, type RangeTombstoneJson } from './range-tombstones.js';

/**
 * Version 2 added `rangeTombstones`; a manifest is written as version 2 only when it has some, so a Floe
 * that would ignore them (and resurrect deleted data) refuses it instead.
 */
export const MANIFEST_FORMAT_VERSION = 2;
const MAGIC = Buffer.from('FLOEMAN1', 'ascii');

export interface ManifestState {
  instanceId: string;
  epoch: number;
  seq: number;
  nextFileNumber: number;
  lastSequence: number;
  maxKeyGroups: number;
  /** Inclusive key-group range this instance owns. */
  keyGroups: [number, number];
  version: Version;
  /** Per level, the key after which the next size-triggered compaction starts (round robin). */
  compactPointers: Array<string | undefined>;
  /**
   * Random id of the writer that claimed this epoch. It makes every writer's manifest bytes unique, which
   * the retry layer relies on when it resolves an ambiguous create-if-absent by comparing bytes.
   */
  writer: string;
  /**
   * Set (ISO time) on the final manifest of a retired instance (lib/checkpoint/retire.ts): the instance is
   * closed for good, its version is empty, and GC may collect everything it wrote that nothing else uses.
   */
  retired?: string;
  /** The writer's next WAL segment sequence when this manifest was written (lib/wal/log.ts fencing). */
  walSeq?: number;
  /** Below this WAL segment number every segment is redundant or a fence plug (lib/wal/log.ts floorFor). */
  walFloor?: number;
}

interface ManifestJson {
  format: 'floe-manifest';
  formatVersion: number;
  instanceId: string;
  epoch: number;
  seq: number;
  nextFileNumber: number;
  lastSequence: number;
  maxKeyGroups: number;
  keyGroups: [number, number];
  levels: FileMetaJson[][];
  compactPointers: Array<string | null>;
  writer: string;
  writtenAt: string;
  retired?: string;
  walSeq?: number;
  walFloor?: number;
  rangeTombstones?: RangeTombstoneJson[];
}

export function encodeManifest(m: ManifestState, now: number): Uint8Array {
  const json: ManifestJson = {
    format: 'floe-manifest',
    formatVersion: m.version.rangeTombstones.length > 0 ? 2 : 1,
    instanceId: m.instanceId,
    epoch: m.epoch,
    seq: m.seq,
    nextFileNumber: m.nextFileNumber,
    lastSequence: m.lastSequence,
    maxKeyGroups: m.maxKeyGroups,
    keyGroups: m.keyGroups,
    levels: m.version.levels.map((l) => l.map(fileMetaToJson)),
    compactPointers: m.compactPointers.map((p) => p ?? null),
    writer: m.writer,
    writtenAt: new Date(now).toISOString(),
    ...(m.retired !== undefined ? { retired: m.retired } : {}),
    ...(m.walSeq !== undefined ? { walSeq: m.walSeq } : {}),
    ...(m.walFloor !== undefined ? { walFloor: m.walFloor } : {}),
    ...(m.version.rangeTombstones.length > 0 ? { rangeTombstones: m.version.rangeTombstones.map(tombstoneToJson) } : {}),
  };
  const body = Buffer.from(JSON.stringify(json), 'utf8');
  const header = Buffer.alloc(12);
  MAGIC.copy(header, 0);
  header.writeUInt32BE(crc32c(body), 8);
  return Buffer.concat([header, body]);
}

export function decodeManifest(bytes: Uint8Array, path: string): ManifestState {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) {
    throw new FloeError('CORRUPTION', `corrupt manifest ${path}: bad magic or truncated header. Restore from a checkpoint.`, { path });
  }
  const body = buf.subarray(12);
  if (crc32c(body) !== buf.readUInt32BE(8)) {
    throw new FloeError('CORRUPTION', `corrupt manifest ${path}: checksum mismatch (truncated or modified). Restore from a checkpoint.`, { path });
  }
  let json: ManifestJson;
  try {
    json = JSON.parse(body.toString('utf8')) as ManifestJson;
  } catch (cause) {
    throw new FloeError('CORRUPTION', `corrupt manifest ${path}: not valid JSON`, { path, cause });
  }
  if (json.format !== 'floe-manifest') throw new FloeError('CORRUPTION', `corrupt manifest ${path}: not a Floe manifest`, { path });
  if (json.formatVersion !== 1 && json.formatVersion !== MANIFEST_FORMAT_VERSION) {
    throw new FloeError(
      'VERSION',
      `manifest ${path} has format version ${json.formatVersion}; this Floe reads versions 1 and ${MANIFEST_FORMAT_VERSION}. Upgrade Floe.`,
      { path },
    );
  }
  const levels: FileMeta[][] = (json.levels ?? []).map((l) => l.map((f) => fileMetaFromJson(f, path)));
  while (levels.length < NUM_LEVELS) levels.push([]);
  return {
    instanceId: json.instanceId,
    epoch: json.epoch,
    seq: json.seq,
    nextFileNumber: json.nextFileNumber,
    lastSequence: json.lastSequence,
    maxKeyGroups: json.maxKeyGroups,
    keyGroups: json.keyGroups,
    version: new Version(levels, (json.rangeTombstones ?? []).map((t) => tombstoneFromJson(t, path))),
    compactPointers: (json.compactPointers ?? []).map((p) => p ?? undefined),
    writer: String(json.writer ?? ''),
    ...(typeof json.retired === 'string' ? { retired: json.retired } : {}),
    ...(Number.isSafeInteger(json.walSeq) ? { walSeq: json.walSeq } : {}),
    ...(Number.isSafeInteger(json.walFloor) ? { walFloor: json.walFloor } : {}),
  };
}

/** Sequence numbers of every manifest of an instance, ascending. */
export function listManifestSeqs(store: ObjectStore, instanceId: string): Promise<number[]> {
  return listNumbered(store, manifestPrefix(instanceId), (path) => parseManifestPath(path)?.seq);
}

export async function readManifest(store: ObjectStore, instanceId: string, seq: number): Promise<ManifestState> {
  const path = manifestPath(instanceId, seq);
  const m = await readVerified(store, path, (bytes) => decodeManifest(bytes, path));
  if (m.seq !== seq || m.instanceId !== instanceId) {
    throw new FloeError('CORRUPTION', `corrupt manifest ${path}: it says instance ${m.instanceId} seq ${m.seq}`, { path });
  }
  return m;
}

/** The current manifest of an instance, or undefined if the instance has none. */
export async function readLatestManifest(store: ObjectStore, instanceId: string): Promise<ManifestState | undefined> {
  const seqs = await listManifestSeqs(store, instanceId);
  if (seqs.length === 0) return undefined;
  return readManifest(store, instanceId, seqs[seqs.length - 1]!);
}

/**
 * Writes manifest `m.seq` create-if-absent. PROMISES: resolves only if this exact manifest is now durable;
 * FENCED if another writer already wrote that seq.
 */
export async function writeManifest(store: ObjectStore, m: ManifestState, now: number): Promise<void> {
  const path = manifestPath(m.instanceId, m.seq);
  try {
    await store.put(path, encodeManifest(m, now), { ifNoneMatch: true });
  } catch (e) {
    if (isFloeError(e, 'ALREADY_EXISTS')) {
      throw new FloeError(
        'FENCED',
        `instance ${m.instanceId} on ${store.uri} was taken over by another writer (manifest ${m.seq} exists). ` +
          'This store can no longer write; close it (and reopen if this process should own the instance).',
        { path, cause: e },
      );
    }
    throw e;
  }
}
