/**
 * Raw protocol exchanges for daemon tests: frames written as given on a fresh connection, answers parsed
 * as they come, with no client in between (so malformed frames, violations and closes can be checked).
 */
import { Buffer } from 'node:buffer';
import { createConnection } from 'node:net';
import { FrameParser } from '../../lib/protocol/wire.js';

export type RawFrame = { op: number; id: number; payload: Buffer };

/**
 * Writes `bytes` on a new connection to `socket` (then half-closes it with `endAfter`) and collects the
 * answers until `want` of them came (then closes), the daemon closed the connection, or 10 s passed.
 * `closedByServer`: the daemon (not this helper) ended the connection. Bytes that do not parse as frames
 * end the collecting, not the test.
 */
export function rawExchange(socket: string, bytes: Uint8Array[], opts: { want?: number; endAfter?: boolean } = {}): Promise<{ frames: RawFrame[]; closedByServer: boolean }> {
  const want = opts.want ?? Number.POSITIVE_INFINITY;
  return new Promise((resolve) => {
    const s = createConnection(socket);
    const parser = new FrameParser(1 << 30);
    const frames: RawFrame[] = [];
    let closedByServer = true;
    const timer = setTimeout(() => {
      closedByServer = false;
      s.destroy();
    }, 10_000);
    s.on('connect', () => {
      for (const b of bytes) s.write(b);
      if (opts.endAfter) s.end();
    });
    s.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      try {
        for (let f = parser.next(); f; f = parser.next()) frames.push({ op: f[4]!, id: f.readUInt32BE(5), payload: Buffer.from(f.subarray(9)) });
      } catch {
        // not our concern here
      }
      if (frames.length >= want) {
        closedByServer = false;
        s.destroy();
      }
    });
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ frames, closedByServer });
    });
  });
}
