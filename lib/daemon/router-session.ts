/**
 * One client's view of the router (a socket connection, or the in-process sharded store): its scan cursors
 * and its binding to a named store (docs/protocol.md, "Named stores").
 *
 * OPEN_STORE is a barrier: while it runs, the session's later frames are queued (copied) and dispatched,
 * in order, once it has finished — so requests pipelined behind it act on the store it opened (or on the
 * previous binding if it failed). CLOSE_STORE unbinds at once (later requests go to the default store);
 * its answer waits until the store is released (flushed and closed, or retired, if this was the last
 * binding).
 */
import { FloeError } from '../errors.js';
import { asFloeError, ERROR_OP, errorPayload, Op, RESPONSE_BIT, writeJson } from '../protocol/protocol.js';
import { parseCloseStore, parseOpenStore, writeOpenStoreOk } from '../protocol/named-store.js';
import { Writer } from '../protocol/wire.js';
import type { StoreStats } from '../api.js';
import type { NamedStore, NamedStores } from './named-stores.js';
import { ScanCursors } from './route-scan.js';
import { SessionHandles } from './route-handles.js';
import { PROTOCOL_VERSION } from '../protocol/protocol.js';
import type { Answer, Reply, ShardBus } from './shard-bus.js';

/** What a session needs of its router. */
export interface SessionHost {
  readonly bus: ShardBus;
  readonly named: NamedStores;
  dispatch(session: RouterSession, frame: Buffer, reply: Reply, tag: number): void;
  /** Tracks a release that must finish before the router closes. */
  track(p: Promise<unknown>): void;
  /** The STATS answer of a store, given its own stats (adds the daemon section). */
  statsAnswer(stats: StoreStats): Record<string, unknown>;
  releaseCheckpoint(payload: Uint8Array, maxKeyGroups: number): Promise<void>;
}

interface Queued {
  frame: Buffer;
  reply: Reply;
  tag: number;
}

export class RouterSession {
  readonly scans: ScanCursors;
  /** Snapshots and iterators (protocol version 2). */
  readonly handles: SessionHandles;
  /** The protocol version negotiated in HELLO (the in-process store speaks the newest). */
  version = PROTOCOL_VERSION;
  closed = false;
  /** The named store this session is bound to (undefined: the default store). */
  binding: NamedStore | undefined;
  /** Frames waiting for an OPEN_STORE to finish (undefined: none is running). */
  queue: Queued[] | undefined;

  constructor(private readonly host: SessionHost) {
    this.scans = new ScanCursors(host.bus);
    this.handles = new SessionHandles(host.bus);
  }

  /**
   * Executes one request frame (header included). REQUIRES: `frame` stays unchanged only during the call
   * (the router copies what it needs). PROMISES: `reply` is called exactly once, possibly synchronously.
   */
  dispatch(frame: Buffer, reply: Reply, tag = 0): void {
    if (this.queue !== undefined) {
      this.queue.push({ frame: Buffer.from(frame), reply, tag });
      return;
    }
    this.host.dispatch(this, frame, reply, tag);
  }

  /** Closes every open cursor of this session (releasing the shards' snapshots) and its binding. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.scans.closeAll();
    this.handles.closed = true;
    this.handles.closeAll();
    const queued = this.queue ?? [];
    this.queue = undefined;
    const closed = errorPayload(new FloeError('CLOSED', 'the connection closed'));
    for (const q of queued) q.reply(ERROR_OP, closed, q.tag);
    const b = this.binding;
    this.binding = undefined;
    if (b !== undefined) this.host.track(this.host.named.release(this, b, false));
  }

  /** OPEN_STORE: binds this session to a named store; a barrier for the frames behind it. */
  openStore(payload: Uint8Array, reply: Answer): void {
    if (this.binding !== undefined) {
      throw new FloeError('INVALID_ARGUMENT', `this connection is already bound to named store ${JSON.stringify(this.binding.name)}; send CLOSE_STORE before opening another`);
    }
    const req = parseOpenStore(payload);
    this.scans.closeCursors();
    this.handles.closeAll();
    this.queue = [];
    this.host.named.open(this, req).then(
      ({ store, result }) => {
        if (this.closed) this.host.track(this.host.named.release(this, store, false));
        else this.binding = store;
        const w = new Writer(256);
        writeOpenStoreOk(w, result);
        reply(Op.OPEN_STORE | RESPONSE_BIT, w.view());
        this.drain();
      },
      (e: unknown) => {
        reply(ERROR_OP, errorPayload(asFloeError(e)));
        this.drain();
      },
    );
  }

  /** Dispatches the frames queued behind an OPEN_STORE, until one of them opens a store again. */
  private drain(): void {
    const queued = this.queue ?? [];
    this.queue = undefined;
    for (let i = 0; i < queued.length; i++) {
      if (this.queue !== undefined) {
        // A queued OPEN_STORE started a new barrier: the rest waits for it.
        (this.queue as Queued[]).push(...queued.slice(i));
        return;
      }
      const q = queued[i]!;
      this.host.dispatch(this, q.frame, q.reply, q.tag);
    }
  }

  /** CLOSE_STORE: back to the default store; answered once the store is released. */
  closeStore(payload: Uint8Array, reply: Answer): void {
    const { drop } = parseCloseStore(payload);
    const b = this.binding;
    const ok = (): void => reply(Op.CLOSE_STORE | RESPONSE_BIT, new Uint8Array(0));
    if (b === undefined) return ok();
    this.binding = undefined;
    this.scans.closeCursors();
    this.handles.closeAll();
    const released = this.host.named.release(this, b, drop);
    this.host.track(released);
    released.then(ok, (e: unknown) => reply(ERROR_OP, errorPayload(asFloeError(e))));
  }

  /** FLUSH, CHECKPOINT, RELEASE_CHECKPOINT, STATS on the bound named store (every part of it). */
  namedControl(store: NamedStore, op: number, payload: Uint8Array, reply: Answer): boolean {
    const { bus } = this.host;
    switch (op) {
      case Op.FLUSH:
        settle(store.flush(bus), reply, op, () => undefined);
        return true;
      case Op.CHECKPOINT:
        settle(store.checkpoint(this.host.named.storeContext), reply, op, (w, h) => writeJson(w, h));
        return true;
      case Op.RELEASE_CHECKPOINT:
        settle(this.host.releaseCheckpoint(payload, store.record.maxKeyGroups), reply, op, () => undefined);
        return true;
      case Op.STATS:
        settle(store.stats(bus), reply, op, (w, s) => writeJson(w, this.host.statsAnswer(s)));
        return true;
      default:
        return false;
    }
  }
}

/** Answers `op` with `p`'s value (written by `write`) or its error. */
export function settle<T>(p: Promise<T>, reply: Answer, op: number, write: (w: Writer, v: T) => void): void {
  p.then(
    (v) => {
      const w = new Writer(1024);
      write(w, v);
      reply(op | RESPONSE_BIT, w.view());
    },
    (e: unknown) => reply(ERROR_OP, errorPayload(asFloeError(e))),
  );
}
