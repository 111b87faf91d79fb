/**
 * Iterators (standalone script, docs/benchmarks.md "iterators"): what a forward and a reverse pass over the
 * whole store cost through scan(), iterator() with next(), nextv(1000) and for-await, on a mem:// store (no
 * latency: engine work only) holding N keys in one key group, 90% flushed and compacted into SSTs and the
 * rest in the memtable. Then the level adapter against classic-level (LevelDB, native) on local folders:
 * batched puts, random gets, forward and reverse iteration. Prints one line per case (median of R runs).
 *
 *   node dist/bench/iterators.js [--keys N] [--runs R]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { openLsmStore } from '../lib/embedded.js';
import { FloeLevel } from '../lib/level/index.js';
import { Random } from '../lib/util/random.js';

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

const KEYS = arg('--keys', 100_000);
const RUNS = arg('--runs', 5);

async function median(runs: number, f: () => Promise<number>): Promise<{ ms: number; n: number }> {
  const times: number[] = [];
  let n = 0;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    n = await f();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, n };
}

function line(name: string, r: { ms: number; n: number }): void {
  console.log(`${name.padEnd(44)} ${r.ms.toFixed(1).padStart(8)} ms  ${String(r.n).padStart(7)} entries  ${Math.round((r.n / r.ms) * 1000).toLocaleString('en-US').padStart(11)} /s`);
}

const key = (i: number): string => `key:${i.toString().padStart(9, '0')}`;

async function engine(): Promise<void> {
  const store = await openLsmStore({ primary: `mem://bench-iterators-${process.pid}`, maxKeyGroups: 1, compactionWorkers: 0 });
  const value = new Random(7).bytes(100);
  for (let i = 0; i < KEYS; i++) {
    await store.put(key(i), value, { keyGroup: 0 });
    if (i === Math.floor(KEYS * 0.9)) {
      await store.flush();
      await store.compactUntilIdle();
    }
  }
  console.log(`# engine: ${KEYS} keys, 100-byte values, mem://, levels ${JSON.stringify(store.stats().lsm.levels.map((l) => l.files))}`);
  const count = async (it: AsyncIterable<unknown>): Promise<number> => {
    let n = 0;
    for await (const _ of it) n++;
    return n;
  };
  line('scan() forward, for await', await median(RUNS, () => count(store.scan({ keyGroup: 0 }))));
  line('iterator() forward, for await', await median(RUNS, () => count(store.iterator({ keyGroup: 0 }))));
  line('iterator() reverse, for await', await median(RUNS, () => count(store.iterator({ keyGroup: 0, reverse: true }))));
  for (const reverse of [false, true]) {
    line(`iterator() ${reverse ? 'reverse' : 'forward'}, nextv(1000)`, await median(RUNS, async () => {
      const it = store.iterator({ keyGroup: 0, reverse });
      let n = 0;
      for (let b = await it.nextv(1000); b.length > 0; b = await it.nextv(1000)) n += b.length;
      await it.close();
      return n;
    }));
  }
  line('iterator() reverse, next() x 1000 after seek', await median(RUNS, async () => {
    const it = store.iterator({ keyGroup: 0, reverse: true });
    it.seek(key(KEYS >> 1));
    let n = 0;
    while (n < 1000 && (await it.next()) !== undefined) n++;
    await it.close();
    return n;
  }));
  await store.close();
}

type Db = FloeLevel<string, Uint8Array>;

async function level(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'floe-bench-level-'));
  try {
    const value = new Random(9).bytes(100);
    const dbs: Array<[string, Db]> = [
      ['floe/level', new FloeLevel<string, Uint8Array>(join(dir, 'floe'), { valueEncoding: 'view', store: { maxKeyGroups: 1, localDir: join(dir, 'cache') } })],
      ['classic-level', new ClassicLevel<string, Uint8Array>(join(dir, 'classic'), { valueEncoding: 'view' }) as unknown as Db],
    ];
    console.log(`# level adapter vs classic-level: ${KEYS} keys, 100-byte values, local folders`);
    for (const [name, db] of dbs) {
      await db.open();
      line(`${name}: batch put (1000 per batch)`, await median(1, async () => {
        for (let i = 0; i < KEYS; i += 1000) {
          await db.batch(Array.from({ length: Math.min(1000, KEYS - i) }, (_, j) => ({ type: 'put' as const, key: key(i + j), value })));
        }
        return KEYS;
      }));
      const r = new Random(11);
      line(`${name}: 10000 random gets`, await median(RUNS, async () => {
        for (let i = 0; i < 10_000; i++) await db.get(key(r.int(KEYS)));
        return 10_000;
      }));
      for (const reverse of [false, true]) {
        line(`${name}: iterate ${reverse ? 'reverse' : 'forward'}, for await`, await median(RUNS, async () => {
          let n = 0;
          for await (const _ of db.iterator({ reverse })) n++;
          return n;
        }));
      }
      await db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await engine();
await level();
