package io.floe.flink;

import io.floe.client.FloeClient;
import io.floe.client.ScanEntry;
import io.floe.client.ScanOptions;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RunnableFuture;
import java.util.stream.Stream;
import javax.annotation.Nonnull;
import org.apache.flink.api.common.state.State;
import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.runtime.state.BackendBuildingException;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.InternalKeyContextImpl;
import org.apache.flink.runtime.state.KeyGroupedInternalPriorityQueue;
import org.apache.flink.runtime.state.Keyed;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.PriorityComparable;
import org.apache.flink.runtime.state.SavepointResources;
import org.apache.flink.runtime.state.SnapshotResult;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.StateSnapshotTransformer.StateSnapshotTransformFactory;
import org.apache.flink.runtime.state.heap.HeapPriorityQueueElement;
import org.apache.flink.runtime.state.heap.HeapPriorityQueueSetFactory;
import org.apache.flink.runtime.state.metrics.LatencyTrackingStateConfig;
import org.apache.flink.runtime.state.metrics.SizeTrackingStateConfig;
import org.apache.flink.runtime.checkpoint.SnapshotType;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keyed state of one operator subtask, in one ephemeral named store of the Floe daemon (docs/flink.md).
 *
 * <ul>
 *   <li>A bounded cache of values ({@link FloeValueCache}, {@code state.backend.floe.cache-size}) answers reads
 *       of keys this backend read or wrote before without a round trip (exact: the backend is the store's
 *       only writer).</li>
 *   <li>Reads wait for their answer; writes are buffered and sent in batches (one WRITE frame of up to 256
 *       ops), never awaited: the buffer is sent before any read the cache cannot answer, any scan and any
 *       snapshot, and the daemon answers in request order, so every read sees the writes before it; the
 *       first failed write fails every later state access and the next snapshot.</li>
 *   <li>Checkpoints by reference, their release and restore: {@link FloeStore}.</li>
 *   <li>Timers: heap priority queues, checkpointed by Flink as raw keyed state.</li>
 * </ul>
 * Used by the task thread only (the snapshot's asynchronous part only awaits a future).
 */
public final class FloeKeyedStateBackend<K> extends AbstractKeyedStateBackend<K> {
  private static final Logger LOG = LoggerFactory.getLogger(FloeKeyedStateBackend.class);

  final FloeClient client;
  final FloeKeys<K> keys;
  final FloeStore store;
  /** Null when disabled ({@code state.backend.floe.cache-size: 0}). */
  private final FloeValueCache cache;
  private final HeapPriorityQueueSetFactory timers;
  private boolean disposed;
  /** Most writes (ops, bytes) the write-back buffer holds before it sends them. */
  static final int WRITE_BATCH_OPS = 256;
  static final int WRITE_BATCH_BYTES = 1 << 20;
  private final List<WriteOp> unsent = new ArrayList<>();
  private long unsentBytes;

  private FloeKeyedStateBackend(StateBackend.KeyedStateBackendParameters<K> p, FloeStore store, long cacheBytes, LatencyTrackingStateConfig latency,
      SizeTrackingStateConfig size) {
    super(p.getKvStateRegistry(), p.getKeySerializer(), p.getEnv().getUserCodeClassLoader().asClassLoader(), p.getEnv().getExecutionConfig(),
        p.getTtlTimeProvider(), latency, size, p.getCancelStreamRegistry(), new InternalKeyContextImpl<>(p.getKeyGroupRange(), p.getNumberOfKeyGroups()));
    this.store = store;
    this.client = store.client;
    this.keys = new FloeKeys<>(p.getKeySerializer());
    this.timers = new HeapPriorityQueueSetFactory(p.getKeyGroupRange(), p.getNumberOfKeyGroups(), 128);
    this.cache = cacheBytes > 0 ? new FloeValueCache(cacheBytes) : null;
  }

  /** Opens the subtask's store on {@code client} and returns its backend. REQUIRES: {@code client} connected and unbound. */
  static <K> FloeKeyedStateBackend<K> open(StateBackend.KeyedStateBackendParameters<K> p, FloeClient client, FloeStore.Settings settings,
      long cacheBytes, LatencyTrackingStateConfig latency, SizeTrackingStateConfig size) throws BackendBuildingException {
    return new FloeKeyedStateBackend<>(p, FloeStore.open(p, client, settings, ""), cacheBytes, latency, size);
  }

  public String storeName() {
    return store.name;
  }

  // ------------------------------------------------------------------ access helpers for the states

  void checkWrites() throws IOException {
    store.checkWrites();
  }

  <T> T await(CompletableFuture<T> f, String what) throws IOException {
    return store.await(f, what);
  }

  void pipeline(CompletableFuture<Void> write) throws IOException {
    store.pipeline(write);
  }

  /** The value of {@code key} in the current key group (from the value cache when it knows it), null when absent. */
  byte[] get(byte[] key) throws IOException {
    int kg = getCurrentKeyGroupIndex();
    if (cache != null) {
      byte[] v = cache.get(kg, key);
      if (v != FloeValueCache.MISSING) {
        checkWrites();
        return v;
      }
    }
    sendWrites(); // the daemon must have them before it answers
    byte[] v = await(client.get(kg, key), "get");
    if (cache != null) cache.put(kg, key, v);
    return v;
  }

  void put(byte[] key, byte[] value) throws IOException {
    putAt(getCurrentKeyGroupIndex(), key, value);
  }

  void putAt(int kg, byte[] key, byte[] value) throws IOException {
    queue(WriteOp.put(kg, key, value));
  }

  void delete(byte[] key) throws IOException {
    deleteAt(getCurrentKeyGroupIndex(), key);
  }

  void deleteAt(int kg, byte[] key) throws IOException {
    queue(WriteOp.delete(kg, key));
  }

  void merge(byte[] key, byte[] operand) throws IOException {
    queue(WriteOp.merge(getCurrentKeyGroupIndex(), key, operand));
  }

  void write(List<WriteOp> ops) throws IOException {
    for (WriteOp op : ops) queue(op);
  }

  /**
   * Write-back: a write goes into the value cache at once (so reads of it are answered locally) and into a
   * small buffer of unsent ops, sent as one pipelined WRITE frame when it holds {@link #WRITE_BATCH_OPS} ops
   * or {@link #WRITE_BATCH_BYTES} bytes, and before anything that must see it: a read the cache cannot
   * answer, a scan, a snapshot. Frames leave in request order, so the daemon applies the writes in call order.
   */
  private void queue(WriteOp op) throws IOException {
    checkWrites();
    unsent.add(op);
    unsentBytes += op.key().length + (op.value() == null ? 0 : op.value().length) + 12;
    if (cache != null) cache.apply(op);
    if (unsent.size() >= WRITE_BATCH_OPS || unsentBytes >= WRITE_BATCH_BYTES) sendWrites();
  }

  /** Sends the buffered writes (if any) as one WRITE frame, not awaited. */
  void sendWrites() throws IOException {
    if (unsent.isEmpty()) return;
    List<WriteOp> ops = new ArrayList<>(unsent);
    unsent.clear();
    unsentBytes = 0;
    pipeline(ops.size() == 1 ? single(ops.get(0)) : client.write(ops));
  }

  private CompletableFuture<Void> single(WriteOp op) {
    switch (op.type()) {
      case PUT:
        return client.put(op.keyGroup(), op.key(), op.value());
      case MERGE:
        return client.merge(op.keyGroup(), op.key(), op.value());
      default:
        return client.delete(op.keyGroup(), op.key());
    }
  }

  /** Every entry under {@code prefix} in the current key group. */
  List<ScanEntry> scanCurrent(byte[] prefix) throws IOException {
    sendWrites();
    return await(client.scanAll(ScanOptions.all().keyGroup(getCurrentKeyGroupIndex()).prefix(prefix)), "scan");
  }

  /** Every entry under {@code prefix} in the whole store. */
  List<ScanEntry> scanAll(byte[] prefix) throws IOException {
    sendWrites();
    return await(client.scanAll(ScanOptions.all().prefix(prefix)), "scan");
  }

  // ------------------------------------------------------------------ keys

  @Override
  public void setCurrentKey(K newKey) {
    super.setCurrentKey(newKey);
    keys.setKey(newKey);
  }

  @Override
  public void setCurrentKeyAndKeyGroup(K newKey, int newKeyGroupIndex) {
    super.setCurrentKeyAndKeyGroup(newKey, newKeyGroupIndex);
    keys.setKey(newKey);
  }

  @Override
  public <N> Stream<K> getKeys(String state, N namespace) {
    return keysAndNamespaces(state).stream().filter(t -> Objects.equals(t.f1, namespace)).map(t -> t.f0).distinct();
  }

  @Override
  public <N> Stream<K> getKeys(List<String> states, N namespace) {
    LinkedHashSet<K> all = new LinkedHashSet<>();
    for (String s : states) getKeys(s, namespace).forEach(all::add);
    return all.stream();
  }

  @Override
  public <N> Stream<Tuple2<K, N>> getKeysAndNamespaces(String state) {
    List<Tuple2<K, N>> list = keysAndNamespaces(state);
    return list.stream();
  }

  /** Distinct (key, namespace) pairs of a state, in store order. */
  @SuppressWarnings("unchecked")
  private <N> List<Tuple2<K, N>> keysAndNamespaces(String state) {
    FloeState<K, N, ?> s = (FloeState<K, N, ?>) floeStates.get(state);
    if (s == null) return List.of();
    byte[] tag = FloeKeys.tag(state);
    try {
      LinkedHashSet<Tuple2<K, N>> out = new LinkedHashSet<>();
      for (ScanEntry e : scanAll(tag)) out.add(keys.decode(e.key(), tag.length, s.namespaceSerializer()));
      return new ArrayList<>(out);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  // ------------------------------------------------------------------ states

  private final Map<String, FloeState<K, ?, ?>> floeStates = new java.util.HashMap<>();

  @Nonnull
  @Override
  public <N, SV, SEV, S extends State, IS extends S> IS createOrUpdateInternalState(@Nonnull TypeSerializer<N> namespaceSerializer,
      @Nonnull StateDescriptor<S, SV> stateDesc, @Nonnull StateSnapshotTransformFactory<SEV> snapshotTransformFactory) throws Exception {
    return createOrUpdateInternalState(namespaceSerializer, stateDesc, snapshotTransformFactory, false);
  }

  @Nonnull
  @Override
  public <N, SV, SEV, S extends State, IS extends S> IS createOrUpdateInternalState(@Nonnull TypeSerializer<N> namespaceSerializer,
      @Nonnull StateDescriptor<S, SV> stateDesc, @Nonnull StateSnapshotTransformFactory<SEV> snapshotTransformFactory,
      boolean allowFutureMetadataUpdates) throws Exception {
    store.meta.register(stateDesc.getName(), stateDesc.getType().name(), namespaceSerializer, FloeStates.valueSerializer(stateDesc), FloeStates.userKeySerializer(stateDesc));
    FloeState<K, N, ?> state = FloeStates.create(this, namespaceSerializer, stateDesc);
    floeStates.put(stateDesc.getName(), state);
    @SuppressWarnings("unchecked")
    IS is = (IS) state;
    return is;
  }

  @Nonnull
  @Override
  public <T extends HeapPriorityQueueElement & PriorityComparable<? super T> & Keyed<?>> KeyGroupedInternalPriorityQueue<T> create(
      @Nonnull String stateName, @Nonnull TypeSerializer<T> byteOrderedElementSerializer) {
    return timers.create(stateName, byteOrderedElementSerializer);
  }

  @Override
  public <T extends HeapPriorityQueueElement & PriorityComparable<? super T> & Keyed<?>> KeyGroupedInternalPriorityQueue<T> create(
      @Nonnull String stateName, @Nonnull TypeSerializer<T> byteOrderedElementSerializer, boolean allowFutureMetadataUpdates) {
    return timers.create(stateName, byteOrderedElementSerializer, allowFutureMetadataUpdates);
  }

  @Override
  public boolean requiresLegacySynchronousTimerSnapshots(SnapshotType checkpointType) {
    return true; // heap timers go into raw keyed state, for checkpoints and native savepoints alike
  }

  @Override
  public boolean isSafeToReuseKVState() {
    return false; // heap timers, as RocksDB with heap timers
  }

  @Override
  public int numKeyValueStateEntries() {
    try {
      int n = 0;
      for (String name : floeStates.keySet()) n += scanAll(FloeKeys.tag(name)).size();
      return n;
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @Override
  public String getBackendTypeIdentifier() {
    return "floe";
  }

  // ------------------------------------------------------------------ checkpoints

  @Nonnull
  @Override
  public RunnableFuture<SnapshotResult<KeyedStateHandle>> snapshot(long checkpointId, long timestamp, @Nonnull CheckpointStreamFactory streamFactory,
      @Nonnull CheckpointOptions checkpointOptions) throws Exception {
    sendWrites(); // the checkpoint must hold every write before the barrier
    return store.snapshot(checkpointId, checkpointOptions);
  }

  @Nonnull
  @Override
  public SavepointResources<K> savepoint() {
    throw new UnsupportedOperationException("The Floe state backend takes native savepoints only (by reference to a Floe checkpoint): "
        + "use `flink savepoint --type native` / `stop --type native`; canonical savepoints are not supported");
  }

  @Override
  public void notifyCheckpointComplete(long checkpointId) {
    store.checkpointComplete(checkpointId);
  }

  @Override
  public void notifyCheckpointAborted(long checkpointId) {
    store.checkpointAborted(checkpointId);
  }

  // ------------------------------------------------------------------ lifecycle

  @Override
  public void dispose() {
    if (disposed) return;
    disposed = true;
    super.dispose();
    store.close(); // the ephemeral store is retired with its last connection
  }
}
