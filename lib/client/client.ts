/**
 * The daemon client: `connect(socketPath)` returns a `Store` that speaks the socket protocol
 * (docs/protocol.md) to `floe daemon`.
 *
 * - Pipelined: every call sends a frame at once and waits only for its own response (matched by id).
 * - Auto-batching: frames produced in the same tick are coalesced into one socket write.
 * - Reconnect: when the connection breaks, requests in flight fail with a retryable IO error (they may or
 *   may not have been applied); the next request reconnects (set `reconnect: false` to opt out).
 * - After `close()`, every call fails with CLOSED. `close()` flushes the daemon first (so the Store
 *   contract "close makes writes durable" holds through the client; `flushOnClose: false` skips it).
 * - `stats()` returns a Promise.
 * - `openStore({ name, maxKeyGroups, keyGroups, restore?, ephemeral?, parts? })` opens a named store of the daemon
 *   on a new connection and resolves to a client bound to it (docs/protocol.md, "Named stores"). A bound
 *   client never reconnects: a new connection would not be bound (and an ephemeral store is retired when
 *   its last connection goes), so after a break its requests fail (IO, retryable) and the caller opens
 *   the store again.
 */
import { createConnection, type Socket } from 'node:net';
import { FloeError } from '../errors.js';
import { FrameStore, type FrameReply, type FrameTransport } from './frame-store.js';
import { decodeError, ERROR_OP, errorPayload, Op, parseHelloOk, RESPONSE_BIT, writeHello, type ServerHello } from '../protocol/protocol.js';
import { encodeCloseStore, encodeOpenStore, parseOpenStoreOk, type OpenStoreRequest, type OpenStoreResult } from '../protocol/named-store.js';
import { Coalescer, FrameParser, FRAME_HEADER_BYTES, readU32, Writer, writeU32 } from '../protocol/wire.js';
import { parseShardMap, type ShardMapEntry } from '../protocol/shard-map.js';
import { ShardLinks } from './shard-links.js';

export interface ConnectOptions {
  /** Reconnect on the next request after the connection broke. Default true. */
  reconnect?: boolean;
  /** Give up a connection attempt after this many ms. Default 10000. */
  connectTimeoutMs?: number;
  /** `close()` flushes the daemon before disconnecting. Default true. */
  flushOnClose?: boolean;
  /**
   * Send PUT/GET/DELETE/MERGE of the default store straight to the shard that owns the key, on the shard's
   * own socket, when the daemon has several worker shards (lib/client/shard-links.ts). Default true.
   */
  shardAware?: boolean;
}

const EMPTY = new Uint8Array(0);
/** Responses can be as large as the daemon's maxFrameBytes, which is only known after HELLO. */
const MAX_RESPONSE_FRAME = 2 ** 31;

type State = 'connecting' | 'ready' | 'broken' | 'closed';

class SocketTransport implements FrameTransport {
  private socket: Socket | undefined;
  private state: State = 'broken';
  private out = new Writer(64 * 1024);
  /** Frames written in one tick go out in one write (process.nextTick: as soon as the caller yields). */
  private readonly flusher = new Coalescer(() => this.flushNow(), process.nextTick);
  private readonly pending = new Map<number, FrameReply>();
  private nextId = 1;
  private idleWaiters: Array<() => void> = [];
  hello: ServerHello | undefined;
  /** Connections to the shards' own sockets (shard-aware routing), when opened and usable. */
  private links: ShardLinks | undefined;

  /** The version agreed in HELLO (undefined before the first handshake). */
  get version(): number | undefined {
    return this.hello?.version;
  }

  constructor(
    readonly path: string,
    private readonly options: Required<Omit<ConnectOptions, 'shardAware'>>,
  ) {}

  get connectTimeoutMs(): number {
    return this.options.connectTimeoutMs;
  }

  request(encode: (w: Writer, id: number) => void, reply: FrameReply): void {
    if (this.state === 'closed') {
      reply(ERROR_OP, errorPayload(new FloeError('CLOSED', 'this client is closed; connect() again')));
      return;
    }
    if (this.state === 'broken' && !this.options.reconnect) {
      reply(ERROR_OP, errorPayload(new FloeError('IO', `the connection to the floe daemon at ${this.path} is broken and reconnect is off; connect() again`, { retryable: true })));
      return;
    }
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0 || 1;
    this.nextId = (id + 1) >>> 0 || 1;
    const w = this.out;
    const start = w.length;
    try {
      encode(w, id);
    } catch (e) {
      w.truncate(start);
      throw e;
    }
    const max = this.hello?.maxFrameBytes;
    if (max !== undefined && w.length - start - 4 > max) {
      const size = w.length - start;
      w.truncate(start);
      throw new FloeError('INVALID_ARGUMENT', `the request is ${size} bytes, over the daemon's maximum frame size of ${max}; split it (smaller batches, fewer keys)`);
    }
    // One path busy at a time keeps the client's requests in the order sent: a request goes to its shard's
    // own socket only while nothing is pending on the main one; main-socket frames wait (unsent) until
    // the shard sockets have answered everything (see directIdle).
    const links = this.links;
    if (links !== undefined && this.pending.size === 0) {
      const op = w.buf[start + 4];
      // While a split multiGet is out, writes take the daemon socket (they wait for the links to drain):
      // a multiGet sent again through the daemon socket must not see this client's later writes.
      if (links.splitInFlight === 0 || op === Op.GET || op === Op.MULTI_GET) {
        const link = links.route(w.buf, start, w.length);
        if (link !== undefined) {
          links.send(link, w.buf, start, w.length, reply);
          w.truncate(start);
          return;
        }
        if ((op === Op.WRITE || op === Op.MULTI_GET) && links.routeMulti(w.buf, start, w.length, id, reply, (frame) => this.resend(frame, reply))) {
          w.truncate(start);
          return;
        }
      }
    }
    this.pending.set(id, reply);
    if (this.state === 'ready') this.flusher.schedule();
    else if (this.state === 'broken') this.reconnect();
  }

  /**
   * Sends `frame` (request `id`) on the daemon socket ahead of every frame waiting there: those were all
   * issued after it (frames wait only while the links are busy, and it was sent on the links).
   */
  private resend(frame: Uint8Array, reply: FrameReply): void {
    if (this.state === 'closed' || (this.state === 'broken' && !this.options.reconnect)) {
      reply(ERROR_OP, errorPayload(new FloeError('IO', `the connection to the floe daemon at ${this.path} is not usable; connect() again`, { retryable: true })));
      return;
    }
    // A fresh id of this socket: the request's first id was never registered here (it went on the links).
    let id = this.nextId;
    while (this.pending.has(id)) id = (id + 1) >>> 0 || 1;
    this.nextId = (id + 1) >>> 0 || 1;
    writeU32(frame, 5, id);
    const queued = this.out.take();
    this.out.raw(frame);
    this.out.raw(queued);
    this.pending.set(id, reply);
    if (this.state === 'ready') this.flusher.schedule();
    else if (this.state === 'broken') this.reconnect();
  }

  private flushNow(): void {
    if (this.state !== 'ready' || this.out.length === 0 || (this.links !== undefined && this.links.inFlight > 0)) return;
    this.socket!.write(this.out.take());
  }

  /** The shard sockets have nothing in flight: send what waited for them, wake close(). */
  private readonly directIdle = (): void => {
    if (this.out.length > 0) this.flusher.schedule();
    if (this.pending.size === 0) this.wakeIdle();
  };

  /**
   * Asks the daemon for its shard map and connects to the shards' own sockets. PROMISES: resolves (never
   * rejects): without a map or a reachable shard socket every request simply uses the main socket.
   */
  async openShardLinks(): Promise<void> {
    if (this.hello === undefined || this.hello.shards < 2) return;
    const map = await new Promise<ShardMapEntry[] | undefined>((resolve) => {
      this.request(
        (w, id) => w.endFrame(w.beginFrame(Op.SHARD_MAP, id)),
        (op, payload) => {
          try {
            resolve(op === (Op.SHARD_MAP | RESPONSE_BIT) ? parseShardMap(payload) : undefined);
          } catch {
            resolve(undefined);
          }
        },
      );
    });
    if (map === undefined || !map.some((e) => e.socket !== undefined) || this.state === 'closed') return;
    const links = await ShardLinks.open(map, this.hello.maxKeyGroups, this.options.connectTimeoutMs, this.directIdle);
    if ((this.state as State) === 'closed') await links?.close();
    else if (links !== undefined) {
      const old = this.links;
      this.links = links;
      void old?.close();
    }
  }

  private reconnect(): void {
    this.open().then(
      () => {
        this.flushNow();
        // A restarted daemon has new shard sockets: the old links are dead.
        if (this.links !== undefined && !this.links.anyUsable) void this.openShardLinks();
      },
      (e: unknown) => this.failAll(e instanceof FloeError ? e : new FloeError('IO', String(e), { retryable: true })),
    );
  }

  /** Connects and handshakes. PROMISES: resolves in state 'ready', or rejects in state 'broken'/'closed'. */
  open(): Promise<void> {
    this.state = 'connecting';
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.path);
      const parser = new FrameParser(MAX_RESPONSE_FRAME);
      let handshaken = false;
      let lastError: Error | undefined;
      const timer = setTimeout(() => socket.destroy(new Error(`no answer within ${this.options.connectTimeoutMs} ms`)), this.options.connectTimeoutMs);
      const fail = (e: FloeError): void => {
        clearTimeout(timer);
        if (this.state === 'connecting') this.state = 'broken';
        reject(e);
      };
      socket.once('connect', () => {
        const w = new Writer(32);
        writeHello(w, 0);
        socket.write(w.take());
      });
      socket.on('data', (chunk: Buffer) => {
        parser.push(chunk);
        try {
          for (let f = parser.next(); f !== undefined; f = parser.next()) {
            const op = f[4]!;
            const payload = f.length === FRAME_HEADER_BYTES ? EMPTY : f.subarray(FRAME_HEADER_BYTES);
            if (handshaken) {
              this.onFrame(op, readU32(f, 5), payload);
              continue;
            }
            if (op === ERROR_OP) {
              fail(decodeError(payload));
              socket.destroy();
              return;
            }
            if (op !== (Op.HELLO | RESPONSE_BIT)) throw new FloeError('PROTOCOL', `expected the HELLO answer, got opcode ${op}`);
            this.hello = parseHelloOk(payload);
            // From now on a frame longer than the daemon's own limit is a protocol error, not a buffer.
            parser.maxFrameBytes = Math.max(this.hello.maxFrameBytes, FRAME_HEADER_BYTES);
            handshaken = true;
            clearTimeout(timer);
            if (this.state === 'closed') {
              socket.destroy();
              reject(new FloeError('CLOSED', 'this client was closed while connecting'));
              return;
            }
            this.socket = socket;
            this.state = 'ready';
            resolve();
          }
        } catch (e) {
          socket.destroy(e as Error);
        }
      });
      socket.on('error', (e: Error) => {
        lastError = e;
      });
      socket.on('close', () => {
        if (!handshaken) {
          const why = lastError?.message ?? 'the daemon closed the connection during the handshake';
          fail(new FloeError('IO', `cannot connect to the floe daemon at ${this.path}: ${why}. Is it running? Start it with \`floe daemon --config FILE\``, { retryable: true, cause: lastError }));
          return;
        }
        this.onBroken(socket, lastError);
      });
    });
  }

  private onFrame(op: number, id: number, payload: Uint8Array): void {
    const reply = this.pending.get(id);
    if (reply === undefined) return;
    this.pending.delete(id);
    reply(op, payload);
    if (this.pending.size === 0 && (this.links?.inFlight ?? 0) === 0) this.wakeIdle();
  }

  private onBroken(socket: Socket, error: Error | undefined): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    if (this.state !== 'closed') this.state = 'broken';
    this.failAll(
      new FloeError(
        'IO',
        `the connection to the floe daemon at ${this.path} broke${error ? ` (${error.message})` : ''} while this request was in flight; it may or may not have been applied. Retry it if that is safe (the client reconnects on the next request)`,
        { retryable: true },
      ),
    );
  }

  private failAll(e: FloeError): void {
    this.out.length = 0;
    const payload = errorPayload(e);
    const replies = [...this.pending.values()];
    this.pending.clear();
    for (const r of replies) r(ERROR_OP, payload);
    if ((this.links?.inFlight ?? 0) === 0) this.wakeIdle();
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Waits for outstanding requests, then disconnects. Later requests fail with CLOSED. */
  async close(): Promise<void> {
    while (this.pending.size > 0 || (this.links?.inFlight ?? 0) > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.state = 'closed';
    await this.links?.close();
    this.links = undefined;
    const socket = this.socket;
    this.socket = undefined;
    if (socket !== undefined && !socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
      });
    }
  }

  get usable(): boolean {
    return this.state === 'ready' || (this.state === 'broken' && this.options.reconnect);
  }
}

/** A `Store` served by a floe daemon over its Unix socket. */
export class FloeClient extends FrameStore {
  private closing: Promise<void> | undefined;

  constructor(
    private readonly socketTransport: SocketTransport,
    private readonly flushOnClose: boolean,
  ) {
    super(socketTransport);
  }

  /** What the daemon announced in the handshake (version, shards, limits). */
  get server(): ServerHello {
    return this.socketTransport.hello!;
  }

  /**
   * Opens the named store `request` describes on a NEW connection to the same daemon and resolves to a
   * client bound to it (this client stays on the daemon's default store). Fails with the daemon's error
   * (INVALID_ARGUMENT, CORRUPTION, ...) and leaves no connection behind.
   */
  async openStore(request: OpenStoreRequest, options: Omit<ConnectOptions, 'reconnect'> = {}): Promise<FloeNamedStoreClient> {
    const transport = new SocketTransport(this.socketTransport.path, {
      reconnect: false,
      connectTimeoutMs: options.connectTimeoutMs ?? this.socketTransport.connectTimeoutMs,
      flushOnClose: options.flushOnClose ?? true,
    });
    await transport.open();
    const client = new FloeNamedStoreClient(transport, options.flushOnClose ?? true);
    try {
      await client.bind(request);
    } catch (e) {
      await transport.close();
      throw e;
    }
    return client;
  }

  /** Flushes the daemon (unless `flushOnClose: false`), then disconnects. Idempotent. */
  close(): Promise<void> {
    this.storeClosed = true;
    this.closing ??= (async () => {
      let flushError: unknown;
      if (this.flushOnClose && this.socketTransport.usable) {
        try {
          await this.flush();
        } catch (e) {
          flushError = e;
        }
      }
      await this.socketTransport.close();
      if (flushError !== undefined) throw flushError;
    })();
    return this.closing;
  }
}

/** A client bound to one named store of the daemon (see FloeClient.openStore). */
export class FloeNamedStoreClient extends FloeClient {
  private opened: OpenStoreResult | undefined;
  private ending: Promise<void> | undefined;

  constructor(
    private readonly boundTransport: SocketTransport,
    private readonly flushFirst: boolean,
  ) {
    super(boundTransport, flushFirst);
  }

  /** The daemon's answer to OPEN_STORE: name, shard, key groups, whether it was created or restored. */
  get info(): OpenStoreResult {
    return this.opened!;
  }

  /** @internal Sends OPEN_STORE (validated here first: INVALID_ARGUMENT before anything is sent). */
  async bind(request: OpenStoreRequest): Promise<void> {
    this.opened = await this.call(Op.OPEN_STORE, (w, id) => encodeOpenStore(w, id, request), parseOpenStoreOk);
  }

  /**
   * Flushes the store (unless `flushOnClose: false` or `drop`), unbinds (CLOSE_STORE; with `drop: true`
   * the store is retired once no other connection holds it) and disconnects. Idempotent. A fenced binding
   * closes without error (the store belongs to the restore that fenced it).
   */
  override close(options: { drop?: boolean } = {}): Promise<void> {
    this.storeClosed = true;
    this.ending ??= (async () => {
      let failure: unknown;
      if (this.boundTransport.usable) {
        if (this.flushFirst && options.drop !== true) {
          // A fenced binding has nothing of its own left to flush: its close still unbinds, quietly.
          await this.flush().catch((e: unknown) => {
            if (!(e instanceof FloeError && e.code === 'FENCED')) failure = e;
          });
        }
        await this.call(Op.CLOSE_STORE, (w, id) => encodeCloseStore(w, id, options), () => undefined).catch((e: unknown) => {
          failure ??= e;
        });
      }
      await this.boundTransport.close();
      if (failure !== undefined) throw failure;
    })();
    return this.ending;
  }
}

/**
 * Connects to the daemon at `socketPath` and completes the handshake (version check).
 * Fails with IO (retryable) when nobody listens there, VERSION when the daemon speaks another version.
 */
export async function connect(socketPath: string, options: ConnectOptions = {}): Promise<FloeClient> {
  if (typeof socketPath !== 'string' || socketPath.length === 0) {
    throw new FloeError('INVALID_ARGUMENT', 'connect() needs the path of the daemon socket, e.g. /run/floe/floe.sock');
  }
  const transport = new SocketTransport(socketPath, {
    reconnect: options.reconnect ?? true,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    flushOnClose: options.flushOnClose ?? true,
  });
  await transport.open();
  if (options.shardAware ?? true) await transport.openShardLinks();
  return new FloeClient(transport, options.flushOnClose ?? true);
}
