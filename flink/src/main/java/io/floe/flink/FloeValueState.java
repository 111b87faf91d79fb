package io.floe.flink;

import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.internal.InternalValueState;

/** ValueState: one Floe entry per (key, namespace) holding the serialized value. */
final class FloeValueState<K, N, V> extends FloeState<K, N, V> implements InternalValueState<K, N, V> {
  private final V defaultValue;

  FloeValueState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> ns, TypeSerializer<V> value, V defaultValue) {
    super(backend, name, ns, value);
    this.defaultValue = defaultValue;
  }

  @Override
  public V value() throws IOException {
    byte[] v = backend.get(key());
    if (v == null) return defaultValue == null ? null : valueSerializer.copy(defaultValue);
    return deserialize(v, valueSerializer);
  }

  @Override
  public void update(V value) throws IOException {
    if (value == null) {
      clear();
      return;
    }
    backend.put(key(), serialize(value, valueSerializer));
  }
}
