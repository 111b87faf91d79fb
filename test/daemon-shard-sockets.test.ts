/**
 * Shard sockets (shard-aware clients): SHARD_MAP, what a shard's own socket accepts and refuses, the
 * client's routing (single-key requests straight to their shard, the rest through the daemon socket) with
 * the order of pipelined requests kept across both paths, and checkpoints staying consistent cuts while
 * writes arrive on shard sockets.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { readFileSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { connect, type FloeClient } from '../lib/client/client.js';
import { defaultKeyGroup } from '../lib/keys.js';
import { decodeError, ERROR_OP, Op, RESPONSE_BIT, writeHello } from '../lib/protocol/protocol.js';
import { parseShardMap } from '../lib/protocol/shard-map.js';
import { FrameParser, Writer } from '../lib/protocol/wire.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { DirectServer } from '../lib/daemon/direct-server.js';
import { openShardStore } from '../lib/daemon/shard-service.js';
import { rawExchange } from './support/raw-exchange.js';
import { makeDir, runCli, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';

const MAX_KG = 16;

type Frame = { op: number; id: number; payload: Buffer };

/** Sends `frames` on a raw connection; collects answers until `want` frames came or the daemon closed it. */
const exchange = (socket: string, frames: Buffer[], want: number): Promise<{ frames: Frame[]; closedByServer: boolean }> => rawExchange(socket, frames, { want });

function frame(op: number, id: number, fill?: (w: Writer) => void): Buffer {
  const w = new Writer(256);
  if (op === Op.HELLO) writeHello(w, id);
  else {
    const start = w.beginFrame(op, id);
    fill?.(w);
    w.endFrame(start);
  }
  return w.take();
}

const getFrame = (id: number, kg: number, key: string): Buffer =>
  frame(Op.GET, id, (w) => {
    w.u16(kg);
    w.raw(Buffer.from(key));
  });

/** A key (k<n>) whose default key group is in [lo, hi]. */
function keyIn(lo: number, hi: number, from = 0): string {
  for (let i = from; ; i++) {
    const kg = defaultKeyGroup(Buffer.from(`k${i}`), MAX_KG);
    if (kg >= lo && kg <= hi) return `k${i}`;
  }
}

t.test('SHARD_MAP and what a shard socket accepts', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));

  const mapAnswer = await exchange(d.socket, [frame(Op.HELLO, 1), frame(Op.SHARD_MAP, 2)], 2);
  const m = mapAnswer.frames[1]!;
  t.equal(m.op, Op.SHARD_MAP | RESPONSE_BIT);
  const map = parseShardMap(m.payload);
  t.same(
    map.map((e) => e.keyGroups),
    [
      [0, 7],
      [8, 15],
    ],
  );
  t.same(
    map.map((e) => e.socket),
    [join(dir, 'd.sock.shard0'), join(dir, 'd.sock.shard1')],
  );
  for (const e of map) t.equal(statSync(e.socket!).mode & 0o777, 0o600, `${e.socket} is 0600`);

  const s0 = map[0]!.socket!;
  const mine = keyIn(0, 7);
  const other = keyIn(8, 15);
  const put = frame(Op.PUT, 3, (w) => {
    w.u16(0xffff);
    w.bytes32(Buffer.from(mine));
    w.raw(Buffer.from('v1'));
  });
  const served = await exchange(s0, [frame(Op.HELLO, 1), frame(Op.PING, 2), put, getFrame(4, 0xffff, mine), getFrame(5, 0xffff, other), getFrame(6, 9, mine)], 6);
  // Answers are matched by id: a refused request may be answered before earlier ones.
  served.frames.sort((x, y) => x.id - y.id);
  t.same(
    served.frames.map((f) => [f.op, f.id]),
    [
      [Op.HELLO | RESPONSE_BIT, 1],
      [Op.PING | RESPONSE_BIT, 2],
      [Op.PUT | RESPONSE_BIT, 3],
      [Op.GET | RESPONSE_BIT, 4],
      [ERROR_OP, 5],
      [ERROR_OP, 6],
    ],
  );
  t.same(served.frames[3]!.payload, Buffer.from([1, ...Buffer.from('v1')]), 'read its own write');
  t.match(decodeError(served.frames[4]!.payload), { code: 'INVALID_ARGUMENT', message: /is not on this shard/ });
  t.match(decodeError(served.frames[5]!.payload), { code: 'INVALID_ARGUMENT', message: /key group 9 is not on this shard/ });

  // The same key through the daemon socket: one store.
  const c = await connect(d.socket, { shardAware: false });
  t.equal(Buffer.from((await c.get(mine))!).toString(), 'v1');
  await c.close();

  const scan = await exchange(s0, [frame(Op.HELLO, 1), frame(Op.FLUSH, 2)], 99);
  t.equal(scan.frames[1]!.op, ERROR_OP);
  t.match(decodeError(scan.frames[1]!.payload), { code: 'PROTOCOL', message: /serves only PUT, GET, DELETE, MERGE, WRITE, MULTI_GET and MULTI_GET_PART/ });
  t.ok(scan.closedByServer, 'a protocol violation closes the shard connection');
  const noHello = await exchange(s0, [getFrame(1, 0xffff, mine)], 99);
  t.match(decodeError(noHello.frames[0]!.payload), { code: 'PROTOCOL', message: /first frame/ });

  t.equal(await stopDaemon(d), 0);
  t.throws(() => statSync(map[0]!.socket!), 'shard sockets are removed at stop');
});

/** Pipelined random requests of one client against a model, in issue order. */
async function pipelined(c: FloeClient, r: Random, rounds: number, prefix: string): Promise<string[]> {
  const failures: string[] = [];
  const model = new Map<string, string>();
  const keys = Array.from({ length: 40 }, (_, i) => `${prefix}${i}`);
  for (let round = 0; round < rounds; round++) {
    const checks: Array<Promise<void>> = [];
    const n = 1 + r.int(30);
    for (let i = 0; i < n; i++) {
      const k = keys[r.int(keys.length)]!;
      const op = r.int(100);
      const expect = (what: string, want: unknown) => (got: unknown) => {
        if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`round ${round} ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
      };
      const str = (v: Uint8Array | undefined): string | null => (v === undefined ? null : Buffer.from(v).toString());
      if (op < 35) {
        const v = `v${round}.${i}`;
        model.set(k, v);
        checks.push(c.put(k, v));
      } else if (op < 65) {
        checks.push(c.get(k).then(str).then(expect(`get ${k}`, model.get(k) ?? null)));
      } else if (op < 75) {
        model.delete(k);
        checks.push(c.delete(k));
      } else if (op < 87) {
        const ks = [k, keys[r.int(keys.length)]!, keys[r.int(keys.length)]!];
        const want = ks.map((x) => model.get(x) ?? null);
        checks.push(c.multiGet(ks).then((vs) => vs.map(str)).then(expect(`multiGet ${ks.join(',')}`, want)));
      } else {
        const k2 = keys[r.int(keys.length)]!;
        const v = `w${round}.${i}`;
        model.set(k, v);
        model.delete(k2);
        if (k2 === k) model.delete(k);
        checks.push(
          c.write([
            { type: 'put', key: k, value: v },
            { type: 'delete', key: k2 },
          ]),
        );
      }
    }
    await Promise.all(checks);
  }
  return failures;
}

t.test('shard-aware client: pipelined requests keep their order across the shard and daemon sockets', async (t) => {
  const seed = seedFromEnv();
  const dir = makeDir(t);
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const aware = await connect(d.socket);
  const plain = await connect(d.socket, { shardAware: false });
  const requests = async (): Promise<Record<string, number>> => ((await plain.stats()) as unknown as { daemon: { requests: Record<string, number> } }).daemon.requests;
  const before = await requests();
  const failures = await pipelined(aware, new Random(seed), 150, 'a');
  t.same(failures.slice(0, 5), [], `seed ${seed}: shard-aware client matches the model`);
  const mid = await requests();
  // Single-key requests alone all go to the shard sockets.
  await Promise.all(Array.from({ length: 200 }, (_, i) => aware.get(`a${i % 40}`)));
  await Promise.all(Array.from({ length: 50 }, (_, i) => aware.put(`a${i % 40}`, 'x')));
  const end = await requests();
  t.equal((end.GET ?? 0) - (mid.GET ?? 0) + (end.PUT ?? 0) - (mid.PUT ?? 0), 0, 'the daemon socket saw none of 250 single-key requests');
  t.ok((mid.GET ?? 0) - (before.GET ?? 0) > 0, 'with multiGets and batches in the pipeline, some single-key requests went through the daemon socket (order)');
  const failuresPlain = await pipelined(plain, new Random(seed + 1), 60, 'p');
  t.same(failuresPlain.slice(0, 5), [], `seed ${seed}: daemon-socket client matches the model`);
  // Both clients see one store.
  for (let i = 0; i < 40; i++) t.same(await aware.get(`p${i}`), await plain.get(`p${i}`));
  for (let i = 0; i < 40; i++) t.same(await plain.get(`a${i}`), await aware.get(`a${i}`));
  await aware.close();
  await plain.close();
  t.equal(await stopDaemon(d), 0);
});

t.test('a checkpoint is a consistent cut while a causal chain of writes runs on shard sockets', async (t) => {
  const dir = makeDir(t);
  const config = writeConfig(dir);
  // Slow primary storage makes each shard's part of the checkpoint long, so the chain would cross it.
  let d = await startDaemon(dir, { env: { FLOE_INJECT_LATENCY_MS: '5' } });
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const c = await connect(d.socket);
  // Each write is acknowledged before the next is sent; consecutive writes go to alternating shards.
  const a = [0, 1, 2, 3].map((i) => keyIn(0, 7, i * 1000));
  const b = [0, 1, 2, 3].map((i) => keyIn(8, 15, i * 1000));
  let stop = false;
  let written = 0;
  const chain = (async () => {
    for (let i = 1; !stop; i++) {
      await c.put(i % 2 === 0 ? a[i % 4]! : b[i % 4]!, String(i));
      written = i;
    }
  })();
  while (written < 20) await new Promise((r) => setTimeout(r, 5));
  const out = join(dir, 'h.json');
  const cp = await runCli(['checkpoint', '--config', config, '--out', out]);
  t.equal(cp.code, 0, `floe checkpoint: ${cp.stderr}`);
  const after = written;
  stop = true;
  await chain;
  await c.close();
  t.equal(await stopDaemon(d), 0);

  d = await startDaemon(dir, { args: ['--restore', out] });
  const r = await connect(d.socket);
  const values = await r.multiGet([...a, ...b]);
  const seen = values.map((v) => (v === undefined ? 0 : Number(Buffer.from(v).toString())));
  const newest = Math.max(...seen);
  t.ok(newest > 0 && newest <= after + 1, `the checkpoint holds a prefix of the chain (newest ${newest}, ${after} written when it returned)`);
  // Consistent: the newest write the checkpoint holds implies every write before it is there too, i.e.
  // each key holds the latest value of the chain up to `newest`.
  const want = [...a, ...b].map((k) => {
    let last = 0;
    for (let i = 1; i <= newest; i++) if ((i % 2 === 0 ? a[i % 4] : b[i % 4]) === k) last = i;
    return last;
  });
  t.same(seen, want, 'every write before the newest one in the checkpoint is in it');
  await r.close();
  t.equal(await stopDaemon(d), 0);
});

t.test('a shard socket holds writes (and what follows them) while a checkpoint is cut', async (t) => {
  const dir = makeDir(t);
  const lsm = await openShardStore(
    { shard: 0, options: { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), instanceId: 'hold', maxKeyGroups: MAX_KG }, keyGroups: [0, 15], expectExisting: false },
    undefined,
  );
  const hold = new SharedArrayBuffer(4);
  const flag = new Int32Array(hold);
  const socketPath = join(dir, 's.sock');
  const server = await DirectServer.listen({ socketPath, shards: 1, maxKeyGroups: MAX_KG, maxFrameBytes: 1 << 20, maxInFlight: 64, maxConnections: 4, serverName: 't', hold }, lsm, [0, 15]);
  t.teardown(async () => {
    await server.close();
    await lsm.close();
  });
  const got: Frame[] = [];
  const s = createConnection(socketPath);
  const parser = new FrameParser(1 << 20);
  s.on('data', (chunk: Buffer) => {
    parser.push(chunk);
    for (let f = parser.next(); f; f = parser.next()) got.push({ op: f[4]!, id: f.readUInt32BE(5), payload: Buffer.from(f.subarray(9)) });
  });
  const until = async (n: number): Promise<void> => {
    for (let i = 0; i < 500 && got.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  const put = (id: number, key: string, value: string): Buffer =>
    frame(Op.PUT, id, (w) => {
      w.u16(0xffff);
      w.bytes32(Buffer.from(key));
      w.raw(Buffer.from(value));
    });
  s.write(frame(Op.HELLO, 1));
  await until(1);
  s.write(Buffer.concat([getFrame(2, 0xffff, 'k'), put(3, 'k', 'v1')]));
  await until(2);
  t.same(got[1], { op: Op.GET | RESPONSE_BIT, id: 2, payload: Buffer.from([0]) }, 'not held: a read');

  Atomics.store(flag, 0, 1);
  await until(3);
  s.write(Buffer.concat([put(4, 'k', 'v2'), getFrame(5, 0xffff, 'k')]));
  await new Promise((r) => setTimeout(r, 300));
  t.same(
    got.map((f) => f.id),
    [1, 2, 3],
    'while the flag is set the write waits, and so does the read behind it',
  );
  t.equal(Buffer.from((await lsm.get(Buffer.from('k')))!).toString(), 'v1', 'the held write is not applied');
  Atomics.store(flag, 0, 0);
  Atomics.notify(flag, 0);
  await until(5);
  t.same(
    got.slice(3).map((f) => [f.op, f.id, f.payload.toString('latin1')]),
    [
      [Op.PUT | RESPONSE_BIT, 4, ''],
      [Op.GET | RESPONSE_BIT, 5, '\u0001v2'],
    ],
    'released in order once the flag clears',
  );
  s.destroy();
});

/** Resident memory of process `pid` in bytes (Linux /proc). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

t.test("a shard-socket client that never reads its answers cannot grow the daemon's memory", async (t) => {
  // The main socket stops taking requests from a client whose answers back up (8 MiB high water), so its
  // answers in memory stay within maxInFlight answers plus the high water; a shard socket must too, or a
  // client pipelining GETs of a large value without reading makes the daemon buffer every answer.
  const dir = makeDir(t);
  const maxInFlight = 16;
  writeConfig(dir, { maxInFlightPerConnection: maxInFlight });
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const key = keyIn(0, 7);
  const c = await connect(d.socket, { reconnect: false, shardAware: false });
  await c.put(key, Buffer.alloc(1 << 20, 7));
  await c.close();
  const idle = rssOf(d.child.pid!);
  const s0 = join(dir, 'd.sock.shard0');
  const s = createConnection(s0);
  s.on('error', () => undefined);
  await new Promise<void>((resolve) => s.on('connect', () => resolve()));
  s.pause(); // never reads an answer
  s.write(frame(Op.HELLO, 1));
  const gets = 2000; // 2 GiB of answers
  for (let i = 0; i < gets; i++) s.write(getFrame(2 + i, 0xffff, key));
  let most = idle;
  for (let i = 0; i < 40; i++) {
    await new Promise((res) => setTimeout(res, 100));
    most = Math.max(most, rssOf(d.child.pid!));
  }
  s.destroy();
  const bound = (maxInFlight + 8 + 64) * 2 ** 20; // in-flight answers + the high water + slack
  t.ok(most - idle < bound, `daemon RSS grew by ${((most - idle) / 2 ** 20).toFixed(0)} MiB (bound ${bound / 2 ** 20} MiB) with ${gets} unread 1 MiB answers`);
});
