package io.floe.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The client against a real daemon (2 shards, 16 key groups), checked against a model: a seeded random
 * sequence of puts, merges, deletes, batches, gets, multiGets and scans, issued in rounds of hundreds without
 * waiting (pipelined), each read checked against the model as it was when the read was issued (the daemon
 * gives read-your-writes in request order). -Dfloe.seed=N reproduces a run. The other tests share one
 * daemon and keep to their own keys.
 */
class DaemonModelTest {
  private static final int KEY_GROUPS = 16;
  private static DaemonProcess daemon;

  @BeforeAll
  static void startDaemon() throws Exception {
    daemon = DaemonProcess.start();
  }

  @AfterAll
  static void stopDaemon() throws Exception {
    if (daemon != null) daemon.close();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A pending read and what to check once it completes (in the test thread, so failures are plain). */
  private record Check<T>(String what, CompletableFuture<T> future, Consumer<T> check) {
    void run() {
      check.accept(future.join());
    }
  }

  private static final class Run {
    final Random r;
    final FloeClient client;
    final Model model = new Model();
    final List<Check<?>> checks = new ArrayList<>();
    final List<CompletableFuture<?>> writes = new ArrayList<>();
    int issued;

    Run(long seed, FloeClient client) {
      this.r = new Random(seed);
      this.client = client;
    }

    /** Explicit key groups mostly; some keys ride on the default key group (the daemon's murmur3). */
    int keyGroup(byte[] key) {
      return key[0] == 'd' ? KeyGroups.defaultKeyGroup(key, KEY_GROUPS) : r.nextInt(KEY_GROUPS);
    }

    byte[] key() {
      return utf8("abd".charAt(r.nextInt(3)) + "/" + r.nextInt(40));
    }

    byte[] value() {
      byte[] v = new byte[r.nextInt(60)];
      for (int i = 0; i < v.length; i++) v[i] = (byte) ('a' + r.nextInt(26));
      return v;
    }

    /** The key group argument for the request: DEFAULT for default-hashed keys. */
    static int arg(byte[] key, int kg) {
      return key[0] == 'd' ? KeyGroups.DEFAULT : kg;
    }

    <T> void check(String what, CompletableFuture<T> f, Consumer<T> c) {
      checks.add(new Check<>(what, f, c));
    }

    void step() {
      issued++;
      int dice = r.nextInt(100);
      byte[] key = key();
      int kg = keyGroup(key);
      if (dice < 25) {
        byte[] v = value();
        model.put(kg, key, v);
        writes.add(client.put(arg(key, kg), key, v));
      } else if (dice < 40) {
        byte[] v = value();
        model.merge(kg, key, v);
        writes.add(client.merge(arg(key, kg), key, v));
      } else if (dice < 48) {
        model.delete(kg, key);
        writes.add(client.delete(arg(key, kg), key));
      } else if (dice < 58) {
        List<WriteOp> ops = new ArrayList<>();
        for (int i = r.nextInt(12); i >= 0; i--) {
          byte[] k = key();
          int g = keyGroup(k);
          WriteOp o = switch (r.nextInt(3)) {
            case 0 -> WriteOp.put(arg(k, g), k, value());
            case 1 -> WriteOp.merge(arg(k, g), k, value());
            default -> WriteOp.delete(arg(k, g), k);
          };
          ops.add(o);
          model.apply(o, g);
        }
        writes.add(client.write(ops));
      } else if (dice < 78) {
        byte[] expected = model.get(kg, key);
        check("get " + kg + "/" + new String(key, StandardCharsets.UTF_8), client.get(arg(key, kg), key), v -> assertArrayEquals(expected, v));
      } else if (dice < 90) {
        int g = r.nextInt(KEY_GROUPS);
        List<byte[]> keys = new ArrayList<>();
        List<byte[]> expected = new ArrayList<>();
        for (int i = r.nextInt(20); i >= 0; i--) {
          byte[] k = utf8("ab".charAt(r.nextInt(2)) + "/" + r.nextInt(40));
          keys.add(k);
          expected.add(model.get(g, k));
        }
        check("multiGet kg " + g, client.multiGet(g, keys), vs -> {
          assertEquals(expected.size(), vs.size());
          for (int i = 0; i < vs.size(); i++) assertArrayEquals(expected.get(i), vs.get(i), "multiGet key " + i);
        });
      } else {
        scan();
      }
    }

    void scan() {
      Integer g = r.nextInt(3) == 0 ? null : r.nextInt(KEY_GROUPS);
      byte[] prefix = r.nextInt(3) == 0 ? utf8("abd".charAt(r.nextInt(3)) + "/") : null;
      byte[] gte = r.nextInt(4) == 0 ? utf8("a/" + r.nextInt(40)) : null;
      byte[] lt = r.nextInt(4) == 0 ? utf8("b/" + r.nextInt(40)) : null;
      Long limit = r.nextInt(4) == 0 ? (long) r.nextInt(50) : null;
      ScanOptions o = ScanOptions.all().pageBytes(4096); // the smallest page: scans take several pages
      if (g != null) o = o.keyGroup(g);
      if (prefix != null) o = o.prefix(prefix);
      if (gte != null) o = o.gte(gte);
      if (lt != null) o = o.lt(lt);
      if (limit != null) o = o.limit(limit);
      List<ScanEntry> expected = model.scan(g, gte, lt, prefix, limit);
      check("scan kg " + g + " limit " + limit, client.scanAll(o), got -> assertSameEntries(expected, got));
    }

    /** Waits for every request of the round and runs the checks. */
    void settle() {
      CompletableFuture.allOf(writes.toArray(new CompletableFuture<?>[0])).join();
      for (Check<?> c : checks) {
        try {
          c.run();
        } catch (AssertionError e) {
          throw new AssertionError(c.what() + " after " + issued + " ops: " + e.getMessage(), e);
        }
      }
      writes.clear();
      checks.clear();
    }
  }

  static void assertSameEntries(List<ScanEntry> expected, List<ScanEntry> got) {
    assertEquals(expected.size(), got.size(), "entry count");
    for (int i = 0; i < expected.size(); i++) {
      ScanEntry e = expected.get(i);
      ScanEntry g = got.get(i);
      if (e.keyGroup() != g.keyGroup() || !java.util.Arrays.equals(e.key(), g.key()) || !java.util.Arrays.equals(e.value(), g.value())) {
        fail("entry " + i + ": expected " + show(e) + ", got " + show(g));
      }
    }
  }

  private static String show(ScanEntry e) {
    return e.keyGroup() + "/" + new String(e.key(), StandardCharsets.UTF_8) + "=" + new String(e.value(), StandardCharsets.UTF_8);
  }

  @Test
  void randomOperationsMatchTheModelWithHundredsInFlight() throws Exception {
    long seed = TestSeed.seed("DaemonModelTest");
    // Its own daemon: the model starts from an empty store.
    try (DaemonProcess own = DaemonProcess.start(); FloeClient client = FloeClient.connect(own.socket)) {
      assertEquals(KEY_GROUPS, client.server().maxKeyGroups());
      assertEquals(2, client.server().shards());
      Run run = new Run(seed, client);
      for (int round = 0; round < 12; round++) {
        int n = 200 + run.r.nextInt(400);
        for (int i = 0; i < n; i++) run.step();
        if (round % 4 == 3) run.writes.add(client.flush());
        run.settle();
      }
      System.out.println("model test: " + run.issued + " ops, " + client.requestsSent() + " requests in " + client.socketWrites()
          + " socket writes, peak " + client.peakInFlight() + " in flight, " + run.model.size() + " keys");
      assertTrue(client.peakInFlight() >= 100, "requests were pipelined: peak in flight " + client.peakInFlight());
      assertTrue(client.peakInFlight() <= client.maxInFlight(), "peak " + client.peakInFlight() + " within the bound " + client.maxInFlight());
      // A second connection sees the same store, entry for entry.
      try (FloeClient other = FloeClient.connect(own.socket)) {
        assertSameEntries(run.model.scan(null, null, null, null, null), other.scanAll(ScanOptions.all().pageBytes(4096)).join());
      }
      assertTrue(run.model.size() > 50, "the model holds " + run.model.size() + " keys");
    }
  }

  @Test
  void aSmallInFlightBoundHoldsBackCallers() {
    try (FloeClient client = FloeClient.connect(daemon.socket, ClientOptions.defaults().maxInFlight(4))) {
      assertEquals(4, client.maxInFlight());
      List<CompletableFuture<Void>> puts = new ArrayList<>();
      for (int i = 0; i < 2000; i++) puts.add(client.put(i % KEY_GROUPS, utf8("bound/" + i), utf8("v" + i)));
      CompletableFuture.allOf(puts.toArray(new CompletableFuture<?>[0])).join();
      assertTrue(client.peakInFlight() <= 4, "peak in flight " + client.peakInFlight());
      assertTrue(client.peakInFlight() >= 2, "still pipelined: peak in flight " + client.peakInFlight());
      List<byte[]> keys = new ArrayList<>();
      for (int i = 3; i < 2000; i += KEY_GROUPS) keys.add(utf8("bound/" + i));
      List<byte[]> values = client.multiGet(3, keys).join();
      for (int i = 0; i < keys.size(); i++) assertArrayEquals(utf8("v" + (3 + i * KEY_GROUPS)), values.get(i));
    }
  }

  @Test
  void threadsShareOneClient() throws Exception {
    try (FloeClient client = FloeClient.connect(daemon.socket)) {
      int threads = 4;
      List<Thread> ts = new ArrayList<>();
      List<Throwable> errors = new ArrayList<>();
      for (int t = 0; t < threads; t++) {
        int me = t;
        Thread th = new Thread(() -> {
          try {
            List<CompletableFuture<Void>> fs = new ArrayList<>();
            for (int i = 0; i < 500; i++) fs.add(client.merge(me, utf8("threads/" + (i % 10)), new byte[] {(byte) ('0' + me)}));
            CompletableFuture.allOf(fs.toArray(new CompletableFuture<?>[0])).join();
          } catch (Throwable e) {
            synchronized (errors) {
              errors.add(e);
            }
          }
        });
        ts.add(th);
        th.start();
      }
      for (Thread th : ts) th.join();
      assertEquals(List.of(), errors);
      for (int t = 0; t < threads; t++) {
        List<ScanEntry> got = client.scanAll(ScanOptions.all().keyGroup(t).prefix(utf8("threads/"))).join();
        assertEquals(10, got.size());
        for (ScanEntry e : got) assertArrayEquals(utf8(String.valueOf((char) ('0' + t)).repeat(50)), e.value(), "50 merges each, in order");
      }
    }
  }

  @Test
  void controlRequestsAndScanCursors() {
    try (FloeClient client = FloeClient.connect(daemon.socket)) {
      byte[] data = utf8("echo me");
      assertArrayEquals(data, client.ping(data).join());
      assertArrayEquals(new byte[0], client.ping(new byte[0]).join());
      for (int i = 0; i < 300; i++) client.put(9, utf8(String.format("cursor/%04d", i)), new byte[100]);
      client.flush().join();
      CheckpointHandle handle = client.checkpoint().join();
      assertTrue(handle.json().contains("\"format\":\"floe-checkpoint\""), handle.json());
      client.releaseCheckpoint(handle).join();
      String stats = client.stats().join();
      assertTrue(stats.startsWith("{") && stats.contains("\"daemon\""), stats);

      // Paging by hand: several pages, then the cursor is gone.
      FloeScan scan = client.scan(ScanOptions.all().keyGroup(9).prefix(utf8("cursor/")).pageBytes(4096));
      int pages = 0;
      int entries = 0;
      for (ScanPage p = scan.nextPage().join(); ; p = scan.nextPage().join()) {
        pages++;
        entries += p.entries().size();
        if (p.done()) break;
      }
      assertTrue(scan.isDone());
      assertEquals(300, entries);
      assertTrue(pages >= 5, "pages: " + pages);
      assertTrue(scan.nextPage().join().done(), "after the end: an empty last page");

      // Stopping early closes the cursor: 100 abandoned scans would exceed the 64 cursors a connection may hold.
      for (int i = 0; i < 100; i++) {
        try (FloeScan s = client.scan(ScanOptions.all().keyGroup(9).pageBytes(4096))) {
          assertTrue(s.nextPage().join().entries().size() > 0);
        }
      }
      assertEquals(300, client.scanAll(ScanOptions.all().keyGroup(9).prefix(utf8("cursor/"))).join().size());
    }
  }
}
