package io.floe.flink;

import java.io.IOException;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.ReduceFunction;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestHandler;
import org.apache.flink.runtime.state.v2.AbstractAggregatingState;
import org.apache.flink.runtime.state.v2.AbstractReducingState;
import org.apache.flink.runtime.state.v2.AbstractValueState;

/**
 * State V2 value, reducing and aggregating state on Floe: Flink's abstract states issue the requests (their
 * add() is a get then an update, their namespace merge gets, clears and updates); these execute them.
 */
final class FloeAsyncValueStates {
  private FloeAsyncValueStates() {}

  static final class Value<K, N, V> extends AbstractValueState<K, N, V> implements FloeAsyncState {
    private final FloeAsyncCodec<K, N> codec;
    private final FloeAsyncCodec.Values<V> values;

    Value(StateRequestHandler handler, FloeAsyncCodec<K, N> codec, TypeSerializer<V> serializer) {
      super(handler, serializer);
      this.codec = codec;
      this.values = new FloeAsyncCodec.Values<>(serializer);
    }

    @Override
    public void execute(StateRequest<?, ?, ?, ?> r, FloeBatch b) throws IOException {
      codec.executeValue(r, b, values);
    }
  }

  static final class Reducing<K, N, V> extends AbstractReducingState<K, N, V> implements FloeAsyncState {
    private final FloeAsyncCodec<K, N> codec;
    private final FloeAsyncCodec.Values<V> values;

    Reducing(StateRequestHandler handler, FloeAsyncCodec<K, N> codec, ReduceFunction<V> reduce, TypeSerializer<V> serializer) {
      super(handler, reduce, serializer);
      this.codec = codec;
      this.values = new FloeAsyncCodec.Values<>(serializer);
    }

    @Override
    public void execute(StateRequest<?, ?, ?, ?> r, FloeBatch b) throws IOException {
      codec.executeValue(r, b, values);
    }
  }

  static final class Aggregating<K, N, IN, ACC, OUT> extends AbstractAggregatingState<K, N, IN, ACC, OUT> implements FloeAsyncState {
    private final FloeAsyncCodec<K, N> codec;
    private final FloeAsyncCodec.Values<ACC> values;

    Aggregating(StateRequestHandler handler, FloeAsyncCodec<K, N> codec, AggregateFunction<IN, ACC, OUT> function, TypeSerializer<ACC> serializer) {
      super(handler, function, serializer);
      this.codec = codec;
      this.values = new FloeAsyncCodec.Values<>(serializer);
    }

    @Override
    public void execute(StateRequest<?, ?, ?, ?> r, FloeBatch b) throws IOException {
      codec.executeValue(r, b, values);
    }
  }
}
