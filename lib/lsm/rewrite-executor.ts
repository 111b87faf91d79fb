/**
 * Where rewrite CPU work runs. One streaming rewrite (compaction-rewrite.ts) runs either
 *
 * - on the calling thread (`compactionWorkers: 0`, and always for stores another thread cannot open:
 *   mem:// stores and stores wrapped by `OpenInternals.inject` live only in the thread that made them), or
 * - in the process's piscina pool (workers/compaction-worker.ts): the pool thread opens the object store
 *   itself from the primary URI and streams inputs and outputs directly. Output file ids are allocated by
 *   the calling thread (which pins them) over a MessagePort passed with the task; the pool thread's
 *   object-store counters come back with the result and are added to the store's metrics.
 *
 * One pool per process (per thread count), created on first use, shared by every store and reopen. Shard
 * worker threads do not create pools: they hand their pool jobs to the main thread over a port
 * (rewrite-relay.ts), which runs them on this same pool. Idle pool threads exit after a timeout and never
 * keep the process alive.
 */
import { MessageChannel, type MessagePort, type Transferable } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import type { HdfsOptions, S3Options } from '../api.js';
import { FloeError, type FloeErrorCode } from '../errors.js';
import type { MetricsObjectStore, ObjectStoreMetricsSnapshot } from '../store/metrics.js';
import { rewrite, type RewriteIo, type RewriteResult, type RewriteTask } from './compaction-rewrite.js';

export interface RewriteExecutor {
  run(task: RewriteTask, io: RewriteIo): Promise<RewriteResult>;
  release(): Promise<void>;
}

/** How another thread opens the same primary storage (lib/store/open.ts). */
export interface StoreSpec {
  uri: string;
  s3?: S3Options;
  hdfs?: HdfsOptions;
  /**
   * Tests and benchmarks only (FLOE_INJECT_LATENCY_MS): the pool thread delays every primary request by
   * this many ms, as the owning thread's injected wrapper does, so a rewrite runs where it would on a
   * remote primary (the pool) and pays that primary's latency.
   */
  latencyMs?: number;
}

/**
 * A rewrite for a pool thread. Over `port` the pool thread asks the owning thread, which answers each
 * request `{ id, ... }` with `{ id }` (done), `{ id, fileId }` or `{ id, error }`:
 * - `{ id }`: allocate an output file id (answered with `fileId`);
 * - `{ id, admit: { fileId, offset, bytes } }` (only when `admit` is set): write these bytes of an output
 *   into the owning store's disk cache, as an inline rewrite does while it writes. Answered once written,
 *   so a slow local disk holds the pool thread back instead of piling chunks up in the owner's memory.
 */
export interface PoolJob {
  task: RewriteTask;
  spec: StoreSpec;
  threads: number;
  port: MessagePort;
  lane: PoolLane;
  /** The owning store has a disk cache: send output bytes back for write-through admission. */
  admit?: boolean;
}

/** A request from a pool thread to the owning thread over the job's port (see PoolJob). */
export interface PoolRequest {
  id: number;
  admit?: { fileId: string; offset: number; bytes: Uint8Array };
}

export interface WireError {
  code: FloeErrorCode;
  message: string;
  retryable: boolean;
  path?: string;
}

export interface PoolReply {
  result?: RewriteResult;
  error?: WireError;
  /** Object-store calls the pool thread made for this job. */
  io?: ObjectStoreMetricsSnapshot;
  /** The pool thread that ran the job (tests count distinct threads). */
  threadId: number;
}

/** Runs a pool job somewhere (the process pool, or relayed to the thread that owns it). */
export type PoolRunner = (job: PoolJob, transferList: Transferable[]) => Promise<PoolReply>;

export function toWireError(e: unknown): WireError {
  if (e instanceof FloeError) return e.toJSON();
  return { code: 'IO', message: `internal error in a rewrite: ${e instanceof Error ? e.message : String(e)}`, retryable: false };
}

export function fromWireError(w: WireError): FloeError {
  return new FloeError(w.code, w.message, { retryable: w.retryable, ...(w.path ? { path: w.path } : {}) });
}

/**
 * Which of the process's pools runs a rewrite. A flush has a lane of its own, so it never waits in a queue
 * behind compactions: a compaction of L0 runs for seconds (84 MB in 1.1–4.5 s measured), a flush for
 * 0.1–0.3 s, and writers stall while frozen memtables wait. A flush is the rewrite of a memtable.
 */
export type PoolLane = 'flush' | 'compaction';

export function laneOf(task: RewriteTask): PoolLane {
  return task.runs.some((run) => run.some((src) => src.kind === 'memtable')) ? 'flush' : 'compaction';
}

const workerFile = fileURLToPath(new URL('../../workers/compaction-worker.js', import.meta.url));
/** Pools by lane and thread count. */
const pools = new Map<string, Piscina>();
const poolUse = { flush: { tasks: 0, threadIds: new Set<number>() }, compaction: { tasks: 0, threadIds: new Set<number>() } };

export interface PoolStats {
  pools: number;
  tasks: number;
  threads: number;
  /** Tasks run and distinct pool threads seen, per lane. */
  lanes: Record<PoolLane, { tasks: number; threads: number }>;
}

/** This thread's pools and what ran on them (tests: shard threads must not have pools of their own). */
export function processPoolStats(): PoolStats {
  const lane = (l: PoolLane): { tasks: number; threads: number } => ({ tasks: poolUse[l].tasks, threads: poolUse[l].threadIds.size });
  const lanes = { flush: lane('flush'), compaction: lane('compaction') };
  return { pools: pools.size, tasks: lanes.flush.tasks + lanes.compaction.tasks, threads: new Set([...poolUse.flush.threadIds, ...poolUse.compaction.threadIds]).size, lanes };
}

/**
 * Runs a job on this process's pool of `job.threads` threads for its lane (so a process runs up to twice
 * `compactionWorkers` pool threads: flushes' and compactions'). Meant for the main thread.
 */
export const runOnProcessPool: PoolRunner = async (job, transferList) => {
  const key = `${job.lane}/${job.threads}`;
  let pool = pools.get(key);
  if (pool === undefined) {
    // execArgv: [] — workers must not inherit loaders or inspector flags of the host process.
    pool = new Piscina({ filename: workerFile, minThreads: 0, maxThreads: job.threads, idleTimeout: 5_000, execArgv: [] });
    pools.set(key, pool);
  }
  const reply = (await pool.run(job, { transferList: transferList as never })) as PoolReply;
  poolUse[job.lane].tasks++;
  poolUse[job.lane].threadIds.add(reply.threadId);
  return reply;
};

class PoolExecutor implements RewriteExecutor {
  constructor(
    private readonly threads: number,
    private readonly spec: StoreSpec,
    private readonly metrics: MetricsObjectStore | undefined,
    private readonly runner: PoolRunner,
  ) {}

  async run(task: RewriteTask, io: RewriteIo): Promise<RewriteResult> {
    const { port1, port2 } = new MessageChannel();
    const allocated = new Set<string>();
    port1.on('message', (m: PoolRequest) => {
      const fail = (e: unknown): void => port1.postMessage({ id: m.id, error: toWireError(e) });
      if (m.admit === undefined) {
        io.allocate().then((fileId) => {
          allocated.add(fileId);
          port1.postMessage({ id: m.id, fileId });
        }, fail);
        return;
      }
      const { fileId, offset, bytes } = m.admit;
      // Only this job's own outputs: a disk cache page is trusted by its file id.
      if (io.admit === undefined || !allocated.has(fileId)) {
        fail(new FloeError('INVALID_ARGUMENT', `internal: pool thread asked to cache bytes of ${fileId}, which is not an output of its rewrite`));
        return;
      }
      io.admit(fileId, offset, bytes).then(() => port1.postMessage({ id: m.id }), fail);
    });
    // The task is cloned, not transferred: a retried rewrite sends it again (memtable-image.ts).
    const transferList: Transferable[] = [port2];
    try {
      const job: PoolJob = { task, spec: this.spec, threads: this.threads, port: port2, lane: laneOf(task), ...(io.admit ? { admit: true } : {}) };
      const reply = await this.runner(job, transferList);
      if (reply.io) this.metrics?.absorb(reply.io);
      if (reply.error) throw fromWireError(reply.error);
      return reply.result!;
    } finally {
      port1.close();
    }
  }

  async release(): Promise<void> {
    // The pool is process-wide; its idle threads time out on their own.
  }
}

const inline: RewriteExecutor = {
  run: (task, io) => rewrite(task, io),
  release: () => Promise.resolve(),
};

export interface ExecutorTarget {
  /** How a pool thread opens the primary storage; undefined = only this thread can (mem://, injected). */
  spec: StoreSpec | undefined;
  /** The store's metrics, credited with the pool thread's calls. */
  metrics?: MetricsObjectStore;
  /** Where pool jobs go (default: this process's pool; shard threads relay them to the main thread). */
  runner?: PoolRunner;
}

export function createRewriteExecutor(threads: number, target: ExecutorTarget): RewriteExecutor {
  if (threads <= 0 || target.spec === undefined) return inline;
  return new PoolExecutor(threads, target.spec, target.metrics, target.runner ?? runOnProcessPool);
}
