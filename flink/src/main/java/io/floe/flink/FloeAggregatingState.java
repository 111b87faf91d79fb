package io.floe.flink;

import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.internal.InternalAggregatingState;

/** AggregatingState: the accumulator, read-modify-written per add(); get() is the function's result. */
final class FloeAggregatingState<K, N, IN, ACC, OUT> extends FloeFoldingState<K, N, IN, ACC, OUT> implements InternalAggregatingState<K, N, IN, ACC, OUT> {
  private final AggregateFunction<IN, ACC, OUT> function;

  FloeAggregatingState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> ns, TypeSerializer<ACC> acc, AggregateFunction<IN, ACC, OUT> function) {
    super(backend, name, ns, acc);
    this.function = function;
  }

  @Override
  ACC add(ACC acc, IN value) {
    return function.add(value, acc == null ? function.createAccumulator() : acc);
  }

  @Override
  ACC merge(ACC a, ACC b) {
    return function.merge(a, b);
  }

  @Override
  OUT result(ACC acc) {
    return function.getResult(acc);
  }
}
