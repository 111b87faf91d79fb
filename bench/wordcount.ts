/**
 * The Zipf word-count benchmark (issue 10): the state access of a streaming word count, one read-modify-write
 * per event (get the word's count, put count + 1), words drawn Zipf(0.99) over V distinct words (hot ranks
 * scattered over the key space), against
 *   floe     the embedded store on a primary behind 10 ms per request (mem:// + FaultInjectingObjectStore,
 *            the way openLsmStore's `inject` hook places it), block cache + disk cache = 10% of the state
 *   rocksdb  RocksDB (@nxtedition/rocksdb, bench/kv-systems.ts) on local disk, block cache = 10% of the state
 *            (the OS page cache is not limited: that is what "on local disk" means)
 *
 * State: V words (--keys, default 1,000,000) of 16 bytes (benchKey), each with an 8-byte little-endian count,
 * preloaded with count 1 and settled (flush, compaction idle) before anything is timed; Floe's state is built
 * on mem:// without latency and reopened behind the 10 ms with EMPTY caches (cold, as after a restart).
 *
 * Events: LANES (64) in flight, like 64 keyed operator instances. Two events of the same word never overlap
 * (a per-word chain), so no update is lost, as a keyed operator guarantees. Each run ends at its time limit;
 * systems alternate over ROUNDS rounds (on 2 shared cores a single pair of numbers is noise). At the end of
 * every run the counts of the 1,000 most frequent words and 1,000 others are checked against a model.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { defaults } from '../lib/options.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { dropMemStore } from '../lib/store/mem.js';
import { Profiler, formatHotSpots, hotSpots } from './cpu-profile.js';
import { openSystem, type BenchKv } from './kv-systems.js';
import { runInFlight } from './measure.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { benchKey, indexSequence } from './workload.js';

const LATENCY_MS = 10;
const LANES = 64;
const ZIPF_S = 0.99;
const CACHE_SHARE = 0.1;
const ROUNDS = 2;
const LOAD_BATCH = 1000;
const SEQUENCE_LENGTH = 1 << 22;
const MiB = 2 ** 20;
/**
 * Floe's data block size: the mem:// primary stands for a remote one, so its tables get what a store on s3://
 * or hdfs:// writes by default (4 KiB, lib/options.ts); BENCH_REMOTE_BLOCK_BYTES overrides (16384 = the
 * local-primary default, which this benchmark used before 2026-11-30).
 */
const BLOCK_BYTES = Number(process.env.BENCH_REMOTE_BLOCK_BYTES ?? defaults.remoteBlockBytes);

const SYSTEMS = ['floe', 'rocksdb'] as const;
type SystemId = (typeof SYSTEMS)[number];

/** The counter store both systems are driven through. */
interface Counters {
  get(key: Buffer): Promise<Uint8Array | undefined>;
  put(key: Buffer, value: Buffer): Promise<void>;
  close(): Promise<void>;
}

function encodeCount(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function decodeCount(v: Uint8Array | undefined, word: number): number {
  if (v === undefined || v.length !== 8) throw new Error(`word ${word}: expected an 8-byte count, got ${v === undefined ? 'nothing' : `${v.length} bytes`}`);
  return Number(Buffer.from(v.buffer, v.byteOffset, 8).readBigUInt64LE());
}

async function preload(write: (ops: Array<{ type: 'put'; key: Buffer; value: Buffer }>) => Promise<void>, words: number): Promise<void> {
  const one = encodeCount(1);
  for (let i = 0; i < words; i += LOAD_BATCH) {
    const ops = [];
    for (let j = i; j < Math.min(words, i + LOAD_BATCH); j++) ops.push({ type: 'put' as const, key: benchKey(j), value: one });
    await write(ops);
  }
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const words = args.keys;
  const seconds = args.seconds;
  const systems = SYSTEMS.filter((s) => args.systems === undefined || args.systems.includes(s));
  if (systems.length === 0) throw new Error(`--systems must name systems of this benchmark: ${SYSTEMS.join(', ')}`);
  const notes: string[] = [];
  const note = (line: string): void => {
    notes.push(line);
    args.log(`  · ${line}`);
  };
  const measurements: Measurement[] = [];
  const scratch = await mkdtemp(join(tmpdir(), 'floe-wordcount-'));
  const memName = `floe-wordcount-${process.pid}`;
  const opened = new Map<SystemId, Counters>();
  const profiles: Array<{ file: string; top: string }> = [];
  const settings: Record<string, unknown> = {};
  let floeStore: LsmStore | undefined;
  try {
    // ---- Floe: build on mem:// without latency, settle, measure the state; reopen behind 10 ms, cold.
    let stateBytes = 0;
    {
      const tb = performance.now();
      const builder = await openLsmStore({ primary: `mem://${memName}`, localDir: join(scratch, 'floe-build'), diskCacheBytes: 0, blockBytes: BLOCK_BYTES });
      await preload((ops) => builder.write(ops), words);
      await builder.flush();
      await builder.compactUntilIdle();
      stateBytes = builder.stats().lsm.levels.reduce((s, l) => s + l.bytes, 0);
      await builder.close();
      note(`state: ${words.toLocaleString('en-US')} words, ${(stateBytes / MiB).toFixed(1)} MiB of SSTs in Floe, built and settled in ${((performance.now() - tb) / 1000).toFixed(1)} s`);
    }
    const cacheBytes = Math.floor(stateBytes * CACHE_SHARE);
    const floeOptions = {
      primary: `mem://${memName}`,
      localDir: join(scratch, 'floe'),
      blockCacheBytes: Math.floor(cacheBytes / 2),
      diskCacheBytes: Math.floor(cacheBytes / 2),
      blockBytes: BLOCK_BYTES,
      compactionWorkers: false,
    };
    if (systems.includes('floe')) {
      const store: LsmStore = await openLsmStore(floeOptions, { inject: (b) => new FaultInjectingObjectStore(b, { latency: LATENCY_MS, seed: args.seed }) });
      floeStore = store;
      opened.set('floe', { get: (k) => store.get(k), put: (k, v) => store.put(k, v), close: () => store.close() });
      settings.floe = { ...floeOptions, primary: `mem:// + ${LATENCY_MS} ms per request (FaultInjectingObjectStore)`, localDir: 'temp folder (empty at start)' };
    }
    if (systems.includes('rocksdb')) {
      const tb = performance.now();
      const kv: BenchKv = await openSystem('rocksdb', { dir: join(scratch, 'rocksdb'), cacheBytes });
      await preload((ops) => kv.write(ops), words);
      const shape = await kv.settle();
      note(`rocksdb: preloaded and settled in ${((performance.now() - tb) / 1000).toFixed(1)} s; ${shape}`);
      opened.set('rocksdb', { get: (k) => kv.get(k), put: (k, v) => kv.put(k, v), close: () => kv.close() });
      settings.rocksdb = { ...kv.settings(), cacheBytes, where: 'local disk (temp folder), OS page cache not limited' };
    }
    note(`caches: ${(cacheBytes / MiB).toFixed(1)} MiB in all = 10% of the state (Floe: half block cache, half disk cache; RocksDB: block cache)`);

    // ---- events
    const seq = indexSequence('zipf', words, SEQUENCE_LENGTH, args.seed ^ 0x77c0, ZIPF_S);
    const keys = new Map<number, Buffer>();
    const keyOf = (w: number): Buffer => {
      let k = keys.get(w);
      if (k === undefined) {
        k = benchKey(w);
        if (keys.size < 4_000_000) keys.set(w, k);
      }
      return k;
    };
    const model = new Map<SystemId, Map<number, number>>();
    const cursor = new Map<SystemId, number>();
    for (let round = 1; round <= ROUNDS; round++) {
      for (const sys of round % 2 === 1 ? systems : [...systems].reverse()) {
        const db = opened.get(sys)!;
        const counts = model.get(sys) ?? new Map<number, number>();
        model.set(sys, counts);
        const start = cursor.get(sys) ?? 0;
        const chains = new Map<number, Promise<void>>();
        const rmw = async (w: number): Promise<void> => {
          const k = keyOf(w);
          const n = decodeCount(await db.get(k), w);
          await db.put(k, encodeCount(n + 1));
          counts.set(w, (counts.get(w) ?? 0) + 1);
        };
        const profiler = args.profileDir !== undefined && sys === 'floe' && round === 1 ? await Profiler.start() : undefined;
        const cpu0 = process.cpuUsage();
        const r = await runInFlight(
          async (i) => {
            const w = seq[(start + i) % seq.length]!;
            const p = (chains.get(w) ?? Promise.resolve()).then(() => rmw(w));
            chains.set(w, p);
            await p;
            if (chains.get(w) === p) chains.delete(w);
          },
          { count: Number.MAX_SAFE_INTEGER, seconds },
          LANES,
        );
        const cpu = process.cpuUsage(cpu0);
        if (profiler !== undefined) {
          const file = join(args.profileDir!, 'wordcount-floe.cpuprofile');
          const top = formatHotSpots(hotSpots(await profiler.stop(file)), 15);
          profiles.push({ file, top });
          args.log(`  profile ${file}\n${top}`);
        }
        cursor.set(sys, start + r.ops);
        const loadAvg1m = Math.round(loadavg()[0]! * 100) / 100;
        measurements.push({ workload: 'wordcount-zipf', mode: `${LANES} lanes, round ${round}`, system: sys, unit: 'event (get + put)', ...r, loadAvg1m });
        args.log(`  ${sys.padEnd(8)} round ${round}: ${Math.round(r.opsPerSec).toLocaleString('en-US')} events/s, CPU ${((cpu.user + cpu.system) / Math.max(1, r.ops)).toFixed(1)} µs/event (load ${loadAvg1m})`);
        await verify(db, counts, sys);
      }
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const f = measurements.find((m) => m.system === 'floe' && m.mode.endsWith(`round ${round}`));
      const r = measurements.find((m) => m.system === 'rocksdb' && m.mode.endsWith(`round ${round}`));
      if (f && r) note(`round ${round}: Floe ÷ RocksDB = ${(f.opsPerSec / r.opsPerSec).toFixed(2)} events/s (target ≥ 1.0)`);
    }
    if (floeStore !== undefined) {
      const st = floeStore.stats();
      note(
        `floe over all rounds: block cache ${st.blockCache.hits} hits / ${st.blockCache.misses} misses, disk cache ${st.diskCache.hits} page hits / ${st.diskCache.misses} misses, ` +
          `${st.remote.gets} remote GETs, ${st.lsm.stalls} write stalls; levels ${st.lsm.levels.map((l, i) => (l.files > 0 ? `L${i} ${l.files}` : '')).filter(Boolean).join(', ')}`,
      );
    }
  } finally {
    for (const db of opened.values()) await db.close().catch((e: unknown) => args.log(`  close failed: ${String(e)}`));
    dropMemStore(memName);
    await rm(scratch, { recursive: true, force: true });
  }
  machine.loadAvgEnd = Math.round(loadavg()[0]! * 100) / 100;
  return {
    name: 'wordcount',
    title: `Zipf(${ZIPF_S}) word count, read-modify-write per event, ${words.toLocaleString('en-US')} words, state 10x the caches`,
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
    machine,
    subject: 'floe',
    systems: [...systems],
    settings: {
      words,
      keyBytes: 16,
      valueBytes: 8,
      zipfS: ZIPF_S,
      lanes: LANES,
      rounds: ROUNDS,
      secondsPerRun: seconds,
      seed: args.seed,
      cacheShare: CACHE_SHARE,
      ...(process.env.BENCH_REMOTE_BLOCK_BYTES !== undefined ? { experimental: true } : {}),
      event: 'get(word) then put(word, count + 1); events of the same word are chained (never overlap)',
      verification: 'after every run, the counts of the 1,000 most frequent words and 1,000 others equal 1 + the events applied',
      profiles,
      ...settings,
    },
    measurements,
    ratios: [],
    notes,
  };
}

/** Checks the counts of the most frequent words and a spread of others against the model. */
async function verify(db: Counters, counts: Map<number, number>, sys: string): Promise<void> {
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1]);
  const sample = [...ranked.slice(0, 1000), ...ranked.filter((_, i) => i % Math.max(1, Math.floor(ranked.length / 1000)) === 0).slice(0, 1000)];
  for (const [w, n] of sample) {
    const got = decodeCount(await db.get(benchKey(w)), w);
    if (got !== 1 + n) throw new Error(`${sys}: word ${w} counts ${got}, the model says ${1 + n}: an update was lost or applied twice`);
  }
}
