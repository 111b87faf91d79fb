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
import { defaultKeyGroupAt } from '../keys.js';
import { ABSENT, DEFAULT_KG, Op, RESPONSE_BIT, WriteType } from '../protocol/protocol.js';
import { FRAME_HEADER_BYTES, readU32, type Writer } from '../protocol/wire.js';
import type { FrameReply } from './frame-store.js';

/** What the splitter needs of ShardLinks. */
export interface SplitLinks {
  readonly maxKeyGroups: number;
  /** The shard index owning `kg` (REQUIRES: 0 <= kg < maxKeyGroups). */
  shardOf(kg: number): number;
  /** Whether shard `i` has a working link. */
  usable(i: number): boolean;
  /**
   * Sends a frame written by `encode` on shard i's link; `reply` gets its answer (or failure). The link
   * writes its own wire id over the request id `id` the frame was encoded with.
   */
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
    if (kg === DEFAULT_KG) kg = defaultKeyGroupAt(buf, key, key + klen, links.maxKeyGroups);
    else if (kg >= links.maxKeyGroups) return -1;
    const s = links.shardOf(kg);
    if (shard === -2) shard = s;
    else if (s !== shard) return -1;
  }
  return shard < 0 ? -1 : shard;
}

/**
 * Routes a MULTI_GET frame (`buf[start, end)`, request id `id`) over the links. False: it cannot (a
 * shard without a working link, an out-of-range key group) and the caller sends it on the daemon socket.
 * `fallback(frame)` sends a copy of the frame on the daemon socket later (see the file comment).
 * No object per key: key offsets and shards live in typed arrays.
 */
export function routeMultiGet(
  links: SplitLinks,
  buf: Uint8Array,
  start: number,
  end: number,
  id: number,
  reply: FrameReply,
  fallback: (frame: Uint8Array) => void,
  onSplit: (delta: number) => void,
  /** The reply for a multiGet sent whole to one shard (falls back if an older shard socket refuses it). */
  wholeReply: () => FrameReply,
): boolean {
  const p = start + FRAME_HEADER_BYTES;
  const rawKg = (buf[p]! << 8) | buf[p + 1]!;
  const n = readU32(buf, p + 2);
  if (rawKg !== DEFAULT_KG) {
    if (rawKg >= links.maxKeyGroups) return false;
    return sendWhole(links, links.shardOf(rawKg), buf, start, end, id, wholeReply);
  }
  // Key i (u32 length + bytes) is frame[starts[i], starts[i + 1]) (offsets relative to `start`).
  const starts = new Uint32Array(n + 1);
  const shards = new Int32Array(n);
  let first = -1;
  let spans = false;
  let at = p + 6;
  for (let i = 0; i < n; i++) {
    starts[i] = at - start;
    const k = at + 4;
    at = k + readU32(buf, at);
    const s = links.shardOf(defaultKeyGroupAt(buf, k, at, links.maxKeyGroups));
    shards[i] = s;
    if (first === -1) first = s;
    else if (s !== first) spans = true;
  }
  starts[n] = at - start;
  if (!spans) return sendWhole(links, first === -1 ? links.shardOf(0) : first, buf, start, end, id, wholeReply);
  const counts = new Map<number, number>();
  for (let i = 0; i < n; i++) counts.set(shards[i]!, (counts.get(shards[i]!) ?? 0) + 1);
  for (const s of counts.keys()) if (!links.usable(s)) return false;
  const frame = Buffer.from(buf.subarray(start, end)); // a copy: `buf` is the caller's reused writer
  const parts = [...counts.keys()];
  const answers = new Map<number, Buffer>();
  let left = parts.length;
  let failed = false;
  onSplit(1);
  for (const s of parts) {
    const gather: FrameReply = (op, payload) => {
      // A copy: the answer is a view valid only until its link reads more.
      if (op === (Op.MULTI_GET_PART | RESPONSE_BIT)) answers.set(s, Buffer.from(payload));
      else failed = true;
      if (--left > 0) return;
      onSplit(-1);
      const whole = failed ? undefined : assemble(shards, answers);
      if (whole !== undefined) reply(Op.MULTI_GET | RESPONSE_BIT, whole);
      else fallback(frame);
    };
    links.sendOn(s, id, gather, (w) => {
      const f = w.beginFrame(Op.MULTI_GET_PART, id);
      w.u16(DEFAULT_KG);
      w.u32(counts.get(s)!);
      w.ensure(starts[n]! - starts[0]!);
      w.rawRunsOf(frame, starts, shards, s);
      w.endFrame(f);
    });
  }
  return true;
}

/** Sends the frame as it is to shard `s`. False when `s` has no working link. */
function sendWhole(links: SplitLinks, s: number, buf: Uint8Array, start: number, end: number, id: number, reply: () => FrameReply): boolean {
  if (s < 0 || !links.usable(s)) return false;
  const frame = buf.subarray(start, end);
  links.sendOn(s, id, reply(), (w) => w.raw(frame));
  return true;
}

/**
 * The MULTI_GET answer (u32 n, values in request order) from the parts' answers (u8 quiet, u32 epoch, u32
 * count, values), key i having gone to `shards[i]`; undefined when the parts did not read one consistent
 * cut (then: fallback) or an answer does not match its part.
 */
function assemble(shards: Int32Array, answers: Map<number, Buffer>): Uint8Array | undefined {
  let epoch = -1;
  let bytes = 4;
  const cursor = new Map<number, number>();
  for (const [s, a] of answers) {
    if (a.length < 9 || a[0] !== 1) return undefined;
    const e = readU32(a, 1);
    if (epoch !== -1 && e !== epoch) return undefined;
    epoch = e;
    bytes += a.length - 9;
    cursor.set(s, 9);
  }
  const n = shards.length;
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt32BE(n, 0);
  let w = 4;
  for (let i = 0; i < n; i++) {
    const s = shards[i]!;
    const a = answers.get(s)!;
    const at = cursor.get(s)!;
    if (at + 4 > a.length) return undefined;
    const len = readU32(a, at);
    const size = len === ABSENT ? 4 : 4 + len;
    if (at + size > a.length) return undefined;
    a.copy(out, w, at, at + size);
    cursor.set(s, at + size);
    w += size;
  }
  return w === bytes ? out : undefined;
}
