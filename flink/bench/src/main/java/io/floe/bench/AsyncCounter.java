package io.floe.bench;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.v2.ValueState;
import org.apache.flink.api.common.state.v2.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Word count on the async State V2 API (keyedStream.enableAsyncState()): asyncValue, then asyncUpdate, then
 * emit. A record counts as processed when its update has completed. The async execution controller keeps
 * records of one key in order; records of different keys overlap.
 */
public final class AsyncCounter extends KeyedProcessFunction<String, String, Tuple2<String, Long>> {
  private static final long serialVersionUID = 1L;
  private transient ValueState<Long> count;

  @Override
  public void open(OpenContext ctx) {
    count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
    Progress.openedAtNanos = System.nanoTime();
  }

  @Override
  public void processElement(String word, Context ctx, Collector<Tuple2<String, Long>> out) {
    count.asyncValue().thenCompose(c -> {
      long n = c == null ? 1 : c + 1;
      return count.asyncUpdate(n).thenAccept(v -> {
        out.collect(Tuple2.of(word, n));
        if (Progress.recordOutputs) Progress.output(word, n);
        Progress.processed++;
      });
    });
  }
}
