/**
 * SlateDB as the peer of the remote benchmark, through its official Node binding (`@slatedb/uniffi`, a
 * koffi binding to the Rust library; its S3 client is Rust's `object_store` on native threads). It reads
 * the same S3-protocol server as Floe (bench/s3-latency-server.ts, latency injected in the server), under
 * its own prefix of the same bucket, loaded with the same keys and values.
 *
 * What the binding allows and what differs from Floe (written into the report's settings):
 * - Its in-memory block + metadata cache cannot be sized from the binding (512 MiB + 128 MiB by default,
 *   larger than the whole data set): SlateDB runs with that default cache, which only its own reads fill
 *   (cold at the start like Floe's), but which never has to evict. The two ways to keep it within a budget
 *   both hang here (0.12.1): reads with `cache_blocks: false`, and DbBuilder.with_db_cache_disabled(), each
 *   blocked the JS thread for good (no timer fired again) within the first reads at 256 in flight.
 * - Its disk cache (object_store_cache_options) is left off: with it at the 10% budget cold gets ran at
 *   ~170/s with 64 KiB parts and ~5/s with 4 KiB parts (measured while building this benchmark).
 * - Load: WriteBatch of 1,000 puts with the WAL off, then a memtable flush (SlateDB's own SST layout: L0
 *   SSTs, 4 KiB blocks, bloom filters); reads open a fresh Db with the compactor and GC off.
 * - A pending native call does not keep Node's event loop alive: an interval is held while the Db is open.
 * - The binding can deadlock (all threads asleep, the JS thread among them, so no timer fires) under 256
 *   reads in flight; it happened in some runs with the default cache too. So the measurement runs in a
 *   child process (runSlateDbChild) that the benchmark kills after a deadline and reports as hung; CPU per
 *   key is then that process's own.
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { DbBuilder, ObjectStore, Settings, WriteBatch, type Db } from '@slatedb/uniffi';
import { runInFlight } from './measure.js';
import { benchKey, indexSequence, ValuePool } from './workload.js';

export const SLATEDB_CONFIGS = ['slatedb'] as const;
export type SlateDbConfig = (typeof SLATEDB_CONFIGS)[number];

export interface SlateDbPeer {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}

/** Points the binding's S3 client (environment, as object_store reads it) at `endpoint`. */
function s3Env(endpoint: string): void {
  Object.assign(process.env, {
    AWS_ENDPOINT: endpoint,
    AWS_ALLOW_HTTP: 'true',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench-secret',
    AWS_REGION: 'us-east-1',
  });
}

async function build(path: string, store: ObjectStore, settings: Settings): Promise<Db> {
  const b = new DbBuilder(path, store);
  try {
    b.with_settings(settings);
    return await b.build();
  } finally {
    b.dispose();
  }
}

/** Loads keys 0..n-1 (benchKey, values.value(i)) into `s3://bucket/path`; resolves when they are in SSTs. */
export async function loadSlateDb(endpoint: string, bucket: string, path: string, n: number, values: ValuePool): Promise<void> {
  s3Env(endpoint);
  const keep = setInterval(() => {}, 1000);
  const store = ObjectStore.resolve(`s3://${bucket}/${path}`);
  const settings = Settings.default();
  try {
    settings.set('wal_enabled', 'false');
    const db = await build(path, store, settings);
    try {
      for (let i = 0; i < n; i += 1000) {
        const wb = new WriteBatch();
        for (let j = i; j < Math.min(n, i + 1000); j++) wb.put(benchKey(j), values.value(j));
        await db.write_with_options(wb, { await_durable: false });
      }
      await db.flush_with_options({ flush_type: 'MemTable' });
    } finally {
      await db.shutdown();
      db.dispose();
    }
  } finally {
    settings.dispose();
    store.dispose();
    clearInterval(keep);
  }
}

/** Opens the loaded database for reading, with a cold cache, in configuration `config`. */
export async function openSlateDb(endpoint: string, bucket: string, path: string, config: SlateDbConfig): Promise<SlateDbPeer> {
  s3Env(endpoint);
  const keep = setInterval(() => {}, 1000);
  const store = ObjectStore.resolve(`s3://${bucket}/${path}`);
  const settings = Settings.default();
  settings.set('compactor_options', 'null');
  settings.set('garbage_collector_options', 'null');
  void config; // the one configuration the binding runs (see above)
  const db = await build(path, store, settings);
  const options = { durability_filter: 'Remote' as const, dirty: false, cache_blocks: true };
  return {
    get: (key) => db.get_with_options(key, options),
    async close() {
      try {
        await db.shutdown();
      } finally {
        db.dispose();
        settings.dispose();
        store.dispose();
        clearInterval(keep);
      }
    },
  };
}

/** What the child is asked to do: read `sequence` keys from `cursor` with `callers` in flight for `seconds`. */
export interface SlateDbRunRequest {
  endpoint: string;
  bucket: string;
  path: string;
  config: SlateDbConfig;
  keys: number;
  valueBytes: number;
  seed: number;
  /** indexSequence('uniform', keys, sequenceLength, sequenceSeed): the parent's very sequence. */
  sequenceLength: number;
  sequenceSeed: number;
  cursor: number;
  callers: number;
  seconds: number;
}

export interface SlateDbRunResult {
  keys: number;
  seconds: number;
  keysPerSec: number;
  cpuUsPerKey: number;
  loadAvg1m: number;
}

/** Runs one measurement in a child process; undefined if it did not finish within `timeoutMs` (killed). */
export function runSlateDbChild(req: SlateDbRunRequest, timeoutMs: number): Promise<SlateDbRunResult | undefined> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(req)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      if (line !== undefined) resolve(JSON.parse(line.slice(7)) as SlateDbRunResult);
      else if (signal === 'SIGKILL') resolve(undefined);
      else reject(new Error(`SlateDB child exited with ${code ?? signal} without a result`));
    });
  });
}

async function childMain(req: SlateDbRunRequest): Promise<void> {
  const values = new ValuePool(req.seed, req.valueBytes);
  const seq = indexSequence('uniform', req.keys, req.sequenceLength, req.sequenceSeed);
  const db = await openSlateDb(req.endpoint, req.bucket, req.path, req.config);
  await fetch(`${req.endpoint}/?latency=10`, { method: 'POST' });
  try {
    const cpu0 = process.cpuUsage();
    const r = await runInFlight(
      async (i) => {
        const index = seq[(req.cursor + i) % seq.length]!;
        const v = await db.get(benchKey(index));
        if (v === undefined || !Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(values.value(index))) throw new Error(`${req.config}: key ${index} read back wrong`);
      },
      { count: Number.MAX_SAFE_INTEGER, seconds: req.seconds },
      req.callers,
    );
    const cpu = process.cpuUsage(cpu0);
    const result: SlateDbRunResult = {
      keys: r.ops,
      seconds: r.seconds,
      keysPerSec: r.opsPerSec,
      cpuUsPerKey: r.ops > 0 ? (cpu.user + cpu.system) / r.ops : 0,
      loadAvg1m: loadavg()[0]!,
    };
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } finally {
    await db.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  childMain(JSON.parse(process.argv[2]!) as SlateDbRunRequest).then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`slatedb-peer: ${e instanceof Error ? e.stack : String(e)}\n`);
      process.exit(1);
    },
  );
}
