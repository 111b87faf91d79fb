/**
 * Keyed requests on a store route: PUT/GET/DELETE/MERGE (one shard), WRITE and MULTI_GET (split per shard
 * at one point of every shard's order, which is what makes them consistent across shards).
 *
 * Batches spanning shards: validated as a whole here before anything is sent (an invalid op rejects the
 * batch), then applied atomically per shard. Not all-or-nothing if a shard fails while applying its part
 * (the error names the shards that applied theirs) or across a crash (see docs/protocol.md).
 */
import { FloeError, type FloeErrorCode } from '../errors.js';
import { defaultKeyGroup, defaultKeyGroupAt } from '../keys.js';
import { ABSENT, decodeError, DEFAULT_KG, ERROR_OP, errorPayload, Op, opName, RESPONSE_BIT } from '../protocol/protocol.js';
import { FRAME_HEADER_BYTES, protocolError, readU32, Reader, type Writer } from '../protocol/wire.js';
import { EMPTY, type Answer, type Reply, type ShardBus, type Target } from './shard-bus.js';
import { batchOpWhere, scanWrite } from './write-scan.js';

/**
 * Where a store's requests go: its shards, and which one owns a key group. The daemon's default store
 * spans every shard; a named store lives on one.
 */
export interface StoreRoute {
  readonly maxKeyGroups: number;
  readonly targets: readonly Target[];
  /**
   * The index in `targets` of the shard owning `kg`. REQUIRES: 0 <= kg < maxKeyGroups.
   * Throws INVALID_ARGUMENT (prefixed with `where`) if the store does not own `kg`.
   */
  targetOf(kg: number, where?: string): number;
}

/** The key group of a request: `kg`, or the hash of `key` for DEFAULT_KG. Throws INVALID_ARGUMENT when out of range. */
export function resolveGroup(route: StoreRoute, kg: number, key: Uint8Array, where = ''): number {
  if (kg === DEFAULT_KG) return defaultKeyGroup(key, route.maxKeyGroups);
  if (kg >= route.maxKeyGroups) {
    throw new FloeError('INVALID_ARGUMENT', `${where}keyGroup must be an integer in [0, ${route.maxKeyGroups}), got ${kg}; omit it to use the default hash`);
  }
  return kg;
}

/**
 * The single-key requests — PUT/MERGE (u16 kg, bytes32 key, rest value) and GET/DELETE (u16 kg, rest
 * key): the frame is copied to its shard with the key group resolved. The hot path: no allocation
 * beyond the pending entry (and a key view when the key group must be hashed).
 */
export function singleKey(bus: ShardBus, route: StoreRoute, op: number, frame: Buffer, reply: Reply, tag: number): void {
  const p = FRAME_HEADER_BYTES;
  const withValue = op === Op.PUT || op === Op.MERGE;
  if (frame.length < p + (withValue ? 6 : 2)) throw protocolError(`malformed ${opName(op)} payload: ${frame.length - p} bytes`);
  let keyStart = p + 2;
  let keyEnd = frame.length;
  if (withValue) {
    const klen = readU32(frame, p + 2);
    keyStart = p + 6;
    keyEnd = keyStart + klen;
    if (keyEnd > frame.length) throw protocolError(`malformed ${opName(op)} payload: key length ${klen} exceeds the frame`);
  }
  const rawKg = (frame[p]! << 8) | frame[p + 1]!;
  const kg = rawKg === DEFAULT_KG ? defaultKeyGroupAt(frame, keyStart, keyEnd, route.maxKeyGroups) : resolveGroup(route, rawKg, EMPTY);
  const w = bus.frameTo(route.targets[route.targetOf(kg)]!, op !== Op.GET, reply, tag);
  if (w === undefined) return;
  const start = w.beginFrame(op, bus.lastId);
  w.u16(kg);
  w.rawFrom(frame, p + 2, frame.length);
  w.endFrame(start);
}


/**
 * The shard of every op of a WRITE payload (validated as a whole by scanWrite: an invalid op rejects the
 * batch before any shard sees it): op i is `payload[starts[i], starts[i + 1])`, bound for `targets[i]`.
 */
function scanBatch(route: StoreRoute, payload: Uint8Array, version: number): { n: number; starts: Uint32Array; targets: Int32Array } {
  const { n, starts, groups } = scanWrite(payload, route.maxKeyGroups, version);
  const targets = new Int32Array(n);
  for (let i = 0; i < n; i++) targets[i] = route.targetOf(groups[i]!, batchOpWhere(i));
  return { n, starts, targets };
}

export function writeBatch(bus: ShardBus, route: StoreRoute, payload: Uint8Array, version: number, reply: Answer): void {
  const { n, starts, targets } = scanBatch(route, payload, version);
  if (n === 0) {
    reply(Op.WRITE | RESPONSE_BIT, EMPTY);
    return;
  }
  // Ops per shard, in batch order (counts first: the part of shard t is `u32 count` + its ops' bytes, copied).
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(targets[i]!, (counts.get(targets[i]!) ?? 0) + 1);
  if (counts.size === 1) {
    // One shard: the validated batch goes on as it came (the shard resolves default key groups the same way).
    bus.send(route.targets[targets[0]!]!, Op.WRITE, (w) => w.raw(payload), reply, true);
    return;
  }
  const targetsOf = [...counts.keys()];
  const src = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const encodePart = (t: number) => (w: Writer) => {
    w.ensure(4 + (starts[n]! - starts[0]!));
    w.u32(counts.get(t)!);
    w.rawRunsOf(src, starts, targets, t);
  };
  bus.fanOut(
    targetsOf.map((t) => ({ target: route.targets[t]!, write: true, encode: encodePart(t) })),
    Op.WRITE,
    (results) => {
      const failed = results.filter((x) => x.op === ERROR_OP);
      if (failed.length === 0) return reply(Op.WRITE | RESPONSE_BIT, EMPTY);
      const errors = failed.map((x) => decodeError(x.payload));
      if (failed.length === results.length) return reply(ERROR_OP, errorPayload(errors[0]!));
      const applied = results.filter((x) => x.op !== ERROR_OP).map((x) => route.targets[targetsOf[x.index]!]!.shard.index);
      const bad = failed.map((x, i) => `shard ${route.targets[targetsOf[x.index]!]!.shard.index}: ${errors[i]!.message}`).join('; ');
      reply(
        ERROR_OP,
        errorPayload(
          new FloeError(
            errors[0]!.code as FloeErrorCode,
            `write batch partially applied: shard(s) ${applied.join(', ')} applied their part, but ${bad}. ` +
              `Do not blindly retry (merges would apply twice); re-read the keys and repair`,
          ),
        ),
      );
    },
  );
}

export function multiGet(bus: ShardBus, route: StoreRoute, payload: Uint8Array, reply: Answer): void {
  const r = new Reader(payload, 0, payload.length, 'MULTI_GET payload');
  const rawKg = r.u16();
  const n = r.u32();
  if (n > (payload.length - 6) / 4) throw protocolError(`malformed MULTI_GET payload: ${n} keys cannot fit in ${payload.length} bytes`);
  // Key i (its u32 length and bytes) is payload[starts[i], starts[i + 1]): offsets, no view per key.
  const starts = new Uint32Array(n + 1);
  for (let i = 0; i < n; i++) {
    starts[i] = r.pos;
    r.skip(r.u32());
  }
  starts[n] = r.pos;
  r.done();
  if (rawKg !== DEFAULT_KG) {
    const kg = resolveGroup(route, rawKg, EMPTY);
    bus.send(route.targets[route.targetOf(kg)]!, Op.MULTI_GET, (w) => w.raw(payload), reply);
    return;
  }
  // Default key groups: each key to the shard of its own key group; the shard hashes again.
  const targets = new Int32Array(n);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t = route.targetOf(defaultKeyGroupAt(payload, starts[i]! + 4, starts[i + 1]!, route.maxKeyGroups), `multiGet(): key ${i}: `);
    targets[i] = t;
    counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  if (counts.size <= 1) {
    // All keys on one shard: the request goes on as it came (validated above), no re-encoding.
    bus.send(route.targets[n > 0 ? targets[0]! : 0]!, Op.MULTI_GET, (w) => w.raw(payload), reply);
    return;
  }
  const src = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  const targetsOf = [...counts.keys()];
  bus.fanOut(
    targetsOf.map((t) => ({
      target: route.targets[t]!,
      write: false,
      encode: (w: Writer) => {
        w.ensure(6 + (starts[n]! - starts[0]!));
        w.u16(rawKg);
        w.u32(counts.get(t)!);
        w.rawRunsOf(src, starts, targets, t);
      },
    })),
    Op.MULTI_GET,
    (results) => {
      const failed = results.find((x) => x.op === ERROR_OP);
      if (failed) return reply(ERROR_OP, failed.payload);
      reply(Op.MULTI_GET | RESPONSE_BIT, gatherByTarget(n, targets, results.map((x) => ({ target: targetsOf[x.index]!, payload: x.payload }))));
    },
  );
}



/**
 * The MULTI_GET answer in request order from per-target answers (u32 count, values), where key i went to
 * `targets[i]`: values are copied straight from the parts' answers, with no view or array per value.
 */
function gatherByTarget(n: number, targets: Int32Array, parts: Array<{ target: number; payload: Uint8Array }>): Uint8Array {
  const partOf = new Map<number, { payload: Buffer; at: number }>();
  let bytes = 4;
  for (const p of parts) {
    if (p.payload.length < 4) throw protocolError('malformed MULTI_GET response');
    const b = p.payload;
    partOf.set(p.target, { payload: Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.length), at: 4 });
    bytes += p.payload.length - 4;
  }
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt32BE(n, 0);
  let w = 4;
  for (let i = 0; i < n; i++) {
    const part = partOf.get(targets[i]!)!;
    const a = part.payload;
    if (part.at + 4 > a.length) throw protocolError('malformed MULTI_GET response: fewer values than keys');
    const len = readU32(a, part.at);
    const size = len === ABSENT ? 4 : 4 + len;
    if (part.at + size > a.length) throw protocolError('malformed MULTI_GET response: a value exceeds the frame');
    a.copy(out, w, part.at, part.at + size);
    part.at += size;
    w += size;
  }
  if (w !== bytes) throw protocolError('malformed MULTI_GET response: more values than keys');
  return out;
}

/** Puts the per-shard MULTI_GET answers back in request order. */
export function gatherValues(n: number, results: Array<{ index: number; payload: Uint8Array }>, indexesOf: (part: number) => number[]): Uint8Array {
  const values: Array<Uint8Array | undefined> = new Array(n);
  for (const x of results) {
    const rr = new Reader(x.payload, 0, x.payload.length, 'MULTI_GET response');
    const indexes = indexesOf(x.index);
    const m = rr.u32();
    for (let j = 0; j < m; j++) {
      const len = rr.u32();
      values[indexes[j]!] = len === ABSENT ? undefined : rr.take(len);
    }
  }
  // Exact size: no 64 KiB Writer (mostly unused) allocated per multiGet.
  let bytes = 4;
  for (const v of values) bytes += v === undefined ? 4 : 4 + v.length;
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt32BE(n, 0);
  let at = 4;
  for (const v of values) {
    if (v === undefined) {
      out.writeUInt32BE(ABSENT, at);
      at += 4;
    } else {
      out.writeUInt32BE(v.length, at);
      out.set(v, at + 4);
      at += 4 + v.length;
    }
  }
  return out;
}
