/**
 * One rewrite pool per process: a shard worker thread (workers/shard-worker.ts) does not start a pool of
 * its own; it relays its pool jobs over a dedicated MessagePort to the main thread, which runs them on the
 * process pool (rewrite-executor.ts `runOnProcessPool`) and sends the reply back.
 *
 * Messages: thread → main `{ id, job }` (the job's port transferred; its task cloned, a memtable image's
 * shared memory shared);
 * main → thread `{ id, reply }`.
 */
import type { MessagePort, Transferable } from 'node:worker_threads';
import { threadId } from 'node:worker_threads';
import { runOnProcessPool, toWireError, type PoolJob, type PoolReply, type PoolRunner } from './rewrite-executor.js';

/** Main thread: serves one shard thread's relayed jobs until the port closes. Does not keep the process alive. */
export function serveRewriteRelay(port: MessagePort): void {
  port.on('message', (m: { id: number; job: PoolJob }) => {
    const transfer: Transferable[] = [m.job.port];
    runOnProcessPool(m.job, transfer).then(
      (reply) => port.postMessage({ id: m.id, reply }),
      (e: unknown) => port.postMessage({ id: m.id, reply: { error: toWireError(e), threadId } satisfies PoolReply }),
    );
  });
  port.unref();
}

/** Shard thread: a PoolRunner that sends jobs to the main thread. */
export function relayRunner(port: MessagePort): PoolRunner {
  let nextId = 0;
  const waiting = new Map<number, (reply: PoolReply) => void>();
  port.on('message', (m: { id: number; reply: PoolReply }) => {
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    w?.(m.reply);
    if (waiting.size === 0) port.unref();
  });
  port.unref();
  return (job, transferList) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      port.ref(); // a job in flight keeps the thread alive until its reply
      port.postMessage({ id, job }, transferList as never);
    });
}
