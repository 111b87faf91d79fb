package io.floe.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A growable big-endian output buffer in which frames are written in place: {@link #beginFrame} reserves the
 * header, the caller writes the payload, {@link #endFrame} patches the length (as lib/daemon/wire.ts Writer).
 * Not thread-safe: one owner at a time.
 */
final class FrameWriter {
  private final int initialBytes;
  private byte[] buf;
  private int length;

  FrameWriter(int initialBytes) {
    this.initialBytes = initialBytes;
    this.buf = new byte[initialBytes];
  }

  int length() {
    return length;
  }

  private void ensure(int extra) {
    long need = (long) length + extra;
    if (need <= buf.length) return;
    if (need > Integer.MAX_VALUE - 8) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "the request does not fit in one frame (over 2 GiB); split it");
    }
    long size = Math.max(buf.length * 2L, need);
    buf = Arrays.copyOf(buf, (int) Math.min(size, Integer.MAX_VALUE - 8));
  }

  void u8(int n) {
    ensure(1);
    buf[length++] = (byte) n;
  }

  void u16(int n) {
    ensure(2);
    buf[length++] = (byte) (n >>> 8);
    buf[length++] = (byte) n;
  }

  void u32(long n) {
    ensure(4);
    putU32(buf, length, n);
    length += 4;
  }

  void raw(byte[] bytes) {
    ensure(bytes.length);
    System.arraycopy(bytes, 0, buf, length, bytes.length);
    length += bytes.length;
  }

  void utf8(String s) {
    raw(s.getBytes(StandardCharsets.UTF_8));
  }

  /** u32 length + bytes. */
  void bytes32(byte[] bytes) {
    ensure(4 + bytes.length);
    u32(bytes.length);
    raw(bytes);
  }

  /** Reserves a frame header; returns the frame's start for {@link #endFrame}. */
  int beginFrame(int opcode, int requestId) {
    ensure(Protocol.FRAME_HEADER_BYTES);
    int start = length;
    length += 4;
    buf[length++] = (byte) opcode;
    putU32(buf, length, Integer.toUnsignedLong(requestId));
    length += 4;
    return start;
  }

  /** Patches the length of the frame begun at {@code start}; returns the frame's total size in bytes. */
  int endFrame(int start) {
    int total = length - start;
    putU32(buf, start, total - 4);
    return total;
  }

  /** Drops everything written after {@code start} (a frame that could not be completed). */
  void truncate(int start) {
    length = start;
  }

  /** A copy of the written bytes. */
  byte[] toByteArray() {
    return Arrays.copyOf(buf, length);
  }

  /** Writes every buffered byte to {@code channel} (blocking), then empties the buffer (shrinking a grown one). */
  void drainTo(WritableByteChannel channel) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(buf, 0, length);
    while (b.hasRemaining()) channel.write(b);
    length = 0;
    if (buf.length > 4 * initialBytes) buf = new byte[initialBytes];
  }

  static void putU32(byte[] b, int at, long n) {
    b[at] = (byte) (n >>> 24);
    b[at + 1] = (byte) (n >>> 16);
    b[at + 2] = (byte) (n >>> 8);
    b[at + 3] = (byte) n;
  }
}
