package io.floe.flink;

import io.floe.client.TestSeed;

import static io.floe.flink.BatchTestSupport.concat;
import static io.floe.flink.BatchTestSupport.id;
import static io.floe.flink.BatchTestSupport.renderScan;
import static io.floe.flink.BatchTestSupport.request;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.floe.client.DaemonProcess;
import io.floe.client.FloeClient;
import io.floe.client.ScanOptions;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestType;
import org.junit.jupiter.api.Test;

/**
 * The State V2 write-back cache (FloeBatch with a FloeWriteBack) against a model applied in request order, on
 * a real daemon: seeded random batches of cached gets, puts, deletes and merges (list appends) over few keys,
 * with uncached (MapState-like) direct writes, gets and prefix scans beside them, up to 3 batches in flight
 * (so a read's answer can arrive after a later batch wrote its key), and snapshots (every dirty entry written
 * and acknowledged, then the whole store scanned and compared with the model). Caches of a few entries, tiny
 * dirty budgets, send thresholds and unacknowledged-write caps make evictions, coalescing, mid-batch sends and
 * stalls happen all the time. -Dfloe.seed=N reproduces a run.
 */
class FloeWriteBackModelTest {
  private static final int KEY_GROUPS = 3;
  private static final int KEYS = 12;

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private record Check(StateRequest<?, ?, ?, ?> request, Object expected, String what) {}

  private record InFlight(int batchNo, CompletableFuture<Void> done, List<Check> checks) {}

  @Test
  void cachedBatchesAnswerAsRequestOrderWouldAndSnapshotsHoldEveryWrite() throws Exception {
    long seed = TestSeed.seed("FloeWriteBackModelTest");
    Random r = new Random(seed);
    long hits = 0;
    long frames = 0;
    long stalls = 0;
    try (DaemonProcess d = DaemonProcess.start(); FloeClient client = FloeClient.connect(d.socket)) {
      for (int round = 0; round < 4; round++) {
        // A fresh key space per round (its own prefix) and new cache settings.
        String prefix = "r" + round + "/";
        long capacity = 300 + r.nextInt(1200);
        FloeStateCache cache = new FloeStateCache(capacity, 100 + r.nextInt((int) capacity), 20 + r.nextInt(60));
        FloeWriteBack wb = new FloeWriteBack(cache, client, "default", e -> {}, 32 + r.nextInt(512), 16 + r.nextInt(300), 1 + r.nextInt(12));
        TreeMap<String, byte[]> model = new TreeMap<>();
        ArrayDeque<InFlight> inFlight = new ArrayDeque<>();
        for (int batchNo = 0; batchNo < 150; batchNo++) {
          wb.check();
          cache.drainFills();
          FloeBatch b = new FloeBatch(client, "default", e -> {}, wb);
          List<Check> checks = new ArrayList<>();
          int size = 1 + r.nextInt(30);
          for (int i = 0; i < size; i++) step(r, b, client, model, checks, prefix, batchNo + "." + i);
          inFlight.add(new InFlight(batchNo, b.finish(), checks));
          assertTrue(cache.bytes() <= capacity, "cache holds " + cache.bytes() + " > " + capacity + " bytes, seed " + seed);
          cache.checkAccounting();
          while (inFlight.size() > 2 || (!inFlight.isEmpty() && r.nextInt(4) == 0)) verify(inFlight.poll(), seed);
          if (r.nextInt(25) == 0) {
            while (!inFlight.isEmpty()) verify(inFlight.poll(), seed); // as Flink drains in-flight records first
            wb.flushAndAwait();
            assertEquals(renderRound(model, prefix), renderScan(client.scanAll(ScanOptions.all().prefix(utf8(prefix))).join()),
                "store after a snapshot's flush, seed " + seed + ", batch " + batchNo);
          }
        }
        while (!inFlight.isEmpty()) verify(inFlight.poll(), seed);
        wb.flushAndAwait();
        assertEquals(renderRound(model, prefix), renderScan(client.scanAll(ScanOptions.all().prefix(utf8(prefix))).join()), "store at the end, seed " + seed);
        hits += cache.hits;
        frames += wb.frames;
        stalls += wb.stalls;
      }
    }
    System.out.println("FloeWriteBackModelTest: " + hits + " hits, " + frames + " write-behind frames, " + stalls + " stalls");
    assertTrue(hits > 0, "the cache answered reads");
    assertTrue(frames > 0, "write-behind frames were sent");
    assertTrue(stalls > 0, "the unacknowledged-write cap made the task wait");
  }

  /** One random request into the batch and the model. */
  private static void step(Random r, FloeBatch b, FloeClient client, TreeMap<String, byte[]> model, List<Check> checks, String prefix, String tag)
      throws IOException {
    int kg = r.nextInt(KEY_GROUPS);
    boolean direct = r.nextInt(5) == 0; // MapState-like: keys of their own, not cached
    byte[] k = utf8(prefix + (direct ? "m" : "v") + r.nextInt(KEYS));
    String id = id(kg, k);
    int op = r.nextInt(100);
    if (op < 40) {
      StateRequest<?, ?, ?, ?> q = request(StateRequestType.VALUE_GET);
      if (direct) b.directGet(q, kg, k, v -> v);
      else b.get(q, kg, k, v -> v);
      checks.add(new Check(q, model.get(id), "get " + id));
    } else if (op < 65) {
      byte[] v = utf8("v" + tag);
      WriteOp w = WriteOp.put(kg, k, v);
      if (direct) b.directWrite(request(StateRequestType.VALUE_UPDATE), w);
      else b.write(request(StateRequestType.VALUE_UPDATE), w);
      model.put(id, v);
    } else if (op < 75) {
      WriteOp w = WriteOp.delete(kg, k);
      if (direct) b.directWrite(request(StateRequestType.CLEAR), w);
      else b.write(request(StateRequestType.CLEAR), w);
      model.remove(id);
    } else if (op < 95) {
      byte[] v = utf8("+" + tag);
      if (direct) b.directWrite(request(StateRequestType.LIST_ADD), WriteOp.merge(kg, k, v));
      else b.write(request(StateRequestType.LIST_ADD), WriteOp.merge(kg, k, v), WriteOp.merge(kg, k, utf8(";")));
      byte[] old = model.get(id);
      byte[] merged = old == null ? v : concat(old, v);
      model.put(id, direct ? merged : concat(merged, utf8(";")));
    } else {
      // A scan of the uncached keys of a key group (as a MapState iteration): sees every direct write before it.
      byte[] scanPrefix = utf8(prefix + "m");
      StateRequest<?, ?, ?, ?> q = request(StateRequestType.MAP_ITER);
      b.read(q, () -> client.scanAll(ScanOptions.all().keyGroup(kg).prefix(scanPrefix)).thenApply(BatchTestSupport::renderScan));
      checks.add(new Check(q, render(model, kg + "/" + prefix + "m"), "scan of " + kg + "/" + prefix + "m"));
    }
  }

  private static void verify(InFlight f, long seed) throws Exception {
    f.done().join();
    for (Check c : f.checks()) {
      Object got = c.request().getFuture().get();
      String where = "seed " + seed + ", batch " + f.batchNo() + ", " + c.what();
      if (c.expected() instanceof byte[] e) assertArrayEquals(e, (byte[]) got, where);
      else assertEquals(c.expected(), got, where);
    }
  }

  /** A failed write-behind WRITE fails the next batch and the next snapshot, naming the store and the cause. */
  @Test
  void aFailedWriteBehindFailsTheNextBatchAndSnapshot() throws Exception {
    try (DaemonProcess d = DaemonProcess.start(); FloeClient client = FloeClient.connect(d.socket)) {
      List<Throwable> reported = new ArrayList<>();
      FloeWriteBack wb = new FloeWriteBack(new FloeStateCache(1 << 20, 1 << 20), client, "the-store", reported::add, 1 << 20);
      FloeBatch b = new FloeBatch(client, "the-store", e -> {}, wb);
      StateRequest<?, ?, ?, ?> put = request(StateRequestType.VALUE_UPDATE);
      b.write(put, WriteOp.put(16, utf8("k"), utf8("v"))); // key group 16: outside this daemon's 16 groups
      b.finish().join();
      assertTrue(put.getFuture().isDone(), "a cached write completes before the daemon has it");
      IOException snapshot = assertThrows(IOException.class, wb::flushAndAwait);
      assertTrue(snapshot.getMessage().contains("write-behind WRITE to Floe store the-store failed") && snapshot.getMessage().contains("INVALID_ARGUMENT"),
          snapshot.getMessage());
      IOException next = assertThrows(IOException.class, wb::check);
      assertEquals(snapshot.getMessage(), next.getMessage());
      assertEquals(1, reported.size(), "the failure also goes to the store (its next access fails)");
    }
  }

  /** The model's entries of one round (keys starting with {@code prefix}, any key group), in scan order. */
  private static List<String> renderRound(TreeMap<String, byte[]> model, String prefix) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : model.entrySet()) {
      String id = e.getKey();
      if (id.substring(id.indexOf('/') + 1).startsWith(prefix)) out.add(id + "=" + new String(e.getValue(), StandardCharsets.UTF_8));
    }
    return out;
  }

  /** The model's entries whose id starts with {@code from} (ids sort as the daemon scans within a key group). */
  private static List<String> render(TreeMap<String, byte[]> model, String from) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : model.entrySet()) {
      if (e.getKey().startsWith(from)) out.add(e.getKey() + "=" + new String(e.getValue(), StandardCharsets.UTF_8));
    }
    return out;
  }
}
