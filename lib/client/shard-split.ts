/**
 * Multi-key requests on the shards' own sockets (docs/protocol.md "Shard sockets"), for ShardLinks:
 *
 * - A WRITE batch whose ops all live on one shard goes to that shard's socket as it is (atomic there, as
 *   through the router). A batch spanning shards stays on the daemon socket: only the router applies its
 *   parts at one point of every shard's order (readers never see half of it, checkpoints never cut it).
 * - A MULTI_GET whose keys all live on one shard goes to that shard as it is. One spanning shards is split:
 *   each shard gets a MULTI_GET_PART with its keys (in request order), and the answers are put back in
 *   request order. Each part carries the shard's cross-shard write stamp; unless every part is quiet with
 *   one epoch (then they read the same cross-shard writes, each entirely), the whole multiGet is sent again
 *   through the daemon socket (`fallback`), as is one whose link broke meanwhile.
 *
 * Parsing here trusts the frame: the client's own encoder wrote it (protocol.ts).
 */
import { defaultKeyGroup } from '../keys.js';
import { ABSENT, DEFAULT_KG, ERROR_OP, Op, RESPONSE_BIT, WriteType } from '../protocol/protocol.js';
import { FRAME_HEADER_BYTES, readU32, type Writer } from '../protocol/wire.js';
import type { FrameReply } from './frame-store.js';

/** What the splitter needs of ShardLinks. */
export interface SplitLinks {
  readonly maxKeyGroups: number;
  /** The shard index owning `kg` (REQUIRES: 0 <= kg < maxKeyGroups). */
  shardOf(kg: number): number;
  /** Whether shard `i` has a working link. */
  usable(i: number): boolean;
  /** Sends a frame written by `encode` on shard i's link; `reply` gets its answer (or failure). */
  sendOn(i: number, id: number, reply: FrameReply, encode: (w: Writer) => void): void;
}

/** The shard of every op of a WRITE frame, or -1 when they span shards (or a group is out of range). */
export function writeShard(links: SplitLinks, buf: Uint8Array, start: number, end: number): number {
  let at = start + FRAME_HEADER_BYTES;
  const n = readU32(buf, at);
  at += 4;
  let shard = -2;
  for (let i = 0; i < n; i++) {
    const type = buf[at]!;
    let kg = (buf[at + 1]! << 8) | buf[at + 2]!;
    const klen = readU32(buf, at + 3);
    const key = at + 7;
    at = key + klen;
    if (type >= WriteType.putTtl) at += 8;
    if (type !== WriteType.delete) at += 4 + readU32(buf, at);
    if (at > end) return -1;
    if (kg === DEFAULT_KG) kg = defaultKeyGroup(buf.subarray(key, key + klen), links.maxKeyGroups);
    else if (kg >= links.maxKeyGroups) return -1;
    const s = links.shardOf(kg);
    if (shard === -2) shard = s;
    else if (s !== shard) return -1;
  }
  return shard < 0 ? -1 : shard;
}

interface Part {
  shard: number;
  /** Request positions of this part's keys, in order. */
  indexes: number[];
  /** Start and end offsets of each key (key bytes) in the request frame. */
  keys: number[];
}

/**
 * Routes a MULTI_GET frame (`buf[start, end)`, request id `id`) over the links. False: it cannot (a
 * shard without a working link, an out-of-range key group) and the caller sends it on the daemon socket.
 * `fallback(frame)` sends a copy of the frame on the daemon socket later (see the file comment).
 */
export function routeMultiGet(links: SplitLinks, buf: Uint8Array, start: number, end: number, id: number, reply: FrameReply, fallback: (frame: Uint8Array) => void, onSplit: (delta: number) => void): boolean {
  const p = start + FRAME_HEADER_BYTES;
  const rawKg = (buf[p]! << 8) | buf[p + 1]!;
  const n = readU32(buf, p + 2);
  if (rawKg !== DEFAULT_KG) {
    if (rawKg >= links.maxKeyGroups) return false;
    const s = links.shardOf(rawKg);
    if (!links.usable(s)) return false;
    const frame = buf.subarray(start, end);
    links.sendOn(s, id, reply, (w) => w.raw(frame));
    return true;
  }
  const parts = new Map<number, Part>();
  let at = p + 6;
  for (let i = 0; i < n; i++) {
    const klen = readU32(buf, at);
    const k = at + 4;
    at = k + klen;
    const s = links.shardOf(defaultKeyGroup(buf.subarray(k, at), links.maxKeyGroups));
    let part = parts.get(s);
    if (part === undefined) {
      if (!links.usable(s)) return false;
      parts.set(s, (part = { shard: s, indexes: [], keys: [] }));
    }
    part.indexes.push(i);
    part.keys.push(k, at);
  }
  if (parts.size <= 1) {
    const s = parts.size === 1 ? parts.keys().next().value! : links.shardOf(0);
    if (!links.usable(s)) return false;
    const frame = buf.subarray(start, end);
    links.sendOn(s, id, reply, (w) => w.raw(frame));
    return true;
  }
  const frame = Buffer.from(buf.subarray(start, end)); // a copy: `buf` is the caller's reused writer
  const all = [...parts.values()];
  const answers: Array<Uint8Array | undefined> = new Array(all.length);
  let left = all.length;
  let failed: Uint8Array | undefined;
  onSplit(1);
  all.forEach((part, j) => {
    const gather: FrameReply = (op, payload) => {
      if (op === (Op.MULTI_GET_PART | RESPONSE_BIT)) answers[j] = Uint8Array.prototype.slice.call(payload) as Uint8Array;
      else failed ??= op === ERROR_OP ? Uint8Array.prototype.slice.call(payload) : new Uint8Array(0);
      if (--left > 0) return;
      onSplit(-1);
      const whole = failed === undefined ? assemble(n, all, answers as Uint8Array[]) : undefined;
      if (whole !== undefined) reply(Op.MULTI_GET | RESPONSE_BIT, whole);
      else fallback(frame);
    };
    links.sendOn(part.shard, id, gather, (w) => {
      const f = w.beginFrame(Op.MULTI_GET_PART, id);
      w.u16(DEFAULT_KG);
      w.u32(part.indexes.length);
      const keys = part.keys;
      for (let i = 0; i < keys.length; i += 2) {
        w.u32(keys[i + 1]! - keys[i]!);
        w.rawFrom(frame, keys[i]! - start, keys[i + 1]! - start);
      }
      w.endFrame(f);
    });
  });
  return true;
}

/**
 * The MULTI_GET answer (u32 n, values in request order) from the parts' answers (u8 quiet, u32 epoch, u32
 * count, values), or undefined when the parts did not read one consistent cut (then: fallback).
 */
function assemble(n: number, parts: Part[], answers: Uint8Array[]): Uint8Array | undefined {
  let epoch = -1;
  let bytes = 4;
  for (const a of answers) {
    if (a.length < 9 || a[0] !== 1) return undefined;
    const e = readU32(a, 1);
    if (epoch !== -1 && e !== epoch) return undefined;
    epoch = e;
    bytes += a.length - 9;
  }
  // Where each value starts in its part's answer, by request position.
  const from: Array<Uint8Array> = new Array(n);
  const offset = new Int32Array(n);
  for (let j = 0; j < parts.length; j++) {
    const a = answers[j]!;
    const idx = parts[j]!.indexes;
    if (readU32(a, 5) !== idx.length) return undefined;
    let at = 9;
    for (const i of idx) {
      from[i] = a;
      offset[i] = at;
      const len = readU32(a, at);
      at += len === ABSENT ? 4 : 4 + len;
    }
  }
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt32BE(n, 0);
  let w = 4;
  for (let i = 0; i < n; i++) {
    const a = from[i]!;
    const at = offset[i]!;
    const len = readU32(a, at);
    const size = len === ABSENT ? 4 : 4 + len;
    out.set(a.subarray(at, at + size), w);
    w += size;
  }
  return out;
}
