/**
 * `Store` over protocol frames: encodes each call as a request frame (lib/protocol/protocol.ts), hands it to
 * a transport, and decodes the response. The socket client (a Unix socket to the daemon) and the in-process
 * sharded store (the router, directly) are this class with different transports, so both behave the same,
 * down to error codes and messages.
 */
import type { CheckpointHandle, KeyGroupOption, ScanEntry, ScanOptions, Store, StoreStats, WriteOp } from '../api.js';
import type { Bytes } from '../keys.js';
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

/** Receives a response: opcode (request | 0x80, or ERROR_OP) and payload view. */
export type FrameReply = (op: number, payload: Uint8Array) => void;

export interface FrameTransport {
  /**
   * Sends one request: `encode(w, id)` writes the whole frame (it may throw before writing anything, e.g.
   * INVALID_ARGUMENT; the transport then rethrows). PROMISES: `reply` is called exactly once.
   */
  request(encode: (w: Writer, id: number) => void, reply: FrameReply): void;
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

export abstract class FrameStore implements Store {
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

  put(key: Bytes, value: Bytes, options?: KeyGroupOption): Promise<void> {
    if (hasTtl(options)) return Promise.reject(ttlNotCarried('put'));
    return this.call(Op.PUT, (w, id) => encodeKeyValue(w, Op.PUT, id, key, value, options), none);
  }

  get(key: Bytes, options?: KeyGroupOption): Promise<Uint8Array | undefined> {
    return this.call(Op.GET, (w, id) => encodeKeyOnly(w, Op.GET, id, key, options), parseGetOk);
  }

  delete(key: Bytes, options?: KeyGroupOption): Promise<void> {
    return this.call(Op.DELETE, (w, id) => encodeKeyOnly(w, Op.DELETE, id, key, options), none);
  }

  merge(key: Bytes, operand: Bytes, options?: KeyGroupOption): Promise<void> {
    if (hasTtl(options)) return Promise.reject(ttlNotCarried('merge'));
    return this.call(Op.MERGE, (w, id) => encodeKeyValue(w, Op.MERGE, id, key, operand, options), none);
  }

  write(ops: WriteOp[]): Promise<void> {
    if (Array.isArray(ops) && ops.some((op) => op !== null && typeof op === 'object' && op.type !== 'delete' && hasTtl(op))) {
      return Promise.reject(ttlNotCarried('write'));
    }
    return this.call(Op.WRITE, (w, id) => encodeWrite(w, id, ops), none);
  }

  multiGet(keys: Bytes[], options?: KeyGroupOption): Promise<Array<Uint8Array | undefined>> {
    const n = Array.isArray(keys) ? keys.length : 0;
    return this.call(Op.MULTI_GET, (w, id) => encodeMultiGet(w, id, keys, options), (p) => parseMultiGetOk(p, n));
  }

  /**
   * Opens the scan now (its snapshot is taken at this call, as in the embedded store) and pages through it
   * with one page read ahead. Ending the scan early (breaking out of the loop, `return()`, or dropping the
   * iterator) closes the daemon-side cursor: see frame-scan.ts.
   */
  scan(options: ScanOptions = {}): AsyncIterableIterator<ScanEntry> {
    const o = checkScanOptions(options);
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
}

/** A per-write TTL other than 0 ("never expires"). */
function hasTtl(options: unknown): boolean {
  const ttl = (options as { ttlMs?: unknown } | undefined)?.ttlMs;
  return ttl !== undefined && ttl !== 0;
}

/** The socket protocol has no TTL field yet: refusing beats storing a value that never expires. */
function ttlNotCarried(what: string): FloeError {
  return new FloeError(
    'INVALID_ARGUMENT',
    `${what}() with ttlMs: a per-write TTL is not carried by the daemon protocol yet (docs/protocol.md); give the daemon a store-wide defaultTtlMs in its config, or use an embedded store`,
  );
}
