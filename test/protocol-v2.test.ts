/**
 * Protocol version 2 at the edges (docs/protocol.md "Version 2"): how versions are negotiated (an old
 * client keeps working, a v2 opcode on a v1 connection is a VERSION error, a client refuses v2 calls to a
 * v1 daemon with VERSION), typed errors for every bad input (bad bounds, unknown iterator or snapshot id,
 * closed iterator, too many iterators or snapshots, released snapshot, bad range deletes), global key
 * order of iterators across shards, and the release of a connection's handles when it closes.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type FloeClient } from '../lib/client/client.js';
import { FrameStore, type FrameReply, type FrameTransport } from '../lib/client/frame-store.js';
import type { FloeError } from '../lib/errors.js';
import { encodeIdFrame, encodeIteratorNext, encodeKeyValueTtl, MAX_ITERATORS, MAX_SNAPSHOTS } from '../lib/protocol/protocol-v2.js';
import { decodeError, ERROR_OP, Op, parseHelloOk, RESPONSE_BIT, writeHello } from '../lib/protocol/protocol.js';
import { Writer } from '../lib/protocol/wire.js';
import { startInProcessDaemon } from './support/inprocess-daemon.js';
import { rawExchange } from './support/raw-exchange.js';

type Frame = { op: number; id: number; payload: Buffer };

/** Sends `frames` on a new connection and collects `expect` answers (then closes); fewer is an error. */
async function exchange(socket: string, frames: Buffer[], expect: number): Promise<Frame[]> {
  const r = await rawExchange(socket, [Buffer.concat(frames)], { want: expect });
  if (r.frames.length < expect) throw new Error(`only ${r.frames.length} of ${expect} answers within 10 s`);
  return r.frames;
}

const frame = (fill: (w: Writer) => void): Buffer => {
  const w = new Writer(256);
  fill(w);
  return w.take();
};

async function code(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
    return undefined;
  } catch (e) {
    return (e as FloeError).code;
  }
}

t.test('protocol version 2 through a daemon', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-v2-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const daemon = await startInProcessDaemon(dir, { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 3, maxKeyGroups: 12, compactionWorkers: 0 });
  t.teardown(() => daemon.stop());
  const c: FloeClient = await connect(daemon.socket);
  t.teardown(() => c.close());

  await t.test('versions: HELLO 1..1 speaks 1 and refuses v2 opcodes with VERSION; 1..2 speaks 2', async (t) => {
    const put = frame((w) => encodeKeyValueTtl(w, Op.PUT_TTL, 2, 'k', 'v', { ttlMs: 5 }));
    const ping = frame((w) => w.endFrame(w.beginFrame(Op.PING, 3)));
    const v1 = await exchange(daemon.socket, [frame((w) => writeHello(w, 1, 1, 1)), put, ping], 3);
    t.equal(parseHelloOk(v1[0]!.payload).version, 1, 'an old client (versions 1..1) gets version 1');
    t.equal(v1[1]!.op, ERROR_OP);
    t.equal(decodeError(v1[1]!.payload).code, 'VERSION', `PUT_TTL on a v1 connection: ${decodeError(v1[1]!.payload).message}`);
    t.equal(v1[2]!.op, Op.PING | RESPONSE_BIT, 'the connection stays usable');
    const v2 = await exchange(daemon.socket, [frame((w) => writeHello(w, 1, 1, 2)), put], 2);
    t.equal(parseHelloOk(v2[0]!.payload).version, 2);
    t.equal(v2[1]!.op, Op.PUT_TTL | RESPONSE_BIT, 'PUT_TTL on a v2 connection');
    t.equal(c.server.version, 2, 'the bundled client negotiates version 2');
  });

  await t.test('a client refuses v2 calls to a v1 peer with VERSION', async (t) => {
    const sent: number[] = [];
    class V1Transport implements FrameTransport {
      readonly version = 1;
      request(encode: (w: Writer, id: number) => void, reply: FrameReply): void {
        const w = new Writer(64);
        encode(w, 1);
        sent.push(w.view()[4]!);
        reply(Op.PUT | RESPONSE_BIT, new Uint8Array(0));
      }
    }
    class V1Store extends FrameStore {
      close(): Promise<void> {
        return Promise.resolve();
      }
    }
    const s = new V1Store(new V1Transport());
    t.equal(await code(s.put('k', 'v', { ttlMs: 5 })), 'VERSION', 'put with ttlMs');
    t.equal(await code(s.write([{ type: 'merge', key: 'k', value: 'v', ttlMs: 5 }])), 'VERSION', 'write with ttlMs');
    t.equal(await code(s.deleteRange({ keyGroup: 1 })), 'VERSION', 'deleteRange');
    t.equal(await code(s.deleteKeyGroups([0, 1])), 'VERSION', 'deleteKeyGroups');
    t.equal(await code(() => s.iterator()), 'VERSION', 'iterator');
    t.equal(await code(() => s.snapshot()), 'VERSION', 'snapshot');
    t.same(sent, [], 'nothing was sent');
    await s.put('k', 'v');
    t.same(sent, [Op.PUT], 'v1 calls still work');
  });

  await t.test('iterators keep (keyGroup, key) order across shards, both ways, with seeks', async (t) => {
    for (let kg = 0; kg < 12; kg++) for (const k of ['a', 'b', 'c']) await c.put(k, `${kg}${k}`, { keyGroup: kg });
    const keys = (es: Array<{ keyGroup: number; key?: Uint8Array }>): string[] => es.map((e) => `${e.keyGroup}${Buffer.from(e.key!).toString()}`);
    const want: string[] = [];
    for (let kg = 0; kg < 12; kg++) for (const k of ['a', 'b', 'c']) want.push(`${kg}${k}`);
    t.same(keys(await c.iterator().all()), want, 'forward over 3 shards');
    t.same(keys(await c.iterator({ reverse: true }).all()), [...want].reverse(), 'reverse');
    t.same(keys(await c.iterator({ gte: 'b', lt: 'c' }).all()), want.filter((k) => k.endsWith('b')), 'bounds apply within each group');
    const it = c.iterator({ gt: 'a' });
    t.same(keys(await it.nextv(3)), ['0b', '0c', '1b']);
    it.seek('c', { keyGroup: 5 });
    t.same(keys(await it.nextv(4)), ['5c', '6b', '6c', '7b'], 'seek into a middle shard, then the next shard from its start');
    it.seek('a', { keyGroup: 3 });
    t.same(keys(await it.nextv(2)), [], 'a target outside the bounds ends the iterator');
    it.seek('b', { keyGroup: 10 });
    t.same(keys(await it.all()), ['10b', '10c', '11b', '11c'], 'seeking again works after the end');
    const rev = c.iterator({ reverse: true, limit: 5 });
    t.same(keys(await rev.nextv(2)), ['11c', '11b']);
    rev.seek('b', { keyGroup: 4 });
    t.same(keys(await rev.all()), ['4b', '4a', '3c'], 'reverse seek, then the earlier shard from its end; the limit spans the seek');
  });

  await t.test('snapshots: named by gets, multiGets, iterators and scans; released', async (t) => {
    await c.put('s', 'old', { keyGroup: 2 });
    await c.put('s', 'old', { keyGroup: 9 });
    const snap = c.snapshot();
    await c.put('s', 'new', { keyGroup: 2 });
    await c.deleteKeyGroups([8, 11]);
    t.equal(Buffer.from((await c.get('s', { keyGroup: 2, snapshot: snap }))!).toString(), 'old');
    t.equal(Buffer.from((await c.get('s', { keyGroup: 2 }))!).toString(), 'new');
    t.same((await c.multiGet(['s', 'a'], { keyGroup: 9, snapshot: snap })).map((v) => v && Buffer.from(v).toString()), ['old', '9a'], 'multiGet at the snapshot sees deleted groups');
    t.equal((await c.iterator({ keyGroup: 9, snapshot: snap }).all()).length, 4, 'iterator at the snapshot');
    const scanned: string[] = [];
    for await (const e of c.scan({ keyGroup: 9, snapshot: snap } as never)) scanned.push(Buffer.from(e.key).toString());
    t.same(scanned, ['a', 'b', 'c', 's'], 'scan at the snapshot');
    t.equal((await c.iterator({ keyGroup: 9 }).all()).length, 0, 'the live store has no group 9');
    const held = c.iterator({ keyGroup: 2, snapshot: snap });
    snap.release();
    t.equal(await code(c.get('s', { keyGroup: 2, snapshot: snap })), 'INVALID_ARGUMENT', 'a released snapshot is refused');
    t.equal((await held.all()).length, 4, 'an iterator opened on it still reads it');
  });

  await t.test('typed errors', async (t) => {
    t.equal(await code(() => c.iterator({ gte: 5 } as never)), 'INVALID_ARGUMENT', 'bad bound type');
    t.equal(await code(() => c.iterator({ limit: -1 })), 'INVALID_ARGUMENT', 'negative limit');
    t.equal(await code(() => c.iterator({ reverse: 'yes' } as never)), 'INVALID_ARGUMENT', 'non-boolean reverse');
    t.equal(await code(c.iterator({ keyGroup: 12 }).next()), 'INVALID_ARGUMENT', 'key group beyond maxKeyGroups (checked by the daemon)');
    const closed = c.iterator();
    await closed.close();
    t.equal(await code(closed.next()), 'CLOSED', 'a closed iterator');
    const busy = c.iterator();
    const first = busy.next();
    t.equal(await code(busy.next()), 'BUSY', 'overlapping calls');
    await first;
    await busy.close();
    const [, unknownIt, unknownSnap, releaseUnknown] = await exchange(
      daemon.socket,
      [
        frame((w) => writeHello(w, 1)),
        frame((w) => encodeIteratorNext(w, 2, 77, 10, undefined)),
        frame((w) => {
          const s = w.beginFrame(Op.GET_AT, 3);
          w.u32(78);
          w.u16(0);
          w.raw(Buffer.from('k'));
          w.endFrame(s);
        }),
        frame((w) => encodeIdFrame(w, Op.RELEASE_SNAPSHOT, 4, 79)),
      ],
      4,
    );
    for (const [what, f] of [['unknown iterator', unknownIt], ['unknown snapshot in GET_AT', unknownSnap], ['release of an unknown snapshot', releaseUnknown]] as const) {
      t.equal(decodeError(f!.payload).code, 'INVALID_ARGUMENT', `${what}: ${decodeError(f!.payload).message}`);
    }
    const many = Array.from({ length: MAX_ITERATORS }, () => c.iterator());
    t.equal(await code(c.iterator().next()), 'BUSY', `iterator ${MAX_ITERATORS + 1} on one connection`);
    await Promise.all(many.map((i) => i.close()));
    t.equal(await code(c.iterator().all()), undefined, 'closing them frees the slots');
    const snaps = Array.from({ length: MAX_SNAPSHOTS }, () => c.snapshot());
    const extra = c.snapshot();
    t.equal(await code(c.get('k', { snapshot: extra })), 'BUSY', `snapshot ${MAX_SNAPSHOTS + 1}: its reads report why it failed`);
    for (const s of snaps) s.release();
    const other = await connect(daemon.socket);
    t.equal(await code(other.get('k', { snapshot: snaps[0]! })), 'INVALID_ARGUMENT', "another client's snapshot");
    await other.close();
    t.equal(await code(c.deleteRange({ keyGroup: 12 })), 'INVALID_ARGUMENT', 'deleteRange with a key group beyond maxKeyGroups');
    t.equal(await code(c.deleteRange(null as never)), 'INVALID_ARGUMENT', 'deleteRange without options');
    t.equal(await code(c.deleteKeyGroups([5, 2])), 'INVALID_ARGUMENT', 'deleteKeyGroups with first > last');
    t.equal(await code(c.deleteKeyGroups([0, 12])), 'INVALID_ARGUMENT', 'deleteKeyGroups beyond maxKeyGroups');
    t.equal(await code(c.get('k', { ttlVisibility: 'ReturnExpiredIfNotCleanedUp' })), 'INVALID_ARGUMENT', 'per-read TTL options are not carried');
  });

  await t.test('closing a connection releases its iterators and snapshots', async (t) => {
    const base = daemon.server.stats().readHandles;
    const other = await connect(daemon.socket);
    const its = Array.from({ length: 10 }, () => other.iterator());
    await Promise.all(its.map((i) => i.next()));
    const snap = other.snapshot();
    await other.get('k', { snapshot: snap });
    // 3 shards: an iterator without keyGroup and a snapshot have a part on each.
    t.equal(daemon.server.stats().readHandles, base + 33, 'the shards hold a part of each of the 10 iterators and of the snapshot');
    await other.close();
    for (let i = 0; i < 200 && daemon.server.stats().readHandles > base; i++) await new Promise((r) => setTimeout(r, 10));
    t.equal(daemon.server.stats().readHandles, base, 'all released when the connection closed');
  });
});
