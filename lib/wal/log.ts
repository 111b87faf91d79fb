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
import type { Clock } from '../util/clock.js';
import { decodeSegment, encodePlug, encodeSegment, isPlugSized, recordBytes, type DecodedSegment, type WalOp, type WalRecord } from './format.js';
import { mapBounded } from '../util/map-bounded.js';

/** Segment uploads one writer may have in flight: part of the log format (the fence plugs this many). */
export const WAL_MAX_IN_FLIGHT = 32;
/**
 * Segment reads and plug writes at once while opening. A log can hold thousands of segments (a crash loop
 * with no flush in between); opening them all at once ran out of file descriptors (EMFILE), and the
 * instance could not be reopened.
 */
const OPEN_CONCURRENCY = 64;
/** Segment deletes at once while truncating (a flush after a crash loop can make thousands redundant). */
const TRUNCATE_CONCURRENCY = 16;
/**
 * A writer acknowledges WAL records only while its lease is valid: until WAL_LEASE_MS after the last fencing
 * check it SENT that found no newer epoch. Part of the log's protocol (fence plugs rely on it).
 */
export const WAL_LEASE_MS = 10_000;
/**
 * Fence plugs are kept this long after their plug time: beyond any stale writer's lease, with margin for
 * clocks. A plug is dated by the clock of the writer that wrote it and aged by the clock of a later one, so
 * writers' clocks may disagree by up to FENCE_RETENTION_MS - WAL_LEASE_MS (20 s) without a plug going early.
 */
export const FENCE_RETENTION_MS = 3 * WAL_LEASE_MS;
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
  /** For a fence plug: its plug time (lib/wal/format.ts); it may be deleted FENCE_RETENTION_MS later. */
  plugSince?: number;
}

interface Pending {
  record: WalRecord;
  bytes: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** How the log checks that its writer still owns the instance (lib/lsm/fencing.ts checkNotFenced). */
export type FenceCheck = () => Promise<void>;

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
  /** Acknowledgements are allowed until this clock time (see "Lease" in the module comment). */
  private leaseUntil: number;
  private renewing: Promise<void> | undefined;

  private constructor(
    private readonly store: ObjectStore,
    private readonly instanceId: string,
    private readonly epoch: number,
    private readonly clock: Clock,
    private readonly fenceCheck: FenceCheck,
    first: number,
    live: Segment[],
    leaseFrom: number,
  ) {
    this.nextSegment = first;
    this.live = live;
    this.leaseUntil = leaseFrom + WAL_LEASE_MS;
  }

  /**
   * Fences the previous writers' logs and reads what to replay. From the latest manifest: `walSeq`, the
   * next WAL sequence it recorded (0 if none); `walFloor`, the floor it recorded (see floorFor; absent in
   * manifests written before floors existed); `afterSequence`, its lastSequence.
   * REQUIRES: `epoch` was just claimed (lib/lsm/fencing.ts) for this instance.
   */
  static async open(
    store: ObjectStore,
    instanceId: string,
    epoch: number,
    position: { walSeq: number; afterSequence: number; walFloor?: number },
    clock: Clock,
    fenceCheck: FenceCheck,
  ): Promise<WalOpenResult> {
    const opened = clock.now();
    const listed = await listSegmentSizes(store, instanceId);
    const existing = listed.map((s) => s.seq);
    const highest = Math.max(position.walSeq - 1, existing.length > 0 ? existing[existing.length - 1]! : 0);
    const lowest = lowestToPlug(existing, position);
    const plugs = missingBetween(existing, lowest, highest + WAL_MAX_IN_FLIGHT);
    const plugged = await writePlugs(store, instanceId, plugs, encodePlug(epoch, opened));
    // Below the floor a data segment holds only records the manifest made durable: not read, only deleted
    // by the next truncation. Plugs there are read for their plug time (how long they must stay).
    const floor = position.walFloor ?? 0;
    const redundant = listed.filter((s) => s.seq < floor && !isPlugSized(s.size)).map((s) => s.seq);
    const skipped = new Set(redundant);
    const toRead = [...existing.filter((seq) => !skipped.has(seq)), ...plugs.filter((_, i) => !plugged[i])].sort((a, b) => a - b);
    const live: Segment[] = [
      ...plugs.filter((_, i) => plugged[i]).map((seq) => ({ seq, maxSeq: -1, plugSince: opened })),
      ...redundant.map((seq) => ({ seq, maxSeq: -1 })),
    ];
    const { replay, tornTail } = await readLog(store, instanceId, epoch, toRead, position.afterSequence, opened, live);
    live.sort((a, b) => a.seq - b.seq);
    // The lease starts with a fencing check made after the plugs exist.
    const leaseFrom = clock.now();
    await fenceCheck();
    const log = new WalLog(store, instanceId, epoch, clock, fenceCheck, highest + WAL_MAX_IN_FLIGHT + 1, live, leaseFrom);
    return { log, replay, ...(tornTail ? { tornTail } : {}) };
  }

  /**
   * The floor to record in a manifest whose lastSequence is `durableSequence`: the lowest segment number
   * that may still hold a record above it, or still be uploading. Every number below it was written and
   * acknowledged (or is a fence plug), so no writer can still land an acknowledged upload there: a later
   * owner plugs only from the floor up, and truncation deletes the data segments below it whatever plugs
   * lie between.
   */
  floorFor(durableSequence: number): number {
    for (const seg of this.live) if (seg.plugSince === undefined && seg.maxSeq > durableSequence) return seg.seq;
    return this.window[0]?.seq ?? this.nextSegment;
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
      // Renew in the background a third of the way in, so acknowledgements never wait for it under load.
      if (this.clock.now() >= this.leaseUntil - (2 * WAL_LEASE_MS) / 3) this.renewLease();
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
    if (this.window.length > 0 && this.window[0]!.done && this.clock.now() >= this.leaseUntil) {
      this.renewLease(); // acknowledgements wait for a fencing check
      return;
    }
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

  /**
   * Renews the lease with a fencing check; the lease counts from when the check was SENT, so an answer that
   * took long shortens it rather than stretching it.
   */
  private renewLease(): void {
    if (this.renewing !== undefined || this.failed !== undefined) return;
    const sentAt = this.clock.now();
    this.renewing = this.fenceCheck().then(
      () => {
        this.renewing = undefined;
        this.leaseUntil = sentAt + WAL_LEASE_MS;
        this.ackPrefix();
      },
      (e: unknown) => {
        this.renewing = undefined;
        this.fail(e);
      },
    );
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
   * Deletes what a durable manifest made redundant: the data segments below its `walFloor` (or, for a
   * manifest without one, below the floor for its lastSequence now), and every fence plug older than
   * FENCE_RETENTION_MS, wherever it lies. A young plug no longer holds back the segments behind it: in a
   * crash loop every life plugs anew, and waiting behind them kept every segment. Best effort: a segment
   * left behind is skipped (below the floor) or replayed and skipped (above it) on the next open.
   */
  truncate(durable: { lastSequence: number; walFloor?: number }): Promise<void> {
    this.truncating = this.truncating.then(async () => {
      const floor = durable.walFloor ?? this.floorFor(durable.lastSequence);
      const now = this.clock.now();
      // A fence plug must outlive every stale writer's chance to acknowledge an upload landing on its
      // number: their leases expire within WAL_LEASE_MS of its plug time.
      const doomed = this.live.filter((seg) =>
        seg.plugSince !== undefined ? now >= seg.plugSince + FENCE_RETENTION_MS : seg.seq < floor && seg.maxSeq <= durable.lastSequence,
      );
      const deleted = await mapBounded(doomed, TRUNCATE_CONCURRENCY, async (seg) => {
        try {
          await this.store.delete(walPath(this.instanceId, seg.seq));
          return true;
        } catch (e) {
          return isFloeError(e, 'NOT_FOUND');
        }
      });
      const gone = new Set(doomed.filter((_, i) => deleted[i]).map((seg) => seg.seq));
      if (gone.size > 0) this.live.splice(0, this.live.length, ...this.live.filter((seg) => !gone.has(seg.seq)));
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

/**
 * The lowest segment number a stale writer may still be uploading to: from the manifest's floor when it
 * has one; else from WAL_MAX_IN_FLIGHT below its walSeq (a writer's uploads in flight lie at most that far
 * below its next number), or from the lowest listed segment if lower.
 */
function lowestToPlug(existing: number[], position: { walSeq: number; walFloor?: number }): number {
  if (position.walFloor !== undefined) return Math.max(1, position.walFloor);
  const fromWalSeq = position.walSeq - WAL_MAX_IN_FLIGHT;
  return Math.max(1, existing.length > 0 ? Math.min(existing[0]!, fromWalSeq) : fromWalSeq);
}

/** Numbers in [from, to] not in `present` (ascending). */
function missingBetween(present: number[], from: number, to: number): number[] {
  const have = new Set(present);
  const out: number[] = [];
  for (let seq = from; seq <= to; seq++) if (!have.has(seq)) out.push(seq);
  return out;
}

/** Writes `plug` at each number (create-if-absent); false where a late upload landed first (replay it). */
function writePlugs(store: ObjectStore, instanceId: string, seqs: number[], plug: Uint8Array): Promise<boolean[]> {
  return mapBounded(seqs, OPEN_CONCURRENCY, async (seq) => {
    try {
      await store.put(walPath(instanceId, seq), plug, { ifNoneMatch: true });
      return true;
    } catch (e) {
      if (isFloeError(e, 'ALREADY_EXISTS')) return false;
      throw e;
    }
  });
}

/**
 * Reads the segments `seqs` (ascending), adds each to `live`, and collects the records above
 * `afterSequence` to replay, in write-sequence order. FENCED if a newer writer already wrote one.
 */
async function readLog(
  store: ObjectStore,
  instanceId: string,
  epoch: number,
  seqs: number[],
  afterSequence: number,
  opened: number,
  live: Segment[],
): Promise<{ replay: WalRecord[]; tornTail?: WalOpenResult['tornTail'] }> {
  const replay: WalRecord[] = [];
  let tornTail: WalOpenResult['tornTail'];
  const lastData = seqs[seqs.length - 1];
  const segments = await mapBounded(seqs, OPEN_CONCURRENCY, (seq) => readSegment(store, instanceId, seq, seq === lastData));
  for (const [i, seq] of seqs.entries()) {
    const seg = segments[i];
    if (seg === undefined) continue; // truncated by the previous writer after a manifest we build on
    const path = walPath(instanceId, seq);
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
    // A plug ages from its plug time (its writer opened after claiming, so no lease it ends outlives that
    // time + WAL_LEASE_MS); a plug from before plug times existed, from this open, as it always was.
    if (seg.fence) live.push({ seq, maxSeq, plugSince: seg.plugTime ?? opened });
    else live.push({ seq, maxSeq });
  }
  replay.sort((a, b) => a.firstSeq - b.firstSeq);
  return { replay, ...(tornTail ? { tornTail } : {}) };
}

/**
 * Reads and decodes one segment; undefined if it is gone (truncated meanwhile). A body that decodes as
 * damaged or torn is read again: a short body from a dropped connection must not pass for a torn tail
 * (which would cut acknowledged records) nor for corruption. A torn tail is accepted only when two reads
 * agree on the length; damage only when every read shows it.
 */
async function readSegment(store: ObjectStore, instanceId: string, seq: number, last: boolean): Promise<DecodedSegment | undefined> {
  const path = walPath(instanceId, seq);
  let tornLength = -1;
  for (let attempt = 1; ; attempt++) {
    let bytes: Uint8Array;
    try {
      bytes = await store.get(path);
    } catch (e) {
      if (isFloeError(e, 'NOT_FOUND')) return undefined;
      throw e;
    }
    try {
      const seg = decodeSegment(bytes, `${store.uri}/${path}`, last);
      if (seg.tornAt === undefined || bytes.length === tornLength || attempt >= SEGMENT_READ_ATTEMPTS) return seg;
      tornLength = bytes.length;
    } catch (e) {
      if (!isFloeError(e, 'CORRUPTION') || attempt >= SEGMENT_READ_ATTEMPTS) throw e;
    }
  }
}

const SEGMENT_READ_ATTEMPTS = 6;

/** Sequence numbers of the instance's WAL segments, ascending. */
export async function listSegments(store: ObjectStore, instanceId: string): Promise<number[]> {
  return (await listSegmentSizes(store, instanceId)).map((s) => s.seq);
}

/** The instance's WAL segments with their sizes (a fence plug is told by its size), ascending. */
async function listSegmentSizes(store: ObjectStore, instanceId: string): Promise<Array<{ seq: number; size: number }>> {
  const out: Array<{ seq: number; size: number }> = [];
  for (const o of await store.list(walPrefix(instanceId))) {
    const seq = parseWalPath(o.path)?.seq;
    if (seq !== undefined) out.push({ seq, size: o.size });
  }
  return out.sort((a, b) => a.seq - b.seq);
}
