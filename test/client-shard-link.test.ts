/**
 * The shared shard link (lib/client/shard-link.ts) against a scripted shard socket: one connection per
 * socket path for every client of the process, pooled request slots (wire ids reused, answers back to the
 * right client in any order), and a connection lost mid-pipeline failing exactly the outstanding requests.
 */
import t, { type Test } from 'tap';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLink, type LinkOwner } from '../lib/client/shard-link.js';
import { decodeError, ERROR_OP, Op, RESPONSE_BIT } from '../lib/protocol/protocol.js';
import { FrameParser, readU32, Writer } from '../lib/protocol/wire.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

interface Got {
  op: number;
  payload: Buffer;
}

/** One client's side: what each of its requests got, and how many are outstanding. */
class Owner implements LinkOwner {
  inFlight = 0;
  readonly answers = new Map<string, Got>();
  answered(reply: (op: number, payload: Uint8Array) => void, op: number, payload: Uint8Array): void {
    this.inFlight--;
    reply(op, payload);
  }
}

/**
 * A shard socket that answers HELLO, then holds request frames until `release(n)` answers n of them (in
 * a seeded random order) with the request's own payload; `cut()` destroys the connection.
 */
class FakeShard {
  readonly server: Server;
  readonly held: Array<{ id: number; payload: Buffer }> = [];
  readonly ids: number[] = [];
  connections = 0;
  socket: Socket | undefined;
  closed = 0;

  constructor(
    readonly path: string,
    private readonly r: Random,
  ) {
    this.server = createServer((s) => {
      this.connections++;
      this.socket = s;
      const parser = new FrameParser(1 << 20);
      s.on('data', (chunk: Buffer) => {
        parser.push(chunk);
        for (let f = parser.next(); f !== undefined; f = parser.next()) {
          const op = f[4]!;
          const id = readU32(f, 5);
          if (op === Op.HELLO) s.write(answer(Op.HELLO | RESPONSE_BIT, id, Buffer.alloc(0)));
          else {
            this.ids.push(id);
            this.held.push({ id, payload: Buffer.from(f.subarray(9)) });
          }
        }
      });
      s.on('close', () => this.closed++);
      s.on('error', () => undefined);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.path, resolve));
  }

  /** Answers `n` held requests, picked at random, in one write. */
  release(n: number): void {
    const w = new Writer(1024);
    for (let i = 0; i < n && this.held.length > 0; i++) {
      const [h] = this.held.splice(this.r.int(this.held.length), 1);
      w.raw(answer(Op.GET | RESPONSE_BIT, h!.id, h!.payload));
    }
    this.socket!.write(w.take());
  }

  cut(): void {
    this.socket!.destroy();
  }
}

function answer(op: number, id: number, payload: Buffer): Buffer {
  const w = new Writer(64);
  const s = w.beginFrame(op, id);
  w.raw(payload);
  w.endFrame(s);
  return w.take();
}

/** A GET frame for `key` with request id `id` (what a client encodes; the link rewrites the id). */
function getFrame(id: number, key: string): Buffer {
  const w = new Writer(64);
  const s = w.beginFrame(Op.GET, id);
  w.u16(0);
  w.raw(Buffer.from(key));
  w.endFrame(s);
  return w.take();
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !what(); i++) await tick();
}

/** A FakeShard listening on a socket in a fresh folder, both gone when the test ends. */
async function listeningShard(t: Test, r: Random): Promise<FakeShard> {
  const dir = mkdtempSync(join(tmpdir(), 'floe-link-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const shard = new FakeShard(join(dir, 's.sock'), r.fork());
  await shard.listen();
  t.teardown(() => void shard.server.close());
  return shard;
}

t.test('one link per shard socket for all clients; pooled slots reused; answers reach their client', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const shard = await listeningShard(t, r);

  const [a, b] = await Promise.all([acquireLink(shard.path, 2000), acquireLink(shard.path, 2000)]);
  t.equal(a, b, 'two clients opening links at once share one');
  const c = await acquireLink(shard.path, 2000);
  t.equal(c, a, 'a later client shares it too');
  t.equal(shard.connections, 1, 'one connection to the shard socket');
  t.equal(a!.refs, 3);

  const owners = [new Owner(), new Owner(), new Owner()];
  let maxOutstanding = 0;
  let sent = 0;
  for (let round = 0; round < 60; round++) {
    const n = 1 + r.int(40);
    for (let i = 0; i < n; i++) {
      const o = r.int(owners.length);
      const owner = owners[o]!;
      const key = `o${o}-r${round}-${i}`;
      // Every client encodes its own ids; they collide across clients (all use 7) and the link must not care.
      const frame = getFrame(7, key);
      owner.inFlight++;
      a!.send(frame, 0, frame.length, (op, payload) => owner.answers.set(key, { op, payload: Buffer.from(payload) }), owner);
      sent++;
    }
    maxOutstanding = Math.max(maxOutstanding, a!.outstanding);
    await until(() => shard.held.length === a!.outstanding);
    // Answer a random part now, the rest stays outstanding into the next round (ids of answered slots
    // come back while others are still out).
    shard.release(r.int(shard.held.length + 1));
    await until(() => a!.outstanding === shard.held.length);
  }
  shard.release(shard.held.length);
  await until(() => a!.outstanding === 0);
  t.equal(a!.outstanding, 0, `seed ${seed}: every request answered`);
  t.same(
    owners.map((o) => o.inFlight),
    [0, 0, 0],
  );
  let wrong = 0;
  let count = 0;
  for (const [o, owner] of owners.entries()) {
    for (const [key, got] of owner.answers) {
      count++;
      if (!key.startsWith(`o${o}-`) || got.op !== (Op.GET | RESPONSE_BIT) || got.payload.subarray(2).toString() !== key) wrong++;
    }
  }
  t.equal(count, sent, 'each request answered once');
  t.equal(wrong, 0, `seed ${seed}: each answer reached the request (and client) it belongs to`);
  t.ok(a!.slots <= maxOutstanding, `the pool holds ${a!.slots} slots for at most ${maxOutstanding} outstanding (not ${sent})`);
  t.ok(Math.max(...shard.ids) <= a!.slots && Math.min(...shard.ids) >= 1, 'wire ids are slot + 1');

  await a!.release();
  await b!.release();
  t.equal(shard.closed, 0, 'still held by one client');
  await c!.release();
  await until(() => shard.closed === 1);
  t.equal(shard.closed, 1, 'the last release closes the connection');
  const d = await acquireLink(shard.path, 2000);
  t.not(d, a, 'a client after that gets a new connection');
  await d.release();
});

t.test('a link lost mid-pipeline fails exactly the outstanding requests, each to its client', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const shard = await listeningShard(t, r);

  const link = await acquireLink(shard.path, 2000);
  const other = await acquireLink(shard.path, 2000);
  const owners = [new Owner(), new Owner()];
  const n = 20 + r.int(40);
  for (let i = 0; i < n; i++) {
    const o = r.int(2);
    const owner = owners[o]!;
    const key = `k${i}`;
    owner.inFlight++;
    const frame = getFrame(i, key);
    link.send(frame, 0, frame.length, (op, payload) => owner.answers.set(key, { op, payload: Buffer.from(payload) }), owner);
  }
  await until(() => shard.held.length === n);
  const answeredFirst = r.int(n);
  shard.release(answeredFirst);
  await until(() => link.outstanding === n - answeredFirst);
  shard.cut();
  await until(() => !link.usable);
  t.equal(link.usable, false, 'the link is not usable after the break');
  t.equal(link.outstanding, 0);
  t.same(
    owners.map((o) => o.inFlight),
    [0, 0],
    'every client was told about every request',
  );
  const all = owners.flatMap((o) => [...o.answers.values()]);
  t.equal(all.length, n, 'each request answered exactly once');
  t.equal(all.filter((g) => g.op === (Op.GET | RESPONSE_BIT)).length, answeredFirst, `seed ${seed}: the ${answeredFirst} answered before the break kept their answers`);
  const failed = all.filter((g) => g.op === ERROR_OP).map((g) => decodeError(g.payload));
  t.equal(failed.length, n - answeredFirst, 'exactly the outstanding ones failed');
  t.ok(
    failed.every((e) => e.code === 'IO' && e.retryable),
    'with a retryable IO error',
  );
  const fresh = await acquireLink(shard.path, 2000);
  t.not(fresh, link, 'the next client gets a new connection, not the broken one');
  t.equal(shard.connections, 2);
  await fresh.release();
  await link.release();
  await other.release();
});
