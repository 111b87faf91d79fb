package io.floe.flink;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.AggregatingState;
import org.apache.flink.api.common.state.AggregatingStateDescriptor;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReducingState;
import org.apache.flink.api.common.state.ReducingStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keeps every kind of classic keyed state per word for records (word, n): a count (ValueState), the n's
 * (ListState), a histogram of n % 7 (MapState), the max (ReducingState) and the sum (AggregatingState), and
 * an event-time timer at the end of input that emits {@link #summary} and clears everything. Optionally
 * fails once (attempt 0) after {@code failAfter} records of a subtask once a checkpoint completed.
 */
public class StateKindsFunction extends KeyedProcessFunction<String, Tuple2<String, Long>, String> implements CheckpointListener {
  private static final long serialVersionUID = 1L;
  /** Checkpoints completed in any subtask, and failures thrown: the tests read them (same JVM as the MiniCluster). */
  static final AtomicInteger CHECKPOINTS = new AtomicInteger();
  static final AtomicInteger FAILURES = new AtomicInteger();
  static final AtomicInteger RECORDS = new AtomicInteger();
  /** Keys whose first record in a task instance found state already there: it came from a restore. */
  static final AtomicInteger RESTORED_KEYS = new AtomicInteger();
  private transient java.util.Set<String> keysSeen;

  private final long failAfter;
  private transient ValueState<Long> count;
  private transient ListState<Long> values;
  private transient MapState<Long, Long> histogram;
  private transient ReducingState<Long> max;
  private transient AggregatingState<Long, Long> sum;
  private transient long seen;

  public StateKindsFunction(long failAfter) {
    this.failAfter = failAfter;
  }

  @Override
  public void open(OpenContext ctx) {
    count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
    values = getRuntimeContext().getListState(new ListStateDescriptor<>("values", Types.LONG));
    histogram = getRuntimeContext().getMapState(new MapStateDescriptor<>("histogram", Types.LONG, Types.LONG));
    max = getRuntimeContext().getReducingState(new ReducingStateDescriptor<>("max", Math::max, Types.LONG));
    sum = getRuntimeContext().getAggregatingState(new AggregatingStateDescriptor<>("sum", new Sum(), Types.TUPLE(Types.LONG, Types.LONG)));
    keysSeen = new java.util.HashSet<>();
  }

  @Override
  public void processElement(Tuple2<String, Long> in, Context ctx, Collector<String> out) throws Exception {
    seen++;
    RECORDS.incrementAndGet();
    if (failAfter > 0 && seen > failAfter && CHECKPOINTS.get() > 0 && getRuntimeContext().getTaskInfo().getAttemptNumber() == 0) {
      FAILURES.incrementAndGet();
      throw new RuntimeException("injected failure after " + seen + " records (test)");
    }
    Long c = count.value();
    if (keysSeen.add(in.f0) && c != null) RESTORED_KEYS.incrementAndGet();
    if (c == null) ctx.timerService().registerEventTimeTimer(Long.MAX_VALUE - 1);
    count.update(c == null ? 1 : c + 1);
    values.add(in.f1);
    Long h = histogram.get(in.f1 % 7);
    histogram.put(in.f1 % 7, h == null ? 1 : h + 1);
    max.add(in.f1);
    sum.add(in.f1);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<String> out) throws Exception {
    long n = 0;
    long listSum = 0;
    for (Long v : values.get()) {
      n++;
      listSum += v;
    }
    TreeMap<Long, Long> hist = new TreeMap<>();
    for (Map.Entry<Long, Long> e : histogram.entries()) hist.put(e.getKey(), e.getValue());
    out.collect(summary(ctx.getCurrentKey(), count.value(), n, listSum, hist, max.get(), sum.get()));
    count.clear();
    values.clear();
    histogram.clear();
    max.clear();
    sum.clear();
    if (count.value() != null || values.get().iterator().hasNext() || !histogram.isEmpty() || max.get() != null || sum.get() != null) {
      out.collect("NOT CLEARED " + ctx.getCurrentKey());
    }
  }

  static String summary(String word, Long count, long listSize, long listSum, TreeMap<Long, Long> hist, Long max, Long sum) {
    return word + " count=" + count + " list=" + listSize + "/" + listSum + " hist=" + hist + " max=" + max + " sum=" + sum;
  }

  /** The summaries the job must emit for {@code records}. */
  static java.util.List<String> expected(Iterable<Tuple2<String, Long>> records) {
    TreeMap<String, long[]> acc = new TreeMap<>();
    TreeMap<String, TreeMap<Long, Long>> hists = new TreeMap<>();
    for (Tuple2<String, Long> r : records) {
      long[] a = acc.computeIfAbsent(r.f0, k -> new long[] {0, 0, Long.MIN_VALUE});
      a[0]++;
      a[1] += r.f1;
      a[2] = Math.max(a[2], r.f1);
      hists.computeIfAbsent(r.f0, k -> new TreeMap<>()).merge(r.f1 % 7, 1L, Long::sum);
    }
    java.util.List<String> out = new java.util.ArrayList<>();
    for (Map.Entry<String, long[]> e : acc.entrySet()) {
      long[] a = e.getValue();
      out.add(summary(e.getKey(), a[0], a[0], a[1], hists.get(e.getKey()), a[2], a[1]));
    }
    return out;
  }

  @Override
  public void notifyCheckpointComplete(long checkpointId) {
    CHECKPOINTS.incrementAndGet();
  }

  /** Sum of longs, with a (sum, count) accumulator so the accumulator type differs from the result. */
  static final class Sum implements AggregateFunction<Long, Tuple2<Long, Long>, Long> {
    private static final long serialVersionUID = 1L;

    @Override
    public Tuple2<Long, Long> createAccumulator() {
      return Tuple2.of(0L, 0L);
    }

    @Override
    public Tuple2<Long, Long> add(Long value, Tuple2<Long, Long> acc) {
      return Tuple2.of(acc.f0 + value, acc.f1 + 1);
    }

    @Override
    public Long getResult(Tuple2<Long, Long> acc) {
      return acc.f0;
    }

    @Override
    public Tuple2<Long, Long> merge(Tuple2<Long, Long> a, Tuple2<Long, Long> b) {
      return Tuple2.of(a.f0 + b.f0, a.f1 + b.f1);
    }
  }
}
