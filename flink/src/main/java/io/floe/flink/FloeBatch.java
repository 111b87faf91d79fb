package io.floe.flink;

import io.floe.client.FloeClient;
import io.floe.client.WriteOp;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.apache.flink.runtime.asyncprocessing.StateRequest;

/**
 * One batch of Flink State V2 requests turned into frames on the store's connection: consecutive writes
 * (puts, deletes, merges of any requests) go out as one WRITE frame, reads as GET/SCAN frames, in request
 * order (a read flushes the writes before it, so it sees them). The client coalesces all of it into few
 * socket writes. Request futures complete on the client's reader thread as answers arrive.
 */
final class FloeBatch {
  private final FloeStore store;
  private final FloeClient client;
  private List<WriteOp> writes = new ArrayList<>();
  private List<StateRequest<?, ?, ?, ?>> writers = new ArrayList<>();
  private final List<CompletableFuture<?>> pending = new ArrayList<>();

  FloeBatch(FloeStore store) {
    this.store = store;
    this.client = store.client;
  }

  FloeClient client() {
    return client;
  }

  /** Queues write ops of {@code r}; {@code r} completes (with null) when their WRITE frame is answered. */
  void write(StateRequest<?, ?, ?, ?> r, WriteOp... ops) {
    for (WriteOp op : ops) writes.add(op);
    writers.add(r);
  }

  void write(StateRequest<?, ?, ?, ?> r, List<WriteOp> ops) {
    writes.addAll(ops);
    writers.add(r);
  }

  /** Sends the queued writes (if any) as one WRITE frame. */
  void flushWrites() {
    if (writers.isEmpty()) return;
    List<StateRequest<?, ?, ?, ?>> done = writers;
    CompletableFuture<Void> w = writes.isEmpty() ? CompletableFuture.completedFuture(null) : client.write(writes);
    writes = new ArrayList<>();
    writers = new ArrayList<>();
    pending.add(w.whenComplete((ok, e) -> {
      for (StateRequest<?, ?, ?, ?> r : done) {
        if (e == null) complete(r, null);
        else fail(r, e);
      }
    }));
  }

  /**
   * A read of {@code r}: the writes queued before it are sent first; {@code read} is then issued and {@code r}
   * completes with its result.
   */
  <T> void read(StateRequest<?, ?, ?, ?> r, java.util.function.Supplier<CompletableFuture<T>> read) {
    flushWrites();
    CompletableFuture<T> f;
    try {
      f = read.get();
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    pending.add(f.whenComplete((v, e) -> {
      if (e == null) complete(r, v);
      else fail(r, e);
    }));
  }

  /** A request whose answer needs nothing from the daemon. */
  void done(StateRequest<?, ?, ?, ?> r, Object value) {
    complete(r, value);
  }

  /** Sends what is queued; the result completes when every request of the batch has been answered. */
  CompletableFuture<Void> finish() {
    flushWrites();
    return CompletableFuture.allOf(pending.toArray(new CompletableFuture<?>[0]));
  }

  @SuppressWarnings("unchecked")
  private static void complete(StateRequest<?, ?, ?, ?> r, Object value) {
    ((org.apache.flink.runtime.asyncprocessing.StateRequest<?, ?, ?, Object>) r).getFuture().complete(value);
  }

  private void fail(StateRequest<?, ?, ?, ?> r, Throwable e) {
    store.failed(e);
    r.getFuture().completeExceptionally("Floe state request " + r.getRequestType() + " on store " + store.name + " failed: " + FloeStore.describe(e), e);
  }
}
