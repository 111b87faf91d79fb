package io.floe.flink;

import java.io.IOException;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.internal.InternalListState;

/**
 * ListState by Floe's merge (list append = byte concatenation): the value is a run of elements, each
 * {@code u32 length | serialized element}, so add() is one pipelined MERGE and never reads.
 */
final class FloeListState<K, N, T> extends FloeState<K, N, List<T>> implements InternalListState<K, N, T> {
  private final TypeSerializer<T> elementSerializer;

  FloeListState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> ns, TypeSerializer<List<T>> listSerializer, TypeSerializer<T> element) {
    super(backend, name, ns, listSerializer);
    this.elementSerializer = element;
  }

  private byte[] encode(Collection<T> values) throws IOException {
    return FloeStateCoding.encodeList(values, elementSerializer, out);
  }

  private List<T> decode(byte[] bytes) throws IOException {
    return FloeStateCoding.decodeList(bytes, elementSerializer);
  }

  @Override
  public Iterable<T> get() throws Exception {
    return getInternal();
  }

  @Override
  public void add(T value) throws Exception {
    Objects.requireNonNull(value, "You cannot add null to a ListState.");
    backend.merge(key(), encode(List.of(value)));
  }

  @Override
  public void addAll(List<T> values) throws Exception {
    Objects.requireNonNull(values, "List of values to add cannot be null.");
    if (!values.isEmpty()) backend.merge(key(), encode(values));
  }

  @Override
  public void update(List<T> values) throws Exception {
    Objects.requireNonNull(values, "List of values to add cannot be null.");
    updateInternal(values);
  }

  @Override
  public List<T> getInternal() throws IOException {
    byte[] v = backend.get(key());
    return v == null ? null : decode(v);
  }

  @Override
  public void updateInternal(List<T> values) throws IOException {
    if (values == null || values.isEmpty()) clear();
    else backend.put(key(), encode(values));
  }

  @Override
  public void mergeNamespaces(N target, Collection<N> sources) throws Exception {
    if (sources == null || sources.isEmpty()) return;
    byte[] targetKey = keyOf(target);
    for (N source : sources) {
      if (source == null) continue;
      byte[] k = keyOf(source);
      byte[] v = backend.get(k);
      if (v == null) continue;
      backend.delete(k);
      backend.merge(targetKey, v); // encoded runs concatenate
    }
  }

  @Override
  public byte[] getSerializedValue(byte[] serializedKeyAndNamespace, org.apache.flink.api.common.typeutils.TypeSerializer<K> safeKeySerializer,
      TypeSerializer<N> safeNamespaceSerializer, TypeSerializer<List<T>> safeValueSerializer) {
    throw new UnsupportedOperationException("queryable ListState is not supported by the Floe state backend");
  }
}
