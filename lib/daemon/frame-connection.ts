/**
 * What every daemon connection does with its socket, whichever requests it serves (the main socket,
 * lib/daemon/server.ts; a shard's own socket, lib/daemon/direct-server.ts): frame parsing, backpressure,
 * protocol violations, draining and closing. One copy, so the two sockets cannot drift apart in the rules
 * that bound a connection's memory (they did: shard sockets first lacked the write high water, and a client
 * pipelining GETs of a 1 MiB value without reading made the daemon buffer 2.8 GiB of answers).
 *
 * Backpressure: at most `maxInFlight` requests are being handled, and answers waiting in the socket stay
 * under WRITE_HIGH_WATER; past either, reading stops once CAPPED_READ_AHEAD bytes of requests are buffered.
 */
import type { Socket } from 'node:net';
import type { FloeError } from '../errors.js';
import { asFloeError, writeErrorFrame } from '../protocol/protocol.js';
import { FrameParser, Writer } from '../protocol/wire.js';

/** Response bytes waiting in the socket before we stop reading requests from that client. */
export const WRITE_HIGH_WATER = 8 * 2 ** 20;
/**
 * Request bytes a connection at its in-flight cap (or with WRITE_HIGH_WATER answers unread) is still read
 * ahead before the daemon stops reading it. A client's unread requests sit in the kernel within its socket
 * send buffer (Linux default `net.core.wmem_default`, 208 KiB, counted with overhead), so reading this far
 * reaches the EOF of a client that closed, and frees its slot at once instead of after its requests finish.
 */
export const CAPPED_READ_AHEAD = 256 * 1024;

export abstract class FrameConnection {
  protected readonly parser: FrameParser;
  protected readonly out: Writer;
  inFlight = 0;
  protected paused = false;
  private pumping = false;
  protected closing = false;
  protected draining = false;
  private markDrained!: () => void;
  /** Resolves once draining (startDrain) and nothing is in flight, or once the connection closed. */
  readonly drained: Promise<void>;

  constructor(
    protected readonly socket: Socket,
    maxFrameBytes: number,
    private readonly maxInFlight: number,
    outBytes: number,
  ) {
    this.parser = new FrameParser(maxFrameBytes);
    this.out = new Writer(outBytes);
    this.drained = new Promise((resolve) => (this.markDrained = resolve));
  }

  /** Request bytes received and not yet handled (partial frames, backlog). */
  get bufferedBytes(): number {
    return this.parser.buffered;
  }

  /** Handles one whole frame (HELLO included): dispatches it, or answers it, or calls `violation`. */
  protected abstract handle(frame: Buffer): void;

  /** Called once per protocol violation, before the ERROR frame goes out (counting, logging). */
  protected onViolation(_e: FloeError): void {}

  /** Whether nothing this connection accepted is still unanswered. */
  protected idle(): boolean {
    return this.inFlight === 0;
  }

  /** Starts reading the socket. */
  protected startReading(): void {
    this.socket.on('data', (chunk: Buffer) => {
      // A closing connection handles no more frames: what its peer still sends is read (so its close is
      // seen at once) and dropped, never buffered.
      if (this.closing) return;
      this.parser.push(chunk);
      this.pump();
    });
    this.socket.on('drain', () => this.pump());
    this.socket.resume();
  }

  /** Parses and dispatches buffered frames while the connection may take more work. */
  protected pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.closing && !this.draining && this.inFlight < this.maxInFlight && this.socket.writableLength < WRITE_HIGH_WATER) {
        let frame: Buffer | undefined;
        try {
          frame = this.parser.next();
        } catch (e) {
          this.violation(0, asFloeError(e));
          return;
        }
        if (frame === undefined) break;
        this.handle(frame);
      }
      const capped = this.inFlight >= this.maxInFlight || this.socket.writableLength >= WRITE_HIGH_WATER;
      const mustWait = this.draining || (capped && this.parser.buffered >= CAPPED_READ_AHEAD);
      if (mustWait && !this.paused) {
        this.socket.pause();
        this.paused = true;
      } else if (!mustWait && this.paused && !this.closing) {
        this.paused = false;
        this.socket.resume();
      }
    } finally {
      this.pumping = false;
    }
  }

  /** After answers went out: completes a drain, or takes more work (read-ahead frames may be waiting). */
  protected afterAnswers(): void {
    if (this.draining && this.idle()) this.markDrained();
    else if (this.paused || this.parser.buffered > 0) this.pump();
  }

  /** Answers a protocol violation with one ERROR frame and closes this connection only. */
  protected violation(id: number, e: FloeError): void {
    if (this.closing) return;
    this.onViolation(e);
    writeErrorFrame(this.out, id, e);
    this.closing = true;
    this.parser.clear();
    this.flushNow();
    this.end();
  }

  protected flushNow(): void {
    if (this.out.length === 0 || this.socket.destroyed) return;
    this.socket.write(this.out.take());
  }

  /** Stops reading; `drained` resolves once every request in flight is answered. */
  startDrain(): void {
    this.draining = true;
    if (!this.paused) {
      this.socket.pause();
      this.paused = true;
    }
    if (this.idle()) this.markDrained();
  }

  /** Flushes pending answers and closes the socket (destroyed if the peer does not close within 2 s). */
  end(): void {
    this.closing = true;
    this.flushNow();
    if (this.socket.destroyed) return;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  /** The socket closed (either side). */
  onClosed(): void {
    this.closing = true;
    this.markDrained();
  }
}
