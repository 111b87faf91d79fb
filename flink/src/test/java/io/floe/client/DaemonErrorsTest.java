package io.floe.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** The errors a user meets, against a real daemon: each with its code, and a message saying what to do. */
class DaemonErrorsTest {
  private static DaemonProcess daemon;

  @BeforeAll
  static void startDaemon() throws Exception {
    daemon = DaemonProcess.start();
  }

  @AfterAll
  static void stopDaemon() {
    if (daemon != null) daemon.close();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** The FloeException a future failed with (fails the test if it succeeded or failed otherwise). */
  static FloeException failure(CompletableFuture<?> f) {
    Throwable t = assertThrows(Throwable.class, f::join);
    FloeException e = FloeException.unwrap(t);
    if (e == null) throw new AssertionError("expected a FloeException, got " + t, t);
    return e;
  }

  static FloeException thrown(Executable run) {
    return assertThrows(FloeException.class, run);
  }

  @Test
  void noDaemonAtTheSocketNamesItAndSaysHowToStartOne() throws Exception {
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "floe-java-none-");
    try {
      Path missing = dir.resolve("floe.sock");
      FloeException e = thrown(() -> FloeClient.connect(missing));
      assertEquals(FloeException.Code.IO, e.code());
      assertTrue(e.retryable());
      assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
      assertTrue(e.getMessage().contains("floe daemon --config FILE") && e.getMessage().contains("make run"), e.getMessage());

      Path stale = Files.createFile(dir.resolve("stale.sock")); // a file nobody listens on
      FloeException f = thrown(() -> FloeClient.connect(stale));
      assertEquals(FloeException.Code.IO, f.code());
      assertTrue(f.getMessage().contains(stale.toString()) && f.getMessage().contains("floe daemon --config FILE"), f.getMessage());
    } finally {
      DaemonProcess.removeTree(dir);
    }
  }

  @Test
  void anIncompatibleProtocolVersionIsAVersionError() {
    // The daemon speaks protocol 1 and 2 (docs/protocol.md); a client that needs 9 or later is refused.
    FloeException e = thrown(() -> FloeClient.connect(daemon.socket, ClientOptions.defaults().versions(9, 10)));
    assertEquals(FloeException.Code.VERSION, e.code());
    assertTrue(e.getMessage().contains("9..10") && e.getMessage().contains("upgrade"), e.getMessage());
    // The daemon is unaffected.
    try (FloeClient c = FloeClient.connect(daemon.socket)) {
      assertEquals(2, c.server().version(), "the newest version both speak");
    }
    try (FloeClient c = FloeClient.connect(daemon.socket, ClientOptions.defaults().versions(1, 1))) {
      assertEquals(1, c.server().version(), "a client offering only 1 gets 1");
    }
  }

  @Test
  void requestErrorsAnswerThatRequestOnly() {
    try (FloeClient c = FloeClient.connect(daemon.socket)) {
      // Key group 16 is out of this daemon's range (maxKeyGroups 16): the daemon says so.
      FloeException wrongGroup = failure(c.put(16, utf8("errors/k"), utf8("v")));
      assertEquals(FloeException.Code.INVALID_ARGUMENT, wrongGroup.code());
      assertTrue(wrongGroup.getMessage().contains("16"), wrongGroup.getMessage());
      // Beyond the protocol's range: refused before sending.
      assertEquals(FloeException.Code.INVALID_ARGUMENT, failure(c.get(40000, utf8("errors/k"))).code());
      assertEquals(FloeException.Code.INVALID_ARGUMENT, failure(c.put(1, null, utf8("v"))).code());
      assertEquals(FloeException.Code.INVALID_ARGUMENT, failure(c.put(1, new byte[0], utf8("v"))).code(), "empty key");

      // A bad batch is rejected as a whole: its valid put is not applied.
      FloeException badBatch = failure(c.write(List.of(
          WriteOp.put(1, utf8("errors/batch-ok"), utf8("v")),
          WriteOp.put(1, new byte[0], utf8("v")))));
      assertEquals(FloeException.Code.INVALID_ARGUMENT, badBatch.code());
      assertNull(c.get(1, utf8("errors/batch-ok")).join(), "nothing of a rejected batch is applied");
      assertEquals(FloeException.Code.INVALID_ARGUMENT, failure(c.write(List.of(WriteOp.put(20, utf8("errors/x"), utf8("v"))))).code());

      // An unknown cursor.
      assertEquals(FloeException.Code.INVALID_ARGUMENT, failure(c.scanNext(123456)).code());

      // The connection is still fine.
      c.put(1, utf8("errors/after"), utf8("ok")).join();
      assertArrayEquals(utf8("ok"), c.get(1, utf8("errors/after")).join());
    }
  }

  @Test
  void aClosedClientFailsWithClosed() {
    FloeClient c = FloeClient.connect(daemon.socket);
    c.put(2, utf8("errors/closed"), utf8("v")).join();
    c.close();
    c.close(); // idempotent
    FloeException e = failure(c.get(2, utf8("errors/closed")));
    assertEquals(FloeException.Code.CLOSED, e.code());
  }

  @Test
  void closingFromACompletionCallbackDoesNotWaitForItself() throws Exception {
    FloeClient c = FloeClient.connect(daemon.socket);
    CompletableFuture<Void> pending = c.put(2, utf8("errors/callback"), utf8("v"));
    c.ping(utf8("x")).thenRun(c::close).get(30, TimeUnit.SECONDS); // runs on the client's reader thread
    pending.handle((v, e) -> null).get(30, TimeUnit.SECONDS);
    assertEquals(FloeException.Code.CLOSED, failure(c.get(2, utf8("errors/callback"))).code());
  }

  @Test
  void killingTheDaemonMidFlightFailsInFlightRequestsWithRetryableIo() throws Exception {
    try (DaemonProcess own = DaemonProcess.start()) {
      FloeClient c = FloeClient.connect(own.socket);
      List<CompletableFuture<Void>> sent = new ArrayList<>();
      AtomicInteger acked = new AtomicInteger();
      CompletableFuture<Void> firstFailure = new CompletableFuture<>();
      // Keep the pipeline full until the connection breaks; the daemon is killed after 2000 acks.
      Thread load = new Thread(() -> {
        for (int i = 0; !firstFailure.isDone() && i < 10_000_000; i++) {
          CompletableFuture<Void> f = c.put(i % 16, utf8("kill/" + i), new byte[64]);
          f.whenComplete((v, e) -> {
            if (e == null) acked.incrementAndGet();
            else firstFailure.complete(null);
          });
          synchronized (sent) {
            sent.add(f);
          }
        }
      });
      load.start();
      while (acked.get() < 2000) Thread.sleep(1);
      own.kill();
      load.join(60_000);
      List<CompletableFuture<Void>> all;
      synchronized (sent) {
        all = new ArrayList<>(sent);
      }
      // Every request is answered or failed, soon (the reader thread fails them one after another).
      CompletableFuture.allOf(all.toArray(new CompletableFuture<?>[0])).handle((v, e) -> null).get(30, TimeUnit.SECONDS);
      int failed = 0;
      for (CompletableFuture<Void> f : all) {
        if (!f.isCompletedExceptionally()) continue;
        FloeException e = failure(f);
        assertEquals(FloeException.Code.IO, e.code(), e.getMessage());
        assertTrue(e.retryable());
        assertTrue(e.getMessage().contains(own.socket.toString()), e.getMessage());
        failed++;
      }
      assertTrue(failed > 0, "some requests were in flight when the daemon died (" + all.size() + " sent)");
      // Later requests fail at once, retryable, saying the connection is broken.
      FloeException later = failure(c.get(0, utf8("kill/0")));
      assertEquals(FloeException.Code.IO, later.code());
      assertTrue(later.retryable() && later.getMessage().contains("broken"), later.getMessage());
      c.close(); // nothing to flush through a broken connection: a clean close
    }
  }
}
