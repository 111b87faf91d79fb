package io.floe.client;

/**
 * Constants of the daemon socket protocol, versions 1 and 2 (docs/protocol.md is the contract;
 * lib/daemon/protocol.ts is the daemon's side; test/golden/protocol/ pins example frames for both).
 *
 * <p>Frame: {@code [u32 length][u8 opcode][u32 requestId][payload]}, big-endian; length = 5 + payload bytes.
 */
public final class Protocol {
  private Protocol() {}

  /** The newest version this client speaks (and offers); of version 2 it uses DELETE_RANGE only. */
  public static final int VERSION = 2;
  public static final int MIN_VERSION = 1;
  static final byte[] MAGIC = {0x46, 0x4c, 0x4f, 0x45}; // "FLOE"

  public static final int HELLO = 0x01;
  public static final int PING = 0x02;
  public static final int PUT = 0x10;
  public static final int GET = 0x11;
  public static final int DELETE = 0x12;
  public static final int MERGE = 0x13;
  public static final int WRITE = 0x14;
  public static final int MULTI_GET = 0x15;
  public static final int SCAN = 0x16;
  public static final int SCAN_NEXT = 0x17;
  public static final int SCAN_CLOSE = 0x18;
  /** Version 2. */
  public static final int DELETE_RANGE = 0x1b;
  public static final int FLUSH = 0x20;
  public static final int CHECKPOINT = 0x21;
  public static final int RELEASE_CHECKPOINT = 0x22;
  public static final int STATS = 0x23;
  public static final int OPEN_STORE = 0x30;
  public static final int CLOSE_STORE = 0x31;

  /** CLOSE_STORE flag: retire the store now (as an ephemeral one) once no other connection holds it. */
  static final int CLOSE_STORE_DROP = 1;

  public static final int RESPONSE_BIT = 0x80;
  public static final int ERROR = 0xff;

  /** The wire value of the kg field meaning "the default key group (murmur3 hash of the key)". */
  static final int DEFAULT_KG = 0xffff;
  /** MULTI_GET response length meaning "absent". */
  static final long ABSENT = 0xffffffffL;
  /** Key groups are u16 on the wire and below this bound (Flink's limit, and Floe's). */
  public static final int MAX_KEY_GROUPS = 32768;

  static final int DELETE_RANGE_FLAG_KEY_GROUP = 1;
  static final int DELETE_RANGE_FLAG_GTE = 2;
  static final int DELETE_RANGE_FLAG_LT = 4;

  static final int SCAN_FLAG_KEY_GROUP = 1;
  static final int SCAN_FLAG_LIMIT = 2;
  static final int SCAN_FLAG_GTE = 4;
  static final int SCAN_FLAG_LT = 8;
  static final int SCAN_FLAG_PREFIX = 16;

  /** u32 length + u8 opcode + u32 requestId. */
  static final int FRAME_HEADER_BYTES = 9;
  /** The smallest legal length field (opcode + requestId). */
  static final int MIN_FRAME_LENGTH = 5;
  public static final int DEFAULT_MAX_IN_FLIGHT = 1024;
  public static final int MAX_PING_BYTES = 64 * 1024;

  /** A readable name of an opcode, for error messages. */
  static String opName(int op) {
    if (op == ERROR) return "ERROR";
    String base;
    switch (op & ~RESPONSE_BIT) {
      case HELLO: base = "HELLO"; break;
      case PING: base = "PING"; break;
      case PUT: base = "PUT"; break;
      case GET: base = "GET"; break;
      case DELETE: base = "DELETE"; break;
      case MERGE: base = "MERGE"; break;
      case WRITE: base = "WRITE"; break;
      case MULTI_GET: base = "MULTI_GET"; break;
      case SCAN: base = "SCAN"; break;
      case SCAN_NEXT: base = "SCAN_NEXT"; break;
      case SCAN_CLOSE: base = "SCAN_CLOSE"; break;
      case DELETE_RANGE: base = "DELETE_RANGE"; break;
      case FLUSH: base = "FLUSH"; break;
      case CHECKPOINT: base = "CHECKPOINT"; break;
      case RELEASE_CHECKPOINT: base = "RELEASE_CHECKPOINT"; break;
      case STATS: base = "STATS"; break;
      case OPEN_STORE: base = "OPEN_STORE"; break;
      case CLOSE_STORE: base = "CLOSE_STORE"; break;
      default: return String.format("0x%02x", op);
    }
    return (op & RESPONSE_BIT) != 0 ? base + "_OK" : base;
  }
}
