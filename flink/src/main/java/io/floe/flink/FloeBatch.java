package io.floe.flink;

import io.floe.client.FloeClient;
import io.floe.client.WriteOp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;
import java.util.function.Supplier;
import org.apache.flink.runtime.asyncprocessing.StateRequest;

/**
 * One batch of Flink State V2 requests turned into as few daemon frames as keep request order's meaning:
 * point reads gather into one MULTI_GET frame per key group (a MULTI_GET names one key group), writes (puts,
 * deletes, merges of any requests) into one WRITE frame, and at the end the reads go out first (their answers
 * are what the records wait for), then the writes. Moving a read ahead of writes that came before it in the
 * batch is safe unless one of those writes touches the key it reads, so a read of a key a gathered write
 * names first sends what is gathered (reads, then writes) and starts a new group: every read sees exactly the
 * writes before it in request order. Scans (map iteration, isEmpty) send everything gathered first, then go
 * out on their own; a map clear (a scan, then deletes of what it found) is a barrier: the batch's later frames
 * wait until it has completed. The client
 * coalesces the frames into few socket writes. Request futures complete on the client's reader thread.
 * Not thread-safe: the task thread builds a batch.
 */
final class FloeBatch {
  /** A gathered point read: its request, key and how its answer becomes the request's result. */
  private record Get(StateRequest<?, ?, ?, ?> request, byte[] key, Function<byte[], Object> decode) {}

  /** (key group, key) with value equality, for the read-before-write conflict check. */
  private record StoredKey(int keyGroup, byte[] key) {
    @Override
    public boolean equals(Object o) {
      return o instanceof StoredKey k && k.keyGroup == keyGroup && Arrays.equals(k.key, key);
    }

    @Override
    public int hashCode() {
      return 31 * keyGroup + Arrays.hashCode(key);
    }
  }

  private final String storeName;
  private final java.util.function.Consumer<Throwable> onFailure;
  private final FloeClient client;
  private List<WriteOp> writes = new ArrayList<>();
  private List<StateRequest<?, ?, ?, ?>> writers = new ArrayList<>();
  private Map<Integer, List<Get>> gets = new LinkedHashMap<>();
  private final Set<StoredKey> writtenKeys = new HashSet<>();
  private final List<CompletableFuture<?>> pending = new ArrayList<>();
  /** Null while frames go out at once; after a barrier, what later frames wait for (never fails). */
  private CompletableFuture<?> tail;
  private int frames;

  FloeBatch(FloeStore store) {
    this(store.client, store.name, store::failed);
  }

  /** A batch on {@code client} (bound to store {@code storeName}); request failures also go to {@code onFailure}. */
  FloeBatch(FloeClient client, String storeName, java.util.function.Consumer<Throwable> onFailure) {
    this.client = client;
    this.storeName = storeName;
    this.onFailure = onFailure;
  }

  FloeClient client() {
    return client;
  }

  /** Frames this batch has sent so far (for tests and the executor's statistics). */
  int frames() {
    return frames;
  }

  /** Queues write ops of {@code r}; {@code r} completes (with null) when their WRITE frame is answered. */
  void write(StateRequest<?, ?, ?, ?> r, WriteOp... ops) {
    write(r, Arrays.asList(ops));
  }

  void write(StateRequest<?, ?, ?, ?> r, List<WriteOp> ops) {
    for (WriteOp op : ops) writtenKeys.add(new StoredKey(op.keyGroup(), op.key()));
    writes.addAll(ops);
    writers.add(r);
  }

  /**
   * A point read of {@code key} in {@code keyGroup} for {@code r}, gathered into its key group's MULTI_GET;
   * {@code r} completes with {@code decode} of the stored value (null when absent), run on the reader thread.
   */
  void get(StateRequest<?, ?, ?, ?> r, int keyGroup, byte[] key, Function<byte[], Object> decode) {
    if (!writtenKeys.isEmpty() && writtenKeys.contains(new StoredKey(keyGroup, key))) sendGathered(); // it must see that write
    gets.computeIfAbsent(keyGroup, kg -> new ArrayList<>()).add(new Get(r, key, decode));
  }

  /**
   * A read that is not a point read (a scan): everything gathered before it is sent first, then {@code read}
   * is issued and {@code r} completes with its result.
   */
  <T> void read(StateRequest<?, ?, ?, ?> r, Supplier<CompletableFuture<T>> read) {
    sendGathered();
    dispatch(r, read);
  }

  /**
   * A request whose answer writes more ({@code op}: a MapState clear, a scan whose deletes are sent when its
   * answer arrives): sent as {@link #read}, and every later frame of the batch waits until it has completed,
   * so a write issued after it in the batch cannot be sent before its deletes and be deleted by them.
   */
  <T> void barrier(StateRequest<?, ?, ?, ?> r, Supplier<CompletableFuture<T>> op) {
    sendGathered();
    CompletableFuture<?> f = dispatch(r, op);
    tail = f.handle((v, e) -> null);
  }

  /** A request whose answer needs nothing from the daemon. */
  void done(StateRequest<?, ?, ?, ?> r, Object value) {
    complete(r, value);
  }

  /** Sends what is gathered; the result completes when every request of the batch has been answered. */
  CompletableFuture<Void> finish() {
    sendGathered();
    return CompletableFuture.allOf(pending.toArray(new CompletableFuture<?>[0]));
  }

  /** The gathered reads, one frame per key group, then the gathered writes as one WRITE frame. */
  private void sendGathered() {
    if (!gets.isEmpty()) {
      Map<Integer, List<Get>> send = gets;
      gets = new LinkedHashMap<>();
      for (Map.Entry<Integer, List<Get>> e : send.entrySet()) sendGets(e.getKey(), e.getValue());
    }
    writtenKeys.clear();
    sendWrites();
  }

  /**
   * Issues {@code send} now, or, after a barrier, once everything before it has completed (then on the
   * client's reader thread, where issuing a request never blocks), keeping the batch's frame order. {@code r}
   * (if any) completes with its result. The returned future never runs ahead of the frame.
   */
  private <T> CompletableFuture<T> dispatch(StateRequest<?, ?, ?, ?> r, Supplier<CompletableFuture<T>> send) {
    frames++;
    CompletableFuture<T> f;
    if (tail == null) {
      f = issue(send);
    } else {
      CompletableFuture<T> later = new CompletableFuture<>();
      tail = tail.thenRun(() -> issue(send).whenComplete((v, e) -> {
        if (e == null) later.complete(v);
        else later.completeExceptionally(e);
      }));
      f = later;
    }
    if (r != null) {
      pending.add(f.whenComplete((v, e) -> {
        if (e == null) complete(r, v);
        else fail(r, e);
      }));
    }
    return f;
  }

  private static <T> CompletableFuture<T> issue(Supplier<CompletableFuture<T>> send) {
    try {
      return send.get();
    } catch (RuntimeException e) {
      return CompletableFuture.failedFuture(e);
    }
  }

  private void sendWrites() {
    if (writers.isEmpty()) return;
    List<StateRequest<?, ?, ?, ?>> done = writers;
    List<WriteOp> ops = writes;
    writes = new ArrayList<>();
    writers = new ArrayList<>();
    if (ops.isEmpty()) {
      for (StateRequest<?, ?, ?, ?> r : done) complete(r, null);
      return;
    }
    pending.add(dispatch(null, () -> client.write(ops)).whenComplete((ok, e) -> {
      for (StateRequest<?, ?, ?, ?> r : done) {
        if (e == null) complete(r, null);
        else fail(r, e);
      }
    }));
  }

  private void sendGets(int keyGroup, List<Get> group) {
    if (group.size() == 1) {
      Get g = group.get(0);
      pending.add(dispatch(null, () -> client.get(keyGroup, g.key())).whenComplete((v, e) -> answer(g, v, e)));
      return;
    }
    List<byte[]> keys = new ArrayList<>(group.size());
    for (Get g : group) keys.add(g.key());
    pending.add(dispatch(null, () -> client.multiGet(keyGroup, keys)).whenComplete((values, e) -> {
      for (int i = 0; i < group.size(); i++) answer(group.get(i), e == null ? values.get(i) : null, e);
    }));
  }

  private void answer(Get g, byte[] value, Throwable error) {
    if (error != null) {
      fail(g.request(), error);
      return;
    }
    Object result;
    try {
      result = g.decode().apply(value);
    } catch (RuntimeException e) {
      fail(g.request(), e);
      return;
    }
    complete(g.request(), result);
  }

  @SuppressWarnings("unchecked")
  private static void complete(StateRequest<?, ?, ?, ?> r, Object value) {
    ((StateRequest<?, ?, ?, Object>) r).getFuture().complete(value);
  }

  private void fail(StateRequest<?, ?, ?, ?> r, Throwable e) {
    onFailure.accept(e);
    r.getFuture().completeExceptionally("Floe state request " + r.getRequestType() + " on store " + storeName + " failed: " + FloeStore.describe(e), e);
  }
}
