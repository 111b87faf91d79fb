/**
 * Block-miss microbenchmark: the CPU cost of a point read whose data block is not in the block cache, on an
 * embedded store with a file:// primary (the path a Floe daemon shard takes for most Flink state reads when
 * the state is several times the block cache).
 *
 *   node dist/bench/block-miss.js [--keys N] [--seconds S] [--compression lz4,none] [--cache-mib M]
 *
 * Data: N keys (default 1,000,000) of 24 bytes ("blkmiss_", a 4-byte mix of the index so keys are spread like
 * hashed Flink keys, the 4-byte index, "-counter") and 8-byte values (4 zero bytes and the index, like a small
 * counter), so lz4 saves ~1/3 of a block as on Flink word-count state; written in batches, flushed, the store closed
 * and reopened (cold caches) and compacted until idle. Then, with an 8 MiB block cache (the data set is
 * ~4-5x that), uniform random gets of existing keys, first each awaited, then 64 in flight, each for S
 * seconds (default 5) after a 1 s unmeasured warm-up. Every get checks its value.
 *
 * Reported per run: gets/s, µs of process CPU (user + system, process.cpuUsage) per get, the block cache hit
 * ratio of the run, and the load average. Run it under `flock /work/bench.lock`; compare ratios within one run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import type { Store } from '../lib/api.js';
import { openStore } from '../lib/index.js';
import { LsmStore } from '../lib/lsm/lsm-store.js';
import { mix32 } from './workload.js';

const MiB = 2 ** 20;
const KEY_BYTES = 24;
const VALUE_BYTES = 8;
const INFLIGHT = 64;
const WRITE_BATCH = 1000;

interface Args {
  keys: number;
  seconds: number;
  compressions: Array<'lz4' | 'none' | 'zstd'>;
  cacheBytes: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { keys: 1_000_000, seconds: 5, compressions: ['lz4', 'none'], cacheBytes: 8 * MiB };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--keys':
        args.keys = Number(v);
        i++;
        break;
      case '--seconds':
        args.seconds = Number(v);
        i++;
        break;
      case '--compression':
        args.compressions = String(v).split(',') as Args['compressions'];
        i++;
        break;
      case '--cache-mib':
        args.cacheBytes = Number(v) * MiB;
        i++;
        break;
      default:
        throw new Error(`unknown argument ${argv[i]}; see the header of bench/block-miss.ts`);
    }
  }
  return args;
}

const KEY_TEMPLATE = Buffer.from('blkmiss_\0\0\0\0\0\0\0\0-counter', 'latin1');

function key(i: number): Buffer {
  const b = Buffer.allocUnsafe(KEY_BYTES);
  KEY_TEMPLATE.copy(b);
  b.writeUInt32BE(mix32(i), 8);
  b.writeUInt32BE(i >>> 0, 12);
  return b;
}

function value(i: number): Buffer {
  const b = Buffer.alloc(VALUE_BYTES);
  b.writeUInt32LE(i >>> 0, 4);
  return b;
}

async function open(dir: string, compression: Args['compressions'][number], cacheBytes: number): Promise<LsmStore> {
  const store: Store = await openStore({
    primary: pathToFileURL(join(dir, 'data')).href,
    localDir: join(dir, 'local'),
    blockCacheBytes: cacheBytes,
    compression,
  });
  if (!(store instanceof LsmStore)) throw new Error('expected the embedded LsmStore');
  return store;
}

interface Result {
  mode: string;
  gets: number;
  getsPerSec: number;
  cpuUsPerGet: number;
  hitRatio: number;
}

/** Runs `getOne` (awaited or 64 in flight) for `seconds`; returns throughput and CPU per get. */
async function measure(store: LsmStore, keys: number, seconds: number, inflight: number, seed: number): Promise<Omit<Result, 'mode'>> {
  let x = seed >>> 0;
  const next = (): number => {
    x = mix32(x + 0x9e3779b9);
    return x % keys;
  };
  const getOne = async (): Promise<void> => {
    const i = next();
    const v = await store.get(key(i));
    if (v === undefined || v.length !== VALUE_BYTES || Buffer.from(v.buffer, v.byteOffset, v.length).readUInt32LE(4) !== i >>> 0) {
      throw new Error(`wrong value for key ${i}`);
    }
  };
  const run = async (ms: number): Promise<number> => {
    const deadline = performance.now() + ms;
    let done = 0;
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) {
        await getOne();
        done++;
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
    return done;
  };
  await run(1000); // warm-up: JIT, file handles, cache filled
  const bc0 = store.stats().blockCache;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const gets = await run(seconds * 1000);
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const bc1 = store.stats().blockCache;
  const lookups = bc1.hits + bc1.misses - bc0.hits - bc0.misses;
  return {
    gets,
    getsPerSec: gets / wall,
    cpuUsPerGet: (cpu.user + cpu.system) / gets,
    hitRatio: lookups > 0 ? (bc1.hits - bc0.hits) / lookups : 0,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  console.log(`block-miss: ${args.keys} keys (${KEY_BYTES} B keys, ${VALUE_BYTES} B values), block cache ${args.cacheBytes / MiB} MiB, ${args.seconds} s per run, node ${process.version}`);
  for (const compression of args.compressions) {
    const dir = await mkdtemp(join(tmpdir(), 'floe-block-miss-'));
    try {
      let store = await open(dir, compression, args.cacheBytes);
      for (let i = 0; i < args.keys; i += WRITE_BATCH) {
        const ops = [];
        for (let j = i; j < Math.min(args.keys, i + WRITE_BATCH); j++) ops.push({ type: 'put' as const, key: key(j), value: value(j) });
        await store.write(ops);
      }
      await store.flush();
      await store.close();
      store = await open(dir, compression, args.cacheBytes);
      await store.compactUntilIdle();
      const levels = store.stats().lsm.levels;
      const shape = levels.map((l, i) => (l.files > 0 ? `L${i} ${l.files}/${(l.bytes / MiB).toFixed(1)} MiB` : '')).filter(Boolean).join(', ');
      console.log(`${compression}: ${shape}`);
      for (const [mode, inflight] of [['awaited', 1], [`${INFLIGHT} in flight`, INFLIGHT]] as const) {
        const r = await measure(store, args.keys, args.seconds, inflight, 12345);
        const load = loadavg().map((l) => l.toFixed(2)).join(' ');
        console.log(
          `  ${compression.padEnd(5)} ${mode.padEnd(13)} ${Math.round(r.getsPerSec).toString().padStart(7)} gets/s  ${r.cpuUsPerGet.toFixed(2).padStart(6)} µs CPU/get  hit ratio ${(100 * r.hitRatio).toFixed(1)}%  (${r.gets} gets; load ${load})`,
        );
      }
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}

await main();
