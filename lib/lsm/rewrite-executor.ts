/**
 * Scheduling of rewrite CPU work: a shared piscina pool of worker threads (default), or inline on the
 * calling thread (compactionWorkers: 0 — deterministic tests, tiny stores). Pools are shared per thread
 * count within a process, so many stores (or shards) do not each spawn their own threads.
 */
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { rewrite, type RewriteResult, type RewriteTask } from './compaction-rewrite.js';

export interface RewriteExecutor {
  run(task: RewriteTask): Promise<RewriteResult>;
  release(): Promise<void>;
}

const workerFile = fileURLToPath(new URL('../../workers/compaction-worker.js', import.meta.url));

interface SharedPool {
  pool: Piscina;
  users: number;
}
const pools = new Map<number, SharedPool>();

class PoolExecutor implements RewriteExecutor {
  private released = false;
  constructor(
    private readonly threads: number,
    private readonly shared: SharedPool,
  ) {}

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
    return (await this.shared.pool.run(task, { transferList })) as RewriteResult;
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (--this.shared.users === 0) {
      pools.delete(this.threads);
      await this.shared.pool.destroy();
    }
  }
}

const inline: RewriteExecutor = {
  run: (task) => Promise.resolve().then(() => rewrite(task)),
  release: () => Promise.resolve(),
};

export function createRewriteExecutor(threads: number): RewriteExecutor {
  if (threads <= 0) return inline;
  let shared = pools.get(threads);
  if (shared === undefined) {
    shared = { pool: new Piscina({ filename: workerFile, minThreads: 1, maxThreads: threads, idleTimeout: 30_000 }), users: 0 };
    pools.set(threads, shared);
  }
  shared.users++;
  return new PoolExecutor(threads, shared);
}
