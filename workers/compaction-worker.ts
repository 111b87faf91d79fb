/**
 * piscina worker: runs flush and compaction rewrites (lib/lsm/rewrite-pool-task.ts) off the event loop,
 * reading inputs from and writing outputs to primary storage itself. A flush's memtable image arrives in
 * shared memory (lib/lsm/memtable-image.ts); the result is plain data (file ids and infos).
 */
import { runPoolJob } from '../lib/lsm/rewrite-pool-task.js';
import type { PoolJob, PoolReply } from '../lib/lsm/rewrite-executor.js';

export default function run(job: PoolJob): Promise<PoolReply> {
  return runPoolJob(job);
}
