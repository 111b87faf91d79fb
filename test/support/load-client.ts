/**
 * A load client process for test/daemon-kill-loop.test.ts: connects to the daemon's socket and writes
 * increasing counters to its own keys with 16 requests in flight, printing `ACK <key> <counter>` once a put
 * resolved and `FLUSHED <key> <counter> ...` lines' worth of state after each successful flush
 * (`FLUSHED <n>`: every ACK printed before it is durable). Exits 0 when the connection breaks.
 *   node load-client.js SOCKET CLIENT_ID KEYS START_COUNTER
 */
import { connect } from '../../lib/client/client.js';

const [socket, clientId, keysArg, startArg] = process.argv.slice(2) as [string, string, string, string];
const keys = Number(keysArg);
let counter = Number(startArg);
// The daemon may be killed before this process gets to connect: that ends this client quietly.
const client = await connect(socket, { reconnect: false }).catch(() => process.exit(0));
let out: string[] = [];
const emit = (): void => {
  if (out.length > 0) process.stdout.write(out.join(''));
  out = [];
};
let broken = false;
let puts = 0;
let flushing = false;
const worker = async (): Promise<void> => {
  while (!broken) {
    const c = ++counter;
    const key = `c${clientId}-${c % keys}`;
    try {
      await client.put(key, String(c));
    } catch {
      broken = true;
      return;
    }
    out.push(`ACK ${key} ${c}\n`);
    // One flush at a time, and nothing printed while it runs: `FLUSHED` then covers exactly the ACK lines
    // printed before the flush was sent (a second, overlapping flush would make the parent count acks that
    // arrived after the first flush was sent as made durable by it).
    if (++puts % 200 === 0 && !flushing) {
      flushing = true;
      emit();
      try {
        await client.flush();
        process.stdout.write(`FLUSHED\n`);
      } catch {
        broken = true;
      }
      flushing = false;
    }
  }
};
await Promise.all(Array.from({ length: 16 }, worker));
emit();
await client.close().catch(() => undefined);
process.exit(0);
