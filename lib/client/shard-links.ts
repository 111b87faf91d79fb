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
 * - The links themselves are shared by every client of the process (lib/client/shard-link.ts): each link
 *   gives a request its own wire id (a pooled slot) and hands the answer back to the client that sent it.
 * - Order: the caller (SocketTransport) keeps at most one path busy at a time, which keeps the protocol's
 *   "requests take effect in the order sent" promise per client; `inFlight` is what it looks at.
 */
import { defaultKeyGroupAt } from '../keys.js';
import { DEFAULT_KG, decodeError, ERROR_OP, Op } from '../protocol/protocol.js';
import type { ShardMapEntry } from '../protocol/shard-map.js';
import { FRAME_HEADER_BYTES, readU32, type Writer } from '../protocol/wire.js';
import type { FrameReply } from './frame-store.js';
import { acquireLink, type LinkOwner, type ShardLink } from './shard-link.js';
import { routeMultiGet, type SplitLinks, writeShard } from './shard-split.js';

export class ShardLinks implements SplitLinks, LinkOwner {
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
        links.links[i] = await acquireLink(e.socket, timeoutMs).catch(() => undefined);
      }),
    );
    return links.links.some((l) => l !== undefined) ? links : undefined;
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
  routeMulti(buf: Buffer, start: number, end: number, id: number, reply: FrameReply, fallback: (frame: Uint8Array) => void): boolean {
    const op = buf[start + 4];
    if (op === Op.WRITE) {
      const s = writeShard(this, buf, start, end);
      if (s < 0 || !this.usable(s)) return false;
      this.send(this.links[s]!, buf, start, end, olderShardFallback(buf, start, end, reply, fallback));
      return true;
    }
    if (op !== Op.MULTI_GET) return false;
    return routeMultiGet(this, buf, start, end, id, reply, fallback, (d) => (this.splitInFlight += d), () => olderShardFallback(buf, start, end, reply, fallback));
  }

  /**
   * Sends the frame `buf[start, end)` (a request of this client; the link gives it its own wire id) on
   * `link`, which `route` returned.
   */
  send(link: ShardLink, buf: Buffer, start: number, end: number, reply: FrameReply): void {
    this.inFlight++;
    link.send(buf, start, end, reply, this);
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

  sendOn(i: number, _id: number, reply: FrameReply, encode: (w: Writer) => void): void {
    const link = this.links[i]!;
    const at = link.out.length;
    encode(link.out);
    this.inFlight++;
    link.sent(at, reply, this);
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
    const links = this.links.splice(0);
    await Promise.all(links.map((l) => l?.release()));
  }
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
