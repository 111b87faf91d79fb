/**
 * Named stores through a real daemon process (docs/protocol.md, "Named stores"): a seeded model test over
 * several named stores on several connections beside a default-store client; restore with clip from
 * several handles (rescale 2 → 1 → 3, and from the default store); fencing takeover; ephemeral retirement
 * (the instance retires and GC collects its files); OPEN_STORE as a barrier for pipelined frames; and
 * every error case answered with a typed error while the daemon keeps serving.
 */
import t, { type Test } from 'tap';
import { Buffer } from 'node:buffer';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { CheckpointHandle, Store } from '../lib/api.js';
import { collectGarbage } from '../lib/checkpoint/gc.js';
import { listInstanceSummaries } from '../lib/checkpoint/instances.js';
import { connect, type FloeClient, type FloeNamedStoreClient } from '../lib/client/client.js';
import { FloeError } from '../lib/errors.js';
import { defaultKeyGroup } from '../lib/keys.js';
import type { OpenStoreRequest } from '../lib/protocol/named-store.js';
import { decodeError, ERROR_OP, Op, writeHello } from '../lib/protocol/protocol.js';
import { FrameParser, Writer } from '../lib/protocol/wire.js';
import { openObjectStore } from '../lib/store/open.js';
import { parseSstPath, sstOwner } from '../lib/store/paths.js';
import { systemClock } from '../lib/util/clock.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { hex, Model, modelLines, scanLines } from './support/model.js';
import { makeDir, startDaemon, stopDaemon, writeConfig, type DaemonProcess } from './support/daemon-process.js';

const MAX_KG = 16;

async function daemon(t: Test, extra: Record<string, unknown> = {}): Promise<{ dir: string; d: DaemonProcess; restart: () => Promise<DaemonProcess> }> {
  const dir = makeDir(t);
  writeConfig(dir, extra);
  const state = { d: await startDaemon(dir) };
  t.teardown(() => {
    state.d.child.kill('SIGKILL');
  });
  return {
    dir,
    get d() {
      return state.d;
    },
    restart: async () => {
      t.equal(await stopDaemon(state.d), 0, 'daemon stops cleanly');
      state.d = await startDaemon(dir);
      return state.d;
    },
  };
}


/** Seeded random writes and checked reads on one named store, all key groups inside `range`. */
async function randomOps(t: Test, store: Store, model: Model, r: Random, range: [number, number], ops: number, where: string): Promise<void> {
  const kg = (): number => range[0] + r.int(range[1] - range[0] + 1);
  for (let i = 0; i < ops; i++) {
    const key = Buffer.from(`k${r.int(40)}`);
    const g = kg();
    const p = r.next();
    if (p < 0.3) {
      const v = r.bytes(r.int(60));
      await store.put(key, v, { keyGroup: g });
      model.put(g, key, v);
    } else if (p < 0.4) {
      await store.delete(key, { keyGroup: g });
      model.delete(g, key);
    } else if (p < 0.5) {
      const v = r.bytes(r.int(8));
      await store.merge(key, v, { keyGroup: g });
      model.merge(g, key, v);
    } else if (p < 0.6) {
      const ops = Array.from({ length: r.range(1, 6) }, () => ({ key: Buffer.from(`k${r.int(40)}`), keyGroup: kg(), value: r.bytes(r.int(30)) }));
      await store.write(ops.map((o) => ({ type: 'put' as const, ...o })));
      for (const o of ops) model.put(o.keyGroup, o.key, o.value);
    } else if (p < 0.85) {
      t.equal(hex(await store.get(key, { keyGroup: g })), hex(model.get(g, key)), `${where} op ${i}: get`);
    } else if (p < 0.95) {
      const keys = Array.from({ length: r.range(1, 5) }, () => Buffer.from(`k${r.int(40)}`));
      const got = await store.multiGet(keys, { keyGroup: g });
      t.same(got.map(hex), keys.map((k) => hex(model.get(g, k))), `${where} op ${i}: multiGet`);
    } else {
      const g2 = kg();
      const got: string[] = [];
      for await (const e of store.scan({ keyGroup: g2 })) got.push(`${hex(e.key)}=${hex(e.value)}`);
      t.same(got, model.scan({ keyGroup: g2 }).map((e) => `${hex(e.key)}=${hex(e.value)}`), `${where} op ${i}: scan kg ${g2}`);
    }
  }
}

const req = (name: string, keyGroups: [number, number], extra: Partial<OpenStoreRequest> = {}): OpenStoreRequest => ({ name, maxKeyGroups: MAX_KG, keyGroups, ...extra });

t.test('model test: several named stores on several connections, beside the default store', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  t.comment(`seed ${seed}`);
  const env = await daemon(t);
  let main = await connect(env.d.socket);
  // Two one-part stores (placement spreads them) and one of two parts (the default: one per shard).
  const specs: Array<{ name: string; range: [number, number]; parts?: number }> = [
    { name: 'job-a/op-1/sub-0', range: [0, 7], parts: 1 },
    { name: 'job-a/op-1/sub-1', range: [8, 15], parts: 1 },
    { name: 'job-b/op.2/sub-0', range: [0, 15] },
  ];
  const models = specs.map(() => new Model());
  const defaultModel = new Model();
  // Two connections per store (they share it), opened on one client's daemon.
  const conns: FloeNamedStoreClient[][] = [];
  for (const s of specs) {
    const a = await main.openStore(req(s.name, s.range, s.parts !== undefined ? { parts: s.parts } : {}));
    const b = await main.openStore(req(s.name, s.range));
    const parts = s.parts === 1 ? {} : { parts: [{ shard: a.info.shard, keyGroups: [0, 7] }, { shard: 1 - a.info.shard, keyGroups: [8, 15] }] };
    t.same(a.info, { name: s.name, shard: a.info.shard, maxKeyGroups: MAX_KG, keyGroups: s.range, restored: false, created: true, ...parts }, `${s.name} created`);
    t.equal(b.info.created, false, `${s.name}: the second connection joins it`);
    t.equal(b.info.shard, a.info.shard, 'one store, one shard');
    conns.push([a, b]);
  }
  t.not(conns[0]![0]!.info.shard, conns[1]![0]!.info.shard, 'placement spreads stores over the shards');
  const defaultOps = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(`k${r.int(40)}`);
      const g = defaultKeyGroup(key, MAX_KG);
      const v = r.bytes(20);
      await main.put(key, v);
      defaultModel.put(g, key, v);
    }
  };
  for (let round = 0; round < 4; round++) {
    await Promise.all([
      ...specs.map((s, i) => randomOps(t, conns[i]![round % 2]!, models[i]!, new Random(seed + round * 10 + i), s.range, 120, `seed ${seed} ${s.name} round ${round}`)),
      defaultOps(40),
    ]);
    if (round === 1) await Promise.all(conns.map(([a]) => a!.flush()));
  }
  for (const [i, s] of specs.entries()) t.same(await scanLines(conns[i]![1]!), modelLines(models[i]!), `${s.name}: exact contents through either connection`);
  t.same(await scanLines(main), modelLines(defaultModel), 'the default store holds only its own writes');
  const stats = (await conns[0]![0]!.stats()) as unknown as { daemon: { namedStores: Array<{ name: string; connections: number }> } };
  t.same(stats.daemon.namedStores.map((s) => [s.name, s.connections]).sort(), specs.map((s) => [s.name, 2]).sort(), 'STATS lists the named stores');
  for (const pair of conns) for (const c of pair) await c.close();
  await main.close();

  // Persistent stores survive a daemon restart and reopen by name.
  const d = await env.restart();
  main = await connect(d.socket);
  for (const [i, s] of specs.entries()) {
    const c = await main.openStore(req(s.name, s.range));
    t.equal(c.info.created, false, `${s.name} reopened after a restart`);
    t.same(await scanLines(c), modelLines(models[i]!), `${s.name}: contents after a restart`);
    await c.close();
  }
  t.same(await scanLines(main), modelLines(defaultModel), 'default store after a restart');
  await main.close();
});

t.test('restore with clip: 2 → 1 → 3 subtasks, and from the default store', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const env = await daemon(t);
  const main = await connect(env.d.socket);
  const model = new Model();
  const fill = async (c: Store, range: [number, number], n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const g = range[0] + r.int(range[1] - range[0] + 1);
      const key = Buffer.from(`w${r.int(50)}`);
      const v = r.bytes(r.int(40));
      await c.put(key, v, { keyGroup: g });
      model.put(g, key, v);
    }
  };
  // Parallelism 2.
  const p2 = [await main.openStore(req('wc/p2/sub-0', [0, 7])), await main.openStore(req('wc/p2/sub-1', [8, 15]))];
  await fill(p2[0]!, [0, 7], 200);
  await p2[0]!.flush();
  await fill(p2[0]!, [0, 7], 100); // part in SSTs, part in the memtable at the checkpoint
  await fill(p2[1]!, [8, 15], 250);
  const h2 = [await p2[0]!.checkpoint(), await p2[1]!.checkpoint()];
  t.same(
    h2[0]!.instances.map((i) => i.keyGroups),
    [
      [0, 3],
      [4, 7],
    ],
    'a named store checkpoint lists every part (one per shard by default)',
  );
  const atH2 = model.clone();
  await fill(p2[0]!, [0, 7], 30); // after the checkpoint: not in the restores
  for (const c of p2) await c.close();

  // Parallelism 1: one subtask restores from both handles.
  const p1 = await main.openStore(req('wc/p1/sub-0', [0, 15], { restore: h2 }));
  t.same({ restored: p1.info.restored, created: p1.info.created }, { restored: true, created: true });
  t.same(await scanLines(p1), modelLines(atH2), 'p=1: exactly the union of both checkpoints');
  const more = new Model();
  for (let i = 0; i < 60; i++) {
    const g = r.int(MAX_KG);
    const key = Buffer.from(`m${r.int(20)}`);
    const v = r.bytes(10);
    await p1.put(key, v, { keyGroup: g });
    more.put(g, key, v);
    atH2.put(g, key, v);
  }
  const h1 = await p1.checkpoint();
  await p1.close();

  // Parallelism 3: Flink's ranges for max 16: [0,5] [6,10] [11,15].
  const ranges: Array<[number, number]> = [
    [0, 5],
    [6, 10],
    [11, 15],
  ];
  for (const [i, range] of ranges.entries()) {
    const c = await main.openStore(req(`wc/p3/sub-${i}`, range, { restore: [h1] }));
    t.same(await scanLines(c), modelLines(atH2, range), `p=3 subtask ${i}: exactly key groups [${range[0]}, ${range[1]}]`);
    await t.rejects(c.put('x', 'y', { keyGroup: range[1] === 15 ? 0 : 15 }), { code: 'INVALID_ARGUMENT' }, 'key groups outside the range are refused');
    await c.close();
  }

  // From the default store's handle (same maxKeyGroups) into a named store's sub-range.
  const dm = new Model();
  for (let i = 0; i < 80; i++) {
    const key = Buffer.from(`d${i}`);
    const v = r.bytes(12);
    await main.put(key, v);
    dm.put(defaultKeyGroup(key, MAX_KG), key, v);
  }
  const hd = await main.checkpoint();
  const fromDefault = await main.openStore(req('from-default', [4, 11], { restore: [hd] }));
  t.same(await scanLines(fromDefault), modelLines(dm, [4, 11]), 'restored from the default store, clipped');
  await fromDefault.close();
  // An empty restore list starts the name empty, even if it held data.
  const empty = await main.openStore(req('wc/p1/sub-0', [0, 15], { restore: [] }));
  t.same(await scanLines(empty), [], 'restore [] = start empty');
  await empty.close();
  await main.close();
});

t.test('fencing: a restore takes the name over from a stale binding', async (t) => {
  const env = await daemon(t);
  const main = await connect(env.d.socket);
  const stale = await main.openStore(req('job/op/sub-0', [0, 15]));
  await stale.put('a', '1', { keyGroup: 3 });
  const h = await stale.checkpoint();
  await stale.put('b', 'after-checkpoint', { keyGroup: 3 });
  const fresh = await main.openStore(req('job/op/sub-0', [0, 15], { restore: [h] }));
  t.equal(fresh.info.restored, true);
  await t.rejects(stale.get('a', { keyGroup: 3 }), { code: 'FENCED', message: /taken over by a restore/ }, 'the stale binding is fenced');
  await t.rejects(stale.put('c', '1', { keyGroup: 3 }), { code: 'FENCED' });
  t.equal(Buffer.from((await fresh.get('a', { keyGroup: 3 }))!).toString(), '1');
  t.equal(await fresh.get('b', { keyGroup: 3 }), undefined, 'writes after the checkpoint belong to the fenced instance');
  await stale.close(); // CLOSE_STORE still unbinds a fenced connection
  const joined = await main.openStore(req('job/op/sub-0', [0, 15]));
  t.equal(joined.info.created, false, 'a plain open joins the new holder');
  t.equal(Buffer.from((await joined.get('a', { keyGroup: 3 }))!).toString(), '1');
  await joined.close();
  await fresh.close();
  await main.close();
});

t.test('ephemeral stores retire when their last connection goes; GC collects their files', async (t) => {
  const env = await daemon(t);
  const primary = join(env.dir, 'data');
  const { store: objects } = await openObjectStore(`file://${primary}`, { skipProbe: true });
  t.teardown(() => objects.close());
  const main = await connect(env.d.socket);
  const a = await main.openStore(req('tmp/e', [0, 15], { ephemeral: true }));
  const b = await main.openStore(req('tmp/e', [0, 15], { ephemeral: true }));
  for (let i = 0; i < 200; i++) await a.put(`k${i}`, 'v'.repeat(50), { keyGroup: i % 16 });
  await a.flush();
  const h = await a.checkpoint();
  const instanceId = h.instances[0]!.instanceId;
  await main.releaseCheckpoint(h); // nothing keeps its files but the instance itself
  const sstsOf = async (): Promise<string[]> =>
    (await objects.list('sst/')).map((o) => parseSstPath(o.path)).filter((id): id is string => id !== undefined && sstOwner(id)?.instanceId === instanceId);
  t.ok((await sstsOf()).length > 0, 'the store has SSTs on primary storage');
  const summary = async (): Promise<{ retired?: string } | undefined> => (await listInstanceSummaries(objects)).find((s) => s.instanceId === instanceId);
  await a.close();
  t.notOk((await summary())?.retired, 'still live while another connection holds it');
  t.equal(Buffer.from((await b.get('k1', { keyGroup: 1 }))!).toString(), 'v'.repeat(50));
  await b.close(); // the last binding: retire now (CLOSE_STORE answers after)
  t.ok((await summary())?.retired, 'retired once the last connection went');
  const gc = await collectGarbage(objects, { clock: systemClock, graceMs: 0 });
  t.ok(gc.deletedFiles.length > 0, 'GC collected files');
  t.same(await sstsOf(), [], "every SST of the retired instance is gone");
  const again = await main.openStore(req('tmp/e', [0, 15], { ephemeral: true }));
  t.equal(again.info.created, true, 'the name opens empty again');
  t.same(await scanLines(again), []);

  // A disconnect (no CLOSE_STORE) counts too; a retained checkpoint keeps its files restorable.
  await again.put('kept', 'by-checkpoint', { keyGroup: 2 });
  const kept = await again.checkpoint();
  (again as unknown as { boundTransport: { socket: { destroy(): void } } }).boundTransport.socket.destroy();
  const keptId = kept.instances[0]!.instanceId;
  for (let i = 0; i < 100 && !(await listInstanceSummaries(objects)).find((s) => s.instanceId === keptId)?.retired; i++) await sleep(50);
  t.ok((await listInstanceSummaries(objects)).find((s) => s.instanceId === keptId)?.retired, 'retired after a disconnect');
  await collectGarbage(objects, { clock: systemClock, graceMs: 0 });
  const restored = await main.openStore(req('tmp/restored', [0, 15], { restore: [kept] }));
  t.equal(Buffer.from((await restored.get('kept', { keyGroup: 2 }))!).toString(), 'by-checkpoint', 'the checkpoint is the recovery point');
  await restored.close();
  // CLOSE_STORE with drop retires a persistent store too.
  const p = await main.openStore(req('tmp/persistent', [0, 15]));
  await p.put('x', 'y', { keyGroup: 0 });
  const pid = (await p.checkpoint()).instances[0]!.instanceId;
  await p.close({ drop: true });
  t.ok((await listInstanceSummaries(objects)).find((s) => s.instanceId === pid)?.retired, 'dropped → retired');
  const p2 = await main.openStore(req('tmp/persistent', [0, 15]));
  t.equal(p2.info.created, true, 'a dropped name opens empty');
  await p2.close();
  await main.close();
});

t.test('an ephemeral store left open by a killed daemon is retired when the daemon starts again', async (t) => {
  const env = await daemon(t);
  const { store: objects } = await openObjectStore(`file://${join(env.dir, 'data')}`, { skipProbe: true });
  t.teardown(() => objects.close());
  let main = await connect(env.d.socket);
  const e = await main.openStore(req('crash/e', [0, 15], { ephemeral: true }));
  const p = await main.openStore(req('crash/p', [0, 15]));
  await e.put('k', 'v', { keyGroup: 1 });
  await p.put('k', 'v', { keyGroup: 1 });
  const eId = (await e.checkpoint()).instances[0]!.instanceId;
  await p.flush();
  env.d.child.kill('SIGKILL');
  await env.d.exited;
  const d = await startDaemon(env.dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
  });
  t.ok(d.events.some((x) => x.event === 'named_store_retired' && x.name === 'crash/e'), 'the start retires it (logged)');
  t.ok((await listInstanceSummaries(objects)).find((s) => s.instanceId === eId)?.retired, 'its instance is retired');
  main = await connect(d.socket);
  const e2 = await main.openStore(req('crash/e', [0, 15], { ephemeral: true }));
  t.equal(e2.info.created, true, 'the ephemeral name opens empty');
  const p2 = await main.openStore(req('crash/p', [0, 15]));
  t.equal(p2.info.created, false, 'a persistent store is kept');
  t.equal(Buffer.from((await p2.get('k', { keyGroup: 1 }))!).toString(), 'v');
  await e2.close();
  await p2.close();
  await main.close();
  t.equal(await stopDaemon(d), 0);
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A raw connection: send frames, collect answers by id. */
async function rawConnection(socket: string): Promise<{ send: (fill: (w: Writer) => void) => void; answer: (id: number) => Promise<{ op: number; payload: Buffer }>; close: () => void }> {
  const s = createConnection(socket);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', resolve);
    s.once('error', reject);
  });
  const parser = new FrameParser(1 << 26);
  const answers = new Map<number, { op: number; payload: Buffer }>();
  const waiters = new Map<number, (a: { op: number; payload: Buffer }) => void>();
  s.on('data', (chunk: Buffer) => {
    parser.push(chunk);
    for (let f = parser.next(); f !== undefined; f = parser.next()) {
      const id = f.readUInt32BE(5);
      const a = { op: f[4]!, payload: Buffer.from(f.subarray(9)) };
      const w = waiters.get(id);
      if (w) w(a);
      else answers.set(id, a);
    }
  });
  return {
    send: (fill) => {
      const w = new Writer(256);
      fill(w);
      s.write(w.take());
    },
    answer: (id) => {
      const a = answers.get(id);
      if (a) return Promise.resolve(a);
      return new Promise((resolve) => waiters.set(id, resolve));
    },
    close: () => s.destroy(),
  };
}

const frameOf = (op: number, id: number, payload: Uint8Array | string) => (w: Writer) => {
  const start = w.beginFrame(op, id);
  w.rawOrUtf8(payload);
  w.endFrame(start);
};

t.test('OPEN_STORE is a barrier: frames pipelined behind it act on the named store', async (t) => {
  const env = await daemon(t);
  const raw = await rawConnection(env.d.socket);
  t.teardown(raw.close);
  const put = (id: number, key: string, value: string) => (w: Writer) => {
    const start = w.beginFrame(Op.PUT, id);
    w.u16(5);
    w.bytes32(key);
    w.rawOrUtf8(value);
    w.endFrame(start);
  };
  const get = (id: number, key: string) => frameOf(Op.GET, id, Buffer.concat([Buffer.from([0, 5]), Buffer.from(key)]));
  // One write: HELLO, OPEN_STORE, PUT, GET, CLOSE_STORE, GET (default store) — nothing awaited in between.
  raw.send((w) => {
    writeHello(w, 1);
    frameOf(Op.OPEN_STORE, 2, JSON.stringify(req('barrier/s', [0, 15])))(w);
    put(3, 'k', 'named')(w);
    get(4, 'k')(w);
    frameOf(Op.CLOSE_STORE, 5, Uint8Array.of(0))(w);
    get(6, 'k')(w);
  });
  t.equal((await raw.answer(2)).op, Op.OPEN_STORE | 0x80);
  t.equal((await raw.answer(3)).op, Op.PUT | 0x80);
  const named = await raw.answer(4);
  t.same([named.op, named.payload.toString('utf8', 1)], [Op.GET | 0x80, 'named'], 'the GET behind the open saw the named store');
  t.equal((await raw.answer(5)).op, Op.CLOSE_STORE | 0x80);
  const dflt = await raw.answer(6);
  t.same([dflt.op, dflt.payload[0]], [Op.GET | 0x80, 0], 'after CLOSE_STORE: the default store, which does not have it');
});

t.test('every error is typed and the daemon keeps serving', async (t) => {
  const env = await daemon(t);
  const main = await connect(env.d.socket);
  await main.put('alive', 'yes');
  const raw = await rawConnection(env.d.socket);
  t.teardown(raw.close);
  raw.send((w) => writeHello(w, 1));
  await raw.answer(1);
  let id = 10;
  const expectError = async (payload: string | Uint8Array, code: string, message: RegExp, what: string, op: number = Op.OPEN_STORE): Promise<void> => {
    const n = id++;
    raw.send(frameOf(op, n, payload));
    const a = await raw.answer(n);
    t.equal(a.op, ERROR_OP, `${what}: an error`);
    if (a.op === ERROR_OP) t.match(decodeError(a.payload), { code, message }, what);
  };
  await expectError('{"name":', 'INVALID_ARGUMENT', /not valid JSON/, 'bad JSON');
  await expectError(JSON.stringify(req('../x', [0, 15])), 'INVALID_ARGUMENT', /not valid/, 'bad name');
  await expectError(JSON.stringify(req('x', [3, 16])), 'INVALID_ARGUMENT', /keyGroups must be/, 'range past maxKeyGroups');
  await expectError(JSON.stringify({ ...req('x', [0, 1]), maxKeyGroups: 0 }), 'INVALID_ARGUMENT', /maxKeyGroups/, 'maxKeyGroups 0');
  await expectError(JSON.stringify({ ...req('x', [0, 1]), restore: [{ nope: 1 }] }), 'INVALID_ARGUMENT', /not a Floe checkpoint handle/, 'not a handle');
  // Shapes and handles against existing state.
  const s = await main.openStore(req('err/s', [0, 7]));
  const h = await s.checkpoint();
  await expectError(JSON.stringify(req('err/s', [0, 15])), 'INVALID_ARGUMENT', /exists with maxKeyGroups 16 and keyGroups \[0, 7\]/, 'open with another range');
  await expectError(JSON.stringify({ ...req('err/s', [0, 7]), maxKeyGroups: 32 }), 'INVALID_ARGUMENT', /maxKeyGroups 16/, 'open with another maxKeyGroups');
  await expectError(JSON.stringify({ ...req('err/t', [0, 7]), maxKeyGroups: 32, restore: [h] }), 'INVALID_ARGUMENT', /maxKeyGroups 16/, 'handle of another maxKeyGroups');
  await expectError(JSON.stringify(req('err/t', [0, 7], { restore: [{ ...h, primary: 'file:///elsewhere' }] })), 'INVALID_ARGUMENT', /lives on file:\/\/\/elsewhere/, 'handle of another primary');
  await main.releaseCheckpoint(h);
  await expectError(JSON.stringify(req('err/t', [0, 7], { restore: [h] })), 'INVALID_ARGUMENT', new RegExp(`checkpoint ${h.checkpointId} no longer exists`), 'released handle');
  await expectError(Uint8Array.of(2), 'INVALID_ARGUMENT', /unknown bits/, 'CLOSE_STORE unknown flag bits', Op.CLOSE_STORE);
  // Requests on a bound connection: key groups outside the store's range, a second open.
  await t.rejects(s.put('k', 'v', { keyGroup: 9 }), { code: 'INVALID_ARGUMENT', message: /outside the key groups \[0, 7\]/ }, 'PUT outside the range');
  await t.rejects(s.get('k', { keyGroup: 8 }), { code: 'INVALID_ARGUMENT' }, 'GET outside the range');
  await t.rejects(s.write([{ type: 'put', key: 'a', value: 'b', keyGroup: 0 }, { type: 'put', key: 'a', value: 'b', keyGroup: 12 }]), { code: 'INVALID_ARGUMENT', message: /operation 1/ }, 'a batch with one op outside');
  t.equal(await s.get('a', { keyGroup: 0 }), undefined, 'the rejected batch applied nothing');
  await t.rejects(s.multiGet(['a'], { keyGroup: 15 }), { code: 'INVALID_ARGUMENT' }, 'MULTI_GET outside');
  await t.rejects((async () => {
    for await (const _ of s.scan({ keyGroup: 10 })) break;
  })(), { code: 'INVALID_ARGUMENT' }, 'SCAN outside');
  const hashedOutside = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].find((k) => defaultKeyGroup(Buffer.from(k), MAX_KG) > 7)!;
  await t.rejects(s.put(hashedOutside, 'v'), { code: 'INVALID_ARGUMENT' }, 'a default key group hashing outside the range');
  await t.rejects((s as unknown as { bind(r: OpenStoreRequest): Promise<void> }).bind(req('other', [0, 1])), { code: 'INVALID_ARGUMENT', message: /already bound/ }, 'second OPEN_STORE');
  await s.put('k', 'v', { keyGroup: 7 });
  t.equal(Buffer.from((await s.get('k', { keyGroup: 7 }))!).toString(), 'v', 'the bound connection still works');
  // The client validates before sending.
  await t.rejects(main.openStore({ name: '', maxKeyGroups: 16, keyGroups: [0, 1] }), FloeError);
  // CLOSE_STORE on an unbound connection is a no-op.
  const n = id++;
  raw.send(frameOf(Op.CLOSE_STORE, n, Uint8Array.of(0)));
  t.equal((await raw.answer(n)).op, Op.CLOSE_STORE | 0x80, 'CLOSE_STORE unbound: ok');
  t.equal(Buffer.from((await main.get('alive'))!).toString(), 'yes', 'the daemon keeps serving');
  await s.close();
  await main.close();
});

// Keep type imports used.
export type { CheckpointHandle, FloeClient };
