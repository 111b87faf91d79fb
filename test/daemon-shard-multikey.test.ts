/**
 * Multi-key requests on shard sockets: the shard-aware client sends a WRITE batch that lives on one shard
 * to that shard, and splits a multiGet per shard (MULTI_GET_PART, lib/client/shard-split.ts); a batch
 * spanning shards stays on the daemon socket. Checked against a model (seeded), for the split's answers in
 * request order, for the consistency a multiGet promises across shards while cross-shard batches run,
 * for the shard socket's refusals, and for the fallback when there are no shard sockets.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { FloeError } from '../lib/errors.js';
import { connect, type FloeClient } from '../lib/client/client.js';
import { defaultKeyGroup } from '../lib/keys.js';
import { decodeError, ERROR_OP, Op, RESPONSE_BIT, writeErrorFrame, writeHello } from '../lib/protocol/protocol.js';
import { parseShardMap, writeShardMap } from '../lib/protocol/shard-map.js';
import { FrameParser, Writer } from '../lib/protocol/wire.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { rawExchange } from './support/raw-exchange.js';
import { makeDir, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';

const MAX_KG = 16;

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

/** Keys k<i> whose default key group is in [lo, hi]. */
function keysIn(lo: number, hi: number, count: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < count; i++) {
    const kg = defaultKeyGroup(Buffer.from(`k${i}`), MAX_KG);
    if (kg >= lo && kg <= hi) out.push(`k${i}`);
  }
  return out;
}

const str = (v: Uint8Array | undefined): string | null => (v === undefined ? null : Buffer.from(v).toString());

async function daemonRequests(c: FloeClient): Promise<Record<string, number>> {
  return ((await c.stats()) as unknown as { daemon: { requests: Record<string, number> } }).daemon.requests;
}

/** Pipelined random multiGets and batches (and single-key writes) of one client against a model. */
async function multiKeyModel(c: FloeClient, r: Random, rounds: number, keys: string[], perRound = 20): Promise<string[]> {
  const failures: string[] = [];
  const model = new Map<string, string>();
  const pick = (): string => keys[r.int(keys.length)]!;
  for (let round = 0; round < rounds; round++) {
    const checks: Array<Promise<void>> = [];
    const n = 1 + r.int(perRound);
    for (let i = 0; i < n; i++) {
      const op = r.int(100);
      if (op < 40) {
        // A multiGet of 0..12 keys, repeats allowed, often over both shards; sometimes an explicit group.
        const ks = Array.from({ length: r.int(13) }, pick);
        const explicit = r.int(5) === 0 && ks.length > 0;
        const kg = explicit ? defaultKeyGroup(Buffer.from(ks[0]!), MAX_KG) : undefined;
        const sent = explicit ? ks.filter((k) => defaultKeyGroup(Buffer.from(k), MAX_KG) === kg) : ks;
        const want = JSON.stringify(sent.map((k) => model.get(k) ?? null));
        const read = kg === undefined ? c.multiGet(sent) : c.multiGet(sent, { keyGroup: kg });
        checks.push(
          read.then((vs) => {
            const got = JSON.stringify(vs.map(str));
            if (got !== want) failures.push(`round ${round}: multiGet ${sent.join(',')}: got ${got}, want ${want}`);
          }),
        );
      } else if (op < 75) {
        // A batch on one shard or on both.
        const ops = Array.from({ length: 1 + r.int(6) }, (_, j) => {
          const key = pick();
          if (r.int(4) === 0) {
            model.delete(key);
            return { type: 'delete' as const, key };
          }
          const value = `b${round}.${i}.${j}`;
          model.set(key, value);
          return { type: 'put' as const, key, value };
        });
        checks.push(c.write(ops));
      } else {
        const key = pick();
        const value = `p${round}.${i}`;
        model.set(key, value);
        checks.push(c.put(key, value));
      }
    }
    await Promise.all(checks);
  }
  return failures;
}

t.test('shard-aware multiGets and batches match a model; one-shard batches and multiGets skip the router', async (t) => {
  const seed = seedFromEnv();
  const dir = makeDir(t);
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const aware = await connect(d.socket);
  const plain = await connect(d.socket, { shardAware: false });
  const left = keysIn(0, 7, 20);
  const right = keysIn(8, 15, 20);
  const failures = await multiKeyModel(aware, new Random(seed), 120, [...left, ...right]);
  t.same(failures.slice(0, 5), [], `seed ${seed}: shard-aware client matches the model`);
  for (const k of [...left, ...right]) t.same(await plain.get(k), await aware.get(k), `${k}: one store through both sockets`);

  // Alone (nothing else in flight), multiGets over both shards and one-shard batches never reach the router.
  const before = await daemonRequests(plain);
  await aware.write(left.slice(0, 5).map((k) => ({ type: 'put' as const, key: k, value: `one-${k}` })));
  await aware.write(right.slice(0, 5).map((k) => ({ type: 'put' as const, key: k, value: `one-${k}` })));
  const mixed = [right[0]!, left[0]!, 'absent-key', right[1]!, left[1]!, left[0]!];
  const got = await Promise.all(Array.from({ length: 30 }, () => aware.multiGet(mixed)));
  for (const vs of got) t.same(vs.map(str), ['one-' + right[0], 'one-' + left[0], null, 'one-' + right[1], 'one-' + left[1], 'one-' + left[0]]);
  t.same(await aware.multiGet([]), []);
  const after = await daemonRequests(plain);
  t.equal((after.MULTI_GET ?? 0) - (before.MULTI_GET ?? 0), 0, 'no multiGet went through the daemon socket');
  t.equal((after.WRITE ?? 0) - (before.WRITE ?? 0), 0, 'no one-shard batch went through the daemon socket');
  // A batch spanning shards goes through the router (atomic across shards there).
  await aware.write([
    { type: 'put', key: left[2]!, value: 'x' },
    { type: 'put', key: right[2]!, value: 'y' },
  ]);
  t.equal(((await daemonRequests(plain)).WRITE ?? 0) - (after.WRITE ?? 0), 1, 'the cross-shard batch went through the daemon socket');
  t.same((await aware.multiGet([left[2]!, right[2]!])).map(str), ['x', 'y']);

  // Typed errors keep their codes on the new paths.
  await t.rejects(aware.write([{ type: 'put', key: left[0]!, value: 'v', keyGroup: 99 }]), { code: 'INVALID_ARGUMENT' });
  await t.rejects(aware.write([{ type: 'put', key: '', value: 'v' }]), { code: 'INVALID_ARGUMENT' });
  await t.rejects(aware.multiGet([left[0]!], { keyGroup: 99 }), { code: 'INVALID_ARGUMENT' });
  await aware.close();
  await plain.close();
  t.equal(await stopDaemon(d), 0);
});

t.test('a split multiGet never sees half of a cross-shard batch', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const dir = makeDir(t);
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const writer = await connect(d.socket, { shardAware: false });
  const reader = await connect(d.socket);
  const pairs = keysIn(0, 7, 4).map((k, i) => [k, keysIn(8, 15, 4)[i]!] as const);
  let stop = false;
  let batches = 0;
  const writing = (async () => {
    for (let v = 0; !stop; v++) {
      const [a, b] = pairs[r.int(pairs.length)]!;
      await writer.write([
        { type: 'put', key: a, value: `${v}` },
        { type: 'put', key: b, value: `${v}` },
      ]);
      batches++;
    }
  })();
  const torn: string[] = [];
  const early: string[] = [];
  let reads = 0;
  const before = (await daemonRequests(writer)).MULTI_GET ?? 0;
  // Each reader also owns a key and writes it right behind its multiGet (pipelined, not awaited): a
  // multiGet sent again through the daemon socket must still not see that later write.
  const reading = async (reader: FloeClient, own: string): Promise<void> => {
    await reader.put(own, 'x0');
    for (let i = 1; i <= 300; i++) {
      const [a, b] = pairs[r.int(pairs.length)]!;
      const read = reader.multiGet([b, own, a]);
      const write = reader.put(own, `x${i}`);
      const [vb, vo, va] = (await read).map(str);
      await write;
      reads++;
      if (va !== vb) torn.push(`${a}=${va} but ${b}=${vb}`);
      if (vo !== `x${i - 1}`) early.push(`multiGet ${i} saw ${own}=${vo}, want x${i - 1}`);
    }
  };
  const owners = [...keysIn(0, 7, 6).slice(4), ...keysIn(8, 15, 6).slice(4)];
  await Promise.all(owners.map((own) => reading(reader, own)));
  stop = true;
  await writing;
  const resent = ((await daemonRequests(writer)).MULTI_GET ?? 0) - before;
  t.ok(batches > 10, `${batches} cross-shard batches ran during ${reads} multiGets`);
  t.same(torn.slice(0, 5), [], `seed ${seed}: every multiGet saw each batch entirely or not at all`);
  t.same(early.slice(0, 5), [], `seed ${seed}: no multiGet saw its client's later write`);
  // Sent again after a part that was not quiet, or sent there at once behind a write that waits for the links.
  t.ok(resent > 0, `some multiGets went through the daemon socket (${resent})`);
  await reader.close();
  await writer.close();
  t.equal(await stopDaemon(d), 0);
});

t.test('what a shard socket answers to WRITE, MULTI_GET and MULTI_GET_PART', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const map = parseShardMap((await rawExchange(d.socket, [frame(Op.HELLO, 1), frame(Op.SHARD_MAP, 2)], { want: 2 })).frames[1]!.payload);
  const s0 = map[0]!.socket!;
  const [mine] = keysIn(0, 7, 1);
  const [other] = keysIn(8, 15, 1);
  const put = (type: number, key: string, extra?: (w: Writer) => void) => (w: Writer) => {
    w.u8(type);
    w.u16(0xffff);
    w.bytes32(Buffer.from(key));
    extra?.(w);
    w.bytes32(Buffer.from('v'));
  };
  const batch = (...ops: Array<(w: Writer) => void>) => (w: Writer) => {
    w.u32(ops.length);
    for (const o of ops) o(w);
  };
  const multi = (op: number, id: number, keys: string[]) =>
    frame(op, id, (w) => {
      w.u16(0xffff);
      w.u32(keys.length);
      for (const k of keys) w.bytes32(Buffer.from(k!));
    });
  const got = await rawExchange(
    s0,
    [
      frame(Op.HELLO, 1),
      frame(Op.WRITE, 2, batch(put(1, mine!))),
      frame(Op.WRITE, 3, batch(put(1, mine!), put(1, other!))),
      multi(Op.MULTI_GET, 4, [mine!, 'nope']),
      multi(Op.MULTI_GET, 5, [mine!, other!]),
      multi(Op.MULTI_GET_PART, 6, [mine!]),
    ],
    { want: 6 },
  );
  const by = new Map(got.frames.map((f) => [f.id, f]));
  t.equal(by.get(2)!.op, Op.WRITE | RESPONSE_BIT, 'a batch on this shard is applied');
  t.equal(by.get(3)!.op, ERROR_OP);
  t.match(decodeError(by.get(3)!.payload), { code: 'INVALID_ARGUMENT', message: /operation 1: key group \d+ is not on this shard/ });
  t.equal(by.get(4)!.op, Op.MULTI_GET | RESPONSE_BIT);
  t.same([...by.get(4)!.payload], [0, 0, 0, 2, 0, 0, 0, 1, 0x76, 0xff, 0xff, 0xff, 0xff], 'MULTI_GET answer: v, absent');
  t.match(decodeError(by.get(5)!.payload), { code: 'INVALID_ARGUMENT', message: /key 1: key group \d+ is not on this shard/ });
  const part = by.get(6)!;
  t.equal(part.op, Op.MULTI_GET_PART | RESPONSE_BIT);
  t.equal(part.payload[0], 1, 'quiet: no cross-shard write in progress');
  t.same([...part.payload.subarray(5)], [0, 0, 0, 1, 0, 0, 0, 1, 0x76], 'then the MULTI_GET answer');

  // A TTL op (WRITE type 4) on a connection that negotiated version 1: VERSION, the connection stays.
  const v1Hello = frame(Op.HELLO, 1, undefined);
  v1Hello.writeUInt16BE(1, v1Hello.length - 2); // maxVersion 1
  const v1 = await rawExchange(
    s0,
    [v1Hello, frame(Op.WRITE, 2, batch(put(4, mine!, (w) => w.u64(1000)))), frame(Op.PING, 3)],
    { want: 3 },
  );
  t.match(decodeError(v1.frames.find((f) => f.id === 2)!.payload), { code: 'VERSION' });
  t.equal(v1.frames.find((f) => f.id === 3)!.op, Op.PING | RESPONSE_BIT);
  // The same batch on the daemon socket (the router's path) is refused the same way: one validation of a
  // WRITE serves both sockets (lib/daemon/write-scan.ts).
  const v1Main = await rawExchange(
    d.socket,
    [v1Hello, frame(Op.WRITE, 2, batch(put(4, mine!, (w) => w.u64(1000)))), frame(Op.PING, 3)],
    { want: 3 },
  );
  t.equal(v1Main.frames.find((f) => f.id === 2)!.op, ERROR_OP, 'a TTL op on a version-1 daemon-socket connection is refused');
  t.match(decodeError(v1Main.frames.find((f) => f.id === 2)!.payload), { code: 'VERSION', message: /needs protocol version 2/ });
  t.equal(v1Main.frames.find((f) => f.id === 3)!.op, Op.PING | RESPONSE_BIT, 'the connection stays usable');

  // MULTI_GET_PART is for shard sockets only: a protocol violation on the daemon socket.
  const main = await rawExchange(d.socket, [frame(Op.HELLO, 1), multi(Op.MULTI_GET_PART, 2, [mine!])], { want: 99 });
  t.match(decodeError(main.frames[1]!.payload), { code: 'PROTOCOL' });
  t.ok(main.closedByServer);
  t.equal(await stopDaemon(d), 0);
});

t.test('without shard sockets the client sends multiGets and batches through the daemon socket', async (t) => {
  const seed = seedFromEnv();
  const dir = makeDir(t);
  writeConfig(dir, { shardSockets: false });
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const c = await connect(d.socket);
  const failures = await multiKeyModel(c, new Random(seed), 40, [...keysIn(0, 7, 10), ...keysIn(8, 15, 10)]);
  t.same(failures.slice(0, 5), [], `seed ${seed}: matches the model`);
  const req = await daemonRequests(c);
  t.ok((req.MULTI_GET ?? 0) > 0 && (req.WRITE ?? 0) > 0, 'multiGets and batches went through the daemon socket');
  await c.close();
  t.equal(await stopDaemon(d), 0);
});

/**
 * A proxy in front of `upstream`: frames pass both ways; `onRequest` may answer a request itself (then it
 * returns the bytes to send back and whether to close), `onAnswer` may rewrite an answer frame.
 */
async function frameProxy(
  path: string,
  upstream: string,
  onRequest: (f: Buffer) => { answer: Buffer; close: boolean } | undefined,
  onAnswer: (f: Buffer) => Buffer = (f) => f,
): Promise<Server> {
  const server = createServer((client) => {
    const up = createConnection(upstream);
    const fromClient = new FrameParser(2 ** 31);
    const fromUp = new FrameParser(2 ** 31);
    let closed = false;
    const close = (): void => {
      closed = true;
      client.destroy();
      up.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      fromClient.push(chunk);
      for (let f = fromClient.next(); f !== undefined && !closed; f = fromClient.next()) {
        const own = onRequest(f);
        if (own === undefined) up.write(Buffer.from(f));
        else {
          client.write(own.answer);
          if (own.close) client.end(() => close());
        }
      }
    });
    up.on('data', (chunk: Buffer) => {
      fromUp.push(chunk);
      for (let f = fromUp.next(); f !== undefined; f = fromUp.next()) client.write(onAnswer(Buffer.from(f)));
    });
    client.on('error', close);
    up.on('error', close);
    client.on('close', close);
    up.on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

t.test('shard sockets of an older daemon (single-key requests only): batches and multiGets fall back to the daemon socket', async (t) => {
  const seed = seedFromEnv();
  const dir = makeDir(t);
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => void stopDaemon(d, 'SIGKILL'));
  const map = parseShardMap((await rawExchange(d.socket, [frame(Op.HELLO, 1), frame(Op.SHARD_MAP, 2)], { want: 2 })).frames[1]!.payload);
  const servers: Server[] = [];
  t.teardown(() => {
    for (const s of servers) s.close();
  });
  let refused = 0;
  // Each shard socket behind a proxy that answers what the older shard sockets answered: a protocol
  // violation for anything but HELLO, PING, PUT, GET, DELETE and MERGE, then the connection closes.
  const old = new Set<number>([Op.HELLO, Op.PING, Op.PUT, Op.GET, Op.DELETE, Op.MERGE]);
  for (const [i, e] of map.entries()) {
    servers.push(
      await frameProxy(join(dir, `old${i}.sock`), e.socket!, (f) => {
        if (old.has(f[4]!)) return undefined;
        refused++;
        const w = new Writer(256);
        writeErrorFrame(w, f.readUInt32BE(5), new FloeError('PROTOCOL', 'a shard socket serves only PUT, GET, DELETE and MERGE'));
        return { answer: w.take(), close: true };
      }),
    );
  }
  const oldMap = map.map((e, i) => ({ keyGroups: e.keyGroups, socket: join(dir, `old${i}.sock`) }));
  servers.push(
    await frameProxy(join(dir, 'main.sock'), d.socket, () => undefined, (f) => {
      if (f[4] !== (Op.SHARD_MAP | RESPONSE_BIT)) return f;
      const w = new Writer(256);
      const start = w.beginFrame(Op.SHARD_MAP | RESPONSE_BIT, f.readUInt32BE(5));
      writeShardMap(w, oldMap);
      w.endFrame(start);
      return w.take();
    }),
  );
  const c = await connect(join(dir, 'main.sock'));
  // One request at a time: a request pipelined behind a refused one on the same link fails with a
  // retryable IO error once (the older daemon closes the link; docs/protocol.md "Shard sockets").
  const failures = await multiKeyModel(c, new Random(seed), 150, [...keysIn(0, 7, 10), ...keysIn(8, 15, 10)], 1);
  t.same(failures.slice(0, 5), [], `seed ${seed}: matches the model; no request failed`);
  t.ok(refused > 0, `the old shard sockets refused ${refused} multi-key request(s), which went through the daemon socket`);
  await c.close();
  t.equal(await stopDaemon(d), 0);
});
