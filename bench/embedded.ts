/**
 * The embedded benchmark: Floe's embedded store (file:// primary in a temp folder) against RocksDB and
 * LevelDB, in one process and one run, on the same generated data and the same operation sequences.
 *
 * Data: N keys (default 1,000,000) of 16 bytes ("floebnch" + 8-byte big-endian number; existing keys
 * use even numbers, miss keys odd numbers, so misses fall inside the key range and only filters/indexes
 * can rule them out) and 100-byte values cut from a seeded random pool (incompressible).
 *
 * All systems are open at once; every workload runs on each system in turn (the first system rotates)
 * before the next workload starts, so the ratios compare runs seconds apart under the same machine load:
 *   writes  put-seq (keys in order), batch-100 (100 sequential puts per write) — each awaited and with 64
 *           in flight, each on its own quarter of the key range; then unmeasured batches fill any keys a
 *           time limit left out; then put-random (overwrites of random existing keys), awaited and 64.
 *   settle  flush, close, reopen (cold block caches), wait for background compaction to go idle.
 *   reads   get-hit, get-miss (random keys), scan-100 (100 entries from a random start), awaited and 64,
 *           with the default 64 MiB block caches: the ~120 MB data set of 1M keys is ~2x the cache. Scans
 *           run in interleaved rounds (SCAN_ROUNDS) so every system samples the same spells of load.
 *   in cache  every system is reopened with a 256 MiB block cache and warmed by one full read of its data
 *           (unmeasured), then get-hit-in-cache and scan-100-in-cache: the data set is inside the cache.
 * Every workload stops at its operation count or the time limit, whichever comes first. Reads check their
 * results (hits found with 100-byte values, misses absent, scans of the expected length).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import type { StoreOptions } from '../lib/api.js';
import { defaultKeyGroup } from '../lib/keys.js';
import { defaults as floeDefaults } from '../lib/options.js';
import { Profiler, formatHotSpots, hotSpots } from './cpu-profile.js';
import { openSystem, SYSTEMS, type BenchKv, type PutOp, type SystemName } from './kv-systems.js';
import { runAwaited, runInFlight, type RunResult } from './measure.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { benchKey, indexSequence, mix32, ValuePool } from './workload.js';

const MiB = 2 ** 20;
const VALUE_BYTES = 100;
const INFLIGHT = 64;
const BATCH_OPS = 100;
const SCAN_ENTRIES = 100;
/**
 * Scans are measured in this many interleaved rounds: each round gives every system (in rotating order) a
 * 1/SCAN_ROUNDS share of the time limit on the next slice of the same start sequence. A scan run is short
 * and allocation-heavy, so on a shared machine one system's 10 s window could land in a quiet spell and the
 * other's in a busy one; interleaved, both systems sample the same spells.
 */
const SCAN_ROUNDS = 5;
const FILL_BATCH = 1000;
const VALUE_POOL_BYTES = 4 * MiB;
/** Floe's default block cache size, given to every system. */
const CACHE_BYTES = floeDefaults.blockCacheBytes;

/** Block cache of every system for the in-cache reads: comfortably above the ~120 MB data set of 1M keys. */
const IN_CACHE_BYTES = 256 * MiB;

export const WORKLOADS = ['put-seq', 'batch-100', 'put-random', 'get-hit', 'get-miss', 'scan-100', 'get-hit-in-cache', 'scan-100-in-cache'] as const;
type WorkloadId = (typeof WORKLOADS)[number];
type Mode = 'awaited' | '64 in flight';
const MODES: Mode[] = ['awaited', '64 in flight'];
const UNITS: Partial<Record<WorkloadId, string>> = {
  'batch-100': 'batch of 100 puts',
  'scan-100': 'scan of 100 entries',
  'scan-100-in-cache': 'scan of 100 entries',
};

const existingKey = (i: number): Buffer => benchKey(2 * i);
const missingKey = (i: number): Buffer => benchKey(2 * i + 1);

/** Everything generated from the seed, shared by all systems so they see identical data and sequences. */
class Dataset {
  private readonly values: ValuePool;
  private readonly sequences = new Map<string, Uint32Array>();
  private groups: { of: Uint16Array; rank: Uint32Array; lists: Uint32Array[] } | undefined;

  constructor(
    readonly keys: number,
    readonly seed: number,
  ) {
    this.values = new ValuePool(seed, VALUE_BYTES, VALUE_POOL_BYTES);
  }

  /** The value written for key index i by write generation `gen` (different generations differ). */
  value(i: number, gen: number): Buffer {
    return this.values.value(i, gen);
  }

  /** `count` uniform indices in [0, bound), the same for every system (cached by name). */
  sequence(name: string, count: number, bound: number): Uint32Array {
    const id = `${name}/${count}/${bound}`;
    let s = this.sequences.get(id);
    if (s === undefined) {
      let h = this.seed;
      for (const c of name) h = mix32(h ^ c.charCodeAt(0));
      s = indexSequence('uniform', bound, count, h);
      this.sequences.set(id, s);
    }
    return s;
  }

  /**
   * A scan start for random index r and the number of entries the scan must return. 'global': the store
   * orders all keys, start at r (clamped so SCAN_ENTRIES follow). 'keyGroup': the store orders keys within
   * their key group; start at r's position in its group, clamped the same way within the group.
   */
  scanStart(r: number, order: BenchKv['scanOrder']): { index: number; expect: number } {
    if (order === 'global') {
      const index = Math.max(0, Math.min(r, this.keys - SCAN_ENTRIES));
      return { index, expect: Math.min(SCAN_ENTRIES, this.keys - index) };
    }
    const g = this.keyGroups();
    const list = g.lists[g.of[r]!]!;
    const pos = Math.max(0, Math.min(g.rank[r]!, list.length - SCAN_ENTRIES));
    return { index: list[pos]!, expect: Math.min(SCAN_ENTRIES, list.length - pos) };
  }

  /**
   * Reads every entry once through `kv.scan` (a cache warm-up): key group by key group for a store that
   * orders keys within groups, else in slices of 10,000 in global order. Returns the entries read.
   */
  async readAll(kv: BenchKv): Promise<number> {
    let n = 0;
    if (kv.scanOrder === 'keyGroup') {
      for (const list of this.keyGroups().lists) if (list.length > 0) n += await kv.scan(existingKey(list[0]!), list.length);
    } else {
      for (let i = 0; i < this.keys; i += 10_000) n += await kv.scan(existingKey(i), Math.min(10_000, this.keys - i));
    }
    if (n !== this.keys) throw new Error(`${kv.name}: reading everything returned ${n} entries, expected ${this.keys}`);
    return n;
  }

  /** Computes the per-key-group order now (a second or so for 1M keys), so no measured scan pays for it. */
  prepareScans(orders: Iterable<BenchKv['scanOrder']>): void {
    for (const o of orders) if (o === 'keyGroup') this.keyGroups();
  }

  private keyGroups(): NonNullable<Dataset['groups']> {
    if (this.groups !== undefined) return this.groups;
    const maxKg = floeDefaults.maxKeyGroups;
    const of = new Uint16Array(this.keys);
    const sizes = new Uint32Array(maxKg);
    for (let i = 0; i < this.keys; i++) sizes[(of[i] = defaultKeyGroup(existingKey(i), maxKg))]!++;
    const lists = Array.from(sizes, (n) => new Uint32Array(n));
    const fill = new Uint32Array(maxKg);
    const rank = new Uint32Array(this.keys);
    // Ascending i is ascending key order, so each group's list comes out sorted.
    for (let i = 0; i < this.keys; i++) {
      const g = of[i]!;
      rank[i] = fill[g]!;
      lists[g]![fill[g]!++] = i;
    }
    this.groups = { of, rank, lists };
    return this.groups;
  }
}

interface Plan {
  keys: number;
  seconds: number;
  /** Sequential write segments: [start, end) key indices per (workload, mode). */
  segment: (w: 'put-seq' | 'batch-100', m: Mode) => [number, number];
  readCount: number;
  scanCount: number;
}

function makePlan(keys: number, seconds: number): Plan {
  const q = Math.floor(keys / 4);
  const order = ['put-seq/awaited', 'put-seq/64 in flight', 'batch-100/awaited', 'batch-100/64 in flight'];
  return {
    keys,
    seconds,
    segment: (w, m) => {
      const k = order.indexOf(`${w}/${m}`);
      return [k * q, k === 3 ? keys : (k + 1) * q];
    },
    readCount: keys,
    scanCount: Math.max(1, Math.floor(keys / 10)),
  };
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const t0 = performance.now();
  const machine = machineFacts();
  const keys = args.keys;
  if (keys < SCAN_ENTRIES * 4) throw new Error(`--keys must be at least ${SCAN_ENTRIES * 4} for the embedded benchmark, got ${keys}`);
  const wanted = (w: WorkloadId): boolean => args.workloads === undefined || args.workloads.includes(w);
  const unknownWorkloads = (args.workloads ?? []).filter((w) => !(WORKLOADS as readonly string[]).includes(w));
  if (unknownWorkloads.length) throw new Error(`unknown workload(s) ${unknownWorkloads.join(', ')}; known: ${WORKLOADS.join(', ')}`);
  const systems = SYSTEMS.filter((s) => args.systems === undefined || args.systems.includes(s));
  const unknownSystems = (args.systems ?? []).filter((s) => !(SYSTEMS as readonly string[]).includes(s));
  if (unknownSystems.length || systems.length === 0) throw new Error(`unknown or no system(s) ${unknownSystems.join(', ')}; known: ${SYSTEMS.join(', ')}`);

  // Experiments: FLOE_BENCH_OPTIONS='{"blockBytes":4096}' changes Floe's options; such a report is marked
  // experimental so the runner never files it as the committed result.
  const overridesJson = process.env.FLOE_BENCH_OPTIONS;
  const floeOverrides = overridesJson ? (JSON.parse(overridesJson) as Partial<StoreOptions>) : undefined;
  const data = new Dataset(keys, args.seed);
  const plan = makePlan(keys, args.seconds);
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  const systemSettings: Record<string, unknown> = {};
  const note = (line: string): void => {
    notes.push(line);
    args.log(`  · ${line}`);
  };

  interface Sys {
    name: string;
    /** Replaced when the in-cache reads reopen the system with a larger block cache. */
    kv: BenchKv;
    dir: string;
    /** Key ranges the time limits left unwritten, filled before the random writes. */
    gaps: Array<[number, number]>;
  }
  const opened: Sys[] = [];
  let step = 0;
  /** Runs `fn` for every system in turn; each step starts with the next system, so none is always first. */
  const eachSystem = async (fn: (s: Sys) => Promise<void>): Promise<void> => {
    const first = step++ % opened.length;
    for (let k = 0; k < opened.length; k++) await fn(opened[(first + k) % opened.length]!);
  };
  const measure = async (s: Sys, workload: WorkloadId, mode: Mode, count: number, op: (i: number) => Promise<unknown>): Promise<RunResult> => {
    const profiler = args.profileDir !== undefined && s.name === 'floe' ? await Profiler.start() : undefined;
    const r = mode === 'awaited' ? await runAwaited(op, { count, seconds: plan.seconds }) : await runInFlight(op, { count, seconds: plan.seconds }, INFLIGHT);
    if (profiler !== undefined) {
      const file = join(args.profileDir!, `embedded-${s.name}-${workload}-${mode.replace(/ /g, '')}.cpuprofile`);
      const profile = await profiler.stop(file);
      args.log(`    profile ${file}\n${formatHotSpots(hotSpots(profile), 12).replace(/^/gm, '      ')}`);
    }
    const loadAvg1m = Math.round(loadavg()[0]! * 100) / 100;
    measurements.push({ workload, mode, system: s.name, ...(UNITS[workload] ? { unit: UNITS[workload] } : {}), ...r, loadAvg1m });
    args.log(
      `  ${s.name.padEnd(8)} ${`${workload} (${mode})`.padEnd(26)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(10)} ops/s  ` +
        `${r.ops} ops in ${r.seconds.toFixed(1)} s${r.latencyUs ? `  p50 ${r.latencyUs.p50} µs  p99 ${r.latencyUs.p99} µs` : ''}  (load ${loadAvg1m})`,
    );
    return r;
  };

  /**
   * Runs `workload` on every system in SCAN_ROUNDS interleaved rounds (see SCAN_ROUNDS) and records one
   * measurement per system: the rounds' operations over their summed time; awaited latencies from one
   * histogram over all rounds. `opFor(s)(i)` runs operation i of the shared sequence for system s.
   */
  const measureRounds = async (workload: WorkloadId, mode: Mode, count: number, opFor: (s: Sys) => (i: number) => Promise<unknown>): Promise<void> => {
    const per = Math.ceil(count / SCAN_ROUNDS);
    const totals = new Map<Sys, { ops: number; seconds: number; stoppedBy: RunResult['stoppedBy']; histogram: hdr.Histogram }>();
    for (const s of opened) totals.set(s, { ops: 0, seconds: 0, stoppedBy: 'count', histogram: hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 }) });
    try {
      for (let round = 0; round < SCAN_ROUNDS; round++) {
        const base = round * per;
        const n = Math.max(0, Math.min(per, count - base));
        await eachSystem(async (s) => {
          const t = totals.get(s)!;
          const op = opFor(s);
          const timed = async (i: number): Promise<void> => {
            const t0 = performance.now();
            await op(base + i);
            t.histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
          };
          const limits = { count: n, seconds: plan.seconds / SCAN_ROUNDS };
          const r = mode === 'awaited' ? await runAwaited(timed, limits) : await runInFlight((i) => op(base + i), limits, INFLIGHT);
          t.ops += r.ops;
          t.seconds += r.seconds;
          if (r.stoppedBy === 'time') t.stoppedBy = 'time';
        });
      }
      const loadAvg1m = Math.round(loadavg()[0]! * 100) / 100;
      for (const s of opened) {
        const t = totals.get(s)!;
        const us = (q: number): number => Math.round(t.histogram.getValueAtPercentile(q) / 100) / 10;
        const latencyUs = mode === 'awaited' && t.ops > 0 ? { latencyUs: { p50: us(50), p99: us(99), p999: us(99.9), max: Math.round(t.histogram.maxValue / 100) / 10 } } : {};
        const r = { ops: t.ops, seconds: t.seconds, opsPerSec: t.ops / t.seconds, stoppedBy: t.stoppedBy, ...latencyUs };
        measurements.push({ workload, mode, system: s.name, ...(UNITS[workload] ? { unit: UNITS[workload] } : {}), ...r, loadAvg1m });
        args.log(
          `  ${s.name.padEnd(8)} ${`${workload} (${mode})`.padEnd(26)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(10)} ops/s  ` +
            `${r.ops} ops in ${r.seconds.toFixed(1)} s over ${SCAN_ROUNDS} interleaved rounds${r.latencyUs ? `  p50 ${r.latencyUs.p50} µs  p99 ${r.latencyUs.p99} µs` : ''}  (load ${loadAvg1m})`,
        );
      }
    } finally {
      for (const t of totals.values()) t.histogram.destroy();
    }
  };

  try {
    for (const name of systems) {
      const dir = await mkdtemp(join(tmpdir(), `floe-bench-${name}-`));
      args.log(`[embedded] ${name}: ${dir}`);
      const kv = await openSystem(name, { dir, cacheBytes: CACHE_BYTES, ...(floeOverrides ? { floeOverrides } : {}) });
      opened.push({ name, kv, dir, gaps: [] });
      systemSettings[name] = kv.settings();
    }

    // ---- sequential writes, each (workload, mode) on its own quarter of the key range.
    for (const w of ['put-seq', 'batch-100'] as const) {
      for (const mode of MODES) {
        const [lo, hi] = plan.segment(w, mode);
        await eachSystem(async (s) => {
          let done = 0;
          if (wanted(w)) {
            if (w === 'put-seq') {
              done = (await measure(s, w, mode, hi - lo, (i) => s.kv.put(existingKey(lo + i), data.value(lo + i, 0)))).ops;
            } else {
              const op = (b: number): Promise<void> => {
                const ops: PutOp[] = [];
                for (let j = lo + b * BATCH_OPS, end = Math.min(hi, j + BATCH_OPS); j < end; j++) ops.push({ type: 'put', key: existingKey(j), value: data.value(j, 0) });
                return s.kv.write(ops);
              };
              done = Math.min(hi - lo, (await measure(s, w, mode, Math.ceil((hi - lo) / BATCH_OPS), op)).ops * BATCH_OPS);
            }
          }
          if (lo + done < hi) s.gaps.push([lo + done, hi]);
        });
      }
    }

    // ---- unmeasured fill of whatever the time limits left out, so every key exists before the reads.
    await eachSystem(async (s) => {
      const fillStart = performance.now();
      let filled = 0;
      for (const [lo, hi] of s.gaps) {
        for (let j = lo; j < hi; j += FILL_BATCH) {
          const ops: PutOp[] = [];
          for (let k = j; k < Math.min(hi, j + FILL_BATCH); k++) ops.push({ type: 'put', key: existingKey(k), value: data.value(k, 0) });
          await s.kv.write(ops);
          filled += ops.length;
        }
      }
      if (filled > 0) note(`${s.name}: filled ${filled.toLocaleString('en-US')} keys the time limits left out, in ${((performance.now() - fillStart) / 1000).toFixed(1)} s`);
    });

    // ---- random overwrites.
    if (wanted('put-random')) {
      for (const [gen, mode] of MODES.entries()) {
        const seq = data.sequence(`put-random/${mode}`, plan.keys, plan.keys);
        await eachSystem(async (s) => {
          await measure(s, 'put-random', mode, seq.length, (i) => s.kv.put(existingKey(seq[i]!), data.value(seq[i]!, gen + 1)));
        });
      }
    }

    // ---- settle every system, then reads (no background work left to disturb a neighbour).
    if ((['get-hit', 'get-miss', 'scan-100', 'get-hit-in-cache', 'scan-100-in-cache'] as const).some(wanted)) {
      await eachSystem(async (s) => {
        const settleStart = performance.now();
        const shape = await s.kv.settle();
        note(`${s.name}: settled in ${((performance.now() - settleStart) / 1000).toFixed(1)} s; ${shape}`);
      });
    }
    const getRun = async (w: 'get-hit' | 'get-miss' | 'get-hit-in-cache', mode: Mode, s: Sys): Promise<void> => {
      const seq = data.sequence(`${w.replace('-in-cache', '')}/${mode}`, plan.readCount, plan.keys);
      const hit = w !== 'get-miss';
      await measure(s, w, mode, seq.length, async (i) => {
        const v = await s.kv.get(hit ? existingKey(seq[i]!) : missingKey(seq[i]!));
        if (hit && (v === undefined || v.length !== VALUE_BYTES)) {
          throw new Error(`${s.name}: get of existing key #${seq[i]} returned ${v === undefined ? 'nothing' : `${v.length} bytes`}`);
        }
        if (!hit && v !== undefined) throw new Error(`${s.name}: get of absent key #${seq[i]} returned ${v.length} bytes`);
      });
    };
    /** Operation i of a scan run over start sequence `seq` on system s: the count of entries is checked. */
    const scanOp =
      (seq: Uint32Array) =>
      (s: Sys) =>
      async (i: number): Promise<void> => {
        const { index, expect } = data.scanStart(seq[i]!, s.kv.scanOrder);
        const n = await s.kv.scan(existingKey(index), SCAN_ENTRIES);
        if (n !== expect) throw new Error(`${s.name}: scan from key #${index} returned ${n} entries, expected ${expect}`);
      };
    /** A scan workload, interleaved in rounds (SCAN_ROUNDS); with --profile in one run per system, as the profiler wants. */
    const scanRuns = async (w: 'scan-100' | 'scan-100-in-cache', mode: Mode): Promise<void> => {
      const seq = data.sequence(`scan-100/${mode}`, plan.scanCount, plan.keys);
      if (args.profileDir !== undefined) await eachSystem(async (s) => void (await measure(s, w, mode, seq.length, scanOp(seq)(s))));
      else await measureRounds(w, mode, seq.length, scanOp(seq));
    };
    for (const w of ['get-hit', 'get-miss'] as const) {
      if (!wanted(w)) continue;
      for (const mode of MODES) await eachSystem((s) => getRun(w, mode, s));
    }
    if (wanted('scan-100') || wanted('scan-100-in-cache')) data.prepareScans(opened.map((s) => s.kv.scanOrder));
    if (wanted('scan-100')) {
      for (const mode of MODES) await scanRuns('scan-100', mode);
    }
    if (wanted('get-hit-in-cache') || wanted('scan-100-in-cache')) {
      await eachSystem(async (s) => {
        const warmStart = performance.now();
        await s.kv.close();
        s.kv = await openSystem(s.name as SystemName, { dir: s.dir, cacheBytes: IN_CACHE_BYTES, ...(floeOverrides ? { floeOverrides } : {}) });
        const read = await data.readAll(s.kv);
        note(`${s.name}: reopened with a ${IN_CACHE_BYTES / MiB} MiB block cache and read all ${read.toLocaleString('en-US')} entries in ${((performance.now() - warmStart) / 1000).toFixed(1)} s`);
      });
      if (wanted('get-hit-in-cache')) for (const mode of MODES) await eachSystem((s) => getRun('get-hit-in-cache', mode, s));
      if (wanted('scan-100-in-cache')) for (const mode of MODES) await scanRuns('scan-100-in-cache', mode);
    }
    for (const s of opened) {
      const seen = s.kv.observe();
      if (seen !== undefined) note(`${s.name}: after the reads: ${seen}`);
    }
  } finally {
    for (const s of opened) {
      await s.kv.close().catch((e: unknown) => args.log(`  ${s.name}: close failed: ${String(e)}`));
      await rm(s.dir, { recursive: true, force: true });
    }
  }

  machine.loadAvgEnd = Math.round(loadavg()[0]! * 100) / 100;
  return {
    name: 'embedded',
    title: 'Floe embedded vs RocksDB vs LevelDB',
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: Math.round((performance.now() - t0) / 100) / 10,
    machine,
    subject: 'floe',
    systems: [...systems],
    settings: {
      ...(floeOverrides ? { experimental: true, floeOverrides } : {}),
      keys,
      keyBytes: 16,
      keyFormat: '"floebnch" + 8-byte big-endian number; existing keys even numbers 0..2(N-1), miss keys odd',
      valueBytes: VALUE_BYTES,
      values: `slices of a ${VALUE_POOL_BYTES / MiB} MiB seeded random pool (incompressible)`,
      seed: args.seed,
      inflight: INFLIGHT,
      batchOps: BATCH_OPS,
      scanEntries: SCAN_ENTRIES,
      secondsPerWorkload: plan.seconds,
      countLimits: {
        'put-seq, batch-100': 'a quarter of the keys per (workload, mode)',
        'put-random, get-hit, get-miss, get-hit-in-cache': keys,
        'scan-100, scan-100-in-cache': plan.scanCount,
      },
      blockCacheBytes: CACHE_BYTES,
      inCacheBlockCacheBytes: IN_CACHE_BYTES,
      order:
        'all systems open at once in one process, each in its own temp folder on the same file system; every workload runs on each ' +
        'system in turn (the first system rotates from step to step) before the next workload starts, so neighbouring measurements ' +
        'share the machine\'s load; background flush/compaction left by one system\'s writes can overlap the next system\'s write run',
      settle: 'flush + close + reopen (cold caches) + wait until background compaction is idle, before the reads',
      systems: systemSettings,
    },
    measurements,
    ratios: [],
    notes,
  };
}

