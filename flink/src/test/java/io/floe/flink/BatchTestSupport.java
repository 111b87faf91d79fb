package io.floe.flink;

import io.floe.client.ScanEntry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.flink.core.asyncprocessing.AsyncFutureImpl;
import org.apache.flink.runtime.asyncprocessing.RecordContext;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestType;

/**
 * What the model tests of State V2 batches share: requests made without an async execution controller, and
 * the rendering of stored entries as "keyGroup/key=value" for comparison with a model.
 */
final class BatchTestSupport {
  private BatchTestSupport() {}

  /**
   * A request of {@code type} whose future records its result; callbacks run at once on the completing
   * thread, and a failure inside one fails the test.
   */
  static StateRequest<?, ?, ?, ?> request(StateRequestType type) {
    AsyncFutureImpl<Object> f = new AsyncFutureImpl<>(task -> {
      try {
        task.run();
      } catch (Exception e) {
        throw new AssertionError(e);
      }
    }, (msg, e) -> {
      throw new AssertionError(msg, e);
    });
    RecordContext<Object> context = new RecordContext<>(null, "key", c -> {}, 0, null, 0);
    return new StateRequest<Object, Object, Object, Object>(null, type, false, null, f, context);
  }

  /** The model's name of a stored key: "keyGroup/key". */
  static String id(int kg, byte[] key) {
    return kg + "/" + new String(key, StandardCharsets.UTF_8);
  }

  static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  /** Scanned entries as "keyGroup/key=value", in scan order. */
  static List<String> renderScan(List<ScanEntry> entries) {
    List<String> out = new ArrayList<>();
    for (ScanEntry e : entries) out.add(id(e.keyGroup(), e.key()) + "=" + new String(e.value(), StandardCharsets.UTF_8));
    return out;
  }
}
