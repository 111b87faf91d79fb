/**
 * Regressions found by protocol fuzzing (test/daemon-fuzz.test.ts), each replayed as the exact frames that
 * exposed it, against the real daemon: request-level errors must be typed errors (never an "internal
 * error" from a thrown TypeError) that leave the connection usable; a protocol violation must close the
 * connection without buffering what the peer keeps sending.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { createConnection } from 'node:net';
import { connect } from '../lib/client/client.js';
import { decodeError, ERROR_OP, Op, writeHello } from '../lib/protocol/protocol.js';
import { FrameParser, Writer } from '../lib/protocol/wire.js';
import { makeDir, startDaemon, writeConfig } from './support/daemon-process.js';

const MAX_KG = 16;

function frame(op: number, id: number, fill: (w: Writer) => void): Buffer {
  const w = new Writer(64);
  const start = w.beginFrame(op, id);
  fill(w);
  w.endFrame(start);
  return w.take();
}

/** HELLO, `request`, then a PING: returns the answer to `request` and whether the PING was answered after it. */
function exchange(socket: string, request: Buffer): Promise<{ op: number; payload: Buffer; pingAnswered: boolean }> {
  return new Promise((resolve, reject) => {
    const s = createConnection(socket);
    const parser = new FrameParser(1 << 30);
    const hello = new Writer(32);
    writeHello(hello, 1);
    let answer: { op: number; payload: Buffer } | undefined;
    s.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      for (let f = parser.next(); f; f = parser.next()) {
        const id = f.readUInt32BE(5);
        if (id === 2) answer = { op: f[4]!, payload: Buffer.from(f.subarray(9)) };
        if (id === 3 && answer) {
          s.destroy();
          resolve({ ...answer, pingAnswered: true });
        }
      }
    });
    s.on('error', reject);
    s.on('close', () => (answer ? resolve({ ...answer, pingAnswered: false }) : reject(new Error('closed without an answer'))));
    s.write(Buffer.concat([hello.take(), request]));
    // The PING goes once the request is answered, so it cannot overtake it.
    const wait = setInterval(() => {
      if (!answer) return;
      clearInterval(wait);
      s.write(frame(Op.PING, 3, (w) => w.raw(Buffer.from('alive'))));
    }, 5);
    s.on('close', () => clearInterval(wait));
  });
}

t.test('fuzzing regressions', async (t) => {
  const dir = makeDir(t, 'floe-fuzz-reg-');
  writeConfig(dir, { maxKeyGroups: MAX_KG, logLevel: 'info' });
  const d = await startDaemon(dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
  });

  t.test('SCAN with the keyGroup flag and key group 0xFFFF is INVALID_ARGUMENT, not an internal error', async (t) => {
    // Found by the edge-fields mutation: 0xFFFF means "default" in single-key kg fields, but a SCAN's
    // keyGroup is always explicit; the router took it for the default, looked up no shard and threw.
    for (const kg of [0xffff, 0xfffe, MAX_KG]) {
      const r = await exchange(d.socket, frame(Op.SCAN, 2, (w) => {
        w.u8(1);
        w.u16(kg);
        w.u32(0);
        w.u32(0);
      }));
      t.equal(r.op, ERROR_OP, `kg ${kg}: an error`);
      const e = decodeError(r.payload);
      t.equal(e.code, 'INVALID_ARGUMENT', `kg ${kg}: ${e.message}`);
      t.match(e.message, /keyGroup must be an integer in \[0, 16\)/);
      t.ok(r.pingAnswered, `kg ${kg}: the connection stays usable`);
    }
  });

  t.test('after a protocol violation the daemon buffers nothing more from that connection', async (t) => {
    // Found by the huge-stream sessions (RSS growth): the daemon answered the violation and half-closed
    // the socket, but kept appending what the peer sent to the connection's frame buffer for the 2 s
    // before it destroys the socket (a peer that ignores the close can push hundreds of MiB in that time).
    const good = await connect(d.socket);
    const s = createConnection(d.socket);
    s.on('error', () => undefined);
    await new Promise<void>((resolve) => s.once('connect', () => resolve()));
    s.pause(); // a peer that ignores the daemon's answer and close
    const hello = new Writer(32);
    writeHello(hello, 1);
    const head = Buffer.alloc(9);
    head.writeUInt32BE(0xffffffff, 0);
    head[4] = Op.PUT;
    s.write(Buffer.concat([hello.take(), head]));
    const chunk = Buffer.alloc(1 << 20, 0x62);
    let sent = 0;
    const deadline = Date.now() + 800;
    while (Date.now() < deadline && !s.destroyed && sent < 64 * 2 ** 20) {
      const flushed = await new Promise<boolean>((resolve) => {
        s.write(chunk, (e) => resolve(!e));
        setTimeout(() => resolve(false), Math.max(1, deadline - Date.now()));
      });
      if (!flushed) break;
      sent += chunk.length;
    }
    // Still inside the daemon's 2 s grace before it destroys the violating socket.
    const stats = (await good.stats()) as { daemon?: { bufferedBytes?: number } };
    s.destroy();
    await good.close();
    const buffered = stats.daemon?.bufferedBytes;
    t.type(buffered, 'number', 'stats report the buffered request bytes');
    t.ok(buffered! <= 2 ** 20, `after ${(sent / 2 ** 20).toFixed(0)} MiB sent past the violation, the daemon buffers ${buffered} bytes`);
  });
  t.equal(d.child.exitCode, null, 'the daemon is still running');
});
