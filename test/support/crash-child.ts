/**
 * Child process for test/crash.test.ts: writes rounds of deterministic values to a file:// store and after
 * each round makes it durable (flush or checkpoint), sometimes running GC, reporting on stdout only what
 * has resolved:  DURABLE <round>  |  CHECKPOINT <round> <handle json>  |  GC <round>
 * The parent kills it with SIGKILL at a random moment.
 */
import { openLsmStore } from '../../lib/embedded.js';

const [primary, localDir, firstRound] = process.argv.slice(2) as [string, string, string];
const KEYS = 300;
const valueFor = (key: number, round: number): string => `round-${round}-key-${key}-`.padEnd(120, 'x');

const store = await openLsmStore({
  primary,
  localDir,
  maxKeyGroups: 8,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  l0CompactionTrigger: 2,
  gcGraceMs: 0,
  compactionWorkers: 0,
});
// Rounds continue across lives (the parent passes the first round), so a higher round is always newer.
for (let round = Number(firstRound); ; round++) {
  for (let k = 0; k < KEYS; k++) await store.put(`key-${k}`, valueFor(k, round));
  if (round % 3 === 0) {
    const handle = await store.checkpoint();
    process.stdout.write(`CHECKPOINT ${round} ${JSON.stringify(handle)}\n`);
  } else {
    await store.flush();
    process.stdout.write(`DURABLE ${round}\n`);
  }
  if (round % 4 === 0) {
    await store.collectGarbage();
    process.stdout.write(`GC ${round}\n`);
  }
}
