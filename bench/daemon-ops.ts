/**
 * The single-operation part of the daemon benchmark, measured on Floe (each daemon and the embedded store)
 * and on Redis (bench/redis-peer.ts) with the same client concurrency:
 *   put, get        CONNS connections × PIPELINE in flight (op i goes to connection i mod CONNS)
 *   awaited-get     one connection, each get awaited before the next (latency)
 *   multiget        multiGet of MULTIGET_KEYS keys / MGET, CONNS × PIPELINE in flight
 *   batch           write of BATCH_PUTS puts / MSET (both atomic), CONNS × PIPELINE in flight
 * Keys are uniform over the preloaded set; every read checks it found a value of the preloaded size.
 */
import type { Redis } from 'ioredis';
import type { Store, WriteOp } from '../lib/api.js';
import { runAwaited, runInFlight, type RunResult } from './measure.js';
import type { Measurement } from './report.js';
import type { ValuePool } from './workload.js';
import { loadavg } from 'node:os';
import { processCpuSeconds } from './daemon-child.js';

export const PEER_OPS = ['put', 'get', 'awaited-get', 'multiget', 'batch'] as const;
export type PeerOp = (typeof PEER_OPS)[number];
export const OPS_CONNS = 8;
export const MULTIGET_KEYS = 32;
export const BATCH_PUTS = 100;

/** One system under the ops comparison: Floe stores (one per connection, or one shared) or Redis clients. */
export type OpsTarget = ({ name: string; kind: 'floe'; stores: Store[] } | { name: string; kind: 'redis'; clients: Redis[] }) & {
  /** The server process (daemon or redis-server), whose CPU per operation is reported too. */
  serverPid?: number;
};

export interface OpsContext {
  keys: number;
  keyBuf: Buffer[];
  values: ValuePool;
  valueBytes: number;
  /** Uniform key indexes, reused by every system so all see the same keys. */
  keySeq: Uint32Array;
  pipeline: number;
  seconds: number;
  log(line: string): void;
  /** Receives one "system op: bench µs + server µs" line per run (CPU per operation). */
  cpu?: string[];
}

const UNIT: Record<PeerOp, string | undefined> = {
  put: undefined,
  get: undefined,
  'awaited-get': undefined,
  multiget: `multiGet of ${MULTIGET_KEYS} keys (Redis MGET)`,
  batch: `batch of ${BATCH_PUTS} puts (Redis MSET)`,
};

export function opsMode(op: PeerOp, pipeline: number): string {
  return op === 'awaited-get' ? 'awaited, 1 conn' : `${OPS_CONNS} conns × ${pipeline}`;
}

function checkValue(v: Uint8Array | Buffer | null | undefined, k: number, bytes: number, who: string): void {
  if (v === undefined || v === null || v.length !== bytes) throw new Error(`${who}: get of preloaded key #${k} returned ${v == null ? 'nothing' : `${v.length} bytes`}`);
}

/** The operation `op` on `t` for index i (gen makes every put write a fresh value). */
function operation(t: OpsTarget, op: PeerOp, ctx: OpsContext, gen: number): (i: number) => Promise<void> {
  const seq = ctx.keySeq;
  const key = (i: number): number => seq[i % seq.length]!;
  const pick = <T>(xs: T[], i: number): T => xs[i % xs.length]!;
  if (t.kind === 'floe') {
    const stores = op === 'awaited-get' ? t.stores.slice(0, 1) : t.stores;
    switch (op) {
      case 'put':
        return async (i) => void (await pick(stores, i).put(ctx.keyBuf[key(i)]!, ctx.values.value(key(i), gen + i)));
      case 'get':
      case 'awaited-get':
        return async (i) => checkValue(await pick(stores, i).get(ctx.keyBuf[key(i)]!), key(i), ctx.valueBytes, t.name);
      case 'multiget':
        return async (i) => {
          const ks = Array.from({ length: MULTIGET_KEYS }, (_, j) => key(i * MULTIGET_KEYS + j));
          const got = await pick(stores, i).multiGet(ks.map((k) => ctx.keyBuf[k]!));
          got.forEach((v, j) => {
            checkValue(v, ks[j]!, ctx.valueBytes, t.name);
          });
        };
      case 'batch':
        return async (i) => {
          const ops: WriteOp[] = [];
          for (let j = 0; j < BATCH_PUTS; j++) {
            const k = key(i * BATCH_PUTS + j);
            ops.push({ type: 'put', key: ctx.keyBuf[k]!, value: ctx.values.value(k, gen + i) });
          }
          await pick(stores, i).write(ops);
        };
    }
  }
  const clients = op === 'awaited-get' ? t.clients.slice(0, 1) : t.clients;
  switch (op) {
    case 'put':
      return async (i) => void (await pick(clients, i).set(ctx.keyBuf[key(i)]!, ctx.values.value(key(i), gen + i)));
    case 'get':
    case 'awaited-get':
      return async (i) => checkValue(await pick(clients, i).getBuffer(ctx.keyBuf[key(i)]!), key(i), ctx.valueBytes, t.name);
    case 'multiget':
      return async (i) => {
        const ks = Array.from({ length: MULTIGET_KEYS }, (_, j) => key(i * MULTIGET_KEYS + j));
        const got = await pick(clients, i).mgetBuffer(...ks.map((k) => ctx.keyBuf[k]!));
        got.forEach((v, j) => {
          checkValue(v, ks[j]!, ctx.valueBytes, t.name);
        });
      };
    case 'batch':
      return async (i) => {
        const args: Buffer[] = [];
        for (let j = 0; j < BATCH_PUTS; j++) {
          const k = key(i * BATCH_PUTS + j);
          args.push(ctx.keyBuf[k]!, Buffer.from(ctx.values.value(k, gen + i)));
        }
        await pick(clients, i).mset(...args);
      };
  }
}

/** Preloads every key into Redis (MSET batches of 1,000 pairs). */
export async function preloadRedis(clients: Redis[], ctx: Pick<OpsContext, 'keys' | 'keyBuf' | 'values'>): Promise<void> {
  for (let i = 0; i < ctx.keys; i += 1000) {
    const args: Buffer[] = [];
    for (let k = i; k < Math.min(ctx.keys, i + 1000); k++) args.push(ctx.keyBuf[k]!, Buffer.from(ctx.values.value(k, 0)));
    await clients[0]!.mset(...args);
  }
}

/**
 * Runs every op on every target, the first target rotating from op to op so neighbours share the machine's
 * load. Returns one measurement per (op, target).
 */
export async function measureOps(targets: OpsTarget[], ctx: OpsContext, ops: readonly PeerOp[] = PEER_OPS): Promise<Measurement[]> {
  const out: Measurement[] = [];
  let gen = 1_000_000_000;
  for (let s = 0; s < ops.length; s++) {
    const op = ops[s]!;
    const mode = opsMode(op, ctx.pipeline);
    for (let n = 0; n < targets.length; n++) {
      const t = targets[(s + n) % targets.length]!;
      const run = operation(t, op, ctx, (gen += 50_000_000));
      const limits = { count: 50_000_000, seconds: ctx.seconds };
      // Untimed warm-up of the same op (JIT, connections), then the measured run.
      if (op === 'awaited-get') await runAwaited(run, { count: 2000, seconds: 0.3 });
      else await runInFlight(run, { count: 50_000_000, seconds: 0.3 }, OPS_CONNS * ctx.pipeline);
      const cpu0 = process.cpuUsage();
      const server0 = processCpuSeconds(t.serverPid);
      const r: RunResult = op === 'awaited-get' ? await runAwaited(run, limits) : await runInFlight(run, limits, OPS_CONNS * ctx.pipeline);
      const cpu1 = process.cpuUsage(cpu0);
      const server1 = processCpuSeconds(t.serverPid);
      // CPU per operation: what a loaded machine changes least (throughput moves with the neighbours).
      const benchUs = ((cpu1.user + cpu1.system) / Math.max(1, r.ops)).toFixed(1);
      const serverUs = server0 !== undefined && server1 !== undefined ? (((server1 - server0) * 1e6) / Math.max(1, r.ops)).toFixed(1) : undefined;
      ctx.cpu?.push(`${t.name} ${op}: ${benchUs}${serverUs !== undefined ? ` + ${serverUs}` : ''}`);
      const unit = UNIT[op];
      const loadAvg1m = Math.round(loadavg()[0]! * 100) / 100;
      out.push({ workload: op, mode, system: t.name, ...r, ...(unit ? { unit } : {}), loadAvg1m });
      ctx.log(
        `  ${t.name.padEnd(16)} ${`${op} (${mode})`.padEnd(28)} ${Math.round(r.opsPerSec).toLocaleString('en-US').padStart(9)} ops/s${r.latencyUs ? `  p50 ${r.latencyUs.p50} µs  p99 ${r.latencyUs.p99} µs` : ''}` +
          `  cpu/op ${benchUs}${serverUs !== undefined ? ` + ${serverUs}` : ''} µs (load ${loadAvg1m})`,
      );
    }
  }
  return out;
}
