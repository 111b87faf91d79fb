/**
 * The remote benchmark's daemon run: Floe's cold uniform gets through `floe daemon` (a child process, 2
 * shards) on the same latency-injecting S3 server, with the same cache budgets, key sequence and callers as
 * the embedded run. The daemon keeps its data in its own shard instances (`shard-<i>`), so it gets its own
 * copy: the same N keys and values loaded through a daemon at 0 ms (batches of 1,000, 8 in flight), flushed,
 * given time to compact, then that daemon is stopped and a fresh one is started on an EMPTY local folder
 * (cold caches) for the measured run at 10 ms. Callers are spread over CONNECTIONS client connections.
 */
import { type DaemonChild, processCpuSeconds, startDaemonChild, stopDaemonChild } from './daemon-child.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { S3Options, WriteOp } from '../lib/api.js';
import { connect, type FloeClient } from '../lib/client/client.js';
import { runInFlight } from './measure.js';
import { benchKey, type ValuePool } from './workload.js';

const _floeBin = fileURLToPath(new URL('../bin/floe.js', import.meta.url));
const CONNECTIONS = 4;
const SHARDS = 2;
/** Seconds the loading daemon is left running after its flush, for background compaction. */
const SETTLE_SECONDS = 5;

export interface DaemonColdRun {
  keys: number;
  seconds: number;
  keysPerSec: number;
  /** CPU of the daemon process (all threads) per key, from /proc. */
  daemonCpuUsPerKey: number | null;
  loadAvg1m: number;
  shards: number;
  connections: number;
}

export interface DaemonColdArgs {
  endpoint: string;
  bucket: string;
  s3: S3Options;
  keys: number;
  values: ValuePool;
  seq: Uint32Array;
  cursor: number;
  callers: number;
  seconds: number;
  blockCacheBytes: number;
  diskCacheBytes: number;
  readConcurrency: number;
  setLatency(ms: number): Promise<void>;
  latencyMs: number;
  log(line: string): void;
}

type Daemon = DaemonChild;

/** A daemon on `config`, its config file named afresh per start (restarts keep the earlier ones). */
function startDaemon(dir: string, config: Record<string, unknown>): Promise<Daemon> {
  return startDaemonChild(dir, config, { configName: `floe-${Date.now()}.json` });
}

async function stopDaemon(d: Daemon): Promise<void> {
  await stopDaemonChild(d);
}

/** Loads, settles, restarts cold and measures; see the module comment. */
export async function daemonColdGets(a: DaemonColdArgs): Promise<DaemonColdRun> {
  const dir = await mkdtemp(join(tmpdir(), 'floe-rbench-daemon-'));
  const bucket = `${a.bucket}-daemon`;
  const made = await fetch(`${a.endpoint}/${bucket}`, { method: 'PUT' });
  if (!made.ok) throw new Error(`creating bucket ${bucket} failed: ${made.status}`);
  const config = {
    primary: `s3://${bucket}`,
    s3: a.s3,
    shards: SHARDS,
    blockCacheBytes: a.blockCacheBytes,
    diskCacheBytes: a.diskCacheBytes,
    readConcurrency: a.readConcurrency,
  };
  const clients: FloeClient[] = [];
  let daemon: Daemon | undefined;
  try {
    await a.setLatency(0);
    daemon = await startDaemon(dir, { ...config, localDir: './load' });
    const loader = await connect(daemon.socket, { reconnect: false });
    clients.push(loader);
    let next = 0;
    const batches = Math.ceil(a.keys / 1000);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let b = next++; b < batches; b = next++) {
          const ops: WriteOp[] = [];
          for (let i = b * 1000; i < Math.min(a.keys, (b + 1) * 1000); i++) ops.push({ type: 'put', key: benchKey(i), value: a.values.value(i) });
          await loader.write(ops);
        }
      }),
    );
    await loader.flush();
    await new Promise((r) => setTimeout(r, SETTLE_SECONDS * 1000));
    await loader.close();
    clients.length = 0;
    await stopDaemon(daemon);

    daemon = await startDaemon(dir, { ...config, localDir: './read' });
    for (let c = 0; c < CONNECTIONS; c++) clients.push(await connect(daemon.socket, { reconnect: false }));
    await a.setLatency(a.latencyMs);
    const cpu0 = processCpuSeconds(daemon.child.pid);
    const r = await runInFlight(
      async (i) => {
        const index = a.seq[(a.cursor + i) % a.seq.length]!;
        const v = await clients[i % CONNECTIONS]!.get(benchKey(index));
        if (v === undefined || !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(a.values.value(index))) throw new Error(`daemon: key ${index} read back wrong`);
      },
      { count: Number.MAX_SAFE_INTEGER, seconds: a.seconds },
      a.callers,
    );
    const cpu1 = processCpuSeconds(daemon.child.pid);
    return {
      keys: r.ops,
      seconds: r.seconds,
      keysPerSec: r.opsPerSec,
      daemonCpuUsPerKey: cpu0 !== undefined && cpu1 !== undefined && r.ops > 0 ? Math.round(((cpu1 - cpu0) * 1e6) / r.ops) : null,
      loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
      shards: SHARDS,
      connections: CONNECTIONS,
    };
  } finally {
    for (const c of clients) await c.close().catch(() => undefined);
    if (daemon !== undefined) await stopDaemon(daemon);
    await a.setLatency(a.latencyMs);
    await rm(dir, { recursive: true, force: true });
  }
}
