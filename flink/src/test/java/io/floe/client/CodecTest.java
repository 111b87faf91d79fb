package io.floe.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Round trips of the codec on random inputs (seeded: -Dfloe.seed=N reproduces a run), validation before
 * writing, malformed payloads as PROTOCOL errors, and the default key group hash.
 */
class CodecTest {
  private static byte[] randomBytes(Random r, int max) {
    byte[] b = new byte[r.nextInt(max + 1)];
    r.nextBytes(b);
    return b;
  }

  /** Decodes one request frame the way the daemon reads it (docs/protocol.md), as a readable string. */
  private static String readRequest(byte[] frame) {
    FrameReader r = new FrameReader(frame, "frame");
    long len = r.u32();
    assertEquals(frame.length - 4, len, "length field");
    int op = r.u8();
    long id = r.u32();
    StringBuilder s = new StringBuilder(Protocol.opName(op) + " #" + id);
    if (op == Protocol.WRITE) {
      long n = r.u32();
      for (long i = 0; i < n; i++) {
        int type = r.u8();
        s.append(" [").append(type).append(' ').append(r.u16()).append(' ').append(Golden.hex(r.bytes32()));
        if (type != 2) s.append('=').append(Golden.hex(r.bytes32()));
        s.append(']');
      }
    } else if (op == Protocol.PUT || op == Protocol.MERGE) {
      s.append(' ').append(r.u16()).append(' ').append(Golden.hex(r.bytes32())).append('=').append(Golden.hex(r.rest()));
    }
    r.done();
    return s.toString();
  }

  private static String describe(int op, long id, List<WriteOp> ops) {
    StringBuilder s = new StringBuilder(Protocol.opName(op) + " #" + id);
    for (WriteOp o : ops) {
      s.append(" [").append(o.type().wire).append(' ').append(o.keyGroup() == KeyGroups.DEFAULT ? 0xffff : o.keyGroup())
          .append(' ').append(Golden.hex(o.key()));
      if (o.type() != WriteOp.Type.DELETE) s.append('=').append(Golden.hex(o.value()));
      s.append(']');
    }
    return s.toString();
  }

  @Test
  void storeOptionsAreValidatedAsTheDaemonDoesAndWrittenAsItsJson() {
    for (String bad : new String[] {"", "/abs", "a/../b", "a b", "x".repeat(201), "caf\u00e9"}) {
      FloeException e = assertThrows(FloeException.class, () -> StoreOptions.of(bad, 128), bad);
      assertEquals(FloeException.Code.INVALID_ARGUMENT, e.code());
      assertTrue(e.getMessage().contains("[A-Za-z0-9._/-]"), e.getMessage());
    }
    assertThrows(FloeException.class, () -> StoreOptions.of("s", 0));
    assertThrows(FloeException.class, () -> StoreOptions.of("s", 32769));
    assertThrows(FloeException.class, () -> StoreOptions.of("s", 128).keyGroups(5, 4));
    assertThrows(FloeException.class, () -> StoreOptions.of("s", 128).keyGroups(0, 128));
    assertThrows(FloeException.class, () -> StoreOptions.of("s", 128).keyGroups(-1, 3));
    StoreOptions o = StoreOptions.of("flink/j1/op_1/sub-0/att-0", 128).keyGroups(64, 127)
        .restore(List.of(new CheckpointHandle("{\"a\":1}"), new CheckpointHandle("{\"b\":[2]}"))).ephemeral(true);
    assertEquals("{\"name\":\"flink/j1/op_1/sub-0/att-0\",\"maxKeyGroups\":128,\"keyGroups\":[64,127],"
        + "\"restore\":[{\"a\":1},{\"b\":[2]}],\"ephemeral\":true}", o.toJson());
    assertEquals("{\"name\":\"s\",\"maxKeyGroups\":4,\"keyGroups\":[0,3],\"restore\":[]}", StoreOptions.of("s", 4).restore(List.of()).toJson(),
        "an empty restore list is sent (start empty), unlike no restore at all");
  }

  @Test
  void storeInfoRejectsAnswersMissingFields() {
    FloeException e = assertThrows(FloeException.class, () -> StoreInfo.parse("{\"name\":\"s\",\"shard\":0}"));
    assertEquals(FloeException.Code.PROTOCOL, e.code());
    assertEquals(FloeException.Code.PROTOCOL, assertThrows(FloeException.class, () -> StoreInfo.parse("{not json")).code());
  }

  @Test
  void randomBatchesAndPutsRoundTrip() {
    Random r = new Random(TestSeed.seed("CodecTest"));
    for (int round = 0; round < 300; round++) {
      List<WriteOp> ops = new ArrayList<>();
      int n = r.nextInt(20);
      for (int i = 0; i < n; i++) {
        int kg = r.nextBoolean() ? KeyGroups.DEFAULT : r.nextInt(Protocol.MAX_KEY_GROUPS);
        byte[] key = randomBytes(r, 40);
        switch (r.nextInt(3)) {
          case 0: ops.add(WriteOp.put(kg, key, randomBytes(r, 300))); break;
          case 1: ops.add(WriteOp.delete(kg, key)); break;
          default: ops.add(WriteOp.merge(kg, key, randomBytes(r, 300)));
        }
      }
      int id = r.nextInt();
      FrameWriter w = new FrameWriter(8);
      Codec.write(w, id, ops);
      assertEquals(describe(Protocol.WRITE, Integer.toUnsignedLong(id), ops), readRequest(w.toByteArray()));

      byte[] key = randomBytes(r, 50);
      byte[] value = randomBytes(r, 5000);
      w = new FrameWriter(8);
      Codec.keyValue(w, Protocol.PUT, id, 3, key, value);
      assertEquals("PUT #" + Integer.toUnsignedLong(id) + " 3 " + Golden.hex(key) + "=" + Golden.hex(value), readRequest(w.toByteArray()));
    }
  }

  @Test
  void pagesAndMultiGetAnswersRoundTrip() {
    Random r = new Random(TestSeed.seed("CodecTest"));
    for (int round = 0; round < 200; round++) {
      FrameWriter w = new FrameWriter(8);
      long cursor = Integer.toUnsignedLong(r.nextInt());
      boolean done = r.nextBoolean();
      int n = r.nextInt(30);
      w.u32(cursor);
      w.u8(done ? 1 : 0);
      w.u32(n);
      List<ScanEntry> entries = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        ScanEntry e = new ScanEntry(r.nextInt(Protocol.MAX_KEY_GROUPS), randomBytes(r, 30), randomBytes(r, 100));
        entries.add(e);
        w.u16(e.keyGroup());
        w.bytes32(e.key());
        w.bytes32(e.value());
      }
      ScanPage page = Codec.parsePage(w.toByteArray());
      assertEquals(cursor, page.cursor());
      assertEquals(done, page.done());
      assertEquals(n, page.entries().size());
      for (int i = 0; i < n; i++) {
        assertEquals(entries.get(i).keyGroup(), page.entries().get(i).keyGroup());
        assertArrayEquals(entries.get(i).key(), page.entries().get(i).key());
        assertArrayEquals(entries.get(i).value(), page.entries().get(i).value());
      }

      w = new FrameWriter(8);
      List<byte[]> values = new ArrayList<>();
      w.u32(n);
      for (int i = 0; i < n; i++) {
        byte[] v = r.nextInt(3) == 0 ? null : randomBytes(r, 50);
        values.add(v);
        if (v == null) w.u32(Protocol.ABSENT);
        else w.bytes32(v);
      }
      List<byte[]> got = Codec.parseMultiGetOk(w.toByteArray(), n);
      for (int i = 0; i < n; i++) {
        if (values.get(i) == null) assertNull(got.get(i));
        else assertArrayEquals(values.get(i), got.get(i));
      }
    }
  }

  @Test
  void errorsRoundTripWithCodeRetryableAndPath() {
    for (FloeException.Code code : FloeException.Code.values()) {
      for (boolean retryable : new boolean[] {false, true}) {
        FrameWriter w = new FrameWriter(8);
        Codec.errorFrame(w, 42, new FloeException(code, "what to do: ü", retryable, "p/ä", null));
        byte[] f = w.toByteArray();
        FloeException e = Codec.decodeError(java.util.Arrays.copyOfRange(f, Protocol.FRAME_HEADER_BYTES, f.length));
        assertEquals(code, e.code());
        assertEquals(retryable, e.retryable());
        assertEquals("p/ä", e.path());
        assertEquals("what to do: ü", e.getMessage());
      }
    }
  }

  @Test
  void invalidArgumentsLeaveTheWriterUntouched() {
    FrameWriter w = new FrameWriter(8);
    Codec.empty(w, Protocol.FLUSH, 1);
    int before = w.length();
    byte[] k = "k".getBytes(StandardCharsets.UTF_8);
    List<Runnable> bad = List.of(
        () -> Codec.keyValue(w, Protocol.PUT, 2, Protocol.MAX_KEY_GROUPS, k, k),
        () -> Codec.keyValue(w, Protocol.PUT, 2, -2, k, k),
        () -> Codec.keyValue(w, Protocol.PUT, 2, 0, null, k),
        () -> Codec.keyOnly(w, Protocol.GET, 2, 0, null),
        () -> Codec.write(w, 2, java.util.Arrays.asList(WriteOp.put(0, k, k), WriteOp.put(0, k, null))),
        () -> Codec.write(w, 2, java.util.Arrays.asList(WriteOp.put(0, k, k), null)),
        () -> Codec.multiGet(w, 2, 0, java.util.Arrays.asList(k, null)),
        () -> Codec.scan(w, 2, ScanOptions.all().limit(-1)),
        () -> Codec.scan(w, 2, ScanOptions.all().keyGroup(40000)),
        () -> Codec.ping(w, 2, new byte[Protocol.MAX_PING_BYTES + 1]));
    for (Runnable b : bad) {
      FloeException e = assertThrows(FloeException.class, b::run);
      assertEquals(FloeException.Code.INVALID_ARGUMENT, e.code(), e.getMessage());
      assertEquals(before, w.length(), "nothing written for: " + e.getMessage());
    }
  }

  @Test
  void malformedPayloadsAreProtocolErrors() {
    List<Runnable> bad = List.of(
        () -> Codec.parsePage(new byte[] {0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 1}),
        () -> Codec.parsePage(new byte[] {0, 0, 0, 1, 1, 0, 0, 0, 0, 9}),
        () -> Codec.parseMultiGetOk(new byte[] {0, 0, 0, 2, 0, 0, 0, 0}, 2),
        () -> Codec.parseMultiGetOk(new byte[] {0, 0, 0, 1, 0, 0, 0, 0}, 2),
        () -> Codec.parseGetOk(new byte[0]),
        () -> Codec.parseHelloOk(new byte[] {0, 1}),
        () -> Codec.decodeError(new byte[] {0, 9, 'I', 'O'}));
    for (Runnable b : bad) {
      FloeException e = assertThrows(FloeException.class, b::run);
      assertEquals(FloeException.Code.PROTOCOL, e.code(), e.getMessage());
      assertTrue(e.getMessage().startsWith("malformed") || e.getMessage().contains("MULTI_GET"), e.getMessage());
    }
  }

  @Test
  void defaultKeyGroupIsMurmur3() {
    // Reference values of MurmurHash3 x86_32 (seed 0), as lib/keys.ts computes them.
    assertEquals(0, KeyGroups.murmur3_32(new byte[0], 0));
    assertEquals(0x514e28b7, KeyGroups.murmur3_32(new byte[0], 1));
    assertEquals(0xba6bd213, KeyGroups.murmur3_32("test".getBytes(StandardCharsets.UTF_8), 0));
    assertEquals(0x2e4ff723, KeyGroups.murmur3_32("The quick brown fox jumps over the lazy dog".getBytes(StandardCharsets.UTF_8), 0));
    assertEquals(Integer.remainderUnsigned(0xba6bd213, 128), KeyGroups.defaultKeyGroup("test".getBytes(StandardCharsets.UTF_8), 128));
  }
}
