/**
 * Regressions found by protocol fuzzing (test/daemon-fuzz.test.ts), each replayed as the exact frame that
 * exposed it, against the real daemon. Every case is a request-level error: the daemon must answer it with
 * a typed error (never an "internal error" from a thrown TypeError) and keep the connection usable.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { createConnection } from 'node:net';
import { decodeError, ERROR_OP, Op, writeHello } from '../lib/daemon/protocol.js';
import { FrameParser, Writer } from '../lib/daemon/wire.js';
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
  t.equal(d.child.exitCode, null, 'the daemon is still running');
});
