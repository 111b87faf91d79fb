/**
 * The daemon as a real process (dist/bin/floe.js daemon) on a temp socket with a file:// primary:
 * random operations through the client against the model; several concurrent pipelined connections, each
 * checked against its own model at submission order; socket mode 0600; malformed frames that must close
 * only their own connection; backpressure; metrics; the CLI's ping and stats; graceful stop.
 * Stopping under load and stale sockets: test/daemon-lifecycle.test.ts.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { statSync, existsSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { connect, type FloeClient } from '../lib/client/client.js';
import { decodeError, ERROR_OP, Op, writeHello } from '../lib/protocol/protocol.js';
import { FrameParser, Writer } from '../lib/protocol/wire.js';
import type { WriteOp } from '../lib/api.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { Model, hex } from './support/model.js';
import { runRandomOps } from './support/random-ops.js';
import { makeDir, runCli, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';
import { rawExchange } from './support/raw-exchange.js';

const MAX_KG = 16;

/** Opens a raw socket, sends `bytes`, collects everything until the daemon closes it (or 10 s pass). */
const hello = (): Buffer => {
  const w = new Writer(32);
  writeHello(w, 1);
  return w.take();
};

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

t.test('daemon: model, concurrency, socket mode, malformed frames', async (t) => {
  const seed = seedFromEnv();
  const dir = makeDir(t);
  // A small in-flight limit makes every pipelined test below exercise backpressure (pause/resume).
  writeConfig(dir, { maxInFlightPerConnection: 16, metricsPort: 0 });
  const d = await startDaemon(dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
  });

  t.test('the socket file is mode 0600', async (t) => {
    const st = statSync(d.socket);
    t.ok(st.isSocket());
    t.equal(st.mode & 0o777, 0o600);
  });

  t.test('random operations through the client agree with the model (reconnecting in between)', async (t) => {
    try {
      const { store, counts } = await runRandomOps({
        seed,
        ops: 1500,
        maxKeyGroups: MAX_KG,
        keySpace: 300,
        maxValueBytes: 400,
        open: () => connect(d.socket),
        reopen: true,
      });
      const stats = await store.stats();
      t.ok(stats.remote.puts > 0, 'stats come through the socket');
      t.ok((stats as { daemon?: { connections?: number } }).daemon?.connections !== undefined, 'with the daemon section');
      await store.close();
      t.pass(`seed ${seed}: model and daemon agree ${JSON.stringify(counts)}`);
    } catch (e) {
      t.fail(`seed ${seed}: ${(e as Error).message}`);
    }
  });

  t.test('concurrent pipelined connections, each against its own model in submission order', async (t) => {
    const conns = await Promise.all(Array.from({ length: 4 }, () => connect(d.socket)));
    const failures: string[] = [];
    await Promise.all(conns.map((c, ci) => pipelinedWorkload(c, ci, seed + ci, failures)));
    t.same(failures.slice(0, 5), [], `seed ${seed}: every read matched the model at its submission point`);
    await Promise.all(conns.map((c) => c.close()));
  });

  t.test('malformed frames close only their own connection; the daemon keeps serving', async (t) => {
    const good = await connect(d.socket);
    await good.put('alive', 'yes');
    const r = new Random(seed);
    const randomRuns = Array.from({ length: 12 }, () => rawExchange(d.socket, [Buffer.from(r.bytes(r.range(1, 300)))], { endAfter: true }));
    const helloThen = (...frames: Buffer[]): Promise<{ frames: Array<{ op: number; id: number; payload: Buffer }>; closedByServer: boolean }> =>
      rawExchange(d.socket, [hello(), ...frames]);
    const frameOf = (op: number, id: number, payload: number[] | Buffer): Buffer => {
      const p = Buffer.from(payload);
      const b = Buffer.alloc(9 + p.length);
      b.writeUInt32BE(5 + p.length, 0);
      b[4] = op;
      b.writeUInt32BE(id, 5);
      p.copy(b, 9);
      return b;
    };
    const cases: Array<[string, Promise<{ frames: Array<{ op: number; id: number; payload: Buffer }>; closedByServer: boolean }>, string, number]> = [
      ['wrong version', rawExchange(d.socket, [frameOf(Op.HELLO, 4, [0x46, 0x4c, 0x4f, 0x45, 0, 7, 0, 9])]), 'VERSION', 4],
      ['bad magic', rawExchange(d.socket, [frameOf(Op.HELLO, 5, [1, 2, 3, 4, 0, 1, 0, 1])]), 'PROTOCOL', 5],
      ['a request before HELLO', rawExchange(d.socket, [frameOf(Op.GET, 6, [0xff, 0xff, 0x6b])]), 'PROTOCOL', 6],
      ['a huge length', helloThen(Buffer.from([0xff, 0xff, 0xff, 0xf0, Op.PUT, 0, 0, 0, 7])), 'PROTOCOL', 0],
      ['a length below 5', helloThen(Buffer.from([0, 0, 0, 2, Op.PUT, 0])), 'PROTOCOL', 0],
      ['an unknown opcode', helloThen(frameOf(0x7e, 8, [])), 'PROTOCOL', 8],
      ['an internal opcode (shard close)', helloThen(frameOf(0x45, 9, [])), 'PROTOCOL', 9],
      ['an internal opcode (shard checkpoint)', helloThen(frameOf(0x43, 10, [])), 'PROTOCOL', 10],
      ['a key length past the frame', helloThen(frameOf(Op.PUT, 11, [0, 1, 0, 0, 1, 0, 0x6b])), 'PROTOCOL', 11],
      ['a truncated WRITE batch', helloThen(frameOf(Op.WRITE, 12, [0, 0, 0, 2, 1, 0, 1, 0, 0, 0, 1, 0x6b])), 'PROTOCOL', 12],
      ['a second HELLO', helloThen(hello()), 'PROTOCOL', 1],
    ];
    for (const [name, p, code, id] of cases) {
      const { frames, closedByServer } = await p;
      const err = frames.find((f) => f.op === ERROR_OP);
      t.ok(closedByServer, `${name}: the daemon closed the connection`);
      t.ok(err, `${name}: answered with an ERROR frame`);
      if (err) {
        t.equal(decodeError(err.payload).code, code, `${name}: code ${code}`);
        t.equal(err.id, id, `${name}: request id ${id}`);
      }
    }
    for (const { closedByServer } of await Promise.all(randomRuns)) t.ok(closedByServer, 'random bytes: connection closed');
    // An argument error is NOT a protocol violation: the connection stays usable.
    await t.rejects(good.put('', 'x'), { code: 'INVALID_ARGUMENT' });
    await t.rejects(good.get('k', { keyGroup: MAX_KG }), { code: 'INVALID_ARGUMENT', message: new RegExp(`\\[0, ${MAX_KG}\\)`) });
    t.equal(text(await good.get('alive')), 'yes', 'the good connection still works');
    t.equal(d.child.exitCode, null, 'the daemon is still running');
    await good.close();
  });

  t.test('backpressure: a client that floods and does not read is bounded and still fully answered', async (t) => {
    const good = await connect(d.socket);
    const n = 20000;
    const flood = new Writer(1 << 20);
    writeHello(flood, 0);
    for (let id = 1; id <= n; id++) {
      const start = flood.beginFrame(Op.GET, id);
      flood.u16(id % MAX_KG);
      flood.rawOrUtf8(`flood-${id % 100}`);
      flood.endFrame(start);
    }
    const s = createConnection(d.socket);
    s.pause(); // read nothing for now
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.write(flood.take());
    await new Promise((resolve) => setTimeout(resolve, 300));
    const stats = (await good.stats()) as { daemon?: { inFlight: number } };
    t.ok(stats.daemon!.inFlight <= 16 + 1, `in-flight requests stay bounded (${stats.daemon!.inFlight})`);
    await good.put('still', 'served');
    t.equal(text(await good.get('still')), 'served', 'other connections are served meanwhile');
    const parser = new FrameParser(1 << 30);
    const seen = new Set<number>();
    let errors = 0;
    await new Promise<void>((resolve, reject) => {
      s.on('data', (chunk: Buffer) => {
        parser.push(chunk);
        for (let f = parser.next(); f; f = parser.next()) {
          if (f[4] === ERROR_OP) errors++;
          seen.add(f.readUInt32BE(5));
        }
        if (seen.size === n + 1) resolve();
      });
      s.on('close', () => reject(new Error(`closed after ${seen.size} answers`)));
      s.resume();
    });
    t.equal(errors, 0);
    t.equal(seen.size, n + 1, 'every request (and the HELLO) answered');
    s.destroy();
    await good.close();
  });

  t.test('Prometheus metrics on the loopback port', async (t) => {
    const url = d.events.find((e) => e.event === 'metrics_listening')?.url as string;
    t.match(url, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const body = await (await fetch(url)).text();
    t.match(body, /floe_shards 2/);
    t.match(body, /floe_requests_total\{op="PUT"\} \d+/);
    t.match(body, /floe_remote_operations_total\{op="put"\} \d+/);
    t.match(body, /floe_protocol_violations_total \d+/);
    t.match(body, /floe_buffered_request_bytes \d+/);
    t.equal((await fetch(url.replace('/metrics', '/nope'))).status, 404);
  });

  t.test('floe ping and floe stats', async (t) => {
    const [ping, stats, down] = await Promise.all([
      runCli(['ping', '--socket', d.socket]),
      runCli(['stats', '--config', join(dir, 'floe.json')]),
      runCli(['ping', '--socket', join(dir, 'nobody.sock')]),
    ]);
    t.equal(ping.code, 0);
    t.match(ping.stdout, /^pong from floe .*protocol 2, 2 shard\(s\), maxKeyGroups 16/);
    t.equal(stats.code, 0);
    t.ok(JSON.parse(stats.stdout).lsm, 'stats JSON');
    t.equal(down.code, 1, 'ping fails when nobody listens');
  });

  t.test('graceful stop on SIGTERM exits 0 and removes the socket', async (t) => {
    t.equal(await stopDaemon(d), 0);
    t.notOk(existsSync(d.socket), 'socket removed');
    t.ok(d.events.some((e) => e.event === 'flushed_and_closed'));
  });
});

/**
 * One connection's workload: windows of pipelined requests on its own key prefix. Every read's expected
 * answer is the model's state at the moment the request is sent (the daemon executes requests touching a
 * shard in the order it read them).
 */
async function pipelinedWorkload(c: FloeClient, ci: number, seed: number, failures: string[]): Promise<void> {
  const r = new Random(seed);
  const model = new Model();
  const prefix = `c${ci}/`;
  const keyOf = (): Buffer => Buffer.from(`${prefix}${r.int(60)}`);
  for (let window = 0; window < 25; window++) {
    const checks: Array<Promise<void>> = [];
    const expect = (what: string, p: Promise<unknown>, want: () => unknown): void => {
      const w = want();
      checks.push(
        p.then(
          (got) => {
            if (JSON.stringify(got) !== JSON.stringify(w)) failures.push(`seed ${seed} conn ${ci} ${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(w)}`);
          },
          (e: Error) => {
            failures.push(`seed ${seed} conn ${ci} ${what}: ${e.message}`);
          },
        ),
      );
    };
    for (let i = 0; i < 24; i++) {
      const key = keyOf();
      const kg = r.int(MAX_KG);
      const p = r.next();
      if (p < 0.3) {
        const v = r.bytes(r.int(200));
        checks.push(c.put(key, v, { keyGroup: kg }));
        model.put(kg, key, v);
      } else if (p < 0.4) {
        checks.push(c.delete(key, { keyGroup: kg }));
        model.delete(kg, key);
      } else if (p < 0.5) {
        const v = r.bytes(r.int(10));
        checks.push(c.merge(key, v, { keyGroup: kg }));
        model.merge(kg, key, v);
      } else if (p < 0.6) {
        const ops: WriteOp[] = [];
        for (let j = r.range(1, 8); j > 0; j--) {
          const k = keyOf();
          const g = r.int(MAX_KG);
          const v = r.bytes(r.int(50));
          if (r.bool(0.8)) {
            ops.push({ type: 'put', key: k, value: v, keyGroup: g });
            model.put(g, k, v);
          } else {
            ops.push({ type: 'delete', key: k, keyGroup: g });
            model.delete(g, k);
          }
        }
        checks.push(c.write(ops));
      } else if (p < 0.8) {
        expect(`get ${key} kg ${kg}`, c.get(key, { keyGroup: kg }).then(hex), () => hex(model.get(kg, key)));
      } else if (p < 0.88) {
        const keys = Array.from({ length: r.range(1, 10) }, keyOf);
        expect(`multiGet kg ${kg}`, c.multiGet(keys, { keyGroup: kg }).then((vs) => vs.map(hex)), () => keys.map((k) => hex(model.get(kg, k))));
      } else {
        const o = r.bool(0.5) ? { prefix: Buffer.from(prefix) } : { prefix: Buffer.from(prefix), keyGroup: kg };
        const collect = async (): Promise<string[]> => {
          const out: string[] = [];
          for await (const e of c.scan(o)) out.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
          return out;
        };
        expect(`scan ${JSON.stringify({ keyGroup: o.keyGroup })}`, collect(), () => model.scan(o).map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`));
      }
    }
    await Promise.all(checks);
  }
}
