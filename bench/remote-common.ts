/**
 * What the remote benchmark's modules share: its fixed settings, the backends and workloads, the record
 * types of its report's details, and the 10 ms wrapper every store of the benchmark reads through.
 * The benchmark itself and its design: bench/remote.ts.
 */
import { defaults } from '../lib/options.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import type { DaemonColdRun } from './remote-daemon.js';
import type { SlateDbConfig } from './slatedb-peer.js';
import { ObservedObjectStore } from './workload.js';

export const MiB = 2 ** 20;
export const VALUE_BYTES = 100;
export const LATENCY_MS = 10;
/**
 * The in-flight budget C (readConcurrency): Floe's default for s3:// and hdfs:// primaries (256, also given
 * to the mem:// + 10 ms backend, which stands in for one), or BENCH_REMOTE_READ_CONCURRENCY (marks the
 * report experimental).
 */
export const READ_CONCURRENCY = Number(process.env.BENCH_REMOTE_READ_CONCURRENCY ?? defaults.remoteReadConcurrency);
export const CALLERS = 256;
export const MGET_BATCH = 64;
export const MGET_INFLIGHT = CALLERS / MGET_BATCH;
export const DISK_CACHE_SHARE = 0.1;
export const BLOCK_CACHE_SHARE = 0.03;
export const ZIPF_S = 0.99;
export const WRITE_BATCH = 1000;
export const SEQUENCE_LENGTH = 1 << 21;
/** Untimed gets on a throwaway store before the first measured run of each backend (see warmUpProcess). */
export const WARMUP_SECONDS = 2;
/** SlateDB attempts (fresh child process each) and the grace past the run's seconds before one counts as hung. */
export const SLATEDB_ATTEMPTS = 3;
export const SLATEDB_GRACE_S = 45;
/**
 * Data block size of the remote tables (StoreOptions.blockBytes at build time): what a store on an s3:// or
 * hdfs:// primary writes by default (4 KiB, lib/options.ts), or BENCH_REMOTE_BLOCK_BYTES (e.g. 16384, Floe's
 * default for local primaries and this benchmark's block size before 2026-11-30).
 */
export const BLOCK_BYTES = Number(process.env.BENCH_REMOTE_BLOCK_BYTES ?? defaults.remoteBlockBytes);

export const BACKENDS = ['mem', 's3'] as const;
export type Backend = (typeof BACKENDS)[number];
export const LABEL: Record<Backend, string> = { mem: 'mem + 10 ms', s3: 's3 server + 10 ms' };
export const WORKLOADS = ['uniform-get', 'uniform-get-nodisk', 'uniform-multiget', 'zipf-get', 'zipf-multiget'] as const;
export type WorkloadId = (typeof WORKLOADS)[number];

/** One measured run, with everything the docs table needs. */
export interface RemoteRun {
  backend: Backend;
  workload: WorkloadId;
  phase: 'cold' | 'warm';
  keys: number;
  seconds: number;
  keysPerSec: number;
  remoteGets: number;
  remoteGetsPerSec: number;
  bytesPerGet: number;
  blockLoads: number;
  diskPageHits: number;
  diskPageMisses: number;
  /**
   * Reads that missed both caches, counted exactly: with a disk cache, its `missedReads` (reads of a block or
   * of a table's tail that found a page missing); without one, block loads + table opens (every one is a
   * read of the primary).
   */
  missesPastBoth: number;
  /** Tables opened in the run (new SST paths GET'd): footer + index + filter, once per file per store. */
  tableOpens: number;
  /** remoteGets / missesPastBoth: GETs per miss of both caches, table opens included on both sides. */
  getsPerMiss: number | null;
  /** Share of get()s answered without a remote GET: 1 − GETs / keys. */
  servedLocally: number;
  cpuUsPerGet: number | null;
  cpuUsPerKey: number;
  loadAvg1m: number;
}

export interface BareGetRun {
  backend: Backend;
  bytes: number;
  inflight: number;
  gets: number;
  seconds: number;
  getsPerSec: number;
  cpuUsPerGet: number;
  /** min(C / latency, getsPerSec) */
  limit: number;
}

export interface RemoteDetails {
  build: { seconds: number; stateBytes: number; files: number; levels: Array<{ files: number; bytes: number }> };
  copyToS3Seconds: number | null;
  diskCacheBytes: number;
  blockCacheBytes: number;
  diskUsage: Array<{ backend: Backend; workload: WorkloadId; maxAllocated: number; maxApparent: number; samples: number; budget: number }>;
  runs: RemoteRun[];
  bare: BareGetRun[];
  ratios: Array<{ backend: Backend; workload: WorkloadId; opsRatio: number; getsRatio: number }>;
  profiles: Array<{ backend: Backend; file: string; top: string }>;
  peers: SlateDbRun[];
  daemon?: DaemonColdRun;
}

/** One SlateDB run of cold uniform gets. */
export interface SlateDbRun {
  system: SlateDbConfig;
  keys: number;
  seconds: number;
  keysPerSec: number;
  /** GETs the server answered during the run ÷ keys read. */
  getsPerKey: number;
  /** Object bytes the server sent in GET responses during the run ÷ those GETs. */
  bytesPerGet: number;
  cpuUsPerKey: number;
  loadAvg1m: number;
}

export const round = (v: number, d = 2): number => Math.round(v * 10 ** d) / 10 ** d;

/**
 * The 10 ms wrapper; with `seen`, also remembers every path GET'd. A fresh store's first GET of an SST is
 * the table open (footer + index + filter in one read: SstReader.open reads before any block), so new SST
 * paths in a run = tables opened.
 */
export function latencyWrapper(backend: Backend, seed: number, seen?: Set<string>): (b: ObjectStore) => ObjectStore {
  return (b) => {
    // The S3 server injects the latency itself (so every client pays it alike); mem:// gets it here.
    const slow = backend === 's3' ? b : new FaultInjectingObjectStore(b, { latency: LATENCY_MS, seed });
    return seen === undefined ? slow : new ObservedObjectStore(slow, (r) => r.op === 'get' && seen.add(r.path));
  };
}
