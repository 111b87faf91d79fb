/**
 * Clients that vanish while the daemon has stopped reading them must give back their connection slot at
 * once, not when their slow requests finish.
 *
 * The daemon stops parsing a connection's requests at its in-flight cap. A client that sent a backlog past
 * the cap (more than Node's 16 KiB stream buffer) and then closed used to keep its slot until its in-flight
 * requests were answered and a write failed. With a slow primary those requests take long, so gone clients
 * piled up to `maxConnections` and the daemon refused everyone else with BUSY (found by `make fuzz`, seed
 * 424242). The daemon now keeps reading a capped connection up to a bounded read-ahead, so it sees the EOF.
 *
 * Setup: a primary slowed by FLOE_INJECT_LATENCY_MS (tests only), maxConnections 3, cap 2 in flight. Three
 * raw connections each send HELLO, two CHECKPOINTs (slow: they write to the primary) and ~200 KiB of PUTs
 * that wait behind the cap, then close. A fourth connection must then be accepted while the checkpoints
 * are still running, and the daemon's stats must count only the live connections.
 */
import t from 'tap';
import { createConnection, type Socket } from 'node:net';
import { connect, type FloeClient } from '../lib/client/client.js';
import type { FloeError } from '../lib/errors.js';
import { encodeKeyOnly, encodeKeyValue, Op } from '../lib/protocol/protocol.js';
import { Writer } from '../lib/protocol/wire.js';
import { helloFrame } from './support/fuzz-frames.js';
import { makeDir, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';

const LATENCY_MS = 1500;
const GONE_CLIENTS = 3;
const BACKLOG_PUTS = 25;
const VALUE_BYTES = 8 * 1024;

/** HELLO, two CHECKPOINTs and BACKLOG_PUTS puts of VALUE_BYTES each, as one buffer. */
function backlogFrames(connection: number): Buffer {
  const w = new Writer(BACKLOG_PUTS * (VALUE_BYTES + 64));
  for (const id of [2, 3]) {
    const start = w.beginFrame(Op.CHECKPOINT, id);
    w.endFrame(start);
  }
  const value = Buffer.alloc(VALUE_BYTES, 0x61 + connection);
  for (let i = 0; i < BACKLOG_PUTS; i++) encodeKeyValue(w, Op.PUT, 10 + i, `gone/${connection}/${i}`, value, undefined);
  return Buffer.concat([helloFrame(1), w.take()]);
}

/** Connects, sends `bytes` (the part the kernel takes; the rest is dropped with the socket) and waits for the HELLO answer. */
async function sendAndVanish(path: string, bytes: Buffer): Promise<void> {
  const socket: Socket = createConnection(path);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const answered = new Promise<void>((resolve) => socket.once('data', () => resolve()));
  socket.write(bytes);
  await answered; // HELLO ok: the daemon has this connection and is reading it
  await new Promise((resolve) => setTimeout(resolve, 200)); // let it read up to the cap
  socket.destroy();
}

/** Connects, retrying while the daemon answers BUSY (all slots taken), until `deadline`. */
async function connectRetryingBusy(path: string, deadline: number): Promise<FloeClient> {
  for (;;) {
    try {
      return await connect(path);
    } catch (e) {
      if ((e as FloeError).code !== 'BUSY' || Date.now() > deadline) throw e;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

t.test('connections of vanished clients are freed while their capped requests still run', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir, { shards: 1, maxKeyGroups: 4, maxConnections: GONE_CLIENTS, maxInFlightPerConnection: 2, logLevel: 'info' });
  const d = await startDaemon(dir, { env: { FLOE_INJECT_LATENCY_MS: String(LATENCY_MS) } });
  t.teardown(() => stopDaemon(d, 'SIGKILL'));

  const started = Date.now();
  await Promise.all(Array.from({ length: GONE_CLIENTS }, (_, i) => sendAndVanish(d.socket, backlogFrames(i))));

  // Every slot was taken by a client that is gone now. A new client must get in (not BUSY) while the
  // six slow checkpoints (each several primary writes of LATENCY_MS) are still far from done.
  const client = await connectRetryingBusy(d.socket, started + 2 * LATENCY_MS);
  const stats = (await client.stats()) as { daemon?: { connections?: number } };
  const elapsed = Date.now() - started;
  t.equal(stats.daemon?.connections, 1, 'only the live client holds a connection');
  t.ok(elapsed < 2 * LATENCY_MS, `the slots came back before the slow requests could finish (${elapsed} ms)`);
  await client.put('live', 'yes');
  t.equal(Buffer.from((await client.get('live'))!).toString(), 'yes', 'the daemon serves the new client');
});

t.test('requests read ahead behind the cap are all answered once the cap frees, with no more bytes arriving', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir, { shards: 1, maxKeyGroups: 4, maxInFlightPerConnection: 2, logLevel: 'info' });
  const d = await startDaemon(dir);
  t.teardown(() => stopDaemon(d, 'SIGKILL'));
  const requests = 400;
  const w = new Writer(64 * 1024);
  for (let i = 0; i < requests; i++) encodeKeyOnly(w, Op.GET, 2 + i, `k${i % 7}`, undefined);
  const socket = createConnection(d.socket);
  t.teardown(() => socket.destroy());
  let answers = 0;
  let pending = Buffer.alloc(0);
  const all = new Promise<void>((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        pending = pending.subarray(4 + pending.readUInt32BE(0));
        if (++answers === requests + 1) resolve();
      }
    });
  });
  socket.write(Buffer.concat([helloFrame(1), w.take()])); // one write: nothing arrives after it
  const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 20_000).unref());
  t.not(await Promise.race([all, timeout]), 'timeout', `all ${requests} answers and the HELLO answer arrived (got ${answers})`);
});
