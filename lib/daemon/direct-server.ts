/**
 * A shard's own socket (shard-aware clients, docs/protocol.md "Shard sockets"): a shard worker thread
 * listens on it and serves the single-key requests of the default store — PUT, GET, DELETE, MERGE — for
 * the key groups it owns, with no hop through the router's thread. Everything else (batches, multiGet,
 * scans, checkpoints, named stores, ...) stays on the daemon's main socket.
 *
 * - Same framing, HELLO and PING as the main socket (lib/protocol); any other opcode is a protocol
 *   violation (ERROR frame, connection closed). A key group this shard does not own is answered with
 *   INVALID_ARGUMENT (the connection stays open).
 * - Each connection has its own ShardService over the shard's instance: its requests take effect in the
 *   order received (read-your-writes for pipelined requests on it), like requests through the router.
 *   There is no order between a shard socket and the main socket: the client keeps at most one of the
 *   two paths busy at a time (lib/client/shard-links.ts).
 * - Checkpoints: `hold` (Int32 slot 0) is set by the router while it cuts a checkpoint of the default
 *   store; a write arriving meanwhile waits, with everything behind it on its connection, until the flag
 *   clears (Atomics.waitAsync), exactly as the router holds its own writes. So a checkpoint is a consistent
 *   cut whichever socket the writes came through.
 * - Backpressure and limits as on the main socket, by the same code (lib/daemon/frame-connection.ts): at
 *   most `maxInFlight` requests per connection in hand and WRITE_HIGH_WATER bytes of unread answers (then
 *   it stops reading), `maxConnections` connections, frames up to `maxFrameBytes`.
 * - Socket file mode 0600; a stale socket file is replaced. `close()` stops accepting, waits (bounded) for
 *   the requests in flight, sends their answers and closes every connection; the router then closes the
 *   shard.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { chmod, mkdtemp, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FloeError } from '../errors.js';
import { defaultKeyGroupAt } from '../keys.js';
import type { LsmStore } from '../lsm/lsm-store.js';
import { asFloeError, DEFAULT_KG, MAX_PING_BYTES, negotiateHello, Op, opName, RESPONSE_BIT, writeErrorFrame, writeHelloOk } from '../protocol/protocol.js';
import { FRAME_HEADER_BYTES, readU32, Writer } from '../protocol/wire.js';
import { HOLD } from './direct-sync.js';
import { FrameConnection } from './frame-connection.js';
import { multiGetKeyGroups } from './direct-groups.js';
import { scanWrite } from './write-scan.js';
import { prepareSocketPath } from './server.js';
import { ShardService } from './shard-service.js';
import type { KeyGroupRange } from './shard-map.js';

/** How a shard worker serves its own socket (part of its ShardInit; structured-cloned, `hold` shared). */
export interface DirectSocketInit {
  socketPath: string;
  /** The daemon's shard count and maxKeyGroups, as its HELLO answer says. */
  shards: number;
  maxKeyGroups: number;
  maxFrameBytes: number;
  maxInFlight: number;
  maxConnections: number;
  serverName: string;
  /** The memory shared with the router (direct-sync.ts): checkpoint hold flag, cross-shard write counters. */
  hold: SharedArrayBuffer;
}

const CLOSE_WAIT_MS = 10_000;

export class DirectServer {
  private readonly connections = new Set<DirectConnection>();
  private closing = false;
  readonly holdFlag: Int32Array;

  private constructor(
    readonly init: DirectSocketInit,
    readonly lsm: LsmStore,
    readonly keyGroups: KeyGroupRange,
    private readonly server: Server,
  ) {
    this.holdFlag = new Int32Array(init.hold);
  }

  /** Binds the shard's socket. PROMISES: rejects (IO/CONFIG/BUSY) and leaves nothing listening on failure. */
  static async listen(init: DirectSocketInit, lsm: LsmStore, keyGroups: KeyGroupRange): Promise<DirectServer> {
    await prepareSocketPath(init.socketPath, () => undefined);
    const server = createServer({ allowHalfOpen: false });
    // A worker cannot set the umask: the socket is bound in a private folder (0700), made 0600 there and
    // only then renamed into place, so it is never reachable with a wider mode.
    const dir = await mkdtemp(`${init.socketPath}.tmp-`);
    try {
      await chmod(dir, 0o700);
      const bound = join(dir, 's');
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(bound, () => {
          server.off('error', reject);
          resolve();
        });
      });
      await chmod(bound, 0o600);
      await rename(bound, init.socketPath);
    } catch (e) {
      server.close();
      throw new FloeError('IO', `cannot listen on the shard socket ${init.socketPath}: ${(e as Error).message}`, { cause: e });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    const direct = new DirectServer(init, lsm, keyGroups, server);
    server.on('connection', (socket) => direct.accept(socket));
    server.on('error', () => undefined);
    return direct;
  }

  private accept(socket: Socket): void {
    if (this.closing || this.connections.size >= this.init.maxConnections) {
      const w = new Writer(256);
      writeErrorFrame(
        w,
        0,
        this.closing
          ? new FloeError('CLOSED', 'the shard is closing; send requests to the daemon socket', { retryable: true })
          : new FloeError('BUSY', `the shard socket already serves ${this.init.maxConnections} connections (maxConnections)`, { retryable: true }),
      );
      socket.end(w.take());
      return;
    }
    const c = new DirectConnection(socket, this);
    this.connections.add(c);
    socket.on('close', () => {
      this.connections.delete(c);
      c.onClosed();
    });
  }

  /** Stops accepting, answers what is in flight (at most CLOSE_WAIT_MS), closes every connection. */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)));
    for (const c of this.connections) c.startDrain();
    await Promise.race([Promise.all([...this.connections].map((c) => c.drained)), timeout]);
    clearTimeout(timer);
    for (const c of this.connections) c.end();
    await closed;
    await unlink(this.init.socketPath).catch(() => undefined);
  }
}

/** The opcodes a shard socket serves besides HELLO and PING. */
function isDirectOp(op: number): boolean {
  return op === Op.PUT || op === Op.GET || op === Op.DELETE || op === Op.MERGE || op === Op.WRITE || op === Op.MULTI_GET || op === Op.MULTI_GET_PART;
}

function isRead(op: number): boolean {
  return op === Op.GET || op === Op.MULTI_GET || op === Op.MULTI_GET_PART;
}

class DirectConnection extends FrameConnection {
  private service: ShardService | undefined;
  /** Frames waiting for a checkpoint to finish (a held write and everything after it), in order. */
  private held: Buffer[] | null = null;
  private waiting = false;
  /** The protocol version agreed in HELLO. */
  private version = 1;

  constructor(
    socket: Socket,
    private readonly owner: DirectServer,
  ) {
    super(socket, owner.init.maxFrameBytes, owner.init.maxInFlight, 1024);
    socket.on('error', () => undefined);
    this.startReading();
  }

  protected override idle(): boolean {
    return this.inFlight === 0 && this.held === null;
  }

  protected handle(frame: Buffer): void {
    const op = frame[4]!;
    const id = readU32(frame, 5);
    if (this.service === undefined) return this.hello(op, id, frame);
    if (op === Op.PING) return this.ping(id, frame);
    if (!isDirectOp(op)) {
      return this.violation(id, new FloeError('PROTOCOL', `a shard socket serves only PUT, GET, DELETE, MERGE, WRITE, MULTI_GET and MULTI_GET_PART, got ${opName(op)}; send it to the daemon's main socket`));
    }
    const misrouted = op === Op.WRITE || op === Op.MULTI_GET || op === Op.MULTI_GET_PART ? this.checkMultiKeyGroups(op, frame) : this.checkKeyGroup(op, frame);
    if (misrouted !== undefined) {
      if (misrouted.code === 'PROTOCOL') return this.violation(id, misrouted);
      writeErrorFrame(this.out, id, misrouted);
      this.flushNow();
      return;
    }
    this.inFlight++;
    const write = !isRead(op);
    if (this.held !== null || (write && Atomics.load(this.owner.holdFlag, HOLD) !== 0)) {
      (this.held ??= []).push(frame);
      this.waitForRelease();
      return;
    }
    this.service.handleBatch(frame);
  }

  /** undefined when this shard owns the frame's key group, else the error to answer with (PROTOCOL: malformed). */
  private checkKeyGroup(op: number, frame: Buffer): FloeError | undefined {
    const p = FRAME_HEADER_BYTES;
    const withValue = op === Op.PUT || op === Op.MERGE;
    if (frame.length < p + (withValue ? 6 : 2)) return new FloeError('PROTOCOL', `malformed ${opName(op)} payload: ${frame.length - p} bytes`);
    const { maxKeyGroups } = this.owner.init;
    const keyStart = withValue ? p + 6 : p + 2;
    const keyEnd = withValue ? keyStart + readU32(frame, p + 2) : frame.length;
    if (keyEnd > frame.length) return new FloeError('PROTOCOL', `malformed ${opName(op)} payload: key length ${keyEnd - keyStart} exceeds the frame`);
    let kg = (frame[p]! << 8) | frame[p + 1]!;
    if (kg === DEFAULT_KG) {
      kg = defaultKeyGroupAt(frame, keyStart, keyEnd, maxKeyGroups);
    } else if (kg >= maxKeyGroups) {
      return new FloeError('INVALID_ARGUMENT', `keyGroup must be an integer in [0, ${maxKeyGroups}), got ${kg}; omit it to use the default hash`);
    }
    const [lo, hi] = this.owner.keyGroups;
    if (kg < lo || kg > hi) {
      return new FloeError('INVALID_ARGUMENT', `key group ${kg} is not on this shard (it owns [${lo}, ${hi}]); send the request to the shard that owns it (SHARD_MAP) or to the daemon's main socket`);
    }
    return undefined;
  }

  /** checkKeyGroup for a WRITE batch or a multiGet: every key's group must be on this shard. */
  private checkMultiKeyGroups(op: number, frame: Buffer): FloeError | undefined {
    const { maxKeyGroups } = this.owner.init;
    try {
      const payload = frame.subarray(FRAME_HEADER_BYTES);
      const groups = op === Op.WRITE ? scanWrite(payload, maxKeyGroups, this.version).groups : multiGetKeyGroups(payload, maxKeyGroups);
      const [lo, hi] = this.owner.keyGroups;
      for (let i = 0; i < groups.length; i++) {
        const kg = groups[i]!;
        if (kg < lo || kg > hi) {
          return new FloeError(
            'INVALID_ARGUMENT',
            `${op === Op.WRITE ? 'write(): operation' : 'multiGet(): key'} ${i}: key group ${kg} is not on this shard (it owns [${lo}, ${hi}]); send the request to the daemon's main socket, which splits it per shard`,
          );
        }
      }
      return undefined;
    } catch (e) {
      return asFloeError(e);
    }
  }

  private hello(op: number, id: number, frame: Buffer): void {
    if (op !== Op.HELLO) {
      return this.violation(id, new FloeError('PROTOCOL', `the first frame on a connection must be HELLO (0x01), got ${opName(op)}; see docs/protocol.md`));
    }
    try {
      const { init } = this.owner;
      const version = negotiateHello(frame.subarray(FRAME_HEADER_BYTES));
      this.version = version;
      writeHelloOk(this.out, id, {
        version,
        shards: init.shards,
        maxKeyGroups: init.maxKeyGroups,
        maxFrameBytes: init.maxFrameBytes,
        maxInFlight: init.maxInFlight,
        server: init.serverName,
      });
      this.service = new ShardService(this.owner.lsm, (batch) => this.answered(new Uint8Array(batch)), () => undefined, undefined, this.owner.holdFlag, (bytes) => this.answered(bytes));
      this.flushNow();
    } catch (e) {
      this.violation(id, asFloeError(e));
    }
  }

  private ping(id: number, frame: Buffer): void {
    const payload = frame.subarray(FRAME_HEADER_BYTES);
    if (payload.length > MAX_PING_BYTES) {
      return this.violation(id, new FloeError('PROTOCOL', `PING payload of ${payload.length} bytes is over the limit of ${MAX_PING_BYTES}`));
    }
    const start = this.out.beginFrame(Op.PING | RESPONSE_BIT, id);
    this.out.raw(payload);
    this.out.endFrame(start);
    this.flushNow();
  }

  /** Waits for the router's checkpoint to finish, then runs the held frames in order. */
  private waitForRelease(): void {
    if (this.waiting) return;
    this.waiting = true;
    const flag = this.owner.holdFlag;
    const release = (): void => {
      this.waiting = false;
      if (Atomics.load(flag, HOLD) !== 0) return this.waitForRelease();
      const held = this.held ?? [];
      this.held = null;
      for (const f of held) {
        if (this.service === undefined) break;
        this.service.handleBatch(f);
      }
    };
    const waited = (Atomics as unknown as { waitAsync(a: Int32Array, i: number, v: number): { async: boolean; value: Promise<string> | string } }).waitAsync(flag, HOLD, 1);
    if (waited.async) void (waited.value as Promise<string>).then(release);
    else queueMicrotask(release);
  }

  /** A batch of answers from this connection's ShardService (one per request, in one buffer). */
  private answered(bytes: Uint8Array): void {
    let frames = 0;
    for (let at = 0; at + 4 <= bytes.length; at += 4 + readU32(bytes, at)) frames++;
    this.inFlight -= frames;
    if (!this.socket.destroyed && !this.closing) this.socket.write(bytes);
    this.afterAnswers();
  }
}
