package io.floe.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * The Java codec against the golden frames of test/golden/protocol/, which test/protocol-golden.test.ts pins
 * for the TypeScript side: the same inputs must give the same bytes, and the same bytes the same values.
 */
class GoldenFramesTest {
  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static String frame(Consumer<FrameWriter> fill) {
    FrameWriter w = new FrameWriter(16); // small: the frames also exercise the growth path
    fill.accept(w);
    return Golden.hex(w.toByteArray());
  }

  private static byte[] payload(byte[] frame) {
    return Arrays.copyOfRange(frame, Protocol.FRAME_HEADER_BYTES, frame.length);
  }

  @Test
  void requestFramesMatchTheGoldenBytes() {
    assertEquals(Golden.hex(Golden.bytes("hello")), frame(w -> Codec.hello(w, 1, 1, 1)), "HELLO id 1, versions 1..1");
    assertEquals(Golden.hex(Golden.bytes("put")), frame(w -> Codec.keyValue(w, Protocol.PUT, 2, 7, utf8("k"), utf8("v"))), "PUT kg 7");
    assertEquals(Golden.hex(Golden.bytes("get")), frame(w -> Codec.keyOnly(w, Protocol.GET, 3, KeyGroups.DEFAULT, utf8("k"))), "GET default kg");
    assertEquals(Golden.hex(Golden.bytes("delete")), frame(w -> Codec.keyOnly(w, Protocol.DELETE, 4, 7, utf8("k"))), "DELETE kg 7");
    assertEquals(Golden.hex(Golden.bytes("merge")), frame(w -> Codec.keyValue(w, Protocol.MERGE, 8, KeyGroups.DEFAULT, utf8("k"), utf8("+"))), "MERGE");
    assertEquals(Golden.hex(Golden.bytes("write")), frame(w -> Codec.write(w, 5, List.of(
        WriteOp.put(1, utf8("a"), utf8("b")),
        WriteOp.delete(KeyGroups.DEFAULT, utf8("c")),
        WriteOp.merge(KeyGroups.DEFAULT, new byte[] {(byte) 0xff}, new byte[0])))), "WRITE");
    assertEquals(Golden.hex(Golden.bytes("multi-get")), frame(w -> Codec.multiGet(w, 6, 2, List.of(utf8("x"), utf8("yz")))), "MULTI_GET");
    assertEquals(Golden.hex(Golden.bytes("scan")), frame(w -> Codec.scan(w, 7, ScanOptions.all().keyGroup(3).limit(10).prefix(utf8("p")))), "SCAN");
    assertEquals(Golden.hex(Golden.bytes("scan-next")), frame(w -> Codec.cursor(w, Protocol.SCAN_NEXT, 10, 5)), "SCAN_NEXT");
    assertEquals(Golden.hex(Golden.bytes("flush")), frame(w -> Codec.empty(w, Protocol.FLUSH, 11)), "FLUSH");
  }

  @Test
  void versionTwoFramesTheClientSendsMatchTheGoldenBytes() {
    assertEquals(Golden.hex(Golden.bytes("hello-v2")), frame(w -> Codec.hello(w, 1, Protocol.MIN_VERSION, Protocol.VERSION)), "HELLO id 1, versions 1..2");
    assertEquals(Golden.hex(Golden.bytes("delete-range")), frame(w -> Codec.deleteRange(w, 17, 3, utf8("a"), utf8("m"))), "DELETE_RANGE kg 3 [a, m)");
  }

  @Test
  void namedStoreFramesMatchTheGoldenBytes() {
    StoreOptions open = StoreOptions.of("job-3f2a/op-7/sub-0", 128).keyGroups(0, 63).ephemeral(true);
    assertEquals(Golden.hex(Golden.bytes("open-store")), frame(w -> Codec.openStore(w, 12, open)), "OPEN_STORE");
    assertEquals(Golden.hex(Golden.bytes("close-store")), frame(w -> Codec.closeStore(w, 13, true)), "CLOSE_STORE drop");
    StoreInfo info = StoreInfo.parse(new String(Golden.bytes("open-store-ok.payload"), StandardCharsets.UTF_8));
    assertEquals(new StoreInfo("job-3f2a/op-7/sub-0", 1, 128, 0, 63, false, true), info);
  }

  @Test
  void daemonFramesMatchTheGoldenBytes() {
    ServerHello h = new ServerHello(1, 2, 128, 1024, 16, "f");
    assertEquals(Golden.hex(Golden.bytes("hello-ok")), frame(w -> Codec.helloOk(w, 1, h)));
    assertEquals(h, Codec.parseHelloOk(payload(Golden.bytes("hello-ok"))));
    assertEquals(Golden.hex(Golden.bytes("error-busy")),
        frame(w -> Codec.errorFrame(w, 9, new FloeException(FloeException.Code.BUSY, "slow down", true, "", null))));
    assertEquals(Golden.hex(Golden.bytes("error-corruption")),
        frame(w -> Codec.errorFrame(w, 1, new FloeException(FloeException.Code.CORRUPTION, "bad block", false, "sst/x.sst", null))));
  }

  @Test
  void responsesDecodeFromTheGoldenBytes() {
    byte[] getOk = Golden.bytes("get-ok");
    assertEquals(Protocol.GET | Protocol.RESPONSE_BIT, getOk[4] & 0xff);
    assertArrayEquals(utf8("v"), Codec.parseGetOk(payload(getOk)));
    assertNull(Codec.parseGetOk(new byte[] {0}), "not found");

    ScanPage page = Codec.parsePage(Golden.bytes("page.payload"));
    assertEquals(5, page.cursor());
    assertFalse(page.done());
    assertEquals(1, page.entries().size());
    assertEquals(4, page.entries().get(0).keyGroup());
    assertArrayEquals(utf8("k"), page.entries().get(0).key());
    assertArrayEquals(utf8("vv"), page.entries().get(0).value());

    List<byte[]> values = Codec.parseMultiGetOk(Golden.bytes("multi-get-ok.payload"), 2);
    assertNull(values.get(0));
    assertArrayEquals(utf8("A"), values.get(1));

    FloeException busy = Codec.decodeError(payload(Golden.bytes("error-busy")));
    assertEquals(FloeException.Code.BUSY, busy.code());
    assertTrue(busy.retryable());
    assertEquals("slow down", busy.getMessage());
    assertEquals("", busy.path());

    FloeException corruption = Codec.decodeError(payload(Golden.bytes("error-corruption")));
    assertEquals(FloeException.Code.CORRUPTION, corruption.code());
    assertFalse(corruption.retryable());
    assertEquals("sst/x.sst", corruption.path());
    assertEquals("bad block", corruption.getMessage());

    FloeException unknown = Codec.decodeError(Golden.bytes("error-unknown-code.payload"));
    assertEquals(FloeException.Code.PROTOCOL, unknown.code(), "an unknown code becomes PROTOCOL");
    assertTrue(unknown.getMessage().contains("FOO"), unknown.getMessage());
  }
}
