/**
 * Shard-aware routing for the daemon client: connections straight to the shard workers' own sockets
 * (lib/daemon/direct-server.ts), so a PUT, GET, DELETE or MERGE of the default store reaches the thread
 * that owns its key group without the hop through the daemon's router thread (docs/protocol.md "Shard
 * sockets").
 *
 * - The map comes from SHARD_MAP on the main connection. Shards without a socket, sockets that cannot be
 *   reached, and links that break later are simply not used: their requests go through the main socket.
 * - A frame is routed here only by looking at it (opcode, kg field, key), after the Store API encoded it;
 *   an explicit key group outside [0, maxKeyGroups) stays on the main socket, whose answer is the error.
 * - Request ids come from the main transport (one id space per client), so answers cannot be confused.
 * - Order: the caller (SocketTransport) keeps at most one path busy at a time, which keeps the protocol's
 *   "requests take effect in the order sent" promise per client; `inFlight` is what it looks at.
 */
import { createConnection, type Socket } from 'node:net';
import { FloeError } from '../errors.js';
import { defaultKeyGroupAt } from '../keys.js';
import { DEFAULT_KG, decodeError, ERROR_OP, errorPayload, Op, RESPONSE_BIT, writeHello } from '../protocol/protocol.js';
import type { ShardMapEntry } from '../protocol/shard-map.js';
import { Coalescer, FRAME_HEADER_BYTES, FrameParser, readU32, Writer } from '../protocol/wire.js';
import type { FrameReply } from './frame-store.js';
import { routeMultiGet, type SplitLinks, writeShard } from './shard-split.js';

const EMPTY = new Uint8Array(0);

class ShardLink {
  readonly out = new Writer(16 * 1024);
  private readonly flusher = new Coalescer(() => this.flushNow(), process.nextTick);
  readonly pending = new Map<number, FrameReply>();
  usable = true;

  constructor(
    readonly path: string,
    private readonly socket: Socket,
    private readonly owner: ShardLinks,
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

  send(frame: Uint8Array, id: number, reply: FrameReply): void {
    this.out.raw(frame);
    this.sent(id, reply);
  }

  /** Registers a request whose frame is already in `out`. */
  sent(id: number, reply: FrameReply): void {
    this.pending.set(id, reply);
    this.owner.inFlight++;
    this.flusher.schedule();
  }

  private flushNow(): void {
    if (this.out.length === 0 || !this.usable) return;
    this.socket.write(this.out.take());
  }

  private onFrame(op: number, id: number, payload: Uint8Array): void {
    const reply = this.pending.get(id);
    if (reply === undefined) return;
    this.pending.delete(id);
    this.owner.answered(reply, op, payload);
  }

  /** The link is gone: its requests fail (retryable; they may or may not have been applied). */
  private broken(): void {
    if (!this.usable) return;
    this.usable = false;
    this.out.length = 0;
    const payload = errorPayload(
      new FloeError('IO', `the connection to the shard socket ${this.path} broke while this request was in flight; it may or may not have been applied. Retry it if that is safe (later requests go through the daemon socket)`, { retryable: true }),
    );
    const replies = [...this.pending.values()];
    this.pending.clear();
    for (const r of replies) this.owner.answered(r, ERROR_OP, payload);
  }

  close(): Promise<void> {
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

export class ShardLinks implements SplitLinks {
  /** Requests sent on any link and not answered yet (a split multiGet counts once per part). */
  inFlight = 0;
  /** Split multiGets not answered yet: the caller sends no write on a link meanwhile (shard-split.ts). */
  splitInFlight = 0;
  private readonly links: Array<ShardLink | undefined>;

  private constructor(
    private readonly map: readonly ShardMapEntry[],
    readonly maxKeyGroups: number,
    /** Called whenever `inFlight` drops to 0. */
    private readonly onIdle: () => void,
  ) {
    this.links = new Array(map.length);
  }

  /**
   * Connects to every shard socket of `map` (HELLO each). PROMISES: resolves (never rejects); shards
   * whose socket cannot be reached within `timeoutMs` get no link. Undefined when no link could be made.
   */
  static async open(map: readonly ShardMapEntry[], maxKeyGroups: number, timeoutMs: number, onIdle: () => void): Promise<ShardLinks | undefined> {
    const links = new ShardLinks(map, maxKeyGroups, onIdle);
    await Promise.all(
      map.map(async (e, i) => {
        if (e.socket === undefined) return;
        const link = await connectLink(e.socket, links, timeoutMs).catch(() => undefined);
        links.links[i] = link;
      }),
    );
    return links.links.some((l) => l !== undefined) ? links : undefined;
  }

  /** Whether request id `id` is in flight on a link. */
  has(id: number): boolean {
    for (const l of this.links) if (l?.pending.has(id)) return true;
    return false;
  }

  get anyUsable(): boolean {
    return this.links.some((l) => l?.usable === true);
  }

  /**
   * The link a request frame (`buf[start, end)`) can go to: PUT/GET/DELETE/MERGE only, on the shard
   * owning its key group, if that shard has a working link.
   */
  route(buf: Uint8Array, start: number, end: number): ShardLink | undefined {
    const op = buf[start + 4];
    const withValue = op === Op.PUT || op === Op.MERGE;
    if (!withValue && op !== Op.GET && op !== Op.DELETE) return undefined;
    const p = start + FRAME_HEADER_BYTES;
    let kg = (buf[p]! << 8) | buf[p + 1]!;
    if (kg === DEFAULT_KG) {
      const keyStart = withValue ? p + 6 : p + 2;
      const keyEnd = withValue ? keyStart + readU32(buf, p + 2) : end;
      kg = defaultKeyGroupAt(buf, keyStart, keyEnd, this.maxKeyGroups);
    } else if (kg >= this.maxKeyGroups) return undefined;
    const map = this.map;
    for (let i = 0; i < map.length; i++) {
      const [lo, hi] = map[i]!.keyGroups;
      if (kg >= lo && kg <= hi) {
        const link = this.links[i];
        return link?.usable ? link : undefined;
      }
    }
    return undefined;
  }

  /**
   * Sends a WRITE or MULTI_GET frame (`buf[start, end)`, id `id`) on the links: WRITE only when every op
   * lives on one shard, MULTI_GET split per shard (shard-split.ts). False: it must go on the daemon socket.
   * `fallback` sends a copy of the frame on the daemon socket later (a split multiGet that could not be
   * answered consistently by the parts).
   */
  routeMulti(buf: Uint8Array, start: number, end: number, id: number, reply: FrameReply, fallback: (frame: Uint8Array) => void): boolean {
    const op = buf[start + 4];
    if (op === Op.WRITE) {
      const s = writeShard(this, buf, start, end);
      if (s < 0 || !this.usable(s)) return false;
      this.links[s]!.send(buf.subarray(start, end), id, olderShardFallback(buf, start, end, reply, fallback));
      return true;
    }
    if (op !== Op.MULTI_GET) return false;
    return routeMultiGet(this, buf, start, end, id, reply, fallback, (d) => (this.splitInFlight += d), () => olderShardFallback(buf, start, end, reply, fallback));
  }

  shardOf(kg: number): number {
    const map = this.map;
    for (let i = 0; i < map.length; i++) {
      const [lo, hi] = map[i]!.keyGroups;
      if (kg >= lo && kg <= hi) return i;
    }
    return -1;
  }

  usable(i: number): boolean {
    return this.links[i]?.usable === true;
  }

  sendOn(i: number, id: number, reply: FrameReply, encode: (w: Writer) => void): void {
    const link = this.links[i]!;
    encode(link.out);
    link.sent(id, reply);
  }

  /** @internal An answer (or failure) of a link's request. */
  answered(reply: FrameReply, op: number, payload: Uint8Array): void {
    this.inFlight--;
    try {
      reply(op, payload);
    } finally {
      if (this.inFlight === 0) this.onIdle();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.links.map((l) => l?.close()));
  }
}

/** Connects and handshakes one shard socket. */
function connectLink(path: string, owner: ShardLinks, timeoutMs: number): Promise<ShardLink> {
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
      const link = new ShardLink(path, socket, owner, parser);
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

/**
 * A shard socket of a daemon from before multi-key requests on shard sockets answers WRITE and MULTI_GET
 * with a PROTOCOL violation (not executed; it then closes the link): the request is sent again through the
 * daemon socket instead of failing, and the broken link is not used any more.
 */
function olderShardFallback(buf: Uint8Array, start: number, end: number, reply: FrameReply, fallback: (frame: Uint8Array) => void): FrameReply {
  const frame = Buffer.from(buf.subarray(start, end)); // a copy: `buf` is the caller's reused writer
  return (op, payload) => {
    if (op === ERROR_OP && decodeError(payload).code === 'PROTOCOL') fallback(frame);
    else reply(op, payload);
  };
}
