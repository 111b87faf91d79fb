/**
 * Child process for test/wal-crash.test.ts: a store with durability 'wal' on a file:// primary, written by
 * 64 concurrent writers. Each writer owns keys and writes an increasing counter to them; a line
 * `ACK <key> <counter>` is printed only after the put resolved (acknowledged = durable in this mode).
 * Counters continue from what the store holds, so a higher counter is always a newer write.
 * The parent kills it with SIGKILL at a random moment.
 */
import { openLsmStore } from '../../lib/embedded.js';

const [primary, localDir] = process.argv.slice(2) as [string, string];
const KEYS = 512;
const store = await openLsmStore({
  primary,
  localDir,
  durability: 'wal',
  maxKeyGroups: 8,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  l0CompactionTrigger: 2,
  gcGraceMs: 0,
  compactionWorkers: 0,
});
const counters = (await store.multiGet(Array.from({ length: KEYS }, (_, k) => `key-${k}`))).map((v) => (v === undefined ? 0 : Number(Buffer.from(v).toString())));
process.stdout.write('READY\n');
let out: string[] = [];
setInterval(() => {
  if (out.length > 0) process.stdout.write(out.join(''));
  out = [];
}, 5).unref();
await Promise.all(
  Array.from({ length: 64 }, async (_, w) => {
    for (let i = 0; ; i++) {
      const k = w + 64 * (i % (KEYS / 64));
      const c = ++counters[k]!;
      await store.put(`key-${k}`, String(c));
      out.push(`ACK key-${k} ${c}\n`);
    }
  }),
);
