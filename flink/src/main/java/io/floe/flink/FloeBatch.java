package io.floe.flink;

import io.floe.client.FloeClient;
import io.floe.client.WriteOp;
import java.io.IOException;
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
 *
 * <p>With a {@link FloeWriteBack} (state.backend.floe.cache-size > 0), {@link #get} and {@link #write} go
 * through its cache first: a read the cache can answer and every write complete on the task thread without a
 * frame; a read it cannot answer is gathered as above and its answer fills the cache; the cache's dirty entries
 * leave later as WRITE frames of their own (write-behind). A write-behind frame sent within a batch first sends
 * the reads gathered before it (a read issued before a write must not see it). {@link #directGet} and
 * {@link #directWrite} skip the cache: MapState uses them, since its scans (iteration, isEmpty, clear) read
 * the daemon and must see every write, and a clear would otherwise have to find the cached entries of a map.
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
  /** Null: no cache, every request goes to the daemon. */
  private final FloeWriteBack writeBack;
  private List<WriteOp> writes = new ArrayList<>();
  private List<StateRequest<?, ?, ?, ?>> writers = new ArrayList<>();
  private Map<Integer, List<Get>> gets = new LinkedHashMap<>();
  private final Set<StoredKey> writtenKeys = new HashSet<>();
  private final List<CompletableFuture<?>> pending = new ArrayList<>();
  /** Null while frames go out at once; after a barrier, what later frames wait for (never fails). */
  private CompletableFuture<?> tail;
  private int frames;

  FloeBatch(FloeStore store, FloeWriteBack writeBack) {
    this(store.client, store.name, store::failed, writeBack);
  }

  /** A batch on {@code client} (bound to store {@code storeName}); request failures also go to {@code onFailure}. */
  FloeBatch(FloeClient client, String storeName, java.util.function.Consumer<Throwable> onFailure) {
    this(client, storeName, onFailure, null);
  }

  FloeBatch(FloeClient client, String storeName, java.util.function.Consumer<Throwable> onFailure, FloeWriteBack writeBack) {
    this.client = client;
    this.storeName = storeName;
    this.onFailure = onFailure;
    this.writeBack = writeBack;
  }

  FloeClient client() {
    return client;
  }

  /** Frames this batch has sent so far (for tests and the executor's statistics). */
  int frames() {
    return frames;
  }

  /**
   * Write ops of {@code r}. With a cache, they go into it and {@code r} completes now (the daemon gets them
   * later, before any checkpoint); without, as {@link #directWrite}.
   */
  void write(StateRequest<?, ?, ?, ?> r, WriteOp... ops) throws IOException {
    if (writeBack == null) {
      directWrite(r, Arrays.asList(ops));
      return;
    }
    for (WriteOp op : ops) writeBack.cache.apply(op);
    writtenBack(r);
  }

  void write(StateRequest<?, ?, ?, ?> r, List<WriteOp> ops) throws IOException {
    if (writeBack == null) {
      directWrite(r, ops);
      return;
    }
    for (WriteOp op : ops) writeBack.cache.apply(op);
    writtenBack(r);
  }

  /** {@code r}'s writes are in the cache: it completes; the cache's pending ops go out once there are enough. */
  private void writtenBack(StateRequest<?, ?, ?, ?> r) throws IOException {
    complete(r, null);
    if (writeBack.wantsSend()) sendWriteBehind();
  }

  /**
   * A point read through the cache: answered now when the cache knows the value; otherwise as
   * {@link #directGet}, its answer also filling the cache.
   */
  void get(StateRequest<?, ?, ?, ?> r, int keyGroup, byte[] key, Function<byte[], Object> decode) throws IOException {
    if (writeBack == null) {
      directGet(r, keyGroup, key, decode);
      return;
    }
    byte[] cached = writeBack.cache.get(keyGroup, key);
    if (cached != FloeStateCache.MISS) {
      answer(r, decode, cached);
      return;
    }
    if (writeBack.cache.takeSendBeforeRead()) sendWriteBehind(); // the key's unsent writes must reach the daemon first
    FloeStateCache.Fill fill = writeBack.cache.expect(keyGroup, key);
    directGet(r, keyGroup, key, v -> {
      fill.answered(v);
      return decode.apply(v);
    });
  }

  /** Sends the reads gathered so far (issued before the writes about to go), then the cache's pending ops. */
  private void sendWriteBehind() throws IOException {
    sendGathered();
    writeBack.send();
  }

  /** Queues write ops of {@code r}, not cached; {@code r} completes (with null) when their WRITE frame is answered. */
  void directWrite(StateRequest<?, ?, ?, ?> r, WriteOp... ops) {
    directWrite(r, Arrays.asList(ops));
  }

  void directWrite(StateRequest<?, ?, ?, ?> r, List<WriteOp> ops) {
    for (WriteOp op : ops) writtenKeys.add(new StoredKey(op.keyGroup(), op.key()));
    writes.addAll(ops);
    writers.add(r);
  }

  /**
   * A point read of {@code key} in {@code keyGroup} for {@code r}, not cached, gathered into its key group's
   * MULTI_GET; {@code r} completes with {@code decode} of the stored value (null when absent), run on the
   * reader thread.
   */
  void directGet(StateRequest<?, ?, ?, ?> r, int keyGroup, byte[] key, Function<byte[], Object> decode) {
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

  /**
   * A range delete (protocol version 2, {@link FloeClient#supportsDeleteRange}) of {@code [gte, lt)} in
   * {@code keyGroup}: everything gathered before it is sent first, then the one DELETE_RANGE frame; frames
   * after it go out after it, so the daemon applies it in request order (no barrier: nothing waits for its
   * answer). {@code r} completes when it is answered. Not for cached keys (MapState bypasses the cache).
   */
  void deleteRange(StateRequest<?, ?, ?, ?> r, int keyGroup, byte[] gte, byte[] lt) {
    sendGathered();
    dispatch(r, () -> client.deleteRange(keyGroup, gte, lt));
  }

  /** A request whose answer needs nothing from the daemon. */
  void done(StateRequest<?, ?, ?, ?> r, Object value) {
    complete(r, value);
  }

  /**
   * Sends what is gathered (and, with a cache, its pending ops once there are enough of them); the result
   * completes when every request of the batch has been answered.
   */
  CompletableFuture<Void> finish() throws IOException {
    sendGathered();
    if (writeBack != null && writeBack.wantsSend()) writeBack.send();
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
    answer(g.request(), g.decode(), value);
  }

  private void answer(StateRequest<?, ?, ?, ?> r, Function<byte[], Object> decode, byte[] value) {
    Object result;
    try {
      result = decode.apply(value);
    } catch (RuntimeException e) {
      fail(r, e);
      return;
    }
    complete(r, result);
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
