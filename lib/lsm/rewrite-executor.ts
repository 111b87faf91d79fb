/**
 * Scheduling of rewrite CPU work: a shared piscina pool of worker threads (default), or inline on the
 * calling thread (compactionWorkers: 0 — deterministic tests, tiny stores). One pool per thread count per
 * process, shared by every store (and reopen) so threads start once; idle threads exit after a timeout and
 * never keep the process alive.
 */
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { rewrite, type RewriteResult, type RewriteTask } from './compaction-rewrite.js';

export interface RewriteExecutor {
  run(task: RewriteTask): Promise<RewriteResult>;
  release(): Promise<void>;
}

const workerFile = fileURLToPath(new URL('../../workers/compaction-worker.js', import.meta.url));

const pools = new Map<number, Piscina>();

class PoolExecutor implements RewriteExecutor {
  constructor(private readonly pool: Piscina) {}

  async run(task: RewriteTask): Promise<RewriteResult> {
    const transferList: ArrayBuffer[] = [];
    for (const run of task.runs) {
      for (const src of run) {
        const b = src.bytes;
        if (b.buffer instanceof ArrayBuffer && b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && !transferList.includes(b.buffer)) {
          transferList.push(b.buffer);
        }
      }
    }
    return (await this.pool.run(task, { transferList })) as RewriteResult;
  }

  async release(): Promise<void> {
    // The pool is process-wide; its idle threads time out on their own.
  }
}

const inline: RewriteExecutor = {
  run: (task) => Promise.resolve().then(() => rewrite(task)),
  release: () => Promise.resolve(),
};

export function createRewriteExecutor(threads: number): RewriteExecutor {
  if (threads <= 0) return inline;
  let pool = pools.get(threads);
  if (pool === undefined) {
    // execArgv: [] — workers must not inherit loaders or inspector flags of the host process.
    pool = new Piscina({ filename: workerFile, minThreads: 0, maxThreads: threads, idleTimeout: 5_000, execArgv: [] });
    pools.set(threads, pool);
  }
  return new PoolExecutor(pool);
}
