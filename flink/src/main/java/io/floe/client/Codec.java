package io.floe.client;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Encoders of request frames and decoders of response payloads (docs/protocol.md), byte for byte as
 * lib/daemon/protocol.ts; test/golden/protocol/ pins both. Encoders validate their arguments before writing
 * anything (INVALID_ARGUMENT), so a rejected request leaves the writer untouched.
 */
final class Codec {
  private Codec() {}

  static FloeException protocolError(String message) {
    return new FloeException(FloeException.Code.PROTOCOL, message);
  }

  private static byte[] need(byte[] bytes, String what) {
    if (bytes == null) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, what + " must not be null; pass a byte array");
    return bytes;
  }

  // ------------------------------------------------------------------ handshake

  static void hello(FrameWriter w, int id, int minVersion, int maxVersion) {
    int start = w.beginFrame(Protocol.HELLO, id);
    w.raw(Protocol.MAGIC);
    w.u16(minVersion);
    w.u16(maxVersion);
    w.endFrame(start);
  }

  static ServerHello parseHelloOk(byte[] payload) {
    FrameReader r = new FrameReader(payload, "HELLO response");
    return new ServerHello(r.u16(), r.u16(), r.u32(), r.u32(), r.u32(), r.restUtf8());
  }

  /** The daemon's side of the handshake answer (for the golden frames and tests). */
  static void helloOk(FrameWriter w, int id, ServerHello h) {
    int start = w.beginFrame(Protocol.HELLO | Protocol.RESPONSE_BIT, id);
    w.u16(h.version());
    w.u16(h.shards());
    w.u32(h.maxKeyGroups());
    w.u32(h.maxFrameBytes());
    w.u32(h.maxInFlight());
    w.utf8(h.server());
    w.endFrame(start);
  }

  // ------------------------------------------------------------------ requests

  /** PUT and MERGE: u16 kg, bytes32 key, rest value. */
  static void keyValue(FrameWriter w, int op, int id, int keyGroup, byte[] key, byte[] value) {
    int kg = KeyGroups.wireValue(keyGroup, "");
    need(key, "key");
    need(value, op == Protocol.MERGE ? "merge operand" : "value");
    int start = w.beginFrame(op, id);
    w.u16(kg);
    w.bytes32(key);
    w.raw(value);
    w.endFrame(start);
  }

  /** GET and DELETE: u16 kg, rest key. */
  static void keyOnly(FrameWriter w, int op, int id, int keyGroup, byte[] key) {
    int kg = KeyGroups.wireValue(keyGroup, "");
    need(key, "key");
    int start = w.beginFrame(op, id);
    w.u16(kg);
    w.raw(key);
    w.endFrame(start);
  }

  static void write(FrameWriter w, int id, List<WriteOp> ops) {
    if (ops == null) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "write() takes a list of WriteOp operations, got null");
    for (int i = 0; i < ops.size(); i++) { // validate everything before writing anything
      WriteOp o = ops.get(i);
      if (o == null) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "write(): operation " + i + " is null");
      KeyGroups.wireValue(o.keyGroup(), "write(): operation " + i + ": ");
      need(o.key(), "write(): operation " + i + " key");
      if (o.type() != WriteOp.Type.DELETE) need(o.value(), "write(): operation " + i + " value");
    }
    int start = w.beginFrame(Protocol.WRITE, id);
    w.u32(ops.size());
    for (WriteOp o : ops) {
      w.u8(o.type().wire);
      w.u16(KeyGroups.wireValue(o.keyGroup(), ""));
      w.bytes32(o.key());
      if (o.type() != WriteOp.Type.DELETE) w.bytes32(o.value());
    }
    w.endFrame(start);
  }

  static void multiGet(FrameWriter w, int id, int keyGroup, List<byte[]> keys) {
    if (keys == null) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "multiGet() takes a list of keys, got null");
    int kg = KeyGroups.wireValue(keyGroup, "");
    for (int i = 0; i < keys.size(); i++) need(keys.get(i), "multiGet(): key " + i);
    int start = w.beginFrame(Protocol.MULTI_GET, id);
    w.u16(kg);
    w.u32(keys.size());
    for (byte[] k : keys) w.bytes32(k);
    w.endFrame(start);
  }

  /**
   * DELETE_RANGE (version 2): u8 flags (1 key group, 2 gte, 4 lt), u16 kg, [bytes32 gte], [bytes32 lt].
   * {@code keyGroup} null: the range in every key group; {@code gte}/{@code lt} null: unbounded on that side.
   */
  static void deleteRange(FrameWriter w, int id, Integer keyGroup, byte[] gte, byte[] lt) {
    int kg = keyGroup == null ? 0 : KeyGroups.wireValue(keyGroup, "deleteRange(): ");
    if (keyGroup != null && kg == Protocol.DEFAULT_KG) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "deleteRange() needs an explicit key group (or null for every key group), not the default key group");
    }
    int flags = (keyGroup != null ? Protocol.DELETE_RANGE_FLAG_KEY_GROUP : 0) | (gte != null ? Protocol.DELETE_RANGE_FLAG_GTE : 0)
        | (lt != null ? Protocol.DELETE_RANGE_FLAG_LT : 0);
    int start = w.beginFrame(Protocol.DELETE_RANGE, id);
    w.u8(flags);
    w.u16(kg);
    if (gte != null) w.bytes32(gte);
    if (lt != null) w.bytes32(lt);
    w.endFrame(start);
  }

  static void scan(FrameWriter w, int id, ScanOptions o) {
    if (o == null) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "scan() takes ScanOptions (ScanOptions.all() for everything), got null");
    if (o.keyGroup != null) KeyGroups.wireValue(o.keyGroup, "scan(): ");
    if (o.limit != null && o.limit < 0) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "scan(): limit must be a non-negative number, got " + o.limit);
    }
    if (o.pageBytes < 0) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "scan(): pageBytes must be >= 0 (0 = default), got " + o.pageBytes);
    int flags = 0;
    if (o.keyGroup != null) flags |= Protocol.SCAN_FLAG_KEY_GROUP;
    if (o.limit != null && o.limit < Protocol.ABSENT) flags |= Protocol.SCAN_FLAG_LIMIT;
    if (o.gte != null) flags |= Protocol.SCAN_FLAG_GTE;
    if (o.lt != null) flags |= Protocol.SCAN_FLAG_LT;
    if (o.prefix != null) flags |= Protocol.SCAN_FLAG_PREFIX;
    int start = w.beginFrame(Protocol.SCAN, id);
    w.u8(flags);
    w.u16(o.keyGroup != null ? o.keyGroup : 0);
    w.u32((flags & Protocol.SCAN_FLAG_LIMIT) != 0 ? o.limit : 0);
    w.u32(o.pageBytes);
    if (o.gte != null) w.bytes32(o.gte);
    if (o.lt != null) w.bytes32(o.lt);
    if (o.prefix != null) w.bytes32(o.prefix);
    w.endFrame(start);
  }

  /** SCAN_NEXT and SCAN_CLOSE: u32 cursor. */
  static void cursor(FrameWriter w, int op, int id, long cursor) {
    int start = w.beginFrame(op, id);
    w.u32(cursor);
    w.endFrame(start);
  }

  /** FLUSH, CHECKPOINT, STATS: no payload. */
  static void empty(FrameWriter w, int op, int id) {
    w.endFrame(w.beginFrame(op, id));
  }

  static void ping(FrameWriter w, int id, byte[] data) {
    need(data, "ping data");
    if (data.length > Protocol.MAX_PING_BYTES) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "ping data is " + data.length + " bytes, over the limit of " + Protocol.MAX_PING_BYTES);
    }
    int start = w.beginFrame(Protocol.PING, id);
    w.raw(data);
    w.endFrame(start);
  }

  static void releaseCheckpoint(FrameWriter w, int id, CheckpointHandle handle) {
    if (handle == null) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "not a Floe checkpoint handle: pass the handle that checkpoint() returned");
    }
    int start = w.beginFrame(Protocol.RELEASE_CHECKPOINT, id);
    w.utf8(handle.json());
    w.endFrame(start);
  }

  /** OPEN_STORE: rest = the request JSON. */
  static void openStore(FrameWriter w, int id, StoreOptions o) {
    if (o == null) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "openStore() takes StoreOptions (StoreOptions.of(name, maxKeyGroups)), got null");
    int start = w.beginFrame(Protocol.OPEN_STORE, id);
    w.utf8(o.toJson());
    w.endFrame(start);
  }

  /** CLOSE_STORE: u8 flags (bit 0 drop). */
  static void closeStore(FrameWriter w, int id, boolean drop) {
    int start = w.beginFrame(Protocol.CLOSE_STORE, id);
    w.u8(drop ? Protocol.CLOSE_STORE_DROP : 0);
    w.endFrame(start);
  }

  // ------------------------------------------------------------------ responses

  /** GET ok: u8 found, rest value. Null when not found. */
  static byte[] parseGetOk(byte[] payload) {
    if (payload.length < 1) throw protocolError("malformed GET response: empty payload");
    return payload[0] == 1 ? Arrays.copyOfRange(payload, 1, payload.length) : null;
  }

  /** MULTI_GET ok: values in request order, null where absent. */
  static List<byte[]> parseMultiGetOk(byte[] payload, int expected) {
    FrameReader r = new FrameReader(payload, "MULTI_GET response");
    long n = r.u32();
    if (n != expected) throw protocolError("MULTI_GET response has " + n + " values for " + expected + " keys");
    List<byte[]> out = new ArrayList<>(expected);
    for (int i = 0; i < n; i++) {
      long len = r.u32();
      out.add(len == Protocol.ABSENT ? null : r.take(len));
    }
    r.done();
    return out;
  }

  static ScanPage parsePage(byte[] payload) {
    FrameReader r = new FrameReader(payload, "scan page");
    long cursor = r.u32();
    boolean done = r.u8() == 1;
    long count = r.u32();
    // Each entry takes at least 10 bytes: a count beyond that is malformed (and must not size a list).
    if (count * 10 > r.remaining()) throw protocolError("malformed scan page: " + count + " entries cannot fit in " + r.remaining() + " bytes");
    List<ScanEntry> entries = new ArrayList<>((int) count);
    for (long i = 0; i < count; i++) {
      int kg = r.u16();
      byte[] key = r.bytes32();
      byte[] value = r.bytes32();
      entries.add(new ScanEntry(kg, key, value));
    }
    r.done();
    return new ScanPage(cursor, done, entries);
  }

  static String parseUtf8(byte[] payload) {
    return new String(payload, StandardCharsets.UTF_8);
  }

  // ------------------------------------------------------------------ errors

  /** Rebuilds the error of an ERROR payload (an unknown code becomes PROTOCOL, saying so). */
  static FloeException decodeError(byte[] payload) {
    FrameReader r = new FrameReader(payload, "ERROR payload");
    int flags = r.u8();
    String code = new String(r.take(r.u8()), StandardCharsets.ISO_8859_1);
    String path = new String(r.take(r.u16()), StandardCharsets.UTF_8);
    String message = r.restUtf8();
    FloeException.Code c = FloeException.Code.parse(code);
    if (c == null) {
      return new FloeException(FloeException.Code.PROTOCOL, "the daemon answered with unknown error code \"" + code + "\": " + message);
    }
    return new FloeException(c, message, (flags & 1) == 1, path, null);
  }

  /** The daemon's ERROR frame for {@code e} (for the golden frames and tests). */
  static void errorFrame(FrameWriter w, int id, FloeException e) {
    int start = w.beginFrame(Protocol.ERROR, id);
    w.u8(e.retryable() ? 1 : 0);
    byte[] code = e.code().name().getBytes(StandardCharsets.ISO_8859_1);
    w.u8(code.length);
    w.raw(code);
    byte[] path = e.path().getBytes(StandardCharsets.UTF_8);
    int pathLength = Math.min(path.length, 0xffff);
    w.u16(pathLength);
    w.raw(Arrays.copyOf(path, pathLength));
    w.utf8(e.getMessage());
    w.endFrame(start);
  }
}
