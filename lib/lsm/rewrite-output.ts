/**
 * Streaming outputs of a rewrite: each output SST is uploaded with `putStream` while it is being built,
 * so a finished data block waits in memory only until the backend takes it, never for the whole file.
 *
 * The builder's finished blocks are shipped in chunks of `chunkBytes`, cut at multiples of OUTPUT_ALIGN
 * from the start of the file (so disk-cache admission of a chunk covers whole pages). Chunks queued for
 * the backend, across every output of one rewrite, are bounded by one `ByteBudget`: the producer waits
 * when the backend is slower than the merge.
 */
import type { Compression, Entry } from '../sst/entry.js';
import { SstBuilder, type SstFileInfo } from '../sst/builder.js';
import type { ObjectStore } from '../store/object-store.js';
import { sstPath } from '../store/paths.js';

/** Output chunks start at multiples of this (the disk cache's default page size). */
export const OUTPUT_ALIGN = 64 * 1024;

/** A byte budget shared by the output queues of one rewrite. */
export class ByteBudget {
  private used = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly limit: number) {}

  /** Waits until `n` more bytes fit (a chunk larger than the limit is admitted when nothing else is held). */
  async acquire(n: number): Promise<void> {
    while (this.used > 0 && this.used + n > this.limit) await new Promise<void>((resolve) => this.waiters.push(resolve));
    this.used += n;
  }

  release(n: number): void {
    if (n === 0) return;
    this.used -= n;
    const w = this.waiters;
    this.waiters = [];
    for (const wake of w) wake();
  }
}

/**
 * A bounded queue of chunks from the producer (the merge) to one `putStream` consumer. A chunk's bytes
 * count against the budget from `push` until the consumer asks for the next chunk (by then the backend
 * has written or copied it). `fail` wakes a waiting producer with the consumer's error.
 */
export class ChunkChannel implements AsyncIterable<Uint8Array> {
  private readonly queue: Uint8Array[] = [];
  private queued = 0;
  private closed = false;
  private error: unknown;
  private wake: (() => void) | undefined;

  constructor(private readonly budget: ByteBudget) {}

  async push(chunk: Uint8Array): Promise<void> {
    if (this.error !== undefined) throw this.error;
    await this.budget.acquire(chunk.length);
    if (this.error !== undefined) {
      this.budget.release(chunk.length);
      throw this.error;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.signal();
  }

  close(): void {
    this.closed = true;
    this.signal();
  }

  /** The consumer failed: drop what is queued; later pushes reject with `error`. */
  fail(error: unknown): void {
    this.error ??= error;
    this.budget.release(this.queued);
    this.queued = 0;
    this.queue.length = 0;
    this.signal();
  }

  private signal(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    let held = 0;
    try {
      for (;;) {
        this.budget.release(held);
        held = 0;
        while (this.queue.length === 0 && !this.closed && this.error === undefined) {
          await new Promise<void>((resolve) => (this.wake = resolve));
        }
        if (this.error !== undefined) throw this.error;
        const chunk = this.queue.shift();
        if (chunk === undefined) return;
        this.queued -= chunk.length;
        held = chunk.length;
        yield chunk;
      }
    } finally {
      this.budget.release(held);
    }
  }
}

export interface OutputSink {
  store: ObjectStore;
  /** A new, pinned output file id. */
  allocate(): Promise<string>;
  /** Optional: admit bytes at `offset` of a new output to a local cache as they are written. */
  admit?(fileId: string, offset: number, bytes: Uint8Array): Promise<void>;
}

export interface OutputOptions {
  blockBytes: number;
  compression: Compression;
  chunkBytes: number;
}

/** One output SST being built and uploaded at once. */
export class OutputFile {
  private readonly builder: SstBuilder;
  private readonly channel: ChunkChannel;
  private readonly upload: Promise<void>;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private offset = 0;

  private constructor(
    readonly fileId: string,
    private readonly sink: OutputSink,
    private readonly options: OutputOptions,
    budget: ByteBudget,
  ) {
    this.builder = new SstBuilder({ blockBytes: options.blockBytes, compression: options.compression });
    this.channel = new ChunkChannel(budget);
    this.upload = sink.store.putStream(sstPath(fileId), this.channel, { noReplay: true });
    // A failed upload stops the producer at its next push (it would otherwise wait for room forever).
    this.upload.catch((e: unknown) => this.channel.fail(e));
  }

  static async create(sink: OutputSink, options: OutputOptions, budget: ByteBudget): Promise<OutputFile> {
    return new OutputFile(await sink.allocate(), sink, options, budget);
  }

  estimatedBytes(): number {
    return this.builder.estimatedBytes();
  }

  get entryCount(): number {
    return this.builder.entryCount;
  }

  /**
   * Adds an entry (REQUIRES keys strictly increasing); ships finished blocks once a chunk's worth is ready.
   * Returns a promise only when it ships (the caller awaits it), so most entries cost no await.
   */
  add(e: Entry): Promise<void> | undefined {
    this.builder.add(e);
    if (this.builder.pendingBytes + this.pendingBytes < this.options.chunkBytes) return undefined; // no await per entry
    this.take(this.builder.takeChunks());
    return this.ship(false);
  }

  /** Completes the file; PROMISES its info once the whole object is stored. */
  async finish(): Promise<{ fileId: string; info: SstFileInfo }> {
    const { chunks, info } = this.builder.finishChunks();
    this.take(chunks);
    await this.ship(true);
    this.channel.close();
    await this.upload;
    return { fileId: this.fileId, info };
  }

  /** Stops the upload (a failed rewrite): nothing becomes visible. */
  abandon(error: unknown): Promise<void> {
    this.channel.fail(error);
    return this.upload.catch(() => undefined);
  }

  private take(chunks: Buffer[]): void {
    for (const c of chunks) {
      this.pending.push(c);
      this.pendingBytes += c.length;
    }
  }

  /** Pushes the pending bytes: all of them at the end, else the largest OUTPUT_ALIGN multiple. */
  private async ship(last: boolean): Promise<void> {
    const n = last ? this.pendingBytes : this.pendingBytes - (this.pendingBytes % OUTPUT_ALIGN);
    if (n === 0) return;
    const all = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    const chunk = all.subarray(0, n);
    const rest = all.subarray(n);
    this.pending = rest.length > 0 ? [Buffer.from(rest)] : []; // a copy: do not pin `all` past its push
    this.pendingBytes = rest.length;
    await this.channel.push(chunk);
    if (this.sink.admit) await this.sink.admit(this.fileId, this.offset, chunk);
    this.offset += n;
  }
}
