package io.floe.flink;

import io.floe.client.WriteOp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.common.state.v2.StateFuture;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.core.state.StateFutureUtils;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestHandler;
import org.apache.flink.runtime.asyncprocessing.StateRequestType;
import org.apache.flink.runtime.state.v2.AbstractListState;
import org.apache.flink.runtime.state.v2.adaptor.CompleteStateIterator;

/**
 * State V2 ListState on Floe, stored as the synchronous FloeListState stores it (a run of
 * {@code u32 length | element}): add/addAll are one MERGE, get one GET decoded into a complete iterator.
 * Namespace merging reads the sources' raw runs and appends them to the target (custom raw requests, as
 * ForSt's list state does).
 */
final class FloeAsyncListState<K, N, V> extends AbstractListState<K, N, V> implements FloeAsyncState {
  /** The payload of this state's CUSTOMIZED requests: read the raw run, or append raw runs. */
  record Raw(boolean append, List<byte[]> runs) {}

  private final FloeAsyncCodec<K, N> codec;
  private final TypeSerializer<V> serializer;
  private final ThreadLocal<TypeSerializer<V>> readSerializer;
  private final DataOutputSerializer out = new DataOutputSerializer(64);

  FloeAsyncListState(StateRequestHandler handler, FloeAsyncCodec<K, N> codec, TypeSerializer<V> elementSerializer) {
    super(handler, elementSerializer);
    this.codec = codec;
    this.serializer = elementSerializer.duplicate();
    this.readSerializer = ThreadLocal.withInitial(elementSerializer::duplicate);
  }

  private byte[] encode(Collection<V> values) throws IOException {
    return FloeStateCoding.encodeList(values, serializer, out);
  }

  private List<V> decode(byte[] bytes) {
    try {
      return FloeStateCoding.decodeList(bytes, readSerializer.get());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  @SuppressWarnings("unchecked")
  public void execute(StateRequest<?, ?, ?, ?> r, FloeBatch b) throws IOException {
    byte[] key = codec.key(r);
    int kg = FloeAsyncCodec.keyGroup(r);
    switch (r.getRequestType()) {
      case LIST_GET:
        b.get(r, kg, key, v -> new CompleteStateIterator<>(decode(v)));
        return;
      case LIST_ADD:
        b.write(r, WriteOp.merge(kg, key, encode(List.of((V) Objects.requireNonNull(r.getPayload(), "You cannot add null to a ListState.")))));
        return;
      case LIST_ADD_ALL: {
        List<V> values = (List<V>) r.getPayload();
        if (values == null || values.isEmpty()) b.done(r, null);
        else b.write(r, WriteOp.merge(kg, key, encode(values)));
        return;
      }
      case LIST_UPDATE: {
        List<V> values = (List<V>) r.getPayload();
        b.write(r, values == null || values.isEmpty() ? WriteOp.delete(kg, key) : WriteOp.put(kg, key, encode(values)));
        return;
      }
      case CLEAR:
        b.write(r, WriteOp.delete(kg, key));
        return;
      case CUSTOMIZED: {
        Raw raw = (Raw) r.getPayload();
        if (!raw.append()) {
          b.get(r, kg, key, v -> v);
          return;
        }
        List<WriteOp> ops = new ArrayList<>();
        for (byte[] run : raw.runs()) ops.add(WriteOp.merge(kg, key, run));
        b.write(r, ops);
        return;
      }
      default:
        throw FloeAsyncCodec.unsupported(r);
    }
  }

  @Override
  public StateFuture<Void> asyncMergeNamespaces(N target, Collection<N> sources) {
    if (sources == null || sources.isEmpty()) return StateFutureUtils.completedVoidFuture();
    List<N> live = new ArrayList<>();
    List<StateFuture<byte[]>> reads = new ArrayList<>();
    for (N source : sources) {
      if (source == null) continue;
      live.add(source);
      setCurrentNamespace(source);
      reads.add(handleRequest(StateRequestType.CUSTOMIZED, new Raw(false, List.of())));
    }
    return StateFutureUtils.combineAll(reads).thenCompose(values -> {
      List<StateFuture<Void>> updates = new ArrayList<>();
      List<byte[]> runs = new ArrayList<>();
      Iterator<byte[]> it = values.iterator();
      for (N source : live) {
        byte[] v = it.next();
        if (v == null) continue;
        runs.add(v);
        setCurrentNamespace(source);
        updates.add(asyncClear());
      }
      if (!runs.isEmpty()) {
        setCurrentNamespace(target);
        updates.add(handleRequest(StateRequestType.CUSTOMIZED, new Raw(true, runs)));
      }
      return StateFutureUtils.combineAll(updates);
    }).thenAccept(ignored -> {});
  }

  @Override
  public void mergeNamespaces(N target, Collection<N> sources) {
    if (sources == null || sources.isEmpty()) return;
    List<byte[]> runs = new ArrayList<>();
    for (N source : sources) {
      if (source == null) continue;
      setCurrentNamespace(source);
      byte[] v = handleRequestSync(StateRequestType.CUSTOMIZED, new Raw(false, List.of()));
      if (v == null) continue;
      runs.add(v);
      clear();
    }
    if (runs.isEmpty()) return;
    setCurrentNamespace(target);
    handleRequestSync(StateRequestType.CUSTOMIZED, new Raw(true, runs));
  }
}
