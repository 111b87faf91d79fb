/**
 * The pool-thread side of a rewrite (run by workers/compaction-worker.ts): opens the primary storage from
 * the job's StoreSpec (for the job), reads inputs and writes outputs directly, and asks the
 * owning thread for output file ids over the job's port. When the owner has a disk cache, every output
 * chunk is also sent back over the port and admitted there (write-through, as an inline rewrite does):
 * a table just written is the hottest data, and without it each of its first reads would be a remote GET.
 */
import { threadId, type MessagePort } from 'node:worker_threads';
import { FloeError } from '../errors.js';
import type { ObjectStoreMetricsSnapshot } from '../store/metrics.js';
import { FaultInjectingObjectStore } from '../store/faults.js';
import type { ObjectStore } from '../store/object-store.js';
import { openObjectStore, type OpenedObjectStore } from '../store/open.js';
import { sstPath } from '../store/paths.js';
import { Semaphore } from '../util/semaphore.js';
import { rewrite } from './compaction-rewrite.js';
import { fromWireError, toWireError, type PoolJob, type PoolReply, type PoolRequest, type StoreSpec, type WireError } from './rewrite-executor.js';
import { RemoteFileSource } from './table-cache.js';

/**
 * Opens the primary storage for one job and closes it after: a store kept open across jobs would keep
 * read handles (file://) of input files that are deleted once compacted, holding their disk space.
 */
function openFor(spec: StoreSpec): Promise<OpenedObjectStore> {
  // No conditional-write probe: the owning store probed this endpoint at its open, and a rewrite writes
  // only new, uniquely named SSTs (nothing fencing-relevant).
  const latency = spec.latencyMs;
  return openObjectStore(spec.uri, {
    ...(spec.s3 ? { s3: spec.s3 } : {}),
    ...(spec.hdfs ? { hdfs: spec.hdfs } : {}),
    ...(latency !== undefined ? { inject: (backend: ObjectStore) => new FaultInjectingObjectStore(backend, { latency, seed: 1 }) } : {}),
    skipProbe: true,
  });
}

/**
 * The pool thread's requests to the owning thread over the job's port (PoolJob): output file ids, and
 * output bytes for the owner's disk cache. One answer per request, matched by id.
 */
class OwnerPort {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (fileId: string | undefined) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(private readonly port: MessagePort) {
    port.on('message', (m: { id: number; fileId?: string; error?: WireError }) => {
      const w = this.waiting.get(m.id);
      if (w === undefined) return;
      this.waiting.delete(m.id);
      if (m.error !== undefined) w.reject(fromWireError(m.error));
      else w.resolve(m.fileId);
    });
    // The owning thread went away (its store closed or its thread died): nobody will answer.
    port.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.values()) w.reject(gone());
      this.waiting.clear();
    });
  }

  async allocate(): Promise<string> {
    const fileId = await this.request({}, []);
    if (fileId === undefined) throw new FloeError('IO', 'internal: output file id request answered without an id');
    return fileId;
  }

  /**
   * Sends a copy of `bytes` (at `offset` of output `fileId`) to the owner's disk cache; resolves once the
   * owner has written it. REQUIRES: `fileId` came from allocate() of this job.
   */
  async admit(fileId: string, offset: number, bytes: Uint8Array): Promise<void> {
    // A copy, moved: the chunk itself is still queued for the upload.
    const copy = new Uint8Array(bytes);
    await this.request({ admit: { fileId, offset, bytes: copy } }, [copy.buffer]);
  }

  private request(body: Omit<PoolRequest, 'id'>, transfer: ArrayBuffer[]): Promise<string | undefined> {
    if (this.closed) return Promise.reject(gone());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.port.postMessage({ id, ...body } satisfies PoolRequest, transfer);
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
    const owner = new OwnerPort(job.port);
    const inflight = new Semaphore(64);
    const result = await rewrite(job.task, {
      store,
      allocate: () => owner.allocate(),
      ...(job.admit === true ? { admit: (fileId: string, offset: number, bytes: Uint8Array) => owner.admit(fileId, offset, bytes) } : {}),
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
