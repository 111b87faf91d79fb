/**
 * `Store` over protocol frames: encodes each call as a request frame (lib/protocol/protocol.ts), hands it to
 * a transport, and decodes the response. The socket client (a Unix socket to the daemon) and the in-process
 * sharded store (the router, directly) are this class with different transports, so both behave the same,
 * down to error codes and messages.
 */
import type {
  CheckpointHandle,
  DeleteRangeOptions,
  ExtendedStore,
  FloeIterator,
  IteratorEntry,
  IteratorOptions,
  KeyGroupOption,
  ReadOptions,
  ScanEntry,
  ScanOptions,
  Snapshot,
  SnapshotScanOptions,
  StoreStats,
  WriteOp,
  WriteOptions,
} from '../api.js';
import { compareBytes, toBytes, type Bytes } from '../keys.js';
import { FloeError } from '../errors.js';
import {
  checkScanOptions,
  decodeError,
  encodeKeyOnly,
  encodeKeyValue,
  encodeMultiGet,
  encodeWrite,
  ERROR_OP,
  Op,
  opName,
  parseGetOk,
  parseJson,
  parseMultiGetOk,
  parsePage,
  RESPONSE_BIT,
  writeJson,
  writeScanPayload,
} from '../protocol/protocol.js';
import type { Writer } from '../protocol/wire.js';
import { FrameScanIterator } from './frame-scan.js';
import { FrameIterator, FrameSnapshot } from './frame-iterator.js';
import {
  checkIteratorOptions,
  encodeDeleteKeyGroups,
  encodeDeleteRange,
  encodeGetAt,
  encodeIdFrame,
  encodeIterator,
  encodeIteratorNext,
  encodeKeyValueTtl,
  encodeMultiGetAt,
  parseIteratorPage,
} from '../protocol/protocol-v2.js';

/** Receives a response: opcode (request | 0x80, or ERROR_OP) and payload view. */
export type FrameReply = (op: number, payload: Uint8Array) => void;

export interface FrameTransport {
  /**
   * Sends one request: `encode(w, id)` writes the whole frame (it may throw before writing anything, e.g.
   * INVALID_ARGUMENT; the transport then rethrows). PROMISES: `reply` is called exactly once.
   */
  request(encode: (w: Writer, id: number) => void, reply: FrameReply): void;
  /** The protocol version the peer agreed to (HELLO); undefined before the handshake. */
  readonly version: number | undefined;
}

const none = (): void => undefined;
/** Encoder of a SCAN_NEXT / SCAN_CLOSE frame (payload: u32 cursor). */
const cursorFrame =
  (op: number, cursor: number) =>
  (w: Writer, id: number): void => {
    const start = w.beginFrame(op, id);
    w.u32(cursor);
    w.endFrame(start);
  };
const noop = (): void => undefined;

export abstract class FrameStore implements ExtendedStore {
  /** Next snapshot / iterator id of this store's connection (ids are chosen by the client). */
  private nextHandle = 1;
  /** Set by close(): open iterators then fail with CLOSED, as the embedded store's do. */
  protected storeClosed = false;

  constructor(protected readonly transport: FrameTransport) {}

  /** Sends a request and decodes its answer. A validation failure of `encode` rejects the promise. */
  protected call<T>(op: number, encode: (w: Writer, id: number) => void, decode: (payload: Uint8Array) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.transport.request(encode, (rop, payload) => {
        try {
          if (rop === ERROR_OP) reject(decodeError(payload));
          else if (rop !== (op | RESPONSE_BIT)) reject(new FloeError('PROTOCOL', `expected a ${opName(op | RESPONSE_BIT)} response, got ${opName(rop)}`));
          else resolve(decode(payload));
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  put(key: Bytes, value: Bytes, options?: WriteOptions): Promise<void> {
    if (hasTtl(options)) {
      return this.v2('put() with ttlMs', Op.PUT_TTL, (w, id) => encodeKeyValueTtl(w, Op.PUT_TTL, id, key, value, options), none);
    }
    return this.call(Op.PUT, (w, id) => encodeKeyValue(w, Op.PUT, id, key, value, options), none);
  }

  get(key: Bytes, options?: ReadOptions): Promise<Uint8Array | undefined> {
    const snap = this.readSnapshot(options);
    if (snap === undefined) return this.call(Op.GET, (w, id) => encodeKeyOnly(w, Op.GET, id, key, options), parseGetOk);
    if (snap instanceof Promise) return snap;
    return this.atSnapshot(snap, this.v2('get() at a snapshot', Op.GET_AT, (w, id) => encodeGetAt(w, id, snap.id, key, options), parseGetOk));
  }

  delete(key: Bytes, options?: KeyGroupOption): Promise<void> {
    return this.call(Op.DELETE, (w, id) => encodeKeyOnly(w, Op.DELETE, id, key, options), none);
  }

  merge(key: Bytes, operand: Bytes, options?: WriteOptions): Promise<void> {
    if (hasTtl(options)) {
      return this.v2('merge() with ttlMs', Op.MERGE_TTL, (w, id) => encodeKeyValueTtl(w, Op.MERGE_TTL, id, key, operand, options), none);
    }
    return this.call(Op.MERGE, (w, id) => encodeKeyValue(w, Op.MERGE, id, key, operand, options), none);
  }

  write(ops: WriteOp[]): Promise<void> {
    if (Array.isArray(ops) && ops.some((op) => op !== null && typeof op === 'object' && op.type !== 'delete' && hasTtl(op))) {
      return this.v2('write() with ttlMs', Op.WRITE, (w, id) => encodeWrite(w, id, ops), none);
    }
    return this.call(Op.WRITE, (w, id) => encodeWrite(w, id, ops), none);
  }

  multiGet(keys: Bytes[], options?: ReadOptions): Promise<Array<Uint8Array | undefined>> {
    const n = Array.isArray(keys) ? keys.length : 0;
    const snap = this.readSnapshot(options);
    if (snap === undefined) return this.call(Op.MULTI_GET, (w, id) => encodeMultiGet(w, id, keys, options), (p) => parseMultiGetOk(p, n));
    if (snap instanceof Promise) return snap;
    const read = this.v2('multiGet() at a snapshot', Op.MULTI_GET_AT, (w, id) => encodeMultiGetAt(w, id, snap.id, keys, options), (p) => parseMultiGetOk(p, n));
    return this.atSnapshot(snap, read);
  }

  /** Range delete (protocol 2): as EmbeddedStore.deleteRange, on every shard the range spans. */
  deleteRange(options: DeleteRangeOptions): Promise<void> {
    return this.v2('deleteRange()', Op.DELETE_RANGE, (w, id) => encodeDeleteRange(w, id, options), none);
  }

  /** Deletes key groups first..last inclusive (protocol 2), as EmbeddedStore.deleteKeyGroups. */
  deleteKeyGroups(range: [number, number]): Promise<void> {
    return this.v2('deleteKeyGroups()', Op.DELETE_KEY_GROUPS, (w, id) => encodeDeleteKeyGroups(w, id, range), none);
  }

  /**
   * A snapshot of the store now (protocol 2): the SNAPSHOT frame is sent by this call, so a write issued
   * after it is not in it. A failure to take it (e.g. BUSY: too many open) is reported by the reads that
   * name it.
   */
  snapshot(): Snapshot {
    this.requireV2('snapshot()');
    const id = this.takeHandle();
    const opened = this.call(Op.SNAPSHOT, (w, rid) => encodeIdFrame(w, Op.SNAPSHOT, rid, id), none);
    let done = false;
    const release = (): void => {
      if (done) return;
      done = true;
      // Nothing to release when the open failed; a release after the connection closed is moot.
      opened.then(() => this.call(Op.RELEASE_SNAPSHOT, (w, rid) => encodeIdFrame(w, Op.RELEASE_SNAPSHOT, rid, id), none)).catch(noop);
    };
    return new FrameSnapshot(this, id, opened, release);
  }

  /**
   * A positioned iterator (protocol 2) with the embedded iterator's options and behaviour (lib/api.ts
   * FloeIterator); across key groups, entries come in (keyGroup, key) order over all shards.
   */
  iterator<O extends IteratorOptions = IteratorOptions>(options?: O): FloeIterator<IteratorEntry<O>> {
    this.requireV2('iterator()');
    const o = checkIteratorOptions(options);
    const snapshot = options?.snapshot !== undefined ? this.snapshotArg(options.snapshot).id : 0;
    const id = this.takeHandle();
    const keys = o.keys !== false;
    const values = o.values !== false;
    // The limit is counted here, not sent: entries read ahead and dropped by a seek must not count.
    const { limit: _limit, ...sent } = o;
    const opened = this.call(Op.ITERATOR, (w, rid) => encodeIterator(w, rid, id, snapshot, sent), none);
    opened.catch(noop); // reported by the first call on the iterator
    let closed: Promise<void> | undefined;
    const ops = {
      opened,
      check: (): void => {
        if (this.storeClosed) throw new FloeError('CLOSED', 'the store was closed while this iterator was open; open the store again and create a new iterator');
      },
      page: (max: number, seek: Parameters<typeof encodeIteratorNext>[4]) =>
        this.call(Op.ITERATOR_NEXT, (w, rid) => encodeIteratorNext(w, rid, id, Math.max(1, Math.min(max, 0xffffffff)), seek), (p) => parseIteratorPage(p, keys, values)),
      close: (): Promise<void> =>
        (closed ??= opened.then(
          () => this.call(Op.ITERATOR_CLOSE, (w, rid) => encodeIdFrame(w, Op.ITERATOR_CLOSE, rid, id), none).catch(noop),
          noop,
        )),
    };
    return new FrameIterator<IteratorEntry<O>>(ops, o.limit ?? Number.POSITIVE_INFINITY, o.keyGroup);
  }

  /**
   * Opens the scan now (its snapshot is taken at this call, as in the embedded store) and pages through it
   * with one page read ahead. Ending the scan early (breaking out of the loop, `return()`, or dropping the
   * iterator) closes the daemon-side cursor: see frame-scan.ts.
   */
  scan(options: ScanOptions = {}): AsyncIterableIterator<ScanEntry> {
    const o = checkScanOptions(options);
    const at = o as SnapshotScanOptions;
    if (at.ttlVisibility !== undefined) {
      throw new FloeError('INVALID_ARGUMENT', 'a per-scan ttlVisibility is not carried by the daemon protocol; the daemon applies its configured TTL behaviour');
    }
    if (at.snapshot !== undefined) return this.scanAt(at);
    const first = this.call(
      Op.SCAN,
      (w, id) => {
        const start = w.beginFrame(Op.SCAN, id);
        writeScanPayload(w, o, 0);
        w.endFrame(start);
      },
      parsePage,
    );
    // The cursor operations reference this store, never the iterator (so it can become unreachable).
    return new FrameScanIterator(first, {
      nextPage: (cursor) => this.call(Op.SCAN_NEXT, cursorFrame(Op.SCAN_NEXT, cursor), parsePage),
      close: (cursor) => {
        this.call(Op.SCAN_CLOSE, cursorFrame(Op.SCAN_CLOSE, cursor), none).catch(noop);
      },
    });
  }

  flush(): Promise<void> {
    return this.call(Op.FLUSH, (w, id) => w.endFrame(w.beginFrame(Op.FLUSH, id)), none);
  }

  checkpoint(): Promise<CheckpointHandle> {
    return this.call(Op.CHECKPOINT, (w, id) => w.endFrame(w.beginFrame(Op.CHECKPOINT, id)), (p) => parseJson<CheckpointHandle>(p, 'checkpoint handle'));
  }

  releaseCheckpoint(handle: CheckpointHandle): Promise<void> {
    return this.call(
      Op.RELEASE_CHECKPOINT,
      (w, id) => {
        if (handle === null || typeof handle !== 'object') {
          throw new FloeError('INVALID_ARGUMENT', 'not a Floe checkpoint handle: pass the object that checkpoint() returned (JSON round trips are fine)');
        }
        const start = w.beginFrame(Op.RELEASE_CHECKPOINT, id);
        writeJson(w, handle);
        w.endFrame(start);
      },
      none,
    );
  }

  /** Always a Promise here (the data lives in other threads or another process). */
  stats(): Promise<StoreStats> {
    return this.call(Op.STATS, (w, id) => w.endFrame(w.beginFrame(Op.STATS, id)), (p) => parseJson<StoreStats>(p, 'stats'));
  }

  abstract close(): Promise<void>;

  // ---------------------------------------------------------------- protocol version 2

  /** scan() at a snapshot (protocol 2): an iterator at that snapshot over the same range. */
  private scanAt(o: SnapshotScanOptions): AsyncIterableIterator<ScanEntry> {
    const snapshot = o.snapshot!;
    this.snapshotArg(snapshot);
    const prefix = o.prefix === undefined ? undefined : toBytes(o.prefix, 'scan prefix');
    const gte = maxBound(o.gte === undefined ? undefined : toBytes(o.gte, 'scan gte'), prefix);
    const lt = minBound(o.lt === undefined ? undefined : toBytes(o.lt, 'scan lt'), prefix === undefined ? undefined : prefixEnd(prefix));
    const it = this.iterator({
      snapshot,
      ...(o.keyGroup !== undefined ? { keyGroup: o.keyGroup } : {}),
      ...(gte !== undefined ? { gte } : {}),
      ...(lt !== undefined ? { lt } : {}),
      ...(o.limit !== undefined ? { limit: o.limit } : {}),
    });
    return (async function* () {
      try {
        for (;;) {
          const page = await it.nextv(256);
          if (page.length === 0) return;
          for (const e of page) yield e as ScanEntry;
        }
      } finally {
        await it.close();
      }
    })();
  }

  /** Throws VERSION unless the peer speaks protocol version 2 (so `what` can be carried). */
  protected requireV2(what: string): void {
    const v = this.transport.version;
    if (v !== undefined && v < 2) {
      throw new FloeError(
        'VERSION',
        `${what} needs protocol version 2, but the daemon speaks version ${v} (it predates TTL writes, range deletes, snapshots and iterators over the socket); upgrade the daemon`,
      );
    }
  }

  /** A version-2 request: VERSION (rejected) when the peer is older. */
  private v2<T>(what: string, op: number, encode: (w: Writer, id: number) => void, decode: (payload: Uint8Array) => T): Promise<T> {
    try {
      this.requireV2(what);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.call(op, encode, decode);
  }

  private takeHandle(): number {
    const id = this.nextHandle;
    this.nextHandle = (id + 1) >>> 0 || 1;
    return id;
  }

  private snapshotArg(snapshot: unknown): FrameSnapshot {
    if (!(snapshot instanceof FrameSnapshot)) {
      throw new FloeError('INVALID_ARGUMENT', 'options.snapshot must be a snapshot of this store (store.snapshot())');
    }
    snapshot.idFor(this);
    return snapshot;
  }

  /**
   * The snapshot a read names (undefined: none), or a rejected promise for a bad one or for read options
   * the protocol does not carry.
   */
  private readSnapshot(options: ReadOptions | undefined): FrameSnapshot | Promise<never> | undefined {
    if (options === null || typeof options !== 'object') return undefined;
    try {
      if (options.ttlVisibility !== undefined || options.ttlUpdate !== undefined) {
        throw new FloeError('INVALID_ARGUMENT', 'per-read ttlVisibility / ttlUpdate are not carried by the daemon protocol; the daemon applies its configured TTL behaviour');
      }
      return options.snapshot === undefined ? undefined : this.snapshotArg(options.snapshot);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** A read at `snap`: if the snapshot could not be taken, that failure is the read's error. */
  private atSnapshot<T>(snap: FrameSnapshot, read: Promise<T>): Promise<T> {
    return read.catch(async (e: unknown) => {
      throw (await snap.failure) ?? e;
    });
  }
}

/** A write with its own TTL (0 included: "never expires" overrides the store's default). */
function hasTtl(options: unknown): boolean {
  return options !== null && typeof options === 'object' && (options as { ttlMs?: unknown }).ttlMs !== undefined;
}

/** The first key after every key starting with `prefix` (undefined: none, the prefix is all 0xff). */
function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const out = Uint8Array.prototype.slice.call(prefix); // a copy (Buffer#slice is a view)
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  return undefined;
}

function maxBound(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) >= 0 ? a : b;
}

function minBound(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) <= 0 ? a : b;
}
