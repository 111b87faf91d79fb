/**
 * Bounded scans without a key group (`scan({ prefix })`): cost when few key groups hold data (sparse:
 * 32768 key groups, data in 3) and when all do (dense: 128 key groups). Primary storage is mem:// (no
 * latency): this measures the engine's work, not the store's. Prints one line per case: the median time
 * of a scan, the entries it returned and the per-group range scans it ran (when the engine counts them).
 *
 *   node dist/bench/scan-groups.js [--scans N]
 */
import { performance } from 'node:perf_hooks';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { Random } from '../lib/util/random.js';

interface Case {
  name: string;
  maxKeyGroups: number;
  groups: number[];
  keysPerGroup: number;
}

const CASES: Case[] = [
  { name: 'sparse: 3 of 32768 key groups', maxKeyGroups: 32768, groups: [5, 16000, 32767], keysPerGroup: 2000 },
  { name: 'dense: 128 of 128 key groups', maxKeyGroups: 128, groups: Array.from({ length: 128 }, (_, i) => i), keysPerGroup: 200 },
];

async function build(c: Case, n: number): Promise<LsmStore> {
  const store = await openLsmStore({ primary: `mem://bench-scan-groups-${process.pid}-${n}`, maxKeyGroups: c.maxKeyGroups, compactionWorkers: 0 });
  const r = new Random(42);
  const value = r.bytes(100);
  // 10 prefixes; most data flushed and compacted, the last tenth left in the memtable.
  const total = c.groups.length * c.keysPerGroup;
  for (let i = 0; i < total; i++) {
    const kg = c.groups[i % c.groups.length]!;
    await store.put(`p${i % 10}/${i.toString().padStart(8, '0')}`, value, { keyGroup: kg });
    if (i === Math.floor(total * 0.9)) {
      await store.flush();
      await store.compactUntilIdle();
    }
  }
  return store;
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--scans');
  const scans = at > 0 ? Number(process.argv[at + 1]) : 50;
  for (const [n, c] of CASES.entries()) {
    const store = await build(c, n);
    const internals = store.internals() as { scanRanges?: () => number };
    const times: number[] = [];
    let entries = 0;
    let ranges = 0;
    for (let i = 0; i < scans; i++) {
      const before = internals.scanRanges?.() ?? 0;
      const t0 = performance.now();
      entries = 0;
      for await (const _ of store.scan({ prefix: `p${i % 10}/` })) entries++;
      times.push(performance.now() - t0);
      ranges = (internals.scanRanges?.() ?? 0) - before;
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    console.log(`${c.name}: median ${median.toFixed(2)} ms per scan of ${entries} entries, ${internals.scanRanges ? ranges : 'n/a'} group range scans`);
    await store.close();
  }
}

await main();
