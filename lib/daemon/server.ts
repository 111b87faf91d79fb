/**
 * The daemon's Unix-socket server: accepts connections, cuts their byte streams into frames
 * (docs/protocol.md), handles HELLO, PING and SHARD_MAP itself and hands every other request to the router.
 *
 * - Socket file: mode 0600 (created under umask 0177, then chmod'ed). A leftover socket nobody listens on
 *   is removed; a live one is an error ("another daemon is listening"); a non-socket file is left alone.
 * - `listen()` binds the socket BEFORE the store is opened (binding is the atomic "only one daemon" check,
 *   so a second daemon fails before it can claim — and fence — the shards); connections accepted before
 *   `start(router)` wait unread until then.
 * - Backpressure: a connection with `maxInFlight` requests outstanding, or with too many response bytes
 *   not yet taken by the client, handles no more requests until that drains; it is still read up to
 *   CAPPED_READ_AHEAD bytes, so that a client that closes behind a backlog is noticed at once.
 * - A protocol violation (bad length, unparsable payload, unknown opcode, no HELLO, wrong version) gets
 *   one ERROR frame and closes that connection only; what the peer sends after it is read and dropped.
 * - Memory per connection: at most `maxInFlight` requests being handled, one partial frame (at most
 *   maxFrameBytes, refused at its length field beyond that) or CAPPED_READ_AHEAD bytes of waiting requests,
 *   and WRITE_HIGH_WATER bytes of unread answers.
 * - Responses produced in one event-loop turn go out in one socket write.
 * - `shutdown()`: stop accepting, stop reading, wait for in-flight requests, flush responses, close.
 *   Closing the router (flushing shards) is the caller's next step (lib/daemon/daemon.ts).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FloeError } from '../errors.js';
import {
  asFloeError,
  decodeError,
  ERROR_OP,
  MAX_PING_BYTES,
  negotiateHello,
  Op,
  opName,
  RESPONSE_BIT,
  writeErrorFrame,
  writeHelloOk,
} from '../protocol/protocol.js';
import type { LogFn, Reply, Router, RouterSession } from './router.js';
import { openShardHandles } from './route-handles.js';
import { Coalescer, FRAME_HEADER_BYTES, readU32, Writer } from '../protocol/wire.js';
import { FrameConnection } from './frame-connection.js';
import { writeShardMap } from '../protocol/shard-map.js';

export interface ServerOptions {
  socketPath: string;
  maxInFlight: number;
  maxFrameBytes: number;
  maxConnections: number;
  /** Informational name sent in the HELLO answer. */
  serverName: string;
  log: LogFn;
}

export interface ServerStats {
  connections: number;
  connectionsTotal: number;
  inFlight: number;
  requests: Record<string, number>;
  errors: Record<string, number>;
  protocolViolations: number;
  /** Request bytes received and not yet handled, over all connections (partial frames, backlog). */
  bufferedBytes: number;
  /** Shard-side snapshot and iterator parts (protocol 2) open for all connections (one per shard spanned). */
  readHandles: number;
}

export class DaemonServer {
  private server: Server | undefined;
  private readonly connections = new Set<Connection>();
  private nextConnection = 1;
  private connectionsTotal = 0;
  private draining = false;
  readonly requestCounts = new Float64Array(256);
  readonly errorCounts = new Map<string, number>();
  protocolViolations = 0;

  private routerRef: Router | undefined;
  private readonly waiting: Connection[] = [];

  constructor(readonly options: ServerOptions) {}

  get router(): Router {
    return this.routerRef!;
  }

  /** Starts serving requests with `router` (connections accepted earlier are read from now on). */
  start(router: Router): void {
    this.routerRef = router;
    for (const c of this.waiting.splice(0)) c.begin();
  }

  /** Prepares the socket path (stale-socket handling) and listens. */
  async listen(): Promise<void> {
    const path = this.options.socketPath;
    await prepareSocketPath(path, this.options.log);
    const server = createServer({ allowHalfOpen: false }, (socket) => this.accept(socket));
    const previous = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EADDRINUSE') throw anotherDaemon(path);
      throw new FloeError('IO', `cannot listen on ${path}: ${(e as Error).message}`, { cause: e });
    } finally {
      process.umask(previous);
    }
    await chmod(path, 0o600);
    server.on('error', (e) => this.options.log('error', 'server_error', { error: e.message }));
    this.server = server;
    this.options.log('info', 'listening', { socket: path, mode: '0600' });
  }

  private accept(socket: Socket): void {
    if (this.draining || this.connections.size >= this.options.maxConnections) {
      const w = new Writer(256);
      writeErrorFrame(
        w,
        0,
        this.draining
          ? new FloeError('CLOSED', 'the daemon is shutting down; reconnect to its successor', { retryable: true })
          : new FloeError('BUSY', `the daemon already serves ${this.options.maxConnections} connections (maxConnections); close idle ones or raise the limit`, { retryable: true }),
      );
      socket.end(w.take());
      return;
    }
    const conn = new Connection(this.nextConnection++, socket, this);
    if (this.routerRef === undefined) this.waiting.push(conn);
    else conn.begin();
    this.connections.add(conn);
    this.connectionsTotal++;
    this.options.log('debug', 'connection_opened', { connection: conn.id });
    socket.on('close', () => {
      this.connections.delete(conn);
      conn.onClosed();
      this.options.log('debug', 'connection_closed', { connection: conn.id });
    });
  }

  countError(code: string): void {
    this.errorCounts.set(code, (this.errorCounts.get(code) ?? 0) + 1);
  }

  stats(): ServerStats {
    const requests: Record<string, number> = {};
    this.requestCounts.forEach((n, op) => {
      if (n > 0) requests[opName(op)] = n;
    });
    let inFlight = 0;
    let bufferedBytes = 0;
    for (const c of this.connections) {
      inFlight += c.inFlight;
      bufferedBytes += c.bufferedBytes;
    }
    return {
      connections: this.connections.size,
      connectionsTotal: this.connectionsTotal,
      inFlight,
      requests,
      errors: Object.fromEntries(this.errorCounts),
      protocolViolations: this.protocolViolations,
      bufferedBytes,
      readHandles: this.routerRef === undefined ? 0 : openShardHandles(this.routerRef.bus),
    };
  }

  /**
   * Stops accepting and reading, waits (at most `timeoutMs`) for in-flight requests to be answered,
   * flushes the answers and closes every connection. PROMISES: resolves; reports whether it drained.
   */
  async shutdown(timeoutMs: number): Promise<{ drained: boolean }> {
    this.draining = true;
    for (const c of this.waiting.splice(0)) c.end();
    const server = this.server;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const c of this.connections) c.startDrain();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const drained = await Promise.race([Promise.all([...this.connections].map((c) => c.drained)).then(() => true), timedOut]);
    clearTimeout(timer);
    for (const c of this.connections) c.end();
    await closed;
    return { drained };
  }
}

class Connection extends FrameConnection {
  private session: RouterSession | undefined;
  private readonly flusher = new Coalescer(() => this.flushNow(), process.nextTick);
  /** One Reply for every request of this connection; the tag is the client's request id. */
  private readonly onReply: Reply = (op, payload, id) => this.respond(id, op, payload);

  constructor(
    readonly id: number,
    socket: Socket,
    private readonly server: DaemonServer,
  ) {
    super(socket, server.options.maxFrameBytes, server.options.maxInFlight, 16 * 1024);
    socket.pause();
    socket.on('error', (e) => this.server.options.log('debug', 'connection_error', { connection: id, error: e.message }));
  }

  /** Starts reading (once the server has its router). */
  begin(): void {
    this.startReading();
  }

  protected handle(frame: Buffer): void {
    const op = frame[4]!;
    const id = readU32(frame, 5);
    const server = this.server;
    server.requestCounts[op]!++;
    if (this.session === undefined) {
      if (op !== Op.HELLO) {
        this.violation(id, new FloeError('PROTOCOL', `the first frame on a connection must be HELLO (0x01), got ${opName(op)}; see docs/protocol.md`));
        return;
      }
      try {
        const version = negotiateHello(frame.subarray(FRAME_HEADER_BYTES));
        const router = server.router;
        writeHelloOk(this.out, id, {
          version,
          shards: router.shardCount,
          maxKeyGroups: router.maxKeyGroups,
          maxFrameBytes: server.options.maxFrameBytes,
          maxInFlight: server.options.maxInFlight,
          server: server.options.serverName,
        });
        this.session = router.openSession();
        this.session.version = version;
        this.flusher.schedule();
      } catch (e) {
        this.violation(id, asFloeError(e));
      }
      return;
    }
    if (op === Op.HELLO) {
      this.violation(id, new FloeError('PROTOCOL', 'HELLO was already sent on this connection'));
      return;
    }
    if (op === Op.PING) {
      const payload = frame.subarray(FRAME_HEADER_BYTES);
      if (payload.length > MAX_PING_BYTES) {
        this.violation(id, new FloeError('PROTOCOL', `PING payload of ${payload.length} bytes is over the limit of ${MAX_PING_BYTES}`));
        return;
      }
      const start = this.out.beginFrame(Op.PING | RESPONSE_BIT, id);
      this.out.raw(payload);
      this.out.endFrame(start);
      this.flusher.schedule();
      return;
    }
    if (op === Op.SHARD_MAP) {
      const start = this.out.beginFrame(Op.SHARD_MAP | RESPONSE_BIT, id);
      writeShardMap(this.out, server.router.shardMap());
      this.out.endFrame(start);
      this.flusher.schedule();
      return;
    }
    this.inFlight++;
    this.session.dispatch(frame, this.onReply, id);
  }

  private respond(id: number, op: number, payload: Uint8Array): void {
    this.inFlight--;
    if (!this.socket.destroyed && !this.closing) {
      if (op === ERROR_OP) {
        const e = decodeError(payload);
        this.server.countError(e.code);
        if (e.code === 'PROTOCOL') {
          this.violation(id, e);
          return;
        }
      }
      const max = this.server.options.maxFrameBytes;
      if (payload.length + 5 > max) {
        writeErrorFrame(
          this.out,
          id,
          new FloeError('INVALID_ARGUMENT', `the answer would be ${payload.length + 5} bytes, over the maximum frame size of ${max}; ask for less (fewer keys per multiGet)`),
        );
      } else {
        const w = this.out;
        w.ensure(FRAME_HEADER_BYTES + payload.length);
        const start = w.beginFrame(op, id);
        if (payload.length > 0) w.raw(payload);
        w.endFrame(start);
      }
      this.flusher.schedule();
    }
    this.afterAnswers();
  }

  protected override onViolation(e: FloeError): void {
    this.server.protocolViolations++;
    this.server.options.log('warn', 'protocol_violation', { connection: this.id, error: e });
  }

  override onClosed(): void {
    super.onClosed();
    this.session?.close();
  }
}

function anotherDaemon(path: string): FloeError {
  return new FloeError('BUSY', `another daemon is listening on ${path}; stop it first, or give this one another socket path (config key "socket" or FLOE_SOCKET)`);
}

/**
 * Makes `path` ready to listen on: creates its folder (0700) if missing; removes a stale socket (a socket
 * file nobody accepts connections on); refuses a live socket or a file that is not a socket.
 */
export async function prepareSocketPath(path: string, log: LogFn): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  let st;
  try {
    st = await lstat(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new FloeError('IO', `cannot inspect socket path ${path}: ${(e as Error).message}`, { cause: e });
  }
  if (!st.isSocket()) {
    throw new FloeError('CONFIG', `socket path ${path} exists and is not a socket; remove it or choose another path (config key "socket" or FLOE_SOCKET)`);
  }
  const live = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (live) throw anotherDaemon(path);
  await unlink(path).catch((e: NodeJS.ErrnoException) => {
    if (e.code !== 'ENOENT') throw new FloeError('IO', `cannot remove the stale socket ${path}: ${e.message}`, { cause: e });
  });
  log('info', 'stale_socket_removed', { socket: path });
}
