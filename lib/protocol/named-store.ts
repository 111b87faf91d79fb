/**
 * Named stores on the wire (docs/protocol.md, "Named stores"): the OPEN_STORE request and answer (JSON)
 * and CLOSE_STORE (one flags byte). Both sides validate with the same functions here, so a client gets
 * the daemon's INVALID_ARGUMENT messages before it sends anything.
 *
 * OPEN_STORE request (`rest`: JSON, canonical key order name, maxKeyGroups, keyGroups, restore?, ephemeral?,
 * parts?; the daemon accepts any order and whitespace):
 *   { "name": "job/op-7/sub-0", "maxKeyGroups": 128, "keyGroups": [0, 63], "restore": [handle...], "ephemeral": true, "parts": 2 }
 * OPEN_STORE answer (`rest`: JSON; `parts` only for a store of two or more parts):
 *   { "name", "shard", "maxKeyGroups", "keyGroups": [first, last], "restored", "created", "parts"?: [{ "shard", "keyGroups" }] }
 * CLOSE_STORE request: u8 flags (bit 0 = drop: retire the store once no other connection holds it).
 */
import type { CheckpointHandle } from '../api.js';
import { FloeError } from '../errors.js';
import { MAX_KEY_GROUPS } from '../keys.js';
import { Op, parseJson } from './protocol.js';
import { protocolError, type Writer } from './wire.js';

export const MAX_STORE_NAME_CHARS = 200;
const NAME_PATTERN = /^[A-Za-z0-9._/-]+$/;
export const CloseStoreFlag = { drop: 1 } as const;

export interface OpenStoreRequest {
  /** 1..200 chars of [A-Za-z0-9._/-], no "..", no leading "/". */
  name: string;
  /** 1..32768: Flink's max parallelism; fixed for the store's life. */
  maxKeyGroups: number;
  /** Inclusive range this store owns, within [0, maxKeyGroups). */
  keyGroups: [number, number];
  /** Restore-with-clip of these checkpoints (any store of the daemon's primary); [] = start empty. */
  restore?: CheckpointHandle[];
  /** Retire the store when the last connection bound to it goes. Default false. */
  ephemeral?: boolean;
  /**
   * Split a new (or restored) store into this many parts, each on its own shard thread where there are
   * enough: 1..(number of key groups in keyGroups). Default: min(live shards, key groups). An existing store
   * keeps the parts it was created with (asking for another count is INVALID_ARGUMENT; restore to change it).
   */
  parts?: number;
}

/** Where one part of a named store runs. */
export interface OpenStorePart {
  shard: number;
  keyGroups: [number, number];
}

export interface OpenStoreResult {
  name: string;
  /** The shard worker the store runs in (its first part's, for a store of several parts). */
  shard: number;
  maxKeyGroups: number;
  keyGroups: [number, number];
  /** The store was replaced by a restore (the request had `restore`). */
  restored: boolean;
  /** The store did not exist (or a restore made a new instance for it). */
  created: boolean;
  /** Present when the store has two or more parts: each part's shard and key groups, in key-group order. */
  parts?: OpenStorePart[];
}

const bad = (message: string): FloeError => new FloeError('INVALID_ARGUMENT', `openStore(): ${message}`);

/** Throws INVALID_ARGUMENT unless `name` is a valid store name. */
export function checkStoreName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_STORE_NAME_CHARS) {
    throw bad(`name must be a string of 1..${MAX_STORE_NAME_CHARS} characters, got ${typeof name === 'string' ? `${name.length} characters` : typeof name}`);
  }
  if (!NAME_PATTERN.test(name) || name.includes('..') || name.startsWith('/')) {
    throw bad(`name ${JSON.stringify(name)} is not valid: use characters [A-Za-z0-9._/-], no "..", no leading "/" (e.g. "job-3f2a/op-7/sub-0")`);
  }
  return name;
}

/**
 * Validates an OPEN_STORE request object (from a caller or parsed JSON) and returns it in canonical form
 * (fixed key order, optional fields only when given). Throws INVALID_ARGUMENT saying what is wrong.
 * Handles are only checked to be objects here; the daemon validates them against its primary.
 */
export function checkOpenStore(input: unknown): OpenStoreRequest {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) throw bad('takes an object { name, maxKeyGroups, keyGroups, restore?, ephemeral?, parts? }');
  const o = input as Record<string, unknown>;
  const known = new Set(['name', 'maxKeyGroups', 'keyGroups', 'restore', 'ephemeral', 'parts']);
  const unknown = Object.keys(o).filter((k) => !known.has(k));
  if (unknown.length > 0) throw bad(`unknown field(s) ${unknown.map((k) => JSON.stringify(k)).join(', ')}; the fields are name, maxKeyGroups, keyGroups, restore, ephemeral, parts`);
  const name = checkStoreName(o.name);
  const max = o.maxKeyGroups;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > MAX_KEY_GROUPS) {
    throw bad(`maxKeyGroups must be an integer in [1, ${MAX_KEY_GROUPS}] (Flink's max parallelism), got ${JSON.stringify(max)}`);
  }
  const kg = o.keyGroups;
  if (!Array.isArray(kg) || kg.length !== 2 || !kg.every((n) => Number.isInteger(n)) || kg[0] < 0 || kg[1] >= max || kg[0] > kg[1]) {
    throw bad(`keyGroups must be [first, last] (inclusive) with 0 <= first <= last < maxKeyGroups = ${max}, got ${JSON.stringify(kg)}`);
  }
  const out: OpenStoreRequest = { name, maxKeyGroups: max, keyGroups: [kg[0] as number, kg[1] as number] };
  if (o.restore !== undefined) {
    if (!Array.isArray(o.restore)) throw bad(`restore must be an array of checkpoint handles (may be empty), got ${typeof o.restore}`);
    o.restore.forEach((h, i) => {
      if (h === null || typeof h !== 'object' || Array.isArray(h)) throw bad(`restore[${i}] is not a checkpoint handle: pass the objects checkpoint() returned`);
    });
    out.restore = o.restore as CheckpointHandle[];
  }
  if (o.ephemeral !== undefined) {
    if (typeof o.ephemeral !== 'boolean') throw bad(`ephemeral must be true or false, got ${JSON.stringify(o.ephemeral)}`);
    out.ephemeral = o.ephemeral;
  }
  if (o.parts !== undefined) {
    const groups = out.keyGroups[1] - out.keyGroups[0] + 1;
    if (typeof o.parts !== 'number' || !Number.isInteger(o.parts) || o.parts < 1 || o.parts > groups) {
      throw bad(`parts must be an integer in [1, ${groups}] (each part owns at least one of the store's ${groups} key groups), got ${JSON.stringify(o.parts)}; omit it for one part per shard`);
    }
    out.parts = o.parts;
  }
  return out;
}

/** Writes an OPEN_STORE frame. Validates first: an invalid request leaves the writer untouched. */
export function encodeOpenStore(w: Writer, id: number, request: unknown): void {
  const json = JSON.stringify(checkOpenStore(request));
  const start = w.beginFrame(Op.OPEN_STORE, id);
  w.rawOrUtf8(json);
  w.endFrame(start);
}

/** Parses an OPEN_STORE payload: INVALID_ARGUMENT for bad JSON or fields (the connection stays usable). */
export function parseOpenStore(payload: Uint8Array): OpenStoreRequest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw bad('the OPEN_STORE payload is not valid JSON; send a UTF-8 JSON object { name, maxKeyGroups, keyGroups, restore?, ephemeral?, parts? }');
  }
  return checkOpenStore(json);
}

/** Writes an OPEN_STORE answer payload (canonical key order). */
export function writeOpenStoreOk(w: Writer, r: OpenStoreResult): void {
  const canonical: OpenStoreResult = { name: r.name, shard: r.shard, maxKeyGroups: r.maxKeyGroups, keyGroups: r.keyGroups, restored: r.restored, created: r.created };
  if (r.parts !== undefined) canonical.parts = r.parts.map((p) => ({ shard: p.shard, keyGroups: p.keyGroups }));
  w.rawOrUtf8(JSON.stringify(canonical));
}

export function parseOpenStoreOk(payload: Uint8Array): OpenStoreResult {
  const r = parseJson<OpenStoreResult>(payload, 'OPEN_STORE answer');
  if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || !Number.isInteger(r.shard) || !Array.isArray(r.keyGroups)) {
    throw protocolError('malformed OPEN_STORE answer: expected { name, shard, maxKeyGroups, keyGroups, restored, created }');
  }
  return r;
}

/** Writes a CLOSE_STORE frame. */
export function encodeCloseStore(w: Writer, id: number, options: { drop?: boolean } = {}): void {
  const start = w.beginFrame(Op.CLOSE_STORE, id);
  w.u8(options.drop === true ? CloseStoreFlag.drop : 0);
  w.endFrame(start);
}

/** The flags of a CLOSE_STORE payload. PROTOCOL if it is not one byte; INVALID_ARGUMENT for unknown bits. */
export function parseCloseStore(payload: Uint8Array): { drop: boolean } {
  if (payload.length !== 1) throw protocolError(`malformed CLOSE_STORE payload: ${payload.length} bytes, expected 1 (u8 flags)`);
  const flags = payload[0]!;
  if ((flags & ~CloseStoreFlag.drop) !== 0) {
    throw new FloeError('INVALID_ARGUMENT', `CLOSE_STORE flags 0x${flags.toString(16)} has unknown bits set; only bit 0 (drop) is defined`);
  }
  return { drop: (flags & CloseStoreFlag.drop) !== 0 };
}
