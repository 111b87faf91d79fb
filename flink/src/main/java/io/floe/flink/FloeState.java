package io.floe.flink;

import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.queryablestate.client.state.serialization.KvStateSerializer;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.flink.runtime.state.internal.InternalKvState;

/**
 * What every Floe-backed state shares: its tag (the state name, FloeKeys), the namespace it is set to, and
 * the (de)serialization of its Floe key (tag | current key | namespace) and values. {@code V} is the type
 * Flink sees as the state's value (for ListState a List, for MapState a Map).
 */
abstract class FloeState<K, N, V> implements InternalKvState<K, N, V> {
  final FloeKeyedStateBackend<K> backend;
  final byte[] tag;
  final TypeSerializer<N> namespaceSerializer;
  final TypeSerializer<V> valueSerializer;
  N namespace;
  final DataOutputSerializer out = new DataOutputSerializer(64);
  final DataInputDeserializer in = new DataInputDeserializer();

  FloeState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> namespaceSerializer, TypeSerializer<V> valueSerializer) {
    this.backend = backend;
    this.tag = FloeKeys.tag(name);
    this.namespaceSerializer = namespaceSerializer;
    this.valueSerializer = valueSerializer;
  }

  TypeSerializer<N> namespaceSerializer() {
    return namespaceSerializer;
  }

  @Override
  public TypeSerializer<K> getKeySerializer() {
    return backend.getKeySerializer();
  }

  @Override
  public TypeSerializer<N> getNamespaceSerializer() {
    return namespaceSerializer;
  }

  @Override
  public TypeSerializer<V> getValueSerializer() {
    return valueSerializer;
  }

  @Override
  public void setCurrentNamespace(N namespace) {
    this.namespace = namespace;
  }

  /** The Floe key of the current key and namespace. */
  byte[] key() throws IOException {
    return backend.keys.build(tag, namespace, namespaceSerializer);
  }

  byte[] keyOf(N ns) throws IOException {
    return backend.keys.build(tag, ns, namespaceSerializer);
  }

  <T> byte[] serialize(T value, TypeSerializer<T> serializer) throws IOException {
    return FloeStateCoding.serialize(value, serializer, out);
  }

  <T> T deserialize(byte[] bytes, TypeSerializer<T> serializer) throws IOException {
    return FloeStateCoding.deserialize(bytes, 0, serializer, in);
  }

  @Override
  public void clear() {
    try {
      backend.delete(key());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Queryable state: the stored bytes, which are the value serializer's for value, reducing and aggregating state. */
  @Override
  public byte[] getSerializedValue(byte[] serializedKeyAndNamespace, TypeSerializer<K> safeKeySerializer, TypeSerializer<N> safeNamespaceSerializer,
      TypeSerializer<V> safeValueSerializer) throws Exception {
    Tuple2<K, N> kn = KvStateSerializer.deserializeKeyAndNamespace(serializedKeyAndNamespace, safeKeySerializer, safeNamespaceSerializer);
    int kg = KeyGroupRangeAssignment.assignToKeyGroup(kn.f0, backend.getNumberOfKeyGroups());
    byte[] k = backend.keys.buildFor(tag, kn.f0, safeKeySerializer, kn.f1, safeNamespaceSerializer);
    return backend.await(backend.client.get(kg, k), "queryable get");
  }

  @Override
  public StateIncrementalVisitor<K, N, V> getStateIncrementalVisitor(int recommendedMaxNumberOfReturnedRecords) {
    throw new UnsupportedOperationException("the Floe state backend has no incremental state visitor (TTL incremental cleanup is a heap-backend feature)");
  }
}
