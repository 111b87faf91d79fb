/**
 * The write-ahead log of one instance on primary storage: group commit, replay, fencing, truncation.
 *
 * Segments `wal/<instanceId>/<seq>.log` are immutable objects created with create-if-absent, numbered by
 * one dense sequence shared by every writer of the instance. A writer keeps at most WAL_MAX_IN_FLIGHT
 * segment uploads in flight beyond its contiguous durable prefix, and acknowledges a record only when its
 * segment and every earlier segment of its own are durable (so replay never has a gap before an
 * acknowledged record).
 *
 * Fencing without an extra round trip per commit: a new owner, after claiming its epoch, PLUGS every
 * missing sequence number up to (highest seen + WAL_MAX_IN_FLIGHT) with a fence segment (create-if-absent).
 * A stale writer's upload in flight must land on one of those numbers (it cannot get further past its
 * durable prefix), so it either landed first, and is replayed by the new owner, or collides, and the stale
 * writer fails with FENCED before acknowledging anything after it. "Highest seen" covers truncated
 * segments too: every manifest records the writer's next WAL sequence (`walSeq`).
 * Replay then applies, in sequence order, every record of the segments below the new owner's first own
 * sequence whose write sequence is above the manifest's lastSequence.
 *
 * Truncation: once a manifest makes the records of a prefix of segments redundant (their writes are in
 * SSTs), those segments are deleted, oldest first.
 */
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { parseWalPath, walPath, walPrefix } from '../store/paths.js';
import { decodeSegment, encodeSegment, recordBytes, type WalOp, type WalRecord } from './format.js';

/** Segment uploads one writer may have in flight: part of the log format (the fence plugs this many). */
export const WAL_MAX_IN_FLIGHT = 8;
/** A segment holds at most this many bytes of records (more pending records wait for the next one). */
const MAX_SEGMENT_BYTES = 4 * 2 ** 20;

export interface WalOpenResult {
  log: WalLog;
  /** Records to replay (write sequence above `afterSequence`), in order. */
  replay: WalRecord[];
  /** Where replay cut a torn tail, for the log (undefined if none). */
  tornTail?: { path: string; offset: number };
}

interface Segment {
  seq: number;
  /** Highest write sequence it holds (-1 for none: a fence plug). */
  maxSeq: number;
}

interface Pending {
  record: WalRecord;
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class WalLog {
  private nextSegment: number;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  /** Segments uploaded or being uploaded, ascending; `done` set once durable. */
  private readonly window: Array<{ seq: number; maxSeq: number; done: boolean; waiters: Pending[] }> = [];
  /** Durable segments not yet truncated, ascending. */
  private readonly live: Segment[];
  private failed: unknown;
  private truncating: Promise<void> = Promise.resolve();
  private idleWaiters: Array<() => void> = [];

  private constructor(
    private readonly store: ObjectStore,
    private readonly instanceId: string,
    private readonly epoch: number,
    first: number,
    live: Segment[],
  ) {
    this.nextSegment = first;
    this.live = live;
  }

  /**
   * Fences the previous writers' logs and reads what to replay. `walSeq`: the next WAL sequence recorded in
   * the latest manifest (0 if none); `afterSequence`: the manifest's lastSequence.
   * REQUIRES: `epoch` was just claimed (lib/lsm/fencing.ts) for this instance.
   */
  static async open(store: ObjectStore, instanceId: string, epoch: number, walSeq: number, afterSequence: number): Promise<WalOpenResult> {
    const existing = await listSegments(store, instanceId);
    const highest = Math.max(walSeq - 1, existing.length > 0 ? existing[existing.length - 1]! : 0);
    const lowest = existing.length > 0 ? Math.min(existing[0]!, Math.max(1, walSeq)) : Math.max(1, walSeq);
    const present = new Set(existing);
    const plug = encodeSegment(epoch, [], true);
    const plugs: number[] = [];
    for (let seq = lowest; seq <= highest + WAL_MAX_IN_FLIGHT; seq++) if (!present.has(seq)) plugs.push(seq);
    const plugged = await Promise.all(
      plugs.map(async (seq) => {
        try {
          await store.put(walPath(instanceId, seq), plug, { ifNoneMatch: true });
          return true;
        } catch (e) {
          if (isFloeError(e, 'ALREADY_EXISTS')) return false; // a late upload landed first: replay it
          throw e;
        }
      }),
    );
    const toRead = [...existing, ...plugs.filter((_, i) => !plugged[i])].sort((a, b) => a - b);
    const plugSet = new Set(plugs.filter((_, i) => plugged[i]));
    const live: Segment[] = [];
    const replay: WalRecord[] = [];
    let tornTail: WalOpenResult['tornTail'];
    const lastData = toRead[toRead.length - 1];
    const bodies = await Promise.all(toRead.map((seq) => store.get(walPath(instanceId, seq))));
    for (const [i, seq] of toRead.entries()) {
      const path = walPath(instanceId, seq);
      const seg = decodeSegment(bodies[i]!, `${store.uri}/${path}`, seq === lastData);
      if (seg.tornAt !== undefined) tornTail = { path: `${store.uri}/${path}`, offset: seg.tornAt };
      if (seg.epoch > epoch) {
        throw new FloeError('FENCED', `instance ${instanceId} on ${store.uri} was taken over while opening (WAL segment ${path} has epoch ${seg.epoch})`, { path });
      }
      let maxSeq = -1;
      for (const r of seg.records) {
        const last = r.firstSeq + r.ops.length - 1;
        maxSeq = Math.max(maxSeq, last);
        if (last > afterSequence) replay.push(r);
      }
      live.push({ seq, maxSeq });
    }
    for (const seq of plugSet) live.push({ seq, maxSeq: -1 });
    live.sort((a, b) => a.seq - b.seq);
    replay.sort((a, b) => a.firstSeq - b.firstSeq);
    const log = new WalLog(store, instanceId, epoch, highest + WAL_MAX_IN_FLIGHT + 1, live);
    return { log, replay, ...(tornTail ? { tornTail } : {}) };
  }

  /** The next segment sequence this writer will use (recorded in manifests as `walSeq`). */
  get nextSequence(): number {
    return this.nextSegment;
  }

  /** Bytes of records waiting for or in upload (the store stalls writers above its budget). */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /**
   * Appends one record; resolves once it and every record appended before it are durable. Rejects (and so
   * does every later append) if an upload fails, or with FENCED if a newer writer took the instance.
   */
  append(firstSeq: number, ops: WalOp[]): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    return new Promise<void>((resolve, reject) => {
      const record = { firstSeq, ops };
      const bytes = recordBytes(ops);
      this.pending.push({ record, bytes, resolve, reject });
      this.pendingBytes += bytes;
      this.pump();
    });
  }

  private pump(): void {
    // The window, not the uploads still running, is what is bounded: a writer never has a segment beyond
    // (contiguous durable prefix + WAL_MAX_IN_FLIGHT), which is what a new owner's fence plugs rely on.
    while (this.pending.length > 0 && this.window.length < WAL_MAX_IN_FLIGHT && this.failed === undefined) {
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.pending.length > 0 && (batch.length === 0 || bytes + this.pending[0]!.bytes <= MAX_SEGMENT_BYTES)) {
        const p = this.pending.shift()!;
        bytes += p.bytes;
        batch.push(p);
      }
      const seq = this.nextSegment++;
      const last = batch[batch.length - 1]!.record;
      const entry = { seq, maxSeq: last.firstSeq + last.ops.length - 1, done: false, waiters: batch };
      this.window.push(entry);
      const body = encodeSegment(this.epoch, batch.map((p) => p.record));
      this.store.put(walPath(this.instanceId, seq), body, { ifNoneMatch: true }).then(
        () => {
          entry.done = true;
          this.ackPrefix();
          this.pump();
        },
        (e: unknown) => {
          this.fail(isFloeError(e, 'ALREADY_EXISTS') ? this.fencedError(seq) : e);
        },
      );
    }
  }

  /** Acknowledges every record of the durable prefix of the window. */
  private ackPrefix(): void {
    while (this.window.length > 0 && this.window[0]!.done) {
      const entry = this.window.shift()!;
      this.live.push({ seq: entry.seq, maxSeq: entry.maxSeq });
      for (const w of entry.waiters) {
        this.pendingBytes -= w.bytes;
        w.resolve();
      }
    }
    this.notifyIfIdle();
  }

  private fencedError(seq: number): FloeError {
    return new FloeError(
      'FENCED',
      `instance ${this.instanceId} on ${this.store.uri} was taken over by another writer (its WAL fence holds segment ${seq}); ` +
        'writes since the last acknowledged one are not durable. Close this store.',
      { path: walPath(this.instanceId, seq) },
    );
  }

  /** Fails every unacknowledged record, and every later append, with `e`. */
  private fail(e: unknown): void {
    if (this.failed === undefined) this.failed = e;
    const waiting = [...this.window.flatMap((w) => w.waiters), ...this.pending];
    this.window.length = 0;
    this.pending = [];
    this.pendingBytes = 0;
    for (const w of waiting) w.reject(this.failed);
    this.notifyIfIdle();
  }

  /**
   * Deletes the oldest segments whose records all have write sequence <= `durableSequence` (made redundant
   * by a manifest). Best effort: a segment left behind is replayed and skipped on the next open.
   */
  truncate(durableSequence: number): Promise<void> {
    this.truncating = this.truncating.then(async () => {
      while (this.live.length > 0 && this.live[0]!.maxSeq <= durableSequence) {
        const seg = this.live[0]!;
        try {
          await this.store.delete(walPath(this.instanceId, seg.seq));
        } catch (e) {
          if (!isFloeError(e, 'NOT_FOUND')) return;
        }
        this.live.shift();
      }
    });
    return this.truncating;
  }

  /** Waits until no record is pending or in upload (acknowledged or failed), and for pending truncation. */
  async drain(): Promise<void> {
    if (this.window.length > 0 || this.pending.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.truncating;
  }

  private notifyIfIdle(): void {
    if (this.window.length > 0 || this.pending.length > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Sequence numbers of the instance's WAL segments, ascending. */
export async function listSegments(store: ObjectStore, instanceId: string): Promise<number[]> {
  const seqs: number[] = [];
  for (const o of await store.list(walPrefix(instanceId))) {
    const parsed = parseWalPath(o.path);
    if (parsed) seqs.push(parsed.seq);
  }
  return seqs.sort((a, b) => a - b);
}
