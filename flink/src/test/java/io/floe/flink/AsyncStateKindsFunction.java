package io.floe.flink;

import java.util.HashSet;
import java.util.Set;
import java.util.TreeMap;
import org.apache.flink.core.state.StateFutureUtils;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.v2.AggregatingState;
import org.apache.flink.api.common.state.v2.AggregatingStateDescriptor;
import org.apache.flink.api.common.state.v2.ListState;
import org.apache.flink.api.common.state.v2.ListStateDescriptor;
import org.apache.flink.api.common.state.v2.MapState;
import org.apache.flink.api.common.state.v2.MapStateDescriptor;
import org.apache.flink.api.common.state.v2.ReducingState;
import org.apache.flink.api.common.state.v2.ReducingStateDescriptor;
import org.apache.flink.api.common.state.v2.ValueState;
import org.apache.flink.api.common.state.v2.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.operators.StreamingRuntimeContext;
import org.apache.flink.util.Collector;

/**
 * {@link StateKindsFunction} on the async State V2 API (run after {@code keyBy(...).enableAsyncState()}): the
 * same five states, updated through futures (value and map read-modify-write chains, list/reducing/aggregating
 * adds), and the same end-of-input summary read back through chained futures and state iterators. Shares
 * StateKindsFunction's counters and its expected output.
 */
public class AsyncStateKindsFunction extends KeyedProcessFunction<String, Tuple2<String, Long>, String> implements CheckpointListener {
  private static final long serialVersionUID = 1L;
  private final long failAfter;
  private transient ValueState<Long> count;
  private transient ListState<Long> values;
  private transient MapState<Long, Long> histogram;
  private transient ReducingState<Long> max;
  private transient AggregatingState<Long, Long> sum;
  private transient long seen;
  private transient Set<String> keysSeen;

  public AsyncStateKindsFunction(long failAfter) {
    this.failAfter = failAfter;
  }

  @Override
  public void open(OpenContext ctx) {
    StreamingRuntimeContext rc = (StreamingRuntimeContext) getRuntimeContext();
    count = rc.getValueState(new ValueStateDescriptor<>("count", Types.LONG));
    values = rc.getListState(new ListStateDescriptor<>("values", Types.LONG));
    histogram = rc.getMapState(new MapStateDescriptor<>("histogram", Types.LONG, Types.LONG));
    max = rc.getReducingState(new ReducingStateDescriptor<>("max", Math::max, Types.LONG));
    sum = rc.getAggregatingState(new AggregatingStateDescriptor<>("sum", new StateKindsFunction.Sum(), Types.TUPLE(Types.LONG, Types.LONG)));
    keysSeen = new HashSet<>();
  }

  @Override
  public void processElement(Tuple2<String, Long> in, Context ctx, Collector<String> out) throws Exception {
    seen++;
    StateKindsFunction.RECORDS.incrementAndGet();
    if (failAfter > 0 && seen > failAfter && StateKindsFunction.CHECKPOINTS.get() > 0 && getRuntimeContext().getTaskInfo().getAttemptNumber() == 0) {
      StateKindsFunction.FAILURES.incrementAndGet();
      throw new RuntimeException("injected failure after " + seen + " records (test)");
    }
    ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE - 1); // idempotent per key
    String key = in.f0;
    count.asyncValue().thenCompose(c -> {
      if (keysSeen.add(key) && c != null) StateKindsFunction.RESTORED_KEYS.incrementAndGet();
      return count.asyncUpdate(c == null ? 1L : c + 1);
    });
    values.asyncAdd(in.f1);
    long bucket = in.f1 % 7;
    histogram.asyncGet(bucket).thenCompose(h -> histogram.asyncPut(bucket, h == null ? 1L : h + 1));
    max.asyncAdd(in.f1);
    sum.asyncAdd(in.f1);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) throws Exception {
    String key = ctx.getCurrentKey();
    long[] list = new long[2];
    TreeMap<Long, Long> hist = new TreeMap<>();
    count.asyncValue().thenCompose(c -> values.asyncGet()
        .thenCompose(it -> it.onNext(v -> {
          list[0]++;
          list[1] += v;
        }))
        .thenCompose(ignored -> histogram.asyncEntries())
        .thenCompose(it -> it.onNext(e -> {
          hist.put(e.getKey(), e.getValue());
        }))
        .thenCompose(ignored -> max.asyncGet())
        .thenCompose(m -> sum.asyncGet().thenAccept(s -> out.collect(StateKindsFunction.summary(key, c, list[0], list[1], hist, m, s)))))
        .thenCompose(ignored -> count.asyncClear())
        .thenCompose(ignored -> values.asyncClear())
        // Unchained: the put is issued in the same batch as the clear, after it; it must survive the clear's
        // deletes (bucket 0 exists for most keys, so the clear's scan finds it).
        .thenCompose(ignored -> StateFutureUtils.combineAll(java.util.List.of(histogram.asyncClear(), histogram.asyncPut(0L, 42L))))
        .thenCompose(ignored -> histogram.asyncGet(0L))
        .thenAccept(v -> {
          if (v == null || v != 42L) out.collect("LOST PUT AFTER CLEAR " + key + ": " + v);
        })
        .thenCompose(ignored -> histogram.asyncClear())
        .thenCompose(ignored -> max.asyncClear())
        .thenCompose(ignored -> sum.asyncClear())
        .thenCompose(ignored -> count.asyncValue())
        .thenCompose(c -> histogram.asyncIsEmpty().thenCompose(empty -> values.asyncGet().thenCompose(it -> it.onNext(v -> {
          out.collect("NOT CLEARED list " + key);
        })).thenAccept(ignored -> {
          if (c != null || !empty) out.collect("NOT CLEARED " + key);
        })));
  }

  @Override
  public void notifyCheckpointComplete(long checkpointId) {
    StateKindsFunction.CHECKPOINTS.incrementAndGet();
  }
}
