/**
 * Seeded frame generators for protocol fuzzing (test/daemon-fuzz.test.ts): valid request frames of every
 * opcode, encoded with the real codecs of lib/protocol/protocol.ts, and mutations of them (bit flips,
 * truncations with and without a patched length, length-field lies, huge or tiny declared lengths, unknown,
 * internal and response opcodes, trailing junk), plus plain random bytes.
 *
 * Keys written by these frames all start with `FUZZ_PREFIX`, so a healthy client that uses other keys can
 * check its answers against a model while fuzzers write next to it.
 */
import { Buffer } from 'node:buffer';
import { Op, writeHello, writeScanPayload, encodeKeyOnly, encodeKeyValue, encodeMultiGet, encodeWrite } from '../../lib/protocol/protocol.js';
import { Writer } from '../../lib/protocol/wire.js';
import { encodeOpenStore } from '../../lib/protocol/named-store.js';
import {
  encodeDeleteKeyGroups,
  encodeDeleteRange,
  encodeGetAt,
  encodeIdFrame,
  encodeIterator,
  encodeIteratorNext,
  encodeKeyValueTtl,
  encodeMultiGetAt,
  type WireIteratorOptions,
} from '../../lib/protocol/protocol-v2.js';
import type { WriteOp } from '../../lib/api.js';
import type { Random } from '../../lib/util/random.js';

export const FUZZ_PREFIX = 'fz/';

export interface FuzzLimits {
  maxKeyGroups: number;
  maxFrameBytes: number;
}

const VALID_OPS = [Op.PING, Op.PUT, Op.GET, Op.DELETE, Op.MERGE, Op.WRITE, Op.MULTI_GET, Op.SCAN, Op.SCAN_NEXT, Op.SCAN_CLOSE, Op.FLUSH, Op.STATS, Op.RELEASE_CHECKPOINT, Op.CHECKPOINT];
/** Relative weights of VALID_OPS: the costly whole-store requests (flush, checkpoint) are rare. */
const WEIGHTS = [4, 10, 10, 4, 4, 4, 4, 3, 3, 2, 1, 1, 1, 0.25];

/** HELLO for versions 1..maxVersion (1 by default: a v2 opcode on such a connection is a VERSION error). */
export function helloFrame(id = 1, maxVersion = 1): Buffer {
  const w = new Writer(32);
  writeHello(w, id, 1, maxVersion);
  return w.take();
}

function pickWeighted(r: Random): number {
  const total = WEIGHTS.reduce((a, b) => a + b, 0);
  let x = r.next() * total;
  for (let i = 0; i < WEIGHTS.length; i++) {
    x -= WEIGHTS[i]!;
    if (x < 0) return VALID_OPS[i]!;
  }
  return Op.GET;
}

function key(r: Random): string {
  return `${FUZZ_PREFIX}${r.int(200)}`;
}

/** Mostly small values, sometimes up to a quarter of the frame limit. */
function value(r: Random, limits: FuzzLimits): Uint8Array {
  const n = r.bool(0.02) ? r.int(limits.maxFrameBytes >> 2) : r.int(512);
  // Random bytes cost a draw each: large values are one repeated byte.
  return n <= 4096 ? r.bytes(n) : Buffer.alloc(n, r.int(256));
}

function kgOption(r: Random, limits: FuzzLimits): { keyGroup: number } | undefined {
  return r.bool(0.5) ? undefined : { keyGroup: r.int(limits.maxKeyGroups) };
}

/** One valid request frame (after HELLO) of a weighted random opcode. */
export function validFrame(r: Random, id: number, limits: FuzzLimits): Buffer {
  const w = new Writer(1024);
  const op = pickWeighted(r);
  switch (op) {
    case Op.PING: {
      const start = w.beginFrame(Op.PING, id);
      w.raw(r.bytes(r.int(64)));
      w.endFrame(start);
      break;
    }
    case Op.PUT:
    case Op.MERGE:
      encodeKeyValue(w, op, id, key(r), value(r, limits), kgOption(r, limits));
      break;
    case Op.GET:
    case Op.DELETE:
      encodeKeyOnly(w, op, id, key(r), kgOption(r, limits));
      break;
    case Op.WRITE: {
      const ops: WriteOp[] = Array.from({ length: r.int(20) }, () => {
        const type = r.pick(['put', 'delete', 'merge'] as const);
        const kg = kgOption(r, limits);
        return type === 'delete' ? { type, key: key(r), ...kg } : { type, key: key(r), value: value(r, limits), ...kg };
      });
      encodeWrite(w, id, ops);
      break;
    }
    case Op.MULTI_GET:
      encodeMultiGet(w, id, Array.from({ length: r.int(30) }, () => key(r)), kgOption(r, limits));
      break;
    case Op.SCAN: {
      const start = w.beginFrame(Op.SCAN, id);
      const kg = kgOption(r, limits);
      writeScanPayload(
        w,
        { ...kg, ...(r.bool() ? { limit: r.int(50) } : {}), ...(r.bool() ? { prefix: FUZZ_PREFIX } : {}), ...(r.bool(0.3) ? { gte: key(r) } : {}) },
        r.pick([0, 1, 4096, 1 << 30]),
      );
      w.endFrame(start);
      break;
    }
    case Op.SCAN_NEXT:
    case Op.SCAN_CLOSE: {
      const start = w.beginFrame(op, id);
      w.u32(r.bool(0.7) ? 1 + r.int(4) : r.nextU32());
      w.endFrame(start);
      break;
    }
    case Op.RELEASE_CHECKPOINT: {
      const start = w.beginFrame(op, id);
      const handle = { format: 'floe-checkpoint', version: 1, checkpointId: `fz-${r.nextU32()}`, primary: 'file:///nowhere', maxKeyGroups: limits.maxKeyGroups, instances: [] };
      w.rawOrUtf8(r.bool(0.5) ? JSON.stringify(handle) : '{"not":"a handle"}');
      w.endFrame(start);
      break;
    }
    default: {
      // FLUSH, STATS, CHECKPOINT: empty payload.
      const start = w.beginFrame(op, id);
      w.endFrame(start);
    }
  }
  return w.take();
}

/**
 * OPEN_STORE of an ephemeral named store covering every key group: protocol-2 fuzzing runs on such
 * connections, so its range deletes (valid or mutated) cannot reach the default store's healthy keys.
 */
export function openStoreFrame(id: number, name: string, limits: FuzzLimits): Buffer {
  const w = new Writer(256);
  encodeOpenStore(w, id, { name, maxKeyGroups: limits.maxKeyGroups, keyGroups: [0, limits.maxKeyGroups - 1], ephemeral: true });
  return w.take();
}

const V2_KINDS = ['v1', 'putTtl', 'mergeTtl', 'writeTtl', 'deleteRange', 'deleteKeyGroups', 'snapshot', 'release', 'getAt', 'multiGetAt', 'iterator', 'next', 'close'] as const;
const V2_WEIGHTS = [6, 3, 2, 2, 1, 0.5, 2, 1.5, 3, 2, 3, 6, 2];

/** A small handle id (so snapshots and iterators are often named again), sometimes any u32. */
function handleId(r: Random): number {
  return r.bool(0.9) ? 1 + r.int(8) : r.nextU32();
}

/** Protocol-2 iterator options: random bounds, direction, limit, keys/values, key group. */
function iteratorOptions(r: Random, limits: FuzzLimits): WireIteratorOptions {
  const o: WireIteratorOptions = { ...kgOption(r, limits) };
  if (r.bool(0.3)) o[r.pick(['gt', 'gte'] as const)] = key(r);
  if (r.bool(0.3)) o[r.pick(['lt', 'lte'] as const)] = key(r);
  if (r.bool(0.5)) o.reverse = true;
  if (r.bool(0.3)) o.limit = r.int(50);
  if (r.bool(0.1)) o.keys = false;
  if (r.bool(0.1)) o.values = false;
  return o;
}

/** One valid request frame of protocol version 2 (or, weighted, of version 1). */
export function validFrameV2(r: Random, id: number, limits: FuzzLimits): Buffer {
  const total = V2_WEIGHTS.reduce((a, b) => a + b, 0);
  let x = r.next() * total;
  let kind: (typeof V2_KINDS)[number] = 'v1';
  for (let i = 0; i < V2_KINDS.length; i++) {
    x -= V2_WEIGHTS[i]!;
    if (x < 0) {
      kind = V2_KINDS[i]!;
      break;
    }
  }
  if (kind === 'v1') return validFrame(r, id, limits);
  const w = new Writer(1024);
  const ttl = (): number => r.pick([0, 1, 1000, 3_600_000, 2 ** 50]);
  switch (kind) {
    case 'putTtl':
    case 'mergeTtl': {
      const op = kind === 'putTtl' ? Op.PUT_TTL : Op.MERGE_TTL;
      encodeKeyValueTtl(w, op, id, key(r), value(r, limits), { ...kgOption(r, limits), ttlMs: ttl() });
      break;
    }
    case 'writeTtl': {
      const ops: WriteOp[] = Array.from({ length: r.int(10) }, () => {
        const type = r.pick(['put', 'delete', 'merge'] as const);
        const kg = kgOption(r, limits);
        return type === 'delete' ? { type, key: key(r), ...kg } : { type, key: key(r), value: value(r, limits), ttlMs: ttl(), ...kg };
      });
      encodeWrite(w, id, ops);
      break;
    }
    case 'deleteRange':
      encodeDeleteRange(w, id, { ...kgOption(r, limits), ...(r.bool(0.8) ? { gte: key(r) } : {}), ...(r.bool(0.8) ? { lt: key(r) } : {}) });
      break;
    case 'deleteKeyGroups': {
      const first = r.int(limits.maxKeyGroups);
      encodeDeleteKeyGroups(w, id, [first, Math.min(limits.maxKeyGroups - 1, first + r.int(3))]);
      break;
    }
    case 'snapshot':
    case 'release':
      encodeIdFrame(w, kind === 'snapshot' ? Op.SNAPSHOT : Op.RELEASE_SNAPSHOT, id, handleId(r));
      break;
    case 'getAt':
      encodeGetAt(w, id, handleId(r), key(r), kgOption(r, limits));
      break;
    case 'multiGetAt':
      encodeMultiGetAt(w, id, handleId(r), Array.from({ length: r.int(20) }, () => key(r)), kgOption(r, limits));
      break;
    case 'iterator':
      encodeIterator(w, id, handleId(r), r.bool(0.7) ? 0 : handleId(r), iteratorOptions(r, limits));
      break;
    case 'next':
      encodeIteratorNext(w, id, handleId(r), r.pick([1, 10, 100, 0, 0xffffffff]), r.bool(0.3) ? { keyGroup: r.bool(0.5) ? 0xffff : r.int(limits.maxKeyGroups), key: key(r) } : undefined);
      break;
    case 'close':
      encodeIdFrame(w, Op.ITERATOR_CLOSE, id, handleId(r));
      break;
  }
  return w.take();
}

export type Mutation =
  | 'bit-flips'
  | 'truncate-patched'
  | 'truncate-raw'
  | 'length-lie'
  | 'huge-length'
  | 'tiny-length'
  | 'bad-opcode'
  | 'trailing-junk'
  | 'random-payload'
  | 'edge-fields';

export const MUTATIONS: readonly Mutation[] = [
  'bit-flips', 'truncate-patched', 'truncate-raw', 'length-lie', 'huge-length', 'tiny-length', 'bad-opcode', 'trailing-junk', 'random-payload', 'edge-fields',
];

/** Boundary values for u16 key-group fields and u32 counts/lengths. */
function edgeU16(r: Random, limits: FuzzLimits): number {
  return r.pick([0, limits.maxKeyGroups - 1, limits.maxKeyGroups, 0x7fff, 0x8000, 0xfffe, 0xffff]);
}
function edgeU32(r: Random, frameLength: number): number {
  return r.pick([0, 1, frameLength, frameLength + 1, 0x7fffffff, 0xfffffffe, 0xffffffff]);
}

/** A mutation of `frame` (a fresh buffer; `frame` is not changed). */
export function mutate(r: Random, frame: Buffer, limits: FuzzLimits, m: Mutation = r.pick(MUTATIONS)): Buffer {
  let b = Buffer.from(frame);
  switch (m) {
    case 'bit-flips': {
      const flips = 1 + r.int(8);
      for (let i = 0; i < flips; i++) {
        // Mostly in the payload (deep decoding paths), sometimes in the header.
        const at = r.bool(0.8) && b.length > 9 ? 9 + r.int(b.length - 9) : r.int(b.length);
        b[at]! ^= 1 << r.int(8);
      }
      break;
    }
    case 'truncate-patched':
      b = b.subarray(0, 9 + r.int(Math.max(1, b.length - 9)));
      b.writeUInt32BE(b.length - 4, 0);
      break;
    case 'truncate-raw':
      b = b.subarray(0, r.int(b.length));
      break;
    case 'length-lie':
      b.writeUInt32BE(Math.max(0, b.length - 4 + r.range(-16, 17)), 0);
      break;
    case 'huge-length':
      b.writeUInt32BE(r.pick([limits.maxFrameBytes + 1, 0x7fffffff, 0xffffffff, limits.maxFrameBytes * 2]), 0);
      break;
    case 'tiny-length':
      b.writeUInt32BE(r.int(5), 0);
      break;
    case 'bad-opcode':
      b[4] = r.pick([r.int(256), 0x40 + r.int(16), 0x80 | r.int(0x30), 0xff, 0x03, 0x1f, 0x24]);
      break;
    case 'trailing-junk': {
      b = Buffer.concat([b, Buffer.from(r.bytes(1 + r.int(32)))]);
      b.writeUInt32BE(b.length - 4, 0);
      break;
    }
    case 'edge-fields': {
      // Boundary values where the decoders read key groups (offset 9 for every kg-first payload; the SCAN
      // keyGroup at 10 with its flag set) and counts or key lengths (offsets 11 and 13).
      if (b.length < 11) break;
      if (b[4] === Op.SCAN && b.length >= 12) {
        b[9]! |= 1;
        b.writeUInt16BE(edgeU16(r, limits), 10);
      } else if (r.bool(0.6)) b.writeUInt16BE(edgeU16(r, limits), 9);
      else {
        const at = r.pick([9, 11, 13]);
        if (at + 4 <= b.length) b.writeUInt32BE(edgeU32(r, b.length), at);
      }
      break;
    }
    case 'random-payload': {
      b = Buffer.concat([b.subarray(0, 9), Buffer.from(r.bytes(r.int(64)))]);
      b.writeUInt32BE(b.length - 4, 0);
      break;
    }
  }
  return b;
}

/** Plain random bytes (sometimes starting with a plausible length field). */
export function junk(r: Random): Buffer {
  const b = Buffer.from(r.bytes(1 + r.int(300)));
  if (b.length >= 9 && r.bool()) b.writeUInt32BE(b.length - 4, 0);
  return b;
}
