package io.floe.flink;

import org.apache.flink.api.common.functions.ReduceFunction;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.internal.InternalReducingState;

/** ReducingState: the reduced value, read-modify-written per add(). */
final class FloeReducingState<K, N, V> extends FloeFoldingState<K, N, V, V, V> implements InternalReducingState<K, N, V> {
  private final ReduceFunction<V> reduce;

  FloeReducingState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> ns, TypeSerializer<V> value, ReduceFunction<V> reduce) {
    super(backend, name, ns, value);
    this.reduce = reduce;
  }

  @Override
  V add(V acc, V value) throws Exception {
    return acc == null ? value : reduce.reduce(acc, value);
  }

  @Override
  V merge(V a, V b) throws Exception {
    return reduce.reduce(a, b);
  }

  @Override
  V result(V acc) {
    return acc;
  }
}
