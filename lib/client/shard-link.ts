/**
 * One connection to a shard worker's own socket (docs/protocol.md "Shard sockets"), **shared by every
 * client of this process** connected to that daemon: all their single-shard requests for the shard go out
 * in one socket write per tick instead of one per client. (Profiles of 64 shard-aware clients showed the
 * socket writes — 64 × 2 links per tick, a few frames each — at ~37% of the client process's busy time.)
 *
 * - Request slots are pooled: a request takes a free slot, its frame goes out with the wire id slot + 1
 *   (the link rewrites the id the client encoded; answers come back by slot, no Map, no per-request
 *   object), and the slot is reused once its answer came. Each slot remembers its owner (one client's
 *   ShardLinks), which keeps that client's in-flight count and its "one path busy at a time" rule.
 * - Order: a shard-socket connection executes its requests in the order it reads them, and every client's
 *   frames are appended in the order the client sent them, so sharing keeps each client's order on the
 *   shard exactly. Clients were never ordered against each other except through their answers.
 * - A link that breaks fails every outstanding slot (each to its owner, retryable IO) and leaves the
 *   registry; the next client that opens links for that socket connects afresh.
 * - Reference-counted: the socket closes when the last client holding it releases it.
 */
import { createConnection, type Socket } from 'node:net';
import { FloeError } from '../errors.js';
import { decodeError, ERROR_OP, errorPayload, Op, RESPONSE_BIT, writeHello } from '../protocol/protocol.js';
import { Coalescer, FRAME_HEADER_BYTES, FrameParser, readU32, Writer, writeU32 } from '../protocol/wire.js';
import type { FrameReply } from './frame-store.js';

const EMPTY = new Uint8Array(0);

/** Who a slot's answer goes to (one client's ShardLinks). */
export interface LinkOwner {
  answered(reply: FrameReply, op: number, payload: Uint8Array): void;
}

export class ShardLink {
  readonly out = new Writer(64 * 1024);
  private readonly flusher = new Coalescer(() => this.flushNow(), setImmediate);
  /** Pooled request slots (wire id = slot + 1): the reply and owner of each outstanding request. */
  private readonly replies: Array<FrameReply | undefined> = [];
  private readonly owners: Array<LinkOwner | undefined> = [];
  private readonly free: number[] = [];
  /** Requests sent and not answered yet (all owners). */
  outstanding = 0;
  usable = true;
  /** Clients holding this link (see acquireLink/release). */
  refs = 0;

  constructor(
    readonly path: string,
    private readonly socket: Socket,
    parser: FrameParser,
  ) {
    socket.on('data', (chunk: Buffer) => {
      parser.push(chunk);
      try {
        for (let f = parser.next(); f !== undefined; f = parser.next()) {
          this.onFrame(f[4]!, readU32(f, 5), f.length === FRAME_HEADER_BYTES ? EMPTY : f.subarray(FRAME_HEADER_BYTES));
        }
      } catch (e) {
        socket.destroy(e as Error);
      }
    });
    socket.on('close', () => this.broken());
  }

  /** Sends the frame `buf[start, end)` (its id is rewritten on the wire) as a request of `owner`. */
  send(buf: Buffer, start: number, end: number, reply: FrameReply, owner: LinkOwner): void {
    const at = this.out.length;
    this.out.rawFrom(buf, start, end);
    this.sent(at, reply, owner);
  }

  /**
   * Registers the request whose frame starts at `at` in `out` (written there by the caller): takes a
   * slot and writes its wire id into the frame. REQUIRES: one whole frame at `at`.
   */
  sent(at: number, reply: FrameReply, owner: LinkOwner): void {
    const slot = this.free.length > 0 ? this.free.pop()! : this.replies.length;
    this.replies[slot] = reply;
    this.owners[slot] = owner;
    writeU32(this.out.buf, at + 5, slot + 1);
    this.outstanding++;
    this.flusher.schedule();
  }

  /** Slots ever made (the pool's size: the most requests outstanding at once). */
  get slots(): number {
    return this.replies.length;
  }

  private flushNow(): void {
    if (this.out.length === 0 || !this.usable) return;
    this.socket.write(this.out.take());
  }

  private onFrame(op: number, id: number, payload: Uint8Array): void {
    const slot = id - 1;
    const reply = this.replies[slot];
    if (reply === undefined) return;
    const owner = this.owners[slot]!;
    this.replies[slot] = undefined;
    this.owners[slot] = undefined;
    this.free.push(slot);
    this.outstanding--;
    owner.answered(reply, op, payload);
  }

  /** The link is gone: every outstanding request fails (retryable; it may or may not have been applied). */
  private broken(): void {
    if (registry.get(this.path) === this) registry.delete(this.path);
    if (!this.usable) return;
    this.usable = false;
    this.out.length = 0;
    const payload = errorPayload(
      new FloeError('IO', `the connection to the shard socket ${this.path} broke while this request was in flight; it may or may not have been applied. Retry it if that is safe (later requests go through the daemon socket)`, { retryable: true }),
    );
    for (let slot = 0; slot < this.replies.length; slot++) {
      const reply = this.replies[slot];
      if (reply === undefined) continue;
      const owner = this.owners[slot]!;
      this.replies[slot] = undefined;
      this.owners[slot] = undefined;
      this.outstanding--;
      owner.answered(reply, ERROR_OP, payload);
    }
    this.replies.length = 0;
    this.owners.length = 0;
    this.free.length = 0;
  }

  /** One client stops using the link; the last one closes it. */
  release(): Promise<void> {
    if (--this.refs > 0) return Promise.resolve();
    if (registry.get(this.path) === this) registry.delete(this.path);
    this.usable = false;
    const socket = this.socket;
    if (socket.destroyed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }
}

/** The usable link of each shard socket path in this process (or the connection being made to it). */
const registry = new Map<string, ShardLink | Promise<ShardLink>>();

/**
 * A link to the shard socket at `path`, shared with the other clients of this process (a new connection
 * when there is none, or it broke). The caller must `release()` it. Rejects when it cannot connect.
 */
export async function acquireLink(path: string, timeoutMs: number): Promise<ShardLink> {
  for (;;) {
    let entry = registry.get(path);
    if (entry === undefined) {
      const connecting = connectLink(path, timeoutMs);
      registry.set(path, connecting);
      connecting.then(
        (link) => {
          if (registry.get(path) === connecting) registry.set(path, link);
        },
        () => {
          if (registry.get(path) === connecting) registry.delete(path);
        },
      );
      entry = connecting;
    }
    const link = await entry;
    if (!link.usable) {
      if (registry.get(path) === link || registry.get(path) === entry) registry.delete(path);
      continue;
    }
    link.refs++;
    return link;
  }
}

/** Connects and handshakes one shard socket. */
function connectLink(path: string, timeoutMs: number): Promise<ShardLink> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const parser = new FrameParser(2 ** 31);
    const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      parser.push(chunk);
      let f: Buffer | undefined;
      try {
        f = parser.next();
      } catch (e) {
        socket.destroy(e as Error);
        return;
      }
      if (f === undefined) return;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      const op = f[4]!;
      if (op !== (Op.HELLO | RESPONSE_BIT)) {
        socket.destroy();
        reject(op === ERROR_OP ? decodeError(f.subarray(FRAME_HEADER_BYTES)) : new FloeError('PROTOCOL', `expected the HELLO answer from ${path}, got opcode ${op}`));
        return;
      }
      const link = new ShardLink(path, socket, parser);
      // Frames that came with the HELLO answer (none expected) are handled by the link from here on.
      if (parser.buffered > 0) socket.emit('data', Buffer.alloc(0));
      resolve(link);
    };
    const onClose = (): void => {
      clearTimeout(timer);
      reject(new FloeError('IO', `cannot connect to the shard socket ${path}`, { retryable: true }));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', () => undefined);
    socket.once('connect', () => {
      const w = new Writer(32);
      writeHello(w, 0);
      socket.write(w.take());
    });
  });
}
