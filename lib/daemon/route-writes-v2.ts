/**
 * Protocol version 2 writes through the router (docs/protocol.md, "Version 2"): PUT_TTL / MERGE_TTL to the
 * key's shard, and range deletes (DELETE_RANGE, DELETE_KEY_GROUPS) to the shards they span, at one point of
 * their order; a partial failure over several shards names the shards that applied their part.
 */
import { FloeError, type FloeErrorCode } from '../errors.js';
import { readDeleteRange } from '../protocol/protocol-v2.js';
import { decodeError, ERROR_OP, errorPayload, Op, opName, RESPONSE_BIT } from '../protocol/protocol.js';
import { Reader, type Writer } from '../protocol/wire.js';
import { resolveGroup, type StoreRoute } from './route-keyed.js';
import { EMPTY, type Answer, type ShardBus, type Target } from './shard-bus.js';

const ok = (op: number, reply: Answer): void => reply(op | RESPONSE_BIT, EMPTY);


/** PUT_TTL / MERGE_TTL (u16 kg, u64 ttlMs, bytes32 key, rest value): to the key's shard, kg resolved. */
export function keyedTtlWrite(bus: ShardBus, route: StoreRoute, op: number, payload: Uint8Array, reply: Answer): true {
  const r = new Reader(payload, 0, payload.length, `${opName(op)} payload`);
  const rawKg = r.u16();
  r.u64();
  const key = r.bytes32();
  const kg = resolveGroup(route, rawKg, key);
  bus.send(
    route.targets[route.targetOf(kg)]!,
    op,
    (w) => {
      w.u16(kg);
      w.raw(payload.subarray(2));
    },
    reply,
    true,
  );
  return true;
}

/** DELETE_RANGE: to the group's shard, or to every shard of the route (each deletes its own groups). */
export function deleteRange(bus: ShardBus, route: StoreRoute, payload: Uint8Array, reply: Answer): true {
  const o = readDeleteRange(payload);
  if (o.keyGroup !== undefined) {
    resolveGroup(route, o.keyGroup, EMPTY, 'deleteRange(): ');
    const t = route.targets.length === 1 ? 0 : route.targetOf(o.keyGroup, 'deleteRange(): ');
    bus.send(route.targets[t]!, Op.DELETE_RANGE, (w) => w.raw(payload), reply, true);
    return true;
  }
  writeAll(
    bus,
    route.targets.map((target) => ({ target, encode: (w: Writer) => w.raw(payload) })),
    Op.DELETE_RANGE,
    reply,
  );
  return true;
}

/** DELETE_KEY_GROUPS (u16 first, u16 last): split into each shard's part of the range. */
export function deleteKeyGroups(bus: ShardBus, route: StoreRoute, payload: Uint8Array, reply: Answer): true {
  const r = new Reader(payload, 0, payload.length, 'DELETE_KEY_GROUPS payload');
  const first = r.u16();
  const last = r.u16();
  r.done();
  if (route.targets.length === 1) {
    // One instance (a named store): it checks the range against what it owns.
    bus.send(route.targets[0]!, Op.DELETE_KEY_GROUPS, (w) => w.raw(payload), reply, true);
    return true;
  }
  resolveGroup(route, first, EMPTY, 'deleteKeyGroups(): first ');
  resolveGroup(route, last, EMPTY, 'deleteKeyGroups(): last ');
  if (first > last) throw new FloeError('INVALID_ARGUMENT', `deleteKeyGroups([${first}, ${last}]): first must not exceed last`);
  const parts = new Map<number, [number, number]>();
  for (let g = first; g <= last; g++) {
    const t = route.targetOf(g);
    const p = parts.get(t);
    if (p === undefined) parts.set(t, [g, g]);
    else p[1] = g;
  }
  writeAll(
    bus,
    [...parts].map(([t, [lo, hi]]) => ({
      target: route.targets[t]!,
      encode: (w: Writer) => {
        w.u16(lo);
        w.u16(hi);
      },
    })),
    Op.DELETE_KEY_GROUPS,
    reply,
  );
  return true;
}

/** Sends a write to several shards at one point of their order; a partial failure says which applied. */
function writeAll(bus: ShardBus, parts: Array<{ target: Target; encode: (w: Writer) => void }>, op: number, reply: Answer): void {
  if (parts.length === 1) {
    bus.send(parts[0]!.target, op, parts[0]!.encode, reply, true);
    return;
  }
  bus.fanOut(
    parts.map((p) => ({ ...p, write: true })),
    op,
    (results) => {
      const failed = results.filter((x) => x.op === ERROR_OP);
      if (failed.length === 0) return ok(op, reply);
      const errors = failed.map((x) => decodeError(x.payload));
      if (failed.length === results.length) return reply(ERROR_OP, errorPayload(errors[0]!));
      const applied = results.filter((x) => x.op !== ERROR_OP).map((x) => parts[x.index]!.target.shard.index);
      const bad = failed.map((x, i) => `shard ${parts[x.index]!.target.shard.index}: ${errors[i]!.message}`).join('; ');
      const message = `${opName(op)} partially applied: shard(s) ${applied.join(', ')} applied their part, but ${bad}; repeat the request (range deletes are idempotent)`;
      reply(ERROR_OP, errorPayload(new FloeError(errors[0]!.code as FloeErrorCode, message)));
    },
  );
}
