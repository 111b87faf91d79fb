package io.floe.flink;

import io.floe.client.CheckpointHandle;
import io.floe.client.FloeClient;
import io.floe.client.FloeException;
import io.floe.client.ScanEntry;
import io.floe.client.ScanOptions;
import io.floe.client.StoreOptions;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.atomic.AtomicReference;
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
import org.apache.flink.runtime.state.KeyGroupRange;
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
import org.apache.flink.runtime.execution.Environment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The keyed state of one operator subtask, in one ephemeral named store of the Floe daemon (docs/flink.md).
 *
 * <ul>
 *   <li>Reads wait for their answer; writes are pipelined (sent, not awaited): the daemon answers in request
 *       order, so a later read sees them, and the first failed write fails every later state access and the
 *       next snapshot.</li>
 *   <li>Snapshot: a CHECKPOINT request, sent synchronously (so it covers exactly the writes before it) and
 *       awaited in the asynchronous part; the handle JSON goes into Flink's metadata as a
 *       {@link FloeStateHandles} handle (no files are copied).</li>
 *   <li>Release: when checkpoint N completes, this store's checkpoints other than the newest
 *       {@code retainedCheckpoints} completed ones (and savepoints, never released) are released.</li>
 *   <li>Timers: heap priority queues, checkpointed by Flink as raw keyed state.</li>
 * </ul>
 * Used by the task thread only (the snapshot's asynchronous part only awaits a future).
 */
public final class FloeKeyedStateBackend<K> extends AbstractKeyedStateBackend<K> {
  private static final Logger LOG = LoggerFactory.getLogger(FloeKeyedStateBackend.class);

  /** What the backend needs besides Flink's parameters. */
  record Settings(String storePrefix, int retainedCheckpoints) {}

  final FloeClient client;
  final FloeKeys<K> keys;
  private final String storeName;
  private final String jobId;
  private final int retainedCheckpoints;
  private final HeapPriorityQueueSetFactory timers;
  private final AtomicReference<Throwable> writeFailure = new AtomicReference<>();
  /**
   * Checkpoints this backend releases, by Flink checkpoint id: the ones its store took (savepoints are never
   * listed) and, after a failover of the same job, the ones it was restored from.
   */
  private final TreeMap<Long, List<CompletableFuture<CheckpointHandle>>> ownCheckpoints = new TreeMap<>();
  private final TreeMap<Long, Boolean> completed = new TreeMap<>();
  private boolean disposed;

  private FloeKeyedStateBackend(StateBackend.KeyedStateBackendParameters<K> p, FloeClient client, String storeName, int retainedCheckpoints,
      LatencyTrackingStateConfig latency, SizeTrackingStateConfig size) {
    super(p.getKvStateRegistry(), p.getKeySerializer(), p.getEnv().getUserCodeClassLoader().asClassLoader(), p.getEnv().getExecutionConfig(),
        p.getTtlTimeProvider(), latency, size, p.getCancelStreamRegistry(), new InternalKeyContextImpl<>(p.getKeyGroupRange(), p.getNumberOfKeyGroups()));
    this.client = client;
    this.keys = new FloeKeys<>(p.getKeySerializer());
    this.storeName = storeName;
    this.jobId = p.getJobID().toString();
    this.retainedCheckpoints = retainedCheckpoints;
    this.timers = new HeapPriorityQueueSetFactory(p.getKeyGroupRange(), p.getNumberOfKeyGroups(), 128);
  }

  /**
   * Opens (restoring from the parameters' handles, clipped to the subtask's key groups) the subtask's store
   * on {@code client} and returns its backend. REQUIRES: {@code client} connected and unbound.
   */
  static <K> FloeKeyedStateBackend<K> open(StateBackend.KeyedStateBackendParameters<K> p, FloeClient client, Settings settings,
      LatencyTrackingStateConfig latency, SizeTrackingStateConfig size) throws BackendBuildingException {
    List<FloeStateHandles.Taken> taken = FloeStateHandles.restoreHandles(p.getStateHandles());
    List<CheckpointHandle> restore = new ArrayList<>();
    for (FloeStateHandles.Taken t : taken) restore.add(t.handle());
    String name = storeName(settings.storePrefix(), p.getEnv(), p.getOperatorIdentifier());
    KeyGroupRange range = p.getKeyGroupRange();
    StoreOptions options = new StoreOptions(name, p.getNumberOfKeyGroups(), range.getStartKeyGroup(), range.getEndKeyGroup(), restore, true);
    client.openStore(options).join();
    LOG.info("Floe store {} opened for key groups {} (restored from {} checkpoint(s))", name, range, restore.size());
    FloeKeyedStateBackend<K> b = new FloeKeyedStateBackend<>(p, client, name, settings.retainedCheckpoints(), latency, size);
    b.adopt(taken, p.getEnv());
    return b;
  }

  /**
   * After a failover within the same job, the checkpoint restored from is this job's own: once newer ones
   * complete, nobody else would release it, so this backend does (as if its store had taken it). Another
   * job's checkpoint (a user's retained checkpoint or savepoint, NO_CLAIM) is never released here.
   */
  private void adopt(List<FloeStateHandles.Taken> taken, Environment env) {
    Long restoredId = env.getTaskStateManager().getRestoreCheckpointId().orElse(null);
    if (restoredId == null) return;
    String job = env.getJobID().toString();
    for (FloeStateHandles.Taken t : taken) {
      if (!t.jobId().equals(job)) continue;
      ownCheckpoints.computeIfAbsent(restoredId, id -> new ArrayList<>()).add(CompletableFuture.completedFuture(t.handle()));
      completed.put(restoredId, Boolean.TRUE);
    }
  }

  /** PREFIX/JOB/OPERATOR/sub-N/att-M, within the daemon's name rules (1..200 chars of [A-Za-z0-9._/-]). */
  static String storeName(String prefix, Environment env, String operatorIdentifier) {
    String op = operatorIdentifier.replaceAll("[^A-Za-z0-9._-]", "_").replaceAll("\\.\\.+", "_");
    if (op.length() > 96) op = op.substring(0, 80) + "_" + Integer.toHexString(operatorIdentifier.hashCode());
    return prefix + "/" + env.getJobID() + "/" + op + "/sub-" + env.getTaskInfo().getIndexOfThisSubtask() + "/att-" + env.getTaskInfo().getAttemptNumber();
  }

  public String storeName() {
    return storeName;
  }

  // ------------------------------------------------------------------ access helpers for the states

  /** Throws the first failure of a pipelined write, if any (the store may have missed writes since). */
  void checkWrites() throws IOException {
    Throwable t = writeFailure.get();
    if (t != null) throw new IOException("an earlier write to Floe store " + storeName + " failed: " + describe(t), t);
  }

  <T> T await(CompletableFuture<T> f, String what) throws IOException {
    checkWrites();
    try {
      return f.join();
    } catch (RuntimeException e) {
      throw new IOException(what + " on Floe store " + storeName + " failed: " + describe(e), e);
    }
  }

  /** Sends a write without waiting; its failure is kept for {@link #checkWrites}. */
  void pipeline(CompletableFuture<Void> write) throws IOException {
    checkWrites();
    write.whenComplete((ok, e) -> {
      if (e != null) writeFailure.compareAndSet(null, e);
    });
  }

  byte[] get(byte[] key) throws IOException {
    return await(client.get(getCurrentKeyGroupIndex(), key), "get");
  }

  void put(byte[] key, byte[] value) throws IOException {
    pipeline(client.put(getCurrentKeyGroupIndex(), key, value));
  }

  void delete(byte[] key) throws IOException {
    pipeline(client.delete(getCurrentKeyGroupIndex(), key));
  }

  void merge(byte[] key, byte[] operand) throws IOException {
    pipeline(client.merge(getCurrentKeyGroupIndex(), key, operand));
  }

  void write(List<WriteOp> ops) throws IOException {
    if (!ops.isEmpty()) pipeline(client.write(ops));
  }

  /** Every entry under {@code prefix} in the current key group. */
  List<ScanEntry> scanCurrent(byte[] prefix) throws IOException {
    return await(client.scanAll(ScanOptions.all().keyGroup(getCurrentKeyGroupIndex()).prefix(prefix)), "scan");
  }

  /** Every entry under {@code prefix} in the whole store. */
  List<ScanEntry> scanAll(byte[] prefix) throws IOException {
    return await(client.scanAll(ScanOptions.all().prefix(prefix)), "scan");
  }

  static String describe(Throwable t) {
    FloeException f = FloeException.unwrap(t);
    return f != null ? f.code() + ": " + f.getMessage() : t.toString();
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
    checkWrites();
    // Sent now, in request order after every write so far: the checkpoint holds exactly the state at the barrier.
    CompletableFuture<CheckpointHandle> handle = client.checkpoint();
    boolean savepoint = checkpointOptions.getCheckpointType().isSavepoint();
    if (!savepoint) ownCheckpoints.computeIfAbsent(checkpointId, id -> new ArrayList<>()).add(handle);
    KeyGroupRange range = getKeyGroupRange();
    return new FutureTask<>(() -> {
      CheckpointHandle h = await(handle, "checkpoint " + checkpointId);
      return SnapshotResult.of(FloeStateHandles.wrap(h, range, checkpointId, jobId));
    });
  }

  @Nonnull
  @Override
  public SavepointResources<K> savepoint() {
    throw new UnsupportedOperationException("The Floe state backend takes native savepoints only (by reference to a Floe checkpoint): "
        + "use `flink savepoint --type native` / `stop --type native`; canonical savepoints are not supported");
  }

  @Override
  public void notifyCheckpointComplete(long checkpointId) {
    if (!ownCheckpoints.containsKey(checkpointId)) return;
    completed.put(checkpointId, Boolean.TRUE);
    // Keep the newest retained completed checkpoints; everything older (completed or never completed) goes.
    long keepFrom = checkpointId;
    int kept = 0;
    for (Long id : completed.descendingKeySet()) {
      if (kept++ < retainedCheckpoints) keepFrom = id;
      else break;
    }
    List<Long> release = new ArrayList<>(ownCheckpoints.headMap(keepFrom, false).keySet());
    for (Long id : release) release(id);
  }

  @Override
  public void notifyCheckpointAborted(long checkpointId) {
    if (ownCheckpoints.containsKey(checkpointId) && !completed.containsKey(checkpointId)) release(checkpointId);
  }

  private void release(long id) {
    List<CompletableFuture<CheckpointHandle>> handles = ownCheckpoints.remove(id);
    completed.remove(id);
    if (handles == null) return;
    for (CompletableFuture<CheckpointHandle> f : handles) {
      f.thenCompose(client::releaseCheckpoint).whenComplete((ok, e) -> {
        if (e != null) LOG.warn("releasing Floe checkpoint {} of store {} failed (its files stay until released): {}", id, storeName, describe(e));
      });
    }
  }

  // ------------------------------------------------------------------ lifecycle

  @Override
  public void dispose() {
    if (disposed) return;
    disposed = true;
    super.dispose();
    try {
      client.close(); // the ephemeral store is retired with its last connection
    } catch (RuntimeException e) {
      LOG.warn("closing Floe store {}: {}", storeName, describe(e));
    }
  }
}
