/**
 * The pool-thread side of a rewrite (run by workers/compaction-worker.ts): opens the primary storage from
 * the job's StoreSpec (for the job), reads inputs and writes outputs directly, and asks the
 * owning thread for output file ids over the job's port.
 */
import { threadId, type MessagePort } from 'node:worker_threads';
import { FloeError } from '../errors.js';
import type { ObjectStoreMetricsSnapshot } from '../store/metrics.js';
import { openObjectStore, type OpenedObjectStore } from '../store/open.js';
import { sstPath } from '../store/paths.js';
import { Semaphore } from '../util/semaphore.js';
import { rewrite } from './compaction-rewrite.js';
import { fromWireError, toWireError, type PoolJob, type PoolReply, type StoreSpec, type WireError } from './rewrite-executor.js';
import { RemoteFileSource } from './table-cache.js';

/**
 * Opens the primary storage for one job and closes it after: a store kept open across jobs would keep
 * read handles (file://) of input files that are deleted once compacted, holding their disk space.
 */
function openFor(spec: StoreSpec): Promise<OpenedObjectStore> {
  // No conditional-write probe: the owning store probed this endpoint at its open, and a rewrite writes
  // only new, uniquely named SSTs (nothing fencing-relevant).
  return openObjectStore(spec.uri, { ...(spec.s3 ? { s3: spec.s3 } : {}), ...(spec.hdfs ? { hdfs: spec.hdfs } : {}), skipProbe: true });
}

/** Output file ids from the owning thread, one request at a time per job. */
class PortAllocator {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (id: string) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: { id: number; fileId?: string; error?: WireError }) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.fileId !== undefined) w.resolve(m.fileId);
      else w.reject(m.error ? fromWireError(m.error) : new FloeError('IO', 'internal: output file id request answered without an id'));
    });
    // The owning thread went away (its store closed or its thread died): nobody will answer.
    port.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) w.reject(gone());
      this.waiting.clear();
    });
  }

  allocate(): Promise<string> {
    if (this.closed) return Promise.reject(gone());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.port.postMessage({ id });
    });
  }
}

const gone = (): FloeError => new FloeError('CLOSED', 'the store that started this rewrite is gone; the rewrite is abandoned');

/** Runs one pool job. PROMISES a reply (errors are in it, as plain data), and closes the job's port. */
export async function runPoolJob(job: PoolJob): Promise<PoolReply> {
  let opened: OpenedObjectStore | undefined;
  let before: ObjectStoreMetricsSnapshot | undefined;
  try {
    opened = await openFor(job.spec);
    before = opened.metrics.snapshot();
    const store = opened.store;
    const allocator = new PortAllocator(job.port);
    const inflight = new Semaphore(64);
    const result = await rewrite(job.task, {
      store,
      allocate: () => allocator.allocate(),
      source: (f) => new RemoteFileSource(store, sstPath(f.fileId), inflight),
      describe: (fileId) => `${store.uri}/${sstPath(fileId)}`,
    });
    return { result, io: opened.metrics.since(before), threadId };
  } catch (e) {
    return { error: toWireError(e), ...(opened && before ? { io: opened.metrics.since(before) } : {}), threadId };
  } finally {
    job.port.close();
    await opened?.store.close().catch(() => undefined);
  }
}
