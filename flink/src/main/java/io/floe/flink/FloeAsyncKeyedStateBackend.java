package io.floe.flink;

import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.RunnableFuture;
import javax.annotation.Nonnull;
import org.apache.flink.api.common.ExecutionConfig;
import org.apache.flink.api.common.state.v2.AggregatingStateDescriptor;
import org.apache.flink.api.common.state.v2.MapStateDescriptor;
import org.apache.flink.api.common.state.v2.ReducingStateDescriptor;
import org.apache.flink.api.common.state.v2.State;
import org.apache.flink.api.common.state.v2.StateDescriptor;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.asyncprocessing.StateExecutor;
import org.apache.flink.runtime.asyncprocessing.StateRequestHandler;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.state.AsyncKeyedStateBackend;
import org.apache.flink.runtime.state.CheckpointStreamFactory;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupedInternalPriorityQueue;
import org.apache.flink.runtime.state.Keyed;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.PriorityComparable;
import org.apache.flink.runtime.state.SnapshotResult;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.runtime.state.heap.HeapPriorityQueueElement;
import org.apache.flink.runtime.state.heap.HeapPriorityQueueSetFactory;
import org.apache.flink.runtime.state.ttl.TtlTimeProvider;
import org.apache.flink.runtime.state.v2.internal.InternalKeyedState;
import org.apache.flink.runtime.state.v2.ttl.TtlStateFactory;

/**
 * Floe for Flink's async State V2 API ({@code keyedStream.enableAsyncState()}): the same store, key layout and
 * checkpoints as the synchronous backend ({@link FloeStore}), with a {@link FloeStateExecutor} that turns each
 * batch of state requests into pipelined, coalesced frames instead of one round trip per access, and a
 * bounded write-back value cache ({@link FloeWriteBack}: writes and cached reads complete without the daemon;
 * a snapshot first writes and awaits every dirty entry). Timers stay on the heap (written into raw keyed state
 * at checkpoints, the interface's default). TTL states (Flink's TtlStateFactory wrappers) store TtlValue bytes
 * through the same requests, so the cache holds what the daemon would and expiry is checked on read as before.
 */
public final class FloeAsyncKeyedStateBackend<K> implements AsyncKeyedStateBackend<K> {
  private final FloeStore store;
  /** The value cache and its write-behind; null when state.backend.floe.cache-size is 0. */
  private final FloeWriteBack writeBack;
  /** MapState entries per iterator page. */
  private final int pageEntries;
  private final TypeSerializer<K> keySerializer;
  private final ExecutionConfig executionConfig;
  private final TtlTimeProvider ttlTimeProvider;
  private final KeyGroupRange keyGroupRange;
  private final HeapPriorityQueueSetFactory timers;
  private final Map<String, InternalKeyedState<K, ?, ?>> states = new HashMap<>();
  private StateRequestHandler handler;
  private boolean disposed;

  /** The cache settings of the State V2 backend: capacity 0 turns the cache off. */
  record CacheSettings(long capacityBytes, long dirtyBytes, long unackedWriteBytes) {}

  FloeAsyncKeyedStateBackend(StateBackend.KeyedStateBackendParameters<K> p, FloeStore store, int pageEntries, CacheSettings cache) {
    this.store = store;
    this.writeBack = cache.capacityBytes() <= 0 ? null
        : new FloeWriteBack(new FloeStateCache(cache.capacityBytes(), cache.dirtyBytes()), store.client, store.name, store::failed, cache.unackedWriteBytes());
    this.pageEntries = pageEntries;
    this.keySerializer = p.getKeySerializer();
    this.executionConfig = p.getEnv().getExecutionConfig();
    this.ttlTimeProvider = p.getTtlTimeProvider();
    this.keyGroupRange = p.getKeyGroupRange();
    this.timers = new HeapPriorityQueueSetFactory(p.getKeyGroupRange(), p.getNumberOfKeyGroups(), 128);
  }

  @Override
  public void setup(@Nonnull StateRequestHandler stateRequestHandler) {
    this.handler = stateRequestHandler;
  }

  @Override
  @SuppressWarnings("unchecked")
  public <N, S extends State, SV> S getOrCreateKeyedState(N defaultNamespace, TypeSerializer<N> namespaceSerializer, StateDescriptor<SV> stateDesc)
      throws Exception {
    InternalKeyedState<K, ?, ?> state = states.get(stateDesc.getStateId());
    if (state == null) {
      if (!stateDesc.isSerializerInitialized()) stateDesc.initializeSerializerUnlessSet(executionConfig);
      state = TtlStateFactory.createStateAndWrapWithTtlIfEnabled(defaultNamespace, namespaceSerializer, stateDesc, this, ttlTimeProvider);
      states.put(stateDesc.getStateId(), state);
    }
    return (S) state;
  }

  @Nonnull
  @Override
  @SuppressWarnings({"unchecked", "rawtypes"})
  public <N, S extends InternalKeyedState, SV> S createStateInternal(@Nonnull N defaultNamespace, @Nonnull TypeSerializer<N> namespaceSerializer,
      @Nonnull StateDescriptor<SV> stateDesc) throws Exception {
    if (handler == null) throw new IllegalStateException("setup(StateRequestHandler) must come before creating states");
    TypeSerializer<?> userKey = stateDesc instanceof MapStateDescriptor<?, ?> m ? m.getUserKeySerializer() : null;
    store.meta.register(stateDesc.getStateId(), stateDesc.getType().name(), namespaceSerializer, stateDesc.getSerializer(), userKey);
    FloeAsyncCodec<K, N> codec = new FloeAsyncCodec<>(stateDesc.getStateId(), keySerializer, namespaceSerializer);
    switch (stateDesc.getType()) {
      case VALUE:
        return (S) new FloeAsyncValueStates.Value<>(handler, codec, stateDesc.getSerializer());
      case LIST:
        return (S) new FloeAsyncListState<>(handler, codec, stateDesc.getSerializer());
      case MAP: {
        MapStateDescriptor m = (MapStateDescriptor) stateDesc;
        return (S) new FloeAsyncMapState<>(handler, codec, m.getUserKeySerializer(), m.getSerializer(), pageEntries);
      }
      case REDUCING:
        return (S) new FloeAsyncValueStates.Reducing<>(handler, codec, ((ReducingStateDescriptor<SV>) stateDesc).getReduceFunction(), stateDesc.getSerializer());
      case AGGREGATING: {
        AggregatingStateDescriptor a = (AggregatingStateDescriptor) stateDesc;
        return (S) new FloeAsyncValueStates.Aggregating<>(handler, codec, a.getAggregateFunction(), a.getSerializer());
      }
      default:
        throw new UnsupportedOperationException("state " + stateDesc.getStateId() + " of type " + stateDesc.getType() + " is not supported by the Floe state backend");
    }
  }

  @Nonnull
  @Override
  public StateExecutor createStateExecutor() {
    return new FloeStateExecutor(store, writeBack);
  }

  @Override
  public KeyGroupRange getKeyGroupRange() {
    return keyGroupRange;
  }

  @Nonnull
  @Override
  public <T extends HeapPriorityQueueElement & PriorityComparable<? super T> & Keyed<?>> KeyGroupedInternalPriorityQueue<T> create(
      @Nonnull String stateName, @Nonnull TypeSerializer<T> byteOrderedElementSerializer) {
    return timers.create(stateName, byteOrderedElementSerializer);
  }

  @Nonnull
  @Override
  public RunnableFuture<SnapshotResult<KeyedStateHandle>> snapshot(long checkpointId, long timestamp, @Nonnull CheckpointStreamFactory streamFactory,
      @Nonnull CheckpointOptions checkpointOptions) throws Exception {
    // Every write before the barrier must be in the daemon, acknowledged, before its CHECKPOINT is taken.
    if (writeBack != null) writeBack.flushAndAwait();
    return store.snapshot(checkpointId, checkpointOptions);
  }

  @Override
  public void notifyCheckpointComplete(long checkpointId) {
    store.checkpointComplete(checkpointId);
  }

  @Override
  public void notifyCheckpointAborted(long checkpointId) {
    store.checkpointAborted(checkpointId);
  }

  @Override
  public void notifyCheckpointSubsumed(long checkpointId) {
    // Release follows completion (FloeStore keeps the configured number of completed checkpoints).
  }

  @Override
  public String getBackendTypeIdentifier() {
    return "floe";
  }

  public String storeName() {
    return store.name;
  }

  @Override
  public void dispose() {
    if (disposed) return;
    disposed = true;
    states.clear();
    store.close(); // the ephemeral store is retired with its last connection
  }

  @Override
  public void close() {
    dispose();
  }
}
