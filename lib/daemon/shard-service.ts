/**
 * What runs inside one shard worker thread: opens the shard's LSM instance (fresh, existing or restored)
 * and executes batches of request frames from the router against it, answering with batches of response
 * frames (lib/protocol/protocol.ts payloads; internal ops 0x40–0x4F for scans, checkpoints, stats, close).
 *
 * Ordering (the router's guarantees rest on it): frames take effect in the order received. Writes are
 * applied by the engine in call order; every other request starts (takes its snapshot, freezes the
 * memtable, ...) only after the writes received before it are applied and before any write received after
 * it is started. So a read, scan, flush or checkpoint sees exactly the writes that came before it:
 * read-your-writes for pipelined requests, and consistent cross-shard cuts for the router. Reads that do
 * not follow a pending write start at once.
 *
 * REQUIRES: one thread; batches arrive through `handleBatch`, responses leave through `send` (one
 * exact-size ArrayBuffer per event-loop turn, meant to be transferred).
 */
import type { PoolRunner } from '../lsm/rewrite-executor.js';
import type { CheckpointHandle, ScanEntry, StoreOptions } from '../api.js';
import type { BlockCache } from '../cache/block-cache.js';
import { restoreStore } from '../checkpoint/restore.js';
import { emptyInstanceState, openLsmStore } from '../embedded.js';
import { FloeError } from '../errors.js';
import type { LsmStore } from '../lsm/lsm-store.js';
import type { ManifestState } from '../lsm/manifest.js';
import { checkpointPath } from '../store/paths.js';
import {
  asFloeError,
  DEFAULT_KG,
  InternalOp,
  Op,
  opName,
  readScanPayload,
  RESPONSE_BIT,
  scanOptionsOf,
  writeErrorFrame,
  writeJson,
  writePageEntry,
} from '../protocol/protocol.js';
import { injectFromEnv, injectedLatencyMs } from './inject.js';
import type { Clock } from '../util/clock.js';
import { ShardHandles } from './shard-handles.js';
import { CROSS_IN_PROGRESS, CROSS_STARTED } from './direct-sync.js';
import { parseWriteOps, readMultiGet, writeValues } from './shard-codec.js';
import { executeV2 } from './shard-service-v2.js';
import type { KeyGroupRange } from './shard-map.js';
import { Coalescer, FRAME_HEADER_BYTES, protocolError, readU32, Reader, Writer } from '../protocol/wire.js';

/** workerData of a shard worker (structured-cloned). */
export interface ShardInit {
  shard: number;
  /** Store options of this shard: instanceId, localDir (its own sub-folder), disk cache share; no `shards`. */
  options: StoreOptions;
  keyGroups: KeyGroupRange;
  /** The layout says the instance exists: a missing instance is corruption, not a fresh start. */
  expectExisting: boolean;
  /** Restore the instance from these checkpoints (clipped to keyGroups) instead of opening it. */
  restore?: { handles: CheckpointHandle[] };
  /** What the instance is, for error messages (default `shard <shard>`; named stores say their name). */
  what?: string;
}

/** Opens the shard's instance. PROMISES: its key-group range is exactly `init.keyGroups`. */
export async function openShardStore(init: ShardInit, blockCache: BlockCache | undefined, rewriteRunner?: PoolRunner, clock?: Clock): Promise<LsmStore> {
  const inject = injectFromEnv();
  const internals = {
    ...(blockCache ? { blockCache } : {}),
    ...(rewriteRunner ? { rewriteRunner } : {}),
    // The pool threads delay their requests too, so rewrites run on the pool as on a remote primary.
    ...(inject ? { inject, poolLatencyMs: injectedLatencyMs()! } : {}),
    // Inline shards only (a clock cannot cross to a worker thread): tests of state TTL through the router.
    ...(clock ? { clock } : {}),
  };
  const range = init.keyGroups;
  const instanceId = init.options.instanceId!;
  const what = init.what ?? `shard ${init.shard}`;
  let lsm: LsmStore;
  if (init.restore) {
    lsm = await restoreStore(init.options, init.restore.handles, { keyGroups: range, mode: 'no-claim' }, internals);
  } else {
    lsm = await openLsmStore(init.options, {
      ...internals,
      initialState: (o): ManifestState => {
        if (init.expectExisting) {
          throw new FloeError(
            'CORRUPTION',
            `${what}: instance ${instanceId} is listed in the ${init.what ? 'named store registry' : 'shard layout'} but has no manifest on ${o.primary}; it was deleted outside Floe. Restore from a checkpoint.`,
          );
        }
        return emptyInstanceState(o, [range[0], range[1]]);
      },
    });
  }
  const [lo, hi] = lsm.keyGroups;
  if (lo !== range[0] || hi !== range[1]) {
    await lsm.close().catch(() => undefined);
    throw new FloeError(
      'CORRUPTION',
      `${what}: instance ${instanceId} owns key groups [${lo}, ${hi}] but the ${init.what ? 'named store registry' : 'shard layout'} says [${range[0]}, ${range[1]}]; the two disagree`,
    );
  }
  return lsm;
}

interface Cursor {
  iter: AsyncIterator<ScanEntry>;
  lookahead: ScanEntry | undefined;
  done: boolean;
}

export class ShardService {
  private readonly out = new Writer(64 * 1024);
  // setImmediate, not nextTick: the answers produced in one event-loop turn leave together in one message
  // or socket write. Measured with nextTick: about twice the shard thread's CPU per routed get (1.1-1.6 vs
  // 0.7 µs, docs/benchmarks.md, daemon section); awaited-get latency unchanged.
  private readonly flusher = new Coalescer(() => this.flush());
  private writesPending = 0;
  /** Called (once each) when writesPending drops to 0. */
  private onWritesSettled: Array<() => void> = [];
  /** Requests waiting for their turn (see afterWrites), from queueHead on. */
  private queue: Array<{ write: boolean; start: () => void }> = [];
  private queueHead = 0;
  private waitingForWrites = false;
  private readonly kgOptions: Array<{ keyGroup: number } | undefined> = [];
  private readonly cursors = new Map<number, Cursor>();
  /** Snapshots and iterator parts of protocol version 2. */
  readonly handles: ShardHandles;
  private closed = false;

  constructor(
    readonly lsm: LsmStore,
    private readonly send: (batch: ArrayBuffer) => void,
    /** Called once the store is closed and the CLOSE response is sent. */
    private readonly onClosed: () => void,
    /** Runs on SHARD_CLOSE before the store closes (the shard's own socket drains: direct-server.ts). */
    private readonly beforeClose?: () => Promise<void>,
    /** Shard sockets: the router's cross-shard write counters (direct-sync.ts), for MULTI_GET_PART. */
    private readonly crossWrites?: Int32Array,
    /**
     * Shard sockets: answers go here as a Buffer (for a socket write; take() copies small answers into
     * Node's buffer pool) instead of to `send` as a fresh ArrayBuffer (for a transfer to the router).
     */
    private readonly sendBytes?: (bytes: Buffer) => void,
  ) {
    this.handles = new ShardHandles(lsm);
  }

  /** Executes every frame of a batch. A malformed frame is answered with PROTOCOL (a router bug). */
  handleBatch(batch: Uint8Array): void {
    let at = 0;
    while (at + 4 <= batch.length) {
      const len = readU32(batch, at);
      const end = at + 4 + len;
      if (len < 5 || end > batch.length) {
        this.respondError(0, protocolError(`shard batch has a bad frame length ${len} at offset ${at}`));
        return;
      }
      const op = batch[at + 4]!;
      const id = readU32(batch, at + 5);
      try {
        this.execute(op, id, batch.subarray(at + FRAME_HEADER_BYTES, end));
      } catch (e) {
        this.respondError(id, asFloeError(e));
      }
      at = end;
    }
  }

  private execute(op: number, id: number, payload: Uint8Array): void {
    if (this.closed) throw new FloeError('CLOSED', 'the shard is closed');
    const lsm = this.lsm;
    switch (op) {
      case Op.PUT:
      case Op.MERGE: {
        // Hot path: parsed by hand (no Reader), started at once when nothing waits before it.
        if (payload.length < 6) throw protocolError(`malformed ${opName(op)} payload`);
        const klen = readU32(payload, 2);
        if (6 + klen > payload.length) throw protocolError(`malformed ${opName(op)} payload: key length ${klen} exceeds the frame`);
        const key = payload.subarray(6, 6 + klen);
        const value = payload.subarray(6 + klen);
        const o = this.keyGroupOption((payload[0]! << 8) | payload[1]!);
        if (this.queueHead === this.queue.length) this.trackWrite(op, id, op === Op.PUT ? lsm.put(key, value, o) : lsm.merge(key, value, o));
        else this.inOrderWrite(() => this.trackWrite(op, id, op === Op.PUT ? lsm.put(key, value, o) : lsm.merge(key, value, o)));
        return;
      }
      case Op.DELETE: {
        if (payload.length < 2) throw protocolError('malformed DELETE payload');
        const o = this.keyGroupOption((payload[0]! << 8) | payload[1]!);
        const key = payload.subarray(2);
        if (this.queueHead === this.queue.length) this.trackWrite(op, id, lsm.delete(key, o));
        else this.inOrderWrite(() => this.trackWrite(op, id, lsm.delete(key, o)));
        return;
      }
      case Op.WRITE: {
        const ops = parseWriteOps(payload);
        this.inOrderWrite(() => this.trackWrite(op, id, lsm.write(ops)));
        return;
      }
      case Op.GET: {
        if (payload.length < 2) throw protocolError('malformed GET payload');
        const o = this.keyGroupOption((payload[0]! << 8) | payload[1]!);
        const key = payload.subarray(2);
        this.afterWrites(id, () =>
          lsm.get(key, o).then((v) =>
            this.respond(op, id, (w) => {
              if (v === undefined) w.u8(0);
              else {
                w.ensure(1 + v.length);
                w.u8(1);
                w.raw(v);
              }
            }),
          ),
        );
        return;
      }
      case Op.MULTI_GET:
      case Op.MULTI_GET_PART: {
        const { kg, keys } = readMultiGet(payload);
        const o = this.keyGroupOption(kg);
        if (op === Op.MULTI_GET) {
          this.afterWrites(id, () => lsm.multiGet(keys, o).then((values) => this.respond(op, id, (w) => writeValues(w, values))));
          return;
        }
        const stamp = this.crossWrites;
        if (stamp === undefined) throw protocolError('MULTI_GET_PART is served on shard sockets only');
        this.afterWrites(id, async () => {
          // The stamp brackets the read: quiet when no cross-shard write was in progress when it began and
          // none started before it ended (docs/protocol.md "Shard sockets"). In-progress first, then started.
          const busy = Atomics.load(stamp, CROSS_IN_PROGRESS);
          const before = Atomics.load(stamp, CROSS_STARTED);
          const values = await lsm.multiGet(keys, o);
          const after = Atomics.load(stamp, CROSS_STARTED);
          this.respond(op, id, (w) => {
            w.u8(busy === 0 && before === after ? 1 : 0);
            w.u32(before >>> 0);
            writeValues(w, values);
          });
        });
        return;
      }
      case Op.FLUSH:
        this.afterWrites(id, () => lsm.flush().then(() => this.respond(op, id)));
        return;
      case InternalOp.SHARD_SCAN_OPEN: {
        const r = new Reader(payload, 0, payload.length, 'SCAN payload');
        const cursorId = r.u32();
        const firstPageBytes = r.u32();
        const scan = readScanPayload(r);
        r.done();
        this.afterWrites(id, async () => {
          // The snapshot is taken here, after every earlier write of this shard is applied.
          const iter = lsm.scan(scanOptionsOf(scan))[Symbol.asyncIterator]();
          const cursor: Cursor = { iter, lookahead: undefined, done: false };
          this.cursors.set(cursorId, cursor);
          await this.page(op, id, cursorId, cursor, firstPageBytes);
        });
        return;
      }
      case InternalOp.SHARD_SCAN_NEXT: {
        const r = new Reader(payload, 0, payload.length, 'SCAN_NEXT payload');
        const cursorId = r.u32();
        const pageBytes = r.u32();
        const cursor = this.cursors.get(cursorId);
        if (cursor === undefined) throw new FloeError('INVALID_ARGUMENT', `unknown shard cursor ${cursorId}`);
        // The cursor's snapshot is fixed: no ordering with writes needed.
        this.page(op, id, cursorId, cursor, Math.max(1, pageBytes)).catch((e: unknown) => this.respondError(id, asFloeError(e)));
        return;
      }
      case InternalOp.SHARD_SCAN_CLOSE: {
        const cursorId = new Reader(payload, 0, payload.length, 'SCAN_CLOSE payload').u32();
        const cursor = this.cursors.get(cursorId);
        this.cursors.delete(cursorId);
        if (cursor && !cursor.done) void cursor.iter.return?.().catch(() => undefined);
        this.respond(op, id);
        return;
      }
      case InternalOp.SHARD_CHECKPOINT:
        this.afterWrites(id, async () => {
          const handle = await lsm.checkpoint();
          // The engine wrote a one-instance record; the router folds every shard's into one record.
          const record = await lsm.internals().store.get(checkpointPath(handle.checkpointId));
          this.respond(op, id, (w) => w.raw(record));
        });
        return;
      case InternalOp.SHARD_STATS:
        this.respond(op, id, (w) => writeJson(w, lsm.stats()));
        return;
      case InternalOp.SHARD_COMPACT:
        this.afterWrites(id, () => lsm.compactUntilIdle().then(() => this.respond(op, id)));
        return;
      case InternalOp.SHARD_CLOSE:
        this.afterWrites(id, async () => {
          await this.beforeClose?.().catch(() => undefined);
          for (const c of this.cursors.values()) if (!c.done) await c.iter.return?.().catch(() => undefined);
          this.cursors.clear();
          await this.handles.closeAll().catch(() => undefined);
          this.closed = true;
          try {
            await lsm.close();
            this.respond(op, id);
          } catch (e) {
            this.respondError(id, asFloeError(e));
          }
          this.flush();
          this.onClosed();
        });
        return;
      default:
        if (executeV2(this, op, id, payload)) return;
        throw protocolError(`shard worker received unknown opcode ${opName(op)}`);
    }
  }

  /** Fills one page: u8 done, u32 count, entries (at least one entry unless the scan is done). */
  private async page(op: number, id: number, cursorId: number, cursor: Cursor, pageBytes: number): Promise<void> {
    const entries: ScanEntry[] = [];
    let bytes = 0;
    if (pageBytes > 0) {
      while (!cursor.done && (entries.length === 0 || bytes < pageBytes)) {
        let e = cursor.lookahead;
        cursor.lookahead = undefined;
        if (e === undefined) {
          const n = await cursor.iter.next();
          if (n.done) {
            cursor.done = true;
            break;
          }
          e = n.value;
        }
        entries.push(e);
        bytes += 10 + e.key.length + e.value.length;
      }
    }
    // Look one entry ahead so the last page says done without another round trip.
    if (!cursor.done && cursor.lookahead === undefined && pageBytes > 0) {
      const n = await cursor.iter.next();
      if (n.done) cursor.done = true;
      else cursor.lookahead = n.value;
    }
    if (cursor.done) this.cursors.delete(cursorId);
    this.respond(op, id, (w) => {
      w.u8(cursor.done ? 1 : 0);
      w.u32(entries.length);
      for (const e of entries) writePageEntry(w, e);
    });
  }

  /** `{ keyGroup }` for a kg field (undefined for the default): one frozen object per key group, reused. */
  /** @internal (shard-service-v2.ts) */
  keyGroupOption(kg: number): { keyGroup: number } | undefined {
    if (kg === DEFAULT_KG) return undefined;
    return (this.kgOptions[kg] ??= Object.freeze({ keyGroup: kg }));
  }

  /** @internal (shard-service-v2.ts) */
  trackWrite(op: number, id: number, p: Promise<void>): void {
    this.writesPending++;
    p.then(
      () => {
        this.respond(op, id);
        this.writeSettled();
      },
      (e: unknown) => {
        this.respondError(id, asFloeError(e));
        this.writeSettled();
      },
    );
  }

  /**
   * Counts a settled write; once none is pending, wakes what waits for them. Writes need not settle in
   * call order (a later write refused at once while an earlier one stalls), so waiters wait for the count
   * to reach zero, never for "the newest write".
   */
  private writeSettled(): void {
    if (--this.writesPending > 0) return;
    for (const wake of this.onWritesSettled.splice(0)) wake();
  }

  /**
   * Starts a write in arrival order: at once, unless an earlier non-write is still waiting (then behind it,
   * so that request's snapshot does not include this later write).
   */
  /** @internal (shard-service-v2.ts) */
  inOrderWrite(start: () => void): void {
    if (this.queueHead === this.queue.length) start();
    else this.queue.push({ write: true, start });
  }

  /**
   * Runs `fn` once every write received before it is applied and before any write received after it.
   * Its failure is answered as an error frame.
   */
  /** @internal (shard-service-v2.ts) */
  afterWrites(id: number, fn: () => Promise<void>): void {
    const start = (): void => {
      const fail = (e: unknown): void => this.respondError(id, asFloeError(e));
      try {
        fn().catch(fail);
      } catch (e) {
        fail(e);
      }
    };
    if (this.queueHead === this.queue.length && this.writesPending === 0) start();
    else {
      this.queue.push({ write: false, start });
      this.drainQueue();
    }
  }

  private drainQueue(): void {
    if (this.waitingForWrites) return;
    while (this.queueHead < this.queue.length) {
      const head = this.queue[this.queueHead]!;
      if (!head.write && this.writesPending > 0) {
        this.waitingForWrites = true;
        this.onWritesSettled.push(() => {
          this.waitingForWrites = false;
          this.drainQueue();
        });
        return;
      }
      this.queue[this.queueHead++] = undefined!;
      head.start();
    }
    this.queue.length = 0;
    this.queueHead = 0;
  }

  /** Queues the success response of request `id` (op | 0x80); `fill` writes its payload, if any. */
  /** @internal (shard-service-v2.ts) */
  respond(op: number, id: number, fill?: (w: Writer) => void): void {
    const w = this.out;
    const start = w.beginFrame(op | RESPONSE_BIT, id);
    fill?.(w);
    w.endFrame(start);
    this.flusher.schedule();
  }

  /** @internal (shard-service-v2.ts) */
  respondError(id: number, e: FloeError): void {
    writeErrorFrame(this.out, id, e);
    this.flusher.schedule();
  }

  private flush(): void {
    if (this.out.length === 0) return;
    // A socket write needs no ArrayBuffer of its own: take() copies small answers into Node's buffer pool.
    if (this.sendBytes !== undefined) this.sendBytes(this.out.take());
    else this.send(this.out.takeArrayBuffer());
  }
}
