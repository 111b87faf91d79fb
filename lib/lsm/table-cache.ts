/**
 * Open table readers, one per live SST file. A reader pins the file's index and bloom filter (fetched with
 * one ranged GET when the file is opened) for as long as the file is in some live version. Data blocks go
 * through the shared block cache; file bytes come through the disk cache (when enabled) from primary
 * storage, with remote reads bounded by the in-flight budget.
 */
import type { BlockCache } from '../cache/block-cache.js';
import type { ByteSource } from '../cache/byte-source.js';
import type { DiskCache } from '../cache/disk-cache.js';
import { FloeError, corruption } from '../errors.js';
import { SstReader } from '../sst/reader.js';
import type { ObjectStore } from '../store/object-store.js';
import { sstPath } from '../store/paths.js';
import type { Semaphore } from '../util/semaphore.js';
import type { FileMeta } from './file-meta.js';

/**
 * Exact-length reads of one object, bounded by the in-flight budget. Synchronous reads (when the store has
 * them) bypass the budget: they hold nothing across a yield, so they never add to the requests in flight.
 */
export class RemoteFileSource implements ByteSource {
  readonly readIntoSync?: (offset: number, length: number, dest: Uint8Array) => boolean;

  constructor(
    private readonly store: ObjectStore,
    private readonly path: string,
    private readonly inflight: Semaphore,
  ) {
    const sync = store.readIntoSync;
    // A short read is not served here: `read` decides whether it is transient or a truncated object.
    if (sync !== undefined) this.readIntoSync = (offset, length, dest) => sync.call(store, path, offset, length, dest) === length;
  }

  async read(offset: number, length: number, options?: { signal?: AbortSignal }): Promise<Uint8Array> {
    // A short body is transient (a dropped connection mid-response): read again a few times. Failures of
    // the request itself were already retried by the store's retry layer.
    const lengths = new Set<number>();
    for (let attempt = 1; ; attempt++) {
      await this.inflight.acquire();
      let bytes: Uint8Array;
      try {
        bytes = await this.store.get(this.path, { offset, length }, options?.signal ? { signal: options.signal } : undefined);
      } finally {
        this.inflight.release();
      }
      if (bytes.length === length) return bytes;
      lengths.add(bytes.length);
      if (attempt >= SHORT_READ_ATTEMPTS && lengths.size === 1) {
        // The same short length every time: the object itself is shorter than the manifest says.
        throw corruption(`${this.store.uri}/${this.path}`, `object is truncated: ${bytes.length} bytes readable at ${offset}, ${length} expected`);
      }
      if (attempt >= SHORT_READ_ATTEMPTS) {
        throw new FloeError(
          'IO',
          `short read of ${this.store.uri}/${this.path}: asked ${length} bytes at ${offset}, got ${bytes.length} (${attempt} attempts). ` +
            'The object is truncated or the store keeps returning partial bodies; check the object and the store.',
          { retryable: true, path: this.path },
        );
      }
    }
  }
}

const SHORT_READ_ATTEMPTS = 4;

export class TableCache {
  private readonly readers = new Map<string, SstReader>();
  private readonly opening = new Map<string, Promise<SstReader>>();

  constructor(
    private readonly store: ObjectStore,
    private readonly inflight: Semaphore,
    private readonly blockCache: BlockCache | undefined,
    private readonly diskCache: DiskCache | undefined,
  ) {}

  /** The open reader for a file, if already open (sync: the hot read path). */
  peek(fileId: string): SstReader | undefined {
    return this.readers.get(fileId);
  }

  /** Opens (once) and returns the reader for a file. Concurrent callers share one open. */
  get(file: FileMeta): SstReader | Promise<SstReader> {
    const r = this.readers.get(file.fileId);
    if (r !== undefined) return r;
    let p = this.opening.get(file.fileId);
    if (p === undefined) {
      p = this.open(file).finally(() => this.opening.delete(file.fileId));
      this.opening.set(file.fileId, p);
    }
    return p;
  }

  /** The byte source of a file: disk cache (if any) in front of primary storage. */
  source(file: { fileId: string; size: number }): ByteSource {
    const remote = new RemoteFileSource(this.store, sstPath(file.fileId), this.inflight);
    return this.diskCache ? this.diskCache.source(file.fileId, file.size, remote) : remote;
  }

  private async open(file: FileMeta): Promise<SstReader> {
    const reader = await SstReader.open({
      path: `${this.store.uri}/${sstPath(file.fileId)}`,
      fileId: file.fileId,
      size: file.size,
      metaOffset: file.metaOffset,
      source: this.source(file),
      ...(this.blockCache ? { blockCache: this.blockCache } : {}),
    });
    this.readers.set(file.fileId, reader);
    return reader;
  }

  /** Drops readers of files no longer in any live version. */
  retain(liveFileIds: Set<string>): void {
    for (const id of this.readers.keys()) if (!liveFileIds.has(id)) this.readers.delete(id);
  }
}
