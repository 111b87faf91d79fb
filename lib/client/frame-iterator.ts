/**
 * Iterators and snapshots over protocol frames (protocol version 2; socket client and in-process sharded
 * store), with the embedded store's API shapes (lib/api.ts FloeIterator, Snapshot).
 *
 * Ids are chosen here, so `iterator()` and `snapshot()` return at once: their ITERATOR / SNAPSHOT frame is
 * sent on the call (the view is taken at that point of the connection's order, as the embedded store takes
 * it at the call) and later frames naming them are pipelined behind it. A failed open is reported by the
 * first use. `seek()` is synchronous as in the embedded API: the target travels with the next
 * ITERATOR_NEXT. Pages are read on demand (next() reads up to NEXT_AHEAD entries and serves the rest from
 * memory); the daemon says when the range is exhausted, so the end costs no extra round trip.
 * An iterator or snapshot that becomes unreachable without close()/release() is closed on the daemon after
 * garbage collection (FinalizationRegistry); closing the connection closes all of them.
 */
import type { FloeIterator, KeyGroupOption, Snapshot } from '../api.js';
import { FloeError } from '../errors.js';
import { checkBytesArg, DEFAULT_KG, kgField } from '../protocol/protocol.js';
import type { SeekTarget, WireEntry } from '../protocol/protocol-v2.js';
import { IteratorCalls } from '../iterator-calls.js';

/** Entries one next() asks for when its buffer is empty. */
const NEXT_AHEAD = 64;
/** Entries one request of all() asks for. */
const ALL_PAGE = 1024;

/** What an iterator needs of its store; must not reference the iterator (it may become unreachable). */
export interface IteratorOps {
  /** Resolves when the daemon opened the iterator (rejects with the reason it could not). */
  opened: Promise<void>;
  page(maxEntries: number, seek: SeekTarget | undefined): Promise<{ done: boolean; entries: WireEntry[] }>;
  close(): Promise<void>;
  /** Throws CLOSED once the store closed (entries read ahead are then not served, as embedded). */
  check(): void;
}

const closeOnGc = new FinalizationRegistry<IteratorOps>((ops) => {
  ops.close().catch(() => undefined);
});
const releaseOnGc = new FinalizationRegistry<() => void>((release) => release());

export class FrameIterator<E> extends IteratorCalls<E> implements FloeIterator<E> {
  private buffer: WireEntry[] = [];
  private at = 0;
  /** The daemon said the range is exhausted (until the next seek). */
  private drained = false;
  private seekTarget: SeekTarget | undefined;

  constructor(
    private readonly ops: IteratorOps,
    limit: number,
    private readonly keyGroup: number | undefined,
  ) {
    super(limit);
    closeOnGc.register(this, ops, this);
  }

  seek(target: Uint8Array | string, options?: KeyGroupOption): void {
    this.checkSeekCall();
    const key = checkBytesArg(target, 'seek target');
    this.checkSeekGroup(options, this.keyGroup);
    const kg = options?.keyGroup === undefined ? DEFAULT_KG : kgField(options.keyGroup, 'seek(): ');
    this.seekTarget = { keyGroup: kg, key };
    this.buffer = [];
    this.at = 0;
    this.drained = false;
  }

  protected async readOne(): Promise<E | undefined> {
    if (this.at >= this.buffer.length) await this.fill(NEXT_AHEAD);
    if (this.at >= this.buffer.length) return undefined;
    return this.buffer[this.at++] as E;
  }

  protected async readMany(room: number): Promise<E[]> {
    const out: E[] = [];
    while (out.length < room) {
      if (this.at >= this.buffer.length) {
        const want = room - out.length;
        await this.fill(Number.isFinite(want) ? Math.min(want, 0xffffffff) : ALL_PAGE);
        if (this.at >= this.buffer.length) break;
      }
      const take = Math.min(room - out.length, this.buffer.length - this.at);
      for (let i = 0; i < take; i++) out.push(this.buffer[this.at++] as E);
    }
    return out;
  }

  protected checkSource(): void {
    this.ops.check();
  }

  protected async release(): Promise<void> {
    this.buffer = [];
    closeOnGc.unregister(this);
    await this.ops.close();
  }

  /** Reads the next page into the buffer (nothing once the daemon said the range is exhausted). */
  private async fill(maxEntries: number): Promise<void> {
    if (this.drained) return;
    await this.ops.opened;
    const seek = this.seekTarget;
    this.seekTarget = undefined;
    const page = await this.ops.page(Math.min(maxEntries, this.limit - this.count), seek);
    this.buffer = page.entries;
    this.at = 0;
    this.drained = page.done;
  }
}

/** A snapshot over frames: `id` names it in GET_AT / MULTI_GET_AT / ITERATOR frames of its connection. */
export class FrameSnapshot implements Snapshot {
  /** Not known over the protocol (a sharded snapshot has one sequence per shard). */
  readonly sequence = 0;
  private releasing = false;
  /** The open's failure, if it failed (observed, so an unused failed snapshot is not an unhandled rejection). */
  readonly failure: Promise<FloeError | undefined>;

  constructor(
    /** The store that took it (a snapshot of another store is refused). */
    readonly owner: object,
    readonly id: number,
    opened: Promise<void>,
    private readonly onRelease: () => void,
  ) {
    this.failure = opened.then(
      () => undefined,
      (e: unknown) => (e instanceof FloeError ? e : new FloeError('IO', String(e))),
    );
    releaseOnGc.register(this, onRelease, this);
  }

  get released(): boolean {
    return this.releasing;
  }

  release(): void {
    if (this.releasing) return;
    this.releasing = true;
    releaseOnGc.unregister(this);
    this.onRelease();
  }

  /** REQUIRES nothing; throws INVALID_ARGUMENT for a released or foreign snapshot. */
  idFor(owner: object): number {
    if (this.owner !== owner) {
      throw new FloeError('INVALID_ARGUMENT', 'this snapshot was taken on another store; take one with snapshot() on the store you read');
    }
    if (this.releasing) throw new FloeError('INVALID_ARGUMENT', 'this snapshot was released; take a new one with snapshot()');
    return this.id;
  }
}
