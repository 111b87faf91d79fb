package io.floe.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The client's side of the protocol against a scripted peer (FakeDaemon): what a real daemon never does. */
class ClientProtocolTest {
  @Test
  void aDaemonChoosingAnotherVersionIsAVersionError() throws Exception {
    try (FakeDaemon d = new FakeDaemon((f, c) -> FakeDaemon.answerHello(c, 7))) {
      FloeException e = assertThrows(FloeException.class, () -> FloeClient.connect(d.socket));
      assertEquals(FloeException.Code.VERSION, e.code());
      assertTrue(e.getMessage().contains("version 7") && e.getMessage().contains("upgrade the older side"), e.getMessage());
      assertNull(d.failure);
    }
  }

  @Test
  void noAnswerToHelloTimesOut() throws Exception {
    CountDownLatch done = new CountDownLatch(1);
    try (FakeDaemon d = new FakeDaemon((f, c) -> done.await())) {
      FloeException e = assertThrows(FloeException.class,
          () -> FloeClient.connect(d.socket, ClientOptions.defaults().connectTimeout(Duration.ofMillis(300))));
      assertEquals(FloeException.Code.IO, e.code());
      assertTrue(e.retryable());
      assertTrue(e.getMessage().contains("no answer to HELLO within 300 ms") && e.getMessage().contains(d.socket.toString()), e.getMessage());
    } finally {
      done.countDown();
    }
  }

  @Test
  void aPeerHangingUpDuringTheHandshakeIsACannotConnectError() throws Exception {
    try (FakeDaemon d = new FakeDaemon((f, c) -> FakeDaemon.readFrame(c))) { // reads HELLO, then closes
      FloeException e = assertThrows(FloeException.class, () -> FloeClient.connect(d.socket));
      assertEquals(FloeException.Code.IO, e.code());
      assertTrue(e.retryable());
      assertTrue(e.getMessage().contains("broke during the handshake") && e.getMessage().contains("floe daemon --config FILE"), e.getMessage());
    }
  }

  @Test
  void aMalformedFrameBreaksTheConnection() throws Exception {
    try (FakeDaemon d = new FakeDaemon((f, c) -> {
      FakeDaemon.answerHello(c, 1);
      FakeDaemon.readFrame(c);
      FakeDaemon.write(c, new byte[] {0, 0, 0, 2, (byte) 0x90, 0}); // length 2 < 5
      Thread.sleep(5000);
    })) {
      try (FloeClient client = FloeClient.connect(d.socket, ClientOptions.defaults().flushOnClose(false))) {
        Throwable t = assertThrows(Throwable.class, () -> client.put(1, new byte[] {1}, new byte[0]).join());
        FloeException e = FloeException.unwrap(t);
        assertEquals(FloeException.Code.IO, e.code());
        assertTrue(e.retryable() && e.getMessage().contains("malformed frame") && e.getMessage().contains("frame length 2"), e.getMessage());
      }
    }
  }

  @Test
  void anAnswerOfTheWrongKindIsAProtocolError() throws Exception {
    try (FakeDaemon d = new FakeDaemon((f, c) -> {
      FakeDaemon.answerHello(c, 1);
      Object[] get = FakeDaemon.readFrame(c);
      FrameWriter w = new FrameWriter(64);
      Codec.empty(w, Protocol.PUT | Protocol.RESPONSE_BIT, (int) get[1]); // a PUT answer to a GET
      FakeDaemon.write(c, w.toByteArray());
      Object[] ping = FakeDaemon.readFrame(c);
      w = new FrameWriter(64);
      int s = w.beginFrame(Protocol.PING | Protocol.RESPONSE_BIT, (int) ping[1]);
      w.raw((byte[]) ping[2]);
      w.endFrame(s);
      FakeDaemon.write(c, w.toByteArray());
      Thread.sleep(5000);
    })) {
      try (FloeClient client = FloeClient.connect(d.socket, ClientOptions.defaults().flushOnClose(false))) {
        FloeException e = FloeException.unwrap(assertThrows(Throwable.class, () -> client.get(1, new byte[] {1}).join()));
        assertEquals(FloeException.Code.PROTOCOL, e.code());
        assertTrue(e.getMessage().contains("expected a GET_OK response, got PUT_OK"), e.getMessage());
        assertEquals("still usable", new String(client.ping("still usable".getBytes()).join()));
      }
    }
  }

  /**
   * Frames queued while a write is blocked go out together: the peer does not read for a while, so the
   * socket buffer fills and the requests issued meanwhile pile up into a few large writes.
   */
  @Test
  void framesIssuedDuringAWriteAreCoalesced() throws Exception {
    int n = 3000;
    try (FakeDaemon d = new FakeDaemon((f, c) -> {
      FakeDaemon.answerHello(c, 1);
      Thread.sleep(500); // let the socket buffer fill up
      for (int i = 0; i < n; i++) {
        Object[] put = FakeDaemon.readFrame(c);
        FrameWriter w = new FrameWriter(16);
        Codec.empty(w, Protocol.PUT | Protocol.RESPONSE_BIT, (int) put[1]);
        FakeDaemon.write(c, w.toByteArray());
      }
      Thread.sleep(5000);
    })) {
      try (FloeClient client = FloeClient.connect(d.socket, ClientOptions.defaults().flushOnClose(false).maxInFlight(n))) {
        List<CompletableFuture<Void>> puts = new ArrayList<>();
        for (int i = 0; i < n; i++) puts.add(client.put(i % 16, ("c/" + i).getBytes(), new byte[1000]));
        CompletableFuture.allOf(puts.toArray(new CompletableFuture<?>[0])).get(60, TimeUnit.SECONDS);
        assertEquals(n, client.requestsSent());
        assertTrue(client.socketWrites() * 10 < n, n + " requests in " + client.socketWrites() + " socket writes");
        System.out.println("coalescing: " + n + " requests in " + client.socketWrites() + " socket writes");
      }
      assertNull(d.failure);
    }
  }
}
