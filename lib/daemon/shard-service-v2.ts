/**
 * Protocol version 2 requests on a shard (lib/protocol/protocol-v2.ts), split out of shard-service.ts:
 * TTL writes and range deletes in write order; snapshots, iterator opens and snapshot reads after the
 * earlier writes (shard-handles.ts), with the ordering rules of ShardService.
 */
import { ABSENT, asFloeError, InternalOp, Op, opName } from '../protocol/protocol.js';
import { readDeleteRange } from '../protocol/protocol-v2.js';
import { Reader } from '../protocol/wire.js';
import type { ShardService } from './shard-service.js';

/**
 * Executes `op` if it is a version-2 request. PROMISES: false (nothing done) when it is not one; else
 * the request is answered through `s` exactly once. Parse errors throw (the caller answers them).
 */
export function executeV2(s: ShardService, op: number, id: number, payload: Uint8Array): boolean {
  const lsm = s.lsm;
  switch (op) {
    case Op.PUT_TTL:
    case Op.MERGE_TTL: {
      const r = new Reader(payload, 0, payload.length, `${opName(op)} payload`);
      const o = { ...s.keyGroupOption(r.u16()), ttlMs: r.u64() };
      const key = r.bytes32();
      const value = r.rest();
      s.inOrderWrite(() => s.trackWrite(op, id, op === Op.PUT_TTL ? lsm.put(key, value, o) : lsm.merge(key, value, o)));
      return true;
    }
    case Op.DELETE_RANGE: {
      const range = readDeleteRange(payload);
      s.inOrderWrite(() => s.trackWrite(op, id, lsm.deleteRange(range)));
      return true;
    }
    case Op.DELETE_KEY_GROUPS: {
      const r = new Reader(payload, 0, payload.length, 'DELETE_KEY_GROUPS payload');
      const range: [number, number] = [r.u16(), r.u16()];
      r.done();
      s.inOrderWrite(() => s.trackWrite(op, id, lsm.deleteKeyGroups(range)));
      return true;
    }
    case Op.GET_AT: {
      const r = new Reader(payload, 0, payload.length, 'GET_AT payload');
      const snap = r.u32();
      const o = s.keyGroupOption(r.u16());
      const key = r.rest();
      s.afterWrites(id, async () => {
        const v = await lsm.get(key, { ...o, snapshot: s.handles.snapshotOf(snap) });
        s.respond(op, id, (w) => {
          w.u8(v === undefined ? 0 : 1);
          if (v !== undefined) w.raw(v);
        });
      });
      return true;
    }
    case Op.MULTI_GET_AT: {
      const r = new Reader(payload, 0, payload.length, 'MULTI_GET_AT payload');
      const snap = r.u32();
      const o = s.keyGroupOption(r.u16());
      const keys: Uint8Array[] = [];
      for (let i = r.u32(); i > 0; i--) keys.push(r.bytes32());
      r.done();
      s.afterWrites(id, async () => {
        const values = await lsm.multiGet(keys, { ...o, snapshot: s.handles.snapshotOf(snap) });
        s.respond(op, id, (w) => {
          w.u32(values.length);
          for (const v of values) {
            if (v === undefined) w.u32(ABSENT);
            else w.bytes32(v);
          }
        });
      });
      return true;
    }
    case InternalOp.SHARD_SNAPSHOT: {
      const handle = new Reader(payload, 0, payload.length, 'SHARD_SNAPSHOT payload').u32();
      s.afterWrites(id, async () => {
        s.handles.snapshot(handle);
        s.respond(op, id);
      });
      return true;
    }
    case InternalOp.SHARD_ITER_OPEN: {
      const r = new Reader(Uint8Array.prototype.slice.call(payload), 0, payload.length, 'SHARD_ITER_OPEN payload');
      s.afterWrites(id, async () => {
        s.handles.openIterator(r);
        s.respond(op, id);
      });
      return true;
    }
    case InternalOp.SHARD_ITER_NEXT: {
      // The part reads at a fixed snapshot: no ordering with writes needed.
      const r = new Reader(Uint8Array.prototype.slice.call(payload), 0, payload.length, 'SHARD_ITER_NEXT payload');
      s.handles.next(r).then(
        (fill) => s.respond(op, id, fill),
        (e: unknown) => s.respondError(id, asFloeError(e)),
      );
      return true;
    }
    case InternalOp.SHARD_RELEASE: {
      const handle = new Reader(payload, 0, payload.length, 'SHARD_RELEASE payload').u32();
      s.afterWrites(id, () => s.handles.release(handle).then(() => s.respond(op, id)));
      return true;
    }
    default:
      return false;
  }
}
