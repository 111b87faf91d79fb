package io.floe.flink;

import io.floe.client.TestSeed;

import static io.floe.flink.BatchTestSupport.concat;
import static io.floe.flink.BatchTestSupport.id;
import static io.floe.flink.BatchTestSupport.renderScan;
import static io.floe.flink.BatchTestSupport.request;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.floe.client.DaemonProcess;
import io.floe.client.FloeClient;
import io.floe.client.ScanEntry;
import io.floe.client.ScanOptions;
import io.floe.client.WriteOp;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestType;
import org.junit.jupiter.api.Test;

/**
 * FloeBatch's reordering (point reads gathered per key group and sent before the batch's writes, a read of a
 * key written earlier in the batch sending what is gathered first, scans and barriers in place) against a
 * model applied in request order: seeded random batches of gets, puts, deletes, merges, scans and
 * scan-then-delete barriers over few keys (so reads and writes of one key often share a batch), on a real
 * daemon. Every read must answer what the model held at its place in the batch. -Dfloe.seed=N reproduces.
 */
class FloeBatchModelTest {
  private static final int KEY_GROUPS = 3;
  private static final int KEYS = 5;

  private static byte[] key(int i) {
    return ("k" + i).getBytes(StandardCharsets.UTF_8);
  }

  /** (key group, key) in the model, ordered as the daemon scans. */
  private record Check(StateRequest<?, ?, ?, ?> request, Object expected) {}

  @Test
  void batchesAnswerAsRequestOrderWould() throws Exception {
    batches(2); // clears of a key group as one DELETE_RANGE frame
  }

  @Test
  void batchesAnswerAsRequestOrderWouldOnProtocolVersion1() throws Exception {
    batches(1); // clears as a scan, then deletes (a barrier)
  }

  private void batches(int version) throws Exception {
    long seed = TestSeed.seed("FloeBatchModelTest, protocol version " + version);
    Random r = new Random(seed);
    TreeMap<String, byte[]> model = new TreeMap<>();
    long requests = 0;
    long frames = 0;
    try (DaemonProcess d = DaemonProcess.start();
        FloeClient client = FloeClient.connect(d.socket, io.floe.client.ClientOptions.defaults().versions(1, version))) {
      assertEquals(version >= 2, client.supportsDeleteRange(), "negotiated version " + client.server().version());
      if (version < 2) {
        // Refused locally, nothing sent: the connection stays usable.
        Throwable e = org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.CompletionException.class, () -> client.deleteRange(0, null, null).join());
        assertEquals(io.floe.client.FloeException.Code.VERSION, io.floe.client.FloeException.unwrap(e).code(), e.toString());
        assertTrue(e.getMessage().contains("needs protocol version 2, but the daemon speaks version 1"), e.getMessage());
      }
      for (int batchNo = 0; batchNo < 300; batchNo++) {
        FloeBatch b = new FloeBatch(client, "default", e -> {});
        List<Check> checks = new ArrayList<>();
        int size = 1 + r.nextInt(40);
        for (int i = 0; i < size; i++) {
          int kg = r.nextInt(KEY_GROUPS);
          byte[] k = key(r.nextInt(KEYS));
          String id = id(kg, k);
          int op = r.nextInt(100);
          if (op < 40) {
            StateRequest<?, ?, ?, ?> q = request(StateRequestType.VALUE_GET);
            b.get(q, kg, k, v -> v);
            checks.add(new Check(q, model.get(id)));
          } else if (op < 65) {
            byte[] v = ("v" + batchNo + "." + i).getBytes(StandardCharsets.UTF_8);
            b.write(request(StateRequestType.VALUE_UPDATE), WriteOp.put(kg, k, v));
            model.put(id, v);
          } else if (op < 75) {
            b.write(request(StateRequestType.CLEAR), WriteOp.delete(kg, k));
            model.remove(id);
          } else if (op < 90) {
            byte[] v = ("+" + i).getBytes(StandardCharsets.UTF_8);
            b.write(request(StateRequestType.LIST_ADD), WriteOp.merge(kg, k, v));
            byte[] old = model.get(id);
            model.put(id, old == null ? v : concat(old, v));
          } else if (op < 95) {
            StateRequest<?, ?, ?, ?> q = request(StateRequestType.MAP_ITER);
            Supplier<CompletableFuture<List<String>>> scan = () -> client.scanAll(ScanOptions.all().keyGroup(kg)).thenApply(BatchTestSupport::renderScan);
            b.read(q, scan);
            checks.add(new Check(q, render(model, kg)));
          } else {
            // A clear of the key group: one range delete, or a scan, then deletes of what it found (as a MapState clear).
            StateRequest<?, ?, ?, ?> q = request(StateRequestType.CLEAR);
            if (version >= 2) b.deleteRange(q, kg, null, null);
            else b.barrier(q, () -> client.scanAll(ScanOptions.all().keyGroup(kg)).thenCompose(entries -> {
              List<WriteOp> deletes = new ArrayList<>();
              for (ScanEntry e : entries) deletes.add(WriteOp.delete(e.keyGroup(), e.key()));
              return deletes.isEmpty() ? CompletableFuture.completedFuture(null) : client.write(deletes);
            }));
            model.keySet().removeIf(s -> s.startsWith(kg + "/"));
          }
        }
        requests += size;
        b.finish().join();
        frames += b.frames();
        for (Check c : checks) {
          Object got = c.request().getFuture().get();
          String where = "seed " + seed + ", batch " + batchNo + ", " + c.request().getRequestType();
          if (c.expected() instanceof byte[] e) assertArrayEquals(e, (byte[]) got, where);
          else assertEquals(c.expected(), got, where);
        }
      }
    }
    assertTrue(frames < requests * 3 / 4, "gathered: " + frames + " frames for " + requests + " requests");
  }

  private static List<String> render(TreeMap<String, byte[]> model, int kg) {
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, byte[]> e : model.entrySet()) {
      if (e.getKey().startsWith(kg + "/")) out.add(e.getKey() + "=" + new String(e.getValue(), StandardCharsets.UTF_8));
    }
    return out;
  }
}
