package io.floe.client;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Bounds-checked big-endian reads over one payload; every failure is a PROTOCOL error naming {@code what}. */
final class FrameReader {
  private final byte[] buf;
  private int pos;
  private final int end;
  private final String what;

  FrameReader(byte[] buf, String what) {
    this(buf, 0, buf.length, what);
  }

  FrameReader(byte[] buf, int start, int end, String what) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    this.what = what;
  }

  int remaining() {
    return end - pos;
  }

  private void need(long n) {
    if (pos + n > end) {
      throw Codec.protocolError("malformed " + what + ": needs " + n + " more byte(s) at offset " + pos + ", only " + (end - pos)
          + " left; the frame is truncated or mis-encoded");
    }
  }

  int u8() {
    need(1);
    return buf[pos++] & 0xff;
  }

  int u16() {
    need(2);
    int v = (buf[pos] & 0xff) << 8 | (buf[pos + 1] & 0xff);
    pos += 2;
    return v;
  }

  long u32() {
    need(4);
    long v = getU32(buf, pos);
    pos += 4;
    return v;
  }

  /** A copy of the next n bytes. */
  byte[] take(long n) {
    need(n);
    byte[] out = Arrays.copyOfRange(buf, pos, pos + (int) n);
    pos += (int) n;
    return out;
  }

  byte[] bytes32() {
    return take(u32());
  }

  byte[] rest() {
    return take(end - pos);
  }

  String restUtf8() {
    String s = new String(buf, pos, end - pos, StandardCharsets.UTF_8);
    pos = end;
    return s;
  }

  /** Throws PROTOCOL unless every byte was consumed. */
  void done() {
    if (pos != end) throw Codec.protocolError("malformed " + what + ": " + (end - pos) + " unexpected trailing byte(s)");
  }

  static long getU32(byte[] b, int at) {
    return ((long) (b[at] & 0xff) << 24) | (b[at + 1] & 0xff) << 16 | (b[at + 2] & 0xff) << 8 | (b[at + 3] & 0xff);
  }
}
