/**
 * Resource bounds under overload: many clients write as fast as they can through the real daemon (a child
 * process) to a primary slowed by FLOE_INJECT_LATENCY_MS (lib/daemon/inject.ts, tests only), in both
 * durability modes. The writers outrun the primary, so the engine must stall them; it may never fail a
 * write or let memory, local disk or file handles grow past the configured budgets.
 *
 * Asserts: no write fails; stats().lsm.stalls > 0 (writers did stall); the shards' memtable bytes stay
 * within shards × memtableBytes × (1 + maxImmutableMemtables) plus one batch of slack; the daemon's RSS
 * stays under a bound derived from the config; open file descriptors stay within the idle count plus one
 * per connection, plus shards × WAL_MAX_IN_FLIGHT log writes with the WAL, plus a fixed allowance; the local folder (disk cache) stays within diskCacheBytes plus an
 * allowance; every acknowledged write reads back (a sample), and the daemon stops gracefully.
 *
 * Bounded: FLOE_OVERLOAD_SECONDS (default 10) of writing per mode. Replay: FLOE_SEED.
 */
import t from 'tap';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type FloeClient } from '../lib/client/client.js';
import type { StoreStats } from '../lib/api.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { WAL_MAX_IN_FLIGHT } from '../lib/wal/log.js';
import { makeDir, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';
import { daemonRssBound, MiB, ProcSampler } from './support/proc-sampler.js';

const WRITERS = 8;
const PIPELINE = 32;
const VALUE_BYTES = 4096;
const SECONDS = Number(process.env.FLOE_OVERLOAD_SECONDS ?? 10);
const LATENCY_MS = 100;

const CONFIG = {
  shards: 2,
  maxKeyGroups: 16,
  maxFrameBytes: MiB,
  maxInFlightPerConnection: PIPELINE,
  memtableBytes: 256 * 1024,
  maxImmutableMemtables: 2,
  l0StopWritesTrigger: 8,
  blockCacheBytes: 4 * MiB,
  compactionMemoryBytes: 32 * MiB,
  compactionWorkers: 0,
  diskCacheBytes: 8 * MiB,
  logLevel: 'info',
};

function folderBytes(dir: string): number {
  let total = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0; // removed while we looked (a temp file renamed)
  }
  for (const name of names) {
    const p = join(dir, name);
    try {
      const st = statSync(p);
      total += st.isDirectory() ? folderBytes(p) : st.size;
    } catch {
      // gone between readdir and stat
    }
  }
  return total;
}

/** Writes unique keys with PIPELINE puts outstanding until `stop()`; returns the acknowledged keys. */
async function writer(client: FloeClient, index: number, r: Random, stop: () => boolean, failures: string[]): Promise<string[]> {
  const acked: string[] = [];
  const value = r.bytes(VALUE_BYTES);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (!stop()) {
      const key = `w${index}/${next++}`;
      try {
        await client.put(key, value);
        acked.push(key);
      } catch (e) {
        failures.push(`writer ${index} put ${key}: ${(e as Error).message}`);
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: PIPELINE }, lane));
  return acked;
}

for (const durability of ['checkpoint', 'wal'] as const) {
  t.test(`overload (durability ${durability}): writers outrun a ${LATENCY_MS} ms primary and stall; memory, disk and handles stay bounded`, { timeout: (SECONDS + 120) * 1000 }, async (t) => {
    const seed = seedFromEnv();
    t.comment(`seed ${seed}; ${WRITERS} writers × ${PIPELINE} puts in flight of ${VALUE_BYTES} bytes for ${SECONDS} s`);
    const dir = makeDir(t, 'floe-overload-');
    writeConfig(dir, { ...CONFIG, durability });
    const d = await startDaemon(dir, { env: { FLOE_INJECT_LATENCY_MS: String(LATENCY_MS) } });
    t.teardown(() => {
      d.child.kill('SIGKILL');
    });
    t.ok(d.events.some((e) => e.event === 'latency_injection' && e.ms === LATENCY_MS), 'the daemon announces the injected latency');
    const pid = d.child.pid!;
    const measure = ProcSampler.available(pid);
    const sampler = new ProcSampler(pid, 100);
    sampler.sample();
    const baselineRss = sampler.maxRss;
    const baselineFds = sampler.maxFds;

    const observer = await connect(d.socket);
    const clients = await Promise.all(Array.from({ length: WRITERS }, () => connect(d.socket)));
    const root = new Random(seed);
    const failures: string[] = [];
    const deadline = Date.now() + SECONDS * 1000;
    const stop = (): boolean => Date.now() >= deadline || d.child.exitCode !== null;
    let maxMemtable = 0;
    let maxDisk = 0;
    let statsSamples = 0;
    sampler.start();
    const watching = (async () => {
      while (!stop()) {
        const s: StoreStats = await observer.stats();
        maxMemtable = Math.max(maxMemtable, s.lsm.memtableBytes);
        maxDisk = Math.max(maxDisk, folderBytes(join(dir, 'cache')));
        statsSamples++;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const acked = await Promise.all(clients.map((c, i) => writer(c, i, root.fork(), stop, failures)));
    await watching;
    sampler.stop();

    const total = acked.reduce((n, a) => n + a.length, 0);
    t.same(failures.slice(0, 5), [], 'no write failed');
    const stats = await observer.stats();
    t.comment(`${total} puts acknowledged (${((total * VALUE_BYTES) / MiB / SECONDS).toFixed(1)} MiB/s), ${stats.lsm.stalls} stalls, ${stats.remote.puts} remote puts`);
    t.ok(stats.lsm.stalls > 0, `writers stalled (${stats.lsm.stalls} stalls)`);
    t.ok(total > 0, 'writes made progress');

    const memtableBudget = CONFIG.shards * CONFIG.memtableBytes * (1 + CONFIG.maxImmutableMemtables) + WRITERS * PIPELINE * (VALUE_BYTES + 64);
    t.ok(maxMemtable <= memtableBudget, `memtables stayed within budget: max ${(maxMemtable / 1024).toFixed(0)} KiB <= ${(memtableBudget / 1024).toFixed(0)} KiB over ${statsSamples} samples`);
    const diskBudget = CONFIG.diskCacheBytes + 8 * MiB;
    t.ok(maxDisk <= diskBudget, `the local folder stayed within diskCacheBytes + 8 MiB: max ${(maxDisk / MiB).toFixed(1)} MiB`);
    if (measure) {
      const connections = WRITERS + 1;
      const rss = daemonRssBound(CONFIG, baselineRss, connections);
      t.comment(`RSS: idle ${(baselineRss / MiB).toFixed(0)} MiB, max ${(sampler.maxRss / MiB).toFixed(0)} MiB (bound ${(rss / MiB).toFixed(0)} MiB); fds: idle ${baselineFds}, max ${sampler.maxFds}`);
      t.ok(sampler.maxRss <= rss, `RSS stayed under the bound (${(sampler.maxRss / MiB).toFixed(0)} <= ${(rss / MiB).toFixed(0)} MiB)`);
      // Each log segment write in flight holds one file (a temp file until it is renamed into place): with
      // the WAL, up to WAL_MAX_IN_FLIGHT per shard while the primary is slow.
      const walFiles = durability === 'wal' ? CONFIG.shards * WAL_MAX_IN_FLIGHT : 0;
      const fdBudget = baselineFds + connections + walFiles + 64;
      t.ok(sampler.maxFds <= fdBudget, `open file descriptors stayed bounded (${sampler.maxFds} <= idle + connections + ${walFiles} log writes + 64 = ${fdBudget})`);
    } else {
      t.comment('!!! /proc is not readable: RSS and file descriptors are NOT checked !!!');
    }

    // Every acknowledged write is readable (a seeded sample of each writer's keys).
    const r = root.fork();
    let checked = 0;
    let wrong = 0;
    for (const keys of acked) {
      for (let i = 0; i < Math.min(25, keys.length); i++) {
        const key = keys[r.int(keys.length)]!;
        const v = await observer.get(key);
        checked++;
        if (v === undefined || v.length !== VALUE_BYTES) wrong++;
      }
    }
    t.equal(wrong, 0, `${checked} sampled acknowledged writes read back`);
    await Promise.all(clients.map((c) => c.close()));
    await observer.close();
    t.equal(d.child.exitCode, null, 'the daemon is still running');
    t.equal(await stopDaemon(d), 0, 'graceful stop: exit 0');
  });
}
