/**
 * Byte-level building blocks of the socket protocol (docs/protocol.md): a growable big-endian `Writer`
 * that builds frames in place, a bounds-checked `Reader` over one payload, and a `FrameParser` that cuts a
 * byte stream into frames without copying complete frames that arrive in one chunk.
 *
 * Nothing here knows opcodes; lib/protocol/protocol.ts gives the bytes their meaning.
 */
import { Buffer } from 'node:buffer';
import { FloeError } from '../errors.js';

/** u32 length + u8 opcode + u32 requestId. */
export const FRAME_HEADER_BYTES = 9;
/** The smallest legal value of the length field (opcode + requestId). */
export const MIN_FRAME_LENGTH = 5;

export function protocolError(message: string): FloeError {
  return new FloeError('PROTOCOL', message);
}

/**
 * Growable output buffer. Frames are written in place: `beginFrame` reserves the header, the caller writes
 * the payload, `endFrame` patches the length. Not thread-safe; one owner.
 */
export class Writer {
  buf: Buffer;
  length = 0;

  constructor(private readonly initialBytes = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  u8(n: number): void {
    this.ensure(1);
    this.buf[this.length++] = n;
  }

  u16(n: number): void {
    this.ensure(2);
    const b = this.buf;
    const o = this.length;
    b[o] = n >>> 8;
    b[o + 1] = n & 0xff;
    this.length = o + 2;
  }

  u32(n: number): void {
    this.ensure(4);
    const b = this.buf;
    const o = this.length;
    b[o] = n >>> 24;
    b[o + 1] = (n >>> 16) & 0xff;
    b[o + 2] = (n >>> 8) & 0xff;
    b[o + 3] = n & 0xff;
    this.length = o + 4;
  }

  /** u64 as two u32 halves (high first). REQUIRES: 0 <= n <= 2^53 - 1 (a safe integer). */
  u64(n: number): void {
    this.u32(Math.floor(n / 0x1_0000_0000));
    this.u32(n >>> 0);
  }

  /** Raw bytes (no length prefix). */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Bytes [start, end) of `src` (no view is allocated). */
  rawFrom(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    this.length += src.copy(this.buf, this.length, start, end);
  }

  /**
   * The items of `owner` in `src`, in order: item i is src[starts[i], starts[i + 1]) and belongs to owners[i].
   * Consecutive items of one owner are copied as one run (splitting a multi-key frame per shard).
   */
  rawRunsOf(src: Buffer, starts: Uint32Array, owners: Int32Array, owner: number): void {
    const n = owners.length;
    for (let i = 0; i < n; i++) {
      if (owners[i] !== owner) continue;
      let j = i + 1;
      while (j < n && owners[j] === owner) j++;
      this.rawFrom(src, starts[i]!, starts[j]!);
      i = j - 1;
    }
  }

  /** Raw bytes or the UTF-8 of a string (no length prefix). */
  rawOrUtf8(input: Uint8Array | string): void {
    if (typeof input !== 'string') return this.raw(input);
    this.ensure(input.length * 3);
    this.length += this.buf.write(input, this.length, 'utf8');
  }

  /** u32 length + bytes (or the UTF-8 of a string). */
  bytes32(input: Uint8Array | string): void {
    if (typeof input !== 'string') {
      this.ensure(4 + input.length);
      this.u32(input.length);
      this.raw(input);
      return;
    }
    this.ensure(4 + input.length * 3);
    const at = this.length;
    this.length += 4;
    const n = this.buf.write(input, this.length, 'utf8');
    this.length += n;
    this.buf.writeUInt32BE(n, at);
  }

  /** Reserves a frame header; returns the frame's start for `endFrame`. */
  beginFrame(opcode: number, requestId: number): number {
    this.ensure(FRAME_HEADER_BYTES);
    const start = this.length;
    this.length += 4;
    this.buf[this.length++] = opcode;
    this.buf.writeUInt32BE(requestId >>> 0, this.length);
    this.length += 4;
    return start;
  }

  /** Patches the length of the frame begun at `start`; returns the frame's total size in bytes. */
  endFrame(start: number): number {
    const total = this.length - start;
    this.buf.writeUInt32BE(total - 4, start);
    return total;
  }

  /** Drops everything written after `start` (a frame that could not be completed). */
  truncate(start: number): void {
    this.length = start;
  }

  /** The written bytes as a view; valid until the next write. */
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  /**
   * Hands the written bytes over and resets. A mostly-full buffer is handed over as is (and replaced); a
   * mostly-empty one is copied out exactly (small copies come from Node's buffer pool) and kept, so
   * frequent small flushes do not allocate a whole buffer each.
   */
  take(): Buffer {
    let out: Buffer;
    if (this.length * 2 >= this.buf.length) {
      out = this.buf.subarray(0, this.length);
      this.buf = Buffer.allocUnsafe(this.initialBytes);
    } else {
      out = Buffer.allocUnsafe(this.length);
      this.buf.copy(out, 0, 0, this.length);
    }
    this.length = 0;
    return out;
  }

  /** Forgets the written bytes (the caller copied them out); a grown buffer goes back to its initial size. */
  reset(): void {
    this.length = 0;
    if (this.buf.length > 4 * this.initialBytes) this.buf = Buffer.allocUnsafe(this.initialBytes);
  }

  /** Copies the written bytes into an exact-size ArrayBuffer (for transfer) and resets, keeping the buffer. */
  takeArrayBuffer(): ArrayBuffer {
    const out = new ArrayBuffer(this.length);
    new Uint8Array(out).set(this.buf.subarray(0, this.length));
    this.length = 0;
    if (this.buf.length > 4 * this.initialBytes) this.buf = Buffer.allocUnsafe(this.initialBytes);
    return out;
  }
}

/**
 * Runs `run` once, later in this event-loop turn, however many times `schedule()` is called before then:
 * how every output buffer here (router → shards, shard → router, daemon → client, client → daemon) turns
 * many small frames into one message or write. `defer` picks how late: setImmediate (default: after
 * pending I/O callbacks, so more work coalesces) or process.nextTick (as soon as the current code yields).
 */
export class Coalescer {
  private scheduled = false;

  constructor(
    private readonly run: () => void,
    private readonly defer: (fn: () => void) => unknown = setImmediate,
  ) {}

  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.defer(this.fire);
  }

  private readonly fire = (): void => {
    this.scheduled = false;
    this.run();
  };
}

/** Bounds-checked big-endian reads over one payload. Every failure is a PROTOCOL error naming `what`. */
export class Reader {
  pos: number;
  readonly end: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    end = buf.length,
    private readonly what = 'payload',
  ) {
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  /** Moves past `n` bytes without making a view of them. */
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) {
      throw protocolError(`malformed ${this.what}: needs ${n} more byte(s) at offset ${this.pos}, only ${this.end - this.pos} left; the frame is truncated or mis-encoded`);
    }
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++]!;
  }

  u16(): number {
    this.need(2);
    const b = this.buf;
    const v = (b[this.pos]! << 8) | b[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const b = this.buf;
    const p = this.pos;
    const v = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
    this.pos = p + 4;
    return v;
  }

  /** u64 (high u32 first); a value above 2^53 - 1 is a PROTOCOL error (not representable exactly). */
  u64(): number {
    const hi = this.u32();
    const lo = this.u32();
    if (hi > 0x1f_ffff) throw protocolError(`malformed ${this.what}: u64 field ${hi} * 2^32 + ${lo} is above 2^53 - 1`);
    return hi * 0x1_0000_0000 + lo;
  }

  /** A view of the next n bytes (no copy). */
  take(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  bytes32(): Uint8Array {
    return this.take(this.u32());
  }

  /** A view of the rest of the payload. */
  rest(): Uint8Array {
    const out = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return out;
  }

  /** PROMISES: throws PROTOCOL unless every byte was consumed. */
  done(): void {
    if (this.pos !== this.end) {
      throw protocolError(`malformed ${this.what}: ${this.end - this.pos} unexpected trailing byte(s)`);
    }
  }
}

export function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

export function writeU32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = (n >>> 16) & 0xff;
  b[at + 2] = (n >>> 8) & 0xff;
  b[at + 3] = n & 0xff;
}

/**
 * Cuts a byte stream into frames. `push` chunks as they arrive, then call `next()` until it returns
 * undefined. A returned frame (header included) is a view into a received chunk when it arrived whole,
 * otherwise one concatenation of the pieces; it is valid until the next `push`.
 * A length outside [MIN_FRAME_LENGTH, maxFrameBytes] throws PROTOCOL as soon as the 4 length bytes are in,
 * without waiting for (or buffering) the body.
 */
export class FrameParser {
  private head: Buffer = Buffer.alloc(0);
  private off = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;

  /** The largest acceptable length field; may be lowered once the peer's limit is known. */
  constructor(public maxFrameBytes: number) {}

  push(chunk: Buffer): void {
    if (this.off === this.head.length && this.tailBytes === 0) {
      this.head = chunk;
      this.off = 0;
      return;
    }
    this.tail.push(chunk);
    this.tailBytes += chunk.length;
  }

  /** Drops every buffered byte (a connection that will read no more frames). */
  clear(): void {
    this.head = Buffer.alloc(0);
    this.off = 0;
    this.tail = [];
    this.tailBytes = 0;
  }

  /** Bytes received but not yet returned as frames. */
  get buffered(): number {
    return this.head.length - this.off + this.tailBytes;
  }

  next(): Buffer | undefined {
    for (;;) {
      const avail = this.head.length - this.off;
      if (avail >= 4) {
        const len = readU32(this.head, this.off);
        if (len < MIN_FRAME_LENGTH || len > this.maxFrameBytes) {
          throw protocolError(
            len < MIN_FRAME_LENGTH
              ? `frame length ${len} is below the minimum of ${MIN_FRAME_LENGTH} (opcode + request id)`
              : `frame length ${len} exceeds the maximum frame size of ${this.maxFrameBytes} bytes; split the request (smaller batches, fewer keys)`,
          );
        }
        const need = 4 + len;
        if (avail >= need) {
          const frame = this.head.subarray(this.off, this.off + need);
          this.off += need;
          return frame;
        }
        if (avail + this.tailBytes < need) return undefined;
      } else if (this.tailBytes === 0 || avail + this.tailBytes < 4) {
        return undefined;
      }
      this.merge();
    }
  }

  private merge(): void {
    this.head = Buffer.concat([this.head.subarray(this.off), ...this.tail]);
    this.off = 0;
    this.tail = [];
    this.tailBytes = 0;
  }
}
