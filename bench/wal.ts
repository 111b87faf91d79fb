/**
 * The WAL benchmark (issue 9): durable puts with `durability: 'wal'` against primary storage whose every
 * request takes 10 ms (mem:// behind FaultInjectingObjectStore, the way openLsmStore's `inject` hook wraps it),
 * with 256 writers in flight; each writer awaits its put (acknowledged = durable) before the next.
 *
 * Targets: durable puts >= 20,000/s, and p99 put latency (queueing included) <= 3 x the PUT latency.
 * Measured in the same run:
 *   floe-wal          the subject: every acknowledged put is durable on the (slow) primary
 *   floe-checkpoint   the same store without the WAL (durable only at flush): what the log costs
 *   rocksdb-sync      RocksDB on local disk with sync writes (WAL fsync per write): a local durable peer
 * Ratios are floe-wal against the others. SlateDB's published figure for its WAL on S3 (durable-write p50
 * 115 ms / p99 220 ms at a 100 ms flush interval) is quoted for context, not measured here.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import { openLsmStore } from '../lib/embedded.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { machineFacts, type BenchArgs, type BenchReport, type Measurement } from './report.js';
import { ValuePool } from './workload.js';

const LATENCY_MS = 10;
const INFLIGHT = 256;
const VALUE_BYTES = 100;

interface Target {
  name: string;
  put(key: Buffer, value: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** `inflight` writers, each awaiting its put, until `seconds` pass; latency of every put in an HDR histogram. */
async function drive(target: Target, seconds: number, values: ValuePool): Promise<Omit<Measurement, 'workload' | 'mode' | 'system'>> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
  const start = performance.now();
  const deadline = start + seconds * 1000;
  let next = 0;
  const writer = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const i = next++;
      const t0 = performance.now();
      await target.put(Buffer.from(`key-${(i * 2654435761) % 10_000_000}`), values.value(i));
      histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    }
  };
  await Promise.all(Array.from({ length: INFLIGHT }, writer));
  const elapsed = (performance.now() - start) / 1000;
  const ops = histogram.totalCount;
  const at = (p: number): number => histogram.getValueAtPercentile(p);
  const result = {
    ops,
    seconds: elapsed,
    opsPerSec: ops / elapsed,
    stoppedBy: 'time' as const,
    latencyUs: { p50: at(50), p99: at(99), p999: at(99.9), max: histogram.maxValue },
    loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
  };
  histogram.destroy();
  return result;
}

async function floe(durability: 'wal' | 'checkpoint', seed: number): Promise<Target> {
  const store = (await openLsmStore(
    { primary: `mem://bench-wal-${durability}-${process.pid}`, durability, memtableBytes: 32 * 2 ** 20, compression: 'none' },
    { inject: (b) => new FaultInjectingObjectStore(b, { latency: LATENCY_MS, seed }) },
  )) as LsmStore;
  return { name: `floe-${durability}`, put: (k, v) => store.put(k, v), close: () => store.close() };
}

interface RocksLike {
  open(): Promise<void>;
  put(k: Buffer, v: Buffer, o: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}

async function rocksSync(dir: string): Promise<Target> {
  const { RocksLevel } = createRequire(import.meta.url)('@nxtedition/rocksdb') as { RocksLevel: new (l: string, o: object) => RocksLike };
  const db = new RocksLevel(join(dir, 'rocksdb'), { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  await db.open();
  return { name: 'rocksdb-sync', put: (k, v) => db.put(k, v, { sync: true }), close: () => db.close() };
}

export async function run(args: BenchArgs): Promise<BenchReport> {
  const started = new Date();
  const machine = machineFacts();
  const seconds = args.quick ? Math.min(args.seconds, 3) : Math.min(args.seconds, 15);
  const values = new ValuePool(args.seed, VALUE_BYTES);
  const dir = await mkdtemp(join(tmpdir(), 'floe-bench-wal-'));
  const measurements: Measurement[] = [];
  const notes: string[] = [];
  try {
    const makers: Array<() => Promise<Target>> = [() => floe('wal', 1), () => floe('checkpoint', 2), () => rocksSync(dir)];
    for (const make of makers) {
      const target = await make();
      args.log(`wal: ${target.name}, ${INFLIGHT} writers in flight, ${seconds} s`);
      const m = await drive(target, seconds, values);
      await target.close();
      measurements.push({ workload: 'durable-put', mode: `${INFLIGHT} in flight`, system: target.name, ...m });
      args.log(`  ${Math.round(m.opsPerSec)} puts/s, p50 ${(m.latencyUs!.p50 / 1000).toFixed(1)} ms, p99 ${(m.latencyUs!.p99 / 1000).toFixed(1)} ms`);
    }
    const wal = measurements.find((m) => m.system === 'floe-wal')!;
    const p99Ms = wal.latencyUs!.p99 / 1000;
    notes.push(
      `target durable puts >= 20,000/s: ${Math.round(wal.opsPerSec)}/s — ${wal.opsPerSec >= 20_000 ? 'met' : 'NOT met'}`,
      `target p99 <= 3 x PUT latency (${3 * LATENCY_MS} ms): ${p99Ms.toFixed(1)} ms — ${p99Ms <= 3 * LATENCY_MS ? 'met' : 'NOT met'}`,
      'floe-checkpoint acknowledges before anything is durable; rocksdb-sync fsyncs a local WAL (no remote latency).',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return {
    name: 'wal',
    title: `Durable puts with the WAL: ${INFLIGHT} writers, ${LATENCY_MS} ms per primary request`,
    command: args.command,
    startedAt: started.toISOString(),
    durationSeconds: (Date.now() - started.getTime()) / 1000,
    machine: { ...machine, loadAvgEnd: Math.round(loadavg()[0]! * 100) / 100 },
    subject: 'floe-wal',
    systems: ['floe-wal', 'floe-checkpoint', 'rocksdb-sync'],
    settings: { latencyMs: LATENCY_MS, inflight: INFLIGHT, valueBytes: VALUE_BYTES, seconds, primary: 'mem:// + FaultInjectingObjectStore' },
    measurements,
    ratios: [],
    notes,
  };
}
