/**
 * The write path: validating writes, admitting them (writers stall rather than grow memory without bound
 * when frozen memtables, L0 files or the WAL buffer pile up faster than background work drains them),
 * giving them sequence numbers, the WAL append, and applying them to the live memtable. Also the replay
 * of the WAL at open.
 */
import type { DeleteRangeOptions, KeyGroupOption, WriteOp, WriteOptions } from '../api.js';
import { FloeError, isFloeError } from '../errors.js';
import { checkKey, checkValue, physicalKey, resolveKeyGroup } from '../keys.js';
import { EntryKind } from '../sst/entry.js';
import { WAL_RANGE_DELETE, type WalOp, type WalRecord } from '../wal/format.js';
import type { BackgroundWork } from './lsm-background.js';
import type { LsmCore } from './lsm-core.js';
import { deleteKeyGroupsRange, deleteRangeRanges } from './range-delete-ops.js';
import { checkTtlMs, writeTtl, type TtlSegments } from './ttl.js';
import { ValueArena } from './value-arena.js';
import { Memtable } from './memtable.js';

const EMPTY = new Uint8Array(0);
/**
 * Memtable bytes applied between two event-loop turns a write gives while background work is pending.
 * Why: a caller that awaits each write in a loop runs on promise jobs only and never lets the event loop
 * reach its macrotask queue, where the flush's packing slices, its worker's reply and its file I/O wait;
 * the flush then stood still until the writer had filled every allowed memtable and stalled for the whole
 * flush (batch-100's 2.6–2.9 ms p99). 64 KiB is ~300 keys of 100-byte values: a turn (one packing slice,
 * ~0.3 ms) per ~0.4 ms of writes packs ~3 keys for every key written, so the flush keeps pace.
 */
const YIELD_BYTES = 64 * 1024;

export class WritePath {
  /** Copies of written values (callers may reuse their buffers), carved from shared slabs. */
  private readonly arena = new ValueArena();
  /** Writes on the waiting path not yet sequenced (applyWrites). */
  private admitting = 0;
  /** Memtable bytes applied since a write last gave the event loop a turn (see YIELD_BYTES). */
  private appliedSinceTurn = 0;
  /** The turn that completing writes wait for (turnIfBackgroundWaits), while one is due. */
  private turn: Promise<void> | undefined;

  constructor(
    private readonly core: LsmCore,
    private readonly background: BackgroundWork,
  ) {}

  async put(key: Uint8Array | string, value: Uint8Array | string, options?: WriteOptions): Promise<void> {
    const pk = this.physical(key, options);
    const v = checkValue(value);
    await this.applyWrites([withTtl({ key: pk, kind: EntryKind.Put, value: v }, this.ttlOf(v, options?.ttlMs, 'put(): ttlMs'))]);
  }

  async delete(key: Uint8Array | string, options?: KeyGroupOption): Promise<void> {
    await this.applyWrites([{ key: this.physical(key, options), kind: EntryKind.Delete, value: EMPTY }]);
  }

  async merge(key: Uint8Array | string, operand: Uint8Array | string, options?: WriteOptions): Promise<void> {
    const pk = this.physical(key, options);
    const v = checkValue(operand, 'merge operand');
    await this.applyWrites([withTtl({ key: pk, kind: EntryKind.Merge, value: v }, this.ttlOf(v, options?.ttlMs, 'merge(): ttlMs'))]);
  }

  /** TTL metadata of a put or merge of `value` (lib/lsm/ttl.ts): its own ttlMs, else the store's default. */
  private ttlOf(value: Uint8Array, ttlMs: unknown, where: string): TtlSegments | undefined {
    const ms = ttlMs === undefined ? this.core.options.ttl.defaultTtlMs : checkTtlMs(ttlMs, where);
    // Most writes never expire: no clock read for them (it was 2% of a batch-100 profile).
    return ms > 0 ? writeTtl(value.length, ms, this.core.deps.ttlClock.now()) : undefined;
  }

  /** Range delete (range-delete-ops.ts): a tombstone per key group, or one for all when unbounded. */
  async deleteRange(options: DeleteRangeOptions): Promise<void> {
    this.core.checkOpen();
    const ranges = deleteRangeRanges(options, this.core.state);
    await this.applyWrites(ranges.map((r) => ({ kind: WAL_RANGE_DELETE, key: r.start, value: r.end })));
  }

  /** Deletes every key of key groups first..last (inclusive, owned by this store) as one range tombstone. */
  async deleteKeyGroups(range: [number, number]): Promise<void> {
    this.core.checkOpen();
    const r = deleteKeyGroupsRange(range, this.core.state);
    await this.applyWrites([{ kind: WAL_RANGE_DELETE, key: r.start, value: r.end }]);
  }

  /** Atomic batch: every op is validated before any is applied, and all are applied in one step. */
  async write(ops: WriteOp[]): Promise<void> {
    if (!Array.isArray(ops)) throw new FloeError('INVALID_ARGUMENT', 'write() takes an array of { type, key, value?, keyGroup? } operations');
    const prepared: WalOp[] = [];
    for (const [i, op] of ops.entries()) prepared.push(this.prepare(op, i));
    await this.applyWrites(prepared);
  }

  /** Validates operation `i` of a batch and turns it into the op the WAL and memtable take. */
  private prepare(op: WriteOp, i: number): WalOp {
    if (op === null || typeof op !== 'object') throw new FloeError('INVALID_ARGUMENT', `write(): operation ${i} must be an object`);
    const pk = this.physical(op.key, op, `operation ${i}: `);
    switch (op.type) {
      case 'put':
      case 'merge': {
        const v = checkValue(op.value, `operation ${i} value`);
        const kind = op.type === 'put' ? EntryKind.Put : EntryKind.Merge;
        return withTtl({ key: pk, kind, value: v }, this.ttlOf(v, op.ttlMs, `write(): operation ${i} ttlMs`));
      }
      case 'delete':
        return { key: pk, kind: EntryKind.Delete, value: EMPTY };
      default:
        throw new FloeError('INVALID_ARGUMENT', `write(): operation ${i} has type ${JSON.stringify((op as { type: unknown }).type)}; use 'put', 'delete' or 'merge'`);
    }
  }

  /**
   * Applies validated writes as one atomic step with consecutive sequence numbers. With the WAL, the step
   * waits until the log holds them (group commit) and only then reaches the memtable, so nothing a reader
   * sees can be lost by a crash; the log acknowledges in sequence order, so memtable order is preserved.
   */
  private applyWrites(ops: WalOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    const core = this.core;
    if (core.wal === undefined && this.admitting === 0 && core.backgroundError === undefined && !this.mustStall()) {
      // Nothing to wait for: sequence and apply now, in this call. The memtable copies the values it
      // keeps inline; only those it would keep by reference are copied here.
      for (const op of ops) if (!copiedByMemtable(op)) op.value = this.arena.copy(op.value);
      return this.sequenceAndApply(ops);
    }
    // The caller may change its buffers while this write waits: copy every value now.
    for (const op of ops) if (op.kind !== WAL_RANGE_DELETE) op.value = this.arena.copy(op.value);
    return this.admitThenApply(ops);
  }

  /**
   * The path that waits (stalls, or the WAL). `admitting` keeps later writes off the immediate path
   * meanwhile, so a write never overtakes one called before it.
   */
  private async admitThenApply(ops: WalOp[]): Promise<void> {
    this.admitting++;
    let sequenced = false;
    try {
      await this.admitWrite();
      const applied = this.sequenceAndApply(ops);
      sequenced = true;
      this.admitting--;
      await applied;
    } finally {
      if (!sequenced) this.admitting--;
    }
  }

  /**
   * Gives `ops` their sequence numbers now (synchronously, so nothing written after this call can precede
   * them) and applies them, after the WAL holds them when there is one.
   */
  async sequenceAndApply(ops: WalOp[]): Promise<void> {
    const core = this.core;
    const first = core.lastSeq + 1;
    core.lastSeq += ops.length;
    if (core.wal !== undefined) {
      try {
        await core.wal.append(first, ops);
      } catch (e) {
        core.fail(e, 'WAL append');
        throw core.backgroundError ?? e;
      }
    }
    const bytesBefore = core.mem.approximateBytes;
    for (let i = 0; i < ops.length; i++) this.applyOp(ops[i]!, first + i);
    core.appliedSeq = first + ops.length - 1;
    this.appliedSinceTurn += core.mem.approximateBytes - bytesBefore;
    this.afterWrite();
    const turn = this.turnIfBackgroundWaits();
    if (turn !== undefined) await turn;
  }

  /**
   * Once YIELD_BYTES were applied since the last turn while background work is pending, the writes that
   * complete until the event loop's next turn (setImmediate) wait for it. Shared by every write in flight:
   * when only the write crossing the mark waited, the others went on through promise jobs, so with 64 in
   * flight the loop turned once per 64 marks (~4 MiB of batches), and a flush, which needs dozens of
   * turns (its slices, its pool thread's messages, the manifest's file I/O), fell memtables behind.
   * Runs after the write is applied and sequenced, so it cannot reorder writes; it only delays
   * acknowledgements until the turn.
   */
  private turnIfBackgroundWaits(): Promise<void> | undefined {
    if (this.turn !== undefined) return this.turn;
    if (this.appliedSinceTurn < YIELD_BYTES) return undefined;
    this.appliedSinceTurn = 0;
    if (!this.background.pending()) return undefined;
    this.turn = new Promise<void>((resolve) =>
      setImmediate(() => {
        this.turn = undefined;
        resolve();
      }),
    );
    return this.turn;
  }

  private physical(key: unknown, options: KeyGroupOption | undefined, where = ''): Uint8Array {
    this.core.checkOpen();
    let k: Uint8Array;
    try {
      k = checkKey(key);
    } catch (e) {
      throw where && isFloeError(e) ? new FloeError(e.code, where + e.message) : e;
    }
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new FloeError('INVALID_ARGUMENT', `${where}options must be an object like { keyGroup: 3 }`);
    }
    const state = this.core.state;
    const kg = resolveKeyGroup(k, options?.keyGroup, state.maxKeyGroups);
    const [lo, hi] = state.keyGroups;
    if (kg < lo || kg > hi) {
      throw new FloeError('INVALID_ARGUMENT', `${where}key group ${kg} is outside this store's key-group range [${lo}, ${hi}]; route the key to the store that owns it`);
    }
    return physicalKey(kg, k);
  }

  /** Waits while writes must stall; fails with the sticky background error. */
  private async admitWrite(): Promise<void> {
    const core = this.core;
    if (core.backgroundError) throw core.backgroundError;
    if (!this.mustStall()) return;
    core.stalls++;
    while (this.mustStall()) {
      if (core.backgroundError) throw core.backgroundError;
      this.background.ensureDrainingWork();
      await core.waitForRoom();
      core.checkOpen();
    }
    if (core.backgroundError) throw core.backgroundError;
  }

  private mustStall(): boolean {
    const core = this.core;
    const o = core.options;
    return (
      core.backgroundError === undefined &&
      (core.imm.length >= o.maxImmutableMemtables ||
        core.state.version.levels[0]!.length >= o.l0StopWritesTrigger ||
        (core.wal !== undefined && core.wal.bufferedBytes >= o.memtableBytes))
    );
  }

  /**
   * Applies records replayed from the write-ahead log at open. REQUIRES: before any write; records in
   * ascending sequence order, all above the manifest's lastSequence.
   */
  replayLog(records: WalRecord[]): void {
    const core = this.core;
    for (const r of records) {
      r.ops.forEach((op, i) => {
        this.applyOp({ ...op, value: new Uint8Array(op.value) }, r.firstSeq + i);
      });
      core.lastSeq = core.appliedSeq = r.firstSeq + r.ops.length - 1;
      if (core.mem.approximateBytes >= core.options.memtableBytes) this.background.freeze();
    }
  }

  private applyOp(op: WalOp, seq: number): void {
    if (op.kind === WAL_RANGE_DELETE) this.core.mem.deleteRange(op.key, op.value, seq);
    else this.core.mem.apply(op.key, op.kind, op.value, seq, op.ttl);
  }

  private afterWrite(): void {
    const core = this.core;
    if (core.mem.approximateBytes >= core.options.memtableBytes) this.background.freeze();
    // Writers stalled on the WAL buffer wait for acknowledgements, which arrive here.
    if (core.wal !== undefined && core.roomWaiters.length > 0) core.wakeWriters();
  }
}

/** True when the memtable copies this op's value into its own slabs at apply (Memtable.copiesValue). */
function copiedByMemtable(op: WalOp): boolean {
  return op.kind === WAL_RANGE_DELETE || Memtable.copiesValue(op.kind, op.value, op.ttl);
}

function withTtl(op: WalOp, ttl: TtlSegments | undefined): WalOp {
  if (ttl !== undefined) op.ttl = ttl;
  return op;
}

