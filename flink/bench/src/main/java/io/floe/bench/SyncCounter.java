package io.floe.bench;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/** Word count on the classic synchronous state API: read the word's count, add one, write it, emit it. */
public final class SyncCounter extends KeyedProcessFunction<String, String, Tuple2<String, Long>> {
  private static final long serialVersionUID = 1L;
  private transient ValueState<Long> count;

  @Override
  public void open(OpenContext ctx) {
    count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Long.class));
    Progress.openedAtNanos = System.nanoTime();
  }

  @Override
  public void processElement(String word, Context ctx, Collector<Tuple2<String, Long>> out) throws Exception {
    Long c = count.value();
    long n = c == null ? 1 : c + 1;
    count.update(n);
    out.collect(Tuple2.of(word, n));
    if (Progress.recordOutputs) Progress.output(word, n);
    Progress.processed++;
  }
}
