package io.floe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.floe.client.DaemonProcess;
import io.floe.client.FakeDaemon;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.AggregateFunction;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.windowing.ProcessWindowFunction;
import org.apache.flink.streaming.api.windowing.assigners.EventTimeSessionWindows;
import org.apache.flink.streaming.api.windowing.assigners.TumblingEventTimeWindows;
import org.apache.flink.streaming.api.windowing.windows.TimeWindow;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Real Flink 2.3 jobs on a MiniCluster with their keyed state in a Floe daemon started by the test
 * (dist/bin/floe.js): exact results for every classic state kind and for windows; recovery from an injected
 * task failure and from a daemon restart; a retained checkpoint restored at parallelism 2 -> 1 -> 3; and the
 * error a job meets when no daemon listens at the socket.
 */
class FlinkJobsTest {
  private static DaemonProcess daemon;
  private static FlinkCluster cluster;

  @BeforeAll
  static void start() throws Exception {
    daemon = DaemonProcess.start();
    cluster = new FlinkCluster();
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) cluster.close();
    if (daemon != null) daemon.close();
  }

  @BeforeEach
  void resetCounters() {
    StateKindsFunction.CHECKPOINTS.set(0);
    StateKindsFunction.FAILURES.set(0);
    StateKindsFunction.RECORDS.set(0);
    StateKindsFunction.RESTORED_KEYS.set(0);
  }

  /** Record i: a word (200 of them, skewed) and the value i. */
  static Tuple2<String, Long> record(long i) {
    long h = i * 0x9E3779B97F4A7C15L;
    h ^= h >>> 29;
    h *= 0xBF58476D1CE4E5B9L;
    h ^= h >>> 32;
    long w = Long.remainderUnsigned(h, 1000);
    return Tuple2.of("w" + (w * w / 5000), i);
  }

  static List<Tuple2<String, Long>> records(long n) {
    List<Tuple2<String, Long>> l = new ArrayList<>();
    for (long i = 0; i < n; i++) l.add(record(i));
    return l;
  }

  /**
   * Records 0..n-1 through StateKindsFunction into a sink. {@code perCheckpoint} &gt; 0 gates the source to that
   * many records per completed checkpoint, so a test can act mid-stream however slow the machine is (and no
   * end-of-input timer can fire before the test's failure or cancel): 0 leaves it unthrottled.
   */
  static void stateKindsJob(StreamExecutionEnvironment env, long n, int perCheckpoint, long failAfter, String sink) {
    stateKindsJob(env, n, perCheckpoint, failAfter, sink, false);
  }

  /** As above; {@code async}: through {@code enableAsyncState()} and {@link AsyncStateKindsFunction} (State V2). */
  static void stateKindsJob(StreamExecutionEnvironment env, long n, int perCheckpoint, long failAfter, String sink, boolean async) {
    RateLimiterStrategy<?> rate = perCheckpoint > 0 ? RateLimiterStrategy.perCheckpoint(perCheckpoint) : RateLimiterStrategy.noOp();
    DataGeneratorSource<Tuple2<String, Long>> source = new DataGeneratorSource<>(FlinkJobsTest::record, n, rate, Types.TUPLE(Types.STRING, Types.LONG));
    DataStream<Tuple2<String, Long>> records = env.fromSource(source, WatermarkStrategy.noWatermarks(), "records").uid("records");
    DataStream<String> out = async
        ? records.keyBy(r -> r.f0).enableAsyncState().process(new AsyncStateKindsFunction(failAfter)).uid("state-kinds")
        : records.keyBy(r -> r.f0).process(new StateKindsFunction(failAfter)).uid("state-kinds");
    out.sinkTo(new CollectingSink(sink)).uid("sink").setParallelism(1);
  }

  /** Equal line lists, reported as the lines missing and unexpected (a few of each), not two huge lists. */
  static void assertSameLines(List<String> expected, List<String> actual) {
    List<String> missing = new ArrayList<>(expected);
    List<String> extra = new ArrayList<>();
    for (String a : actual) if (!missing.remove(a)) extra.add(a);
    if (!missing.isEmpty() || !extra.isEmpty()) {
      throw new AssertionError(expected.size() + " lines expected, " + actual.size() + " emitted; missing " + missing.size() + ", e.g. "
          + missing.subList(0, Math.min(3, missing.size())) + "; unexpected " + extra.size() + ", e.g. " + extra.subList(0, Math.min(3, extra.size())));
    }
  }

  static List<String> sorted(List<String> l) {
    List<String> s = new ArrayList<>(l);
    s.sort(null);
    return s;
  }

  @Test
  void everyStateKindGivesExactResults() throws Exception {
    long n = 5000;
    StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), 2);
    stateKindsJob(env, n, 0, 0, "kinds");
    cluster.run(env, null);
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("kinds"));
    assertEquals(0, StateKindsFunction.RESTORED_KEYS.get(), "nothing restored in a fresh job");
  }

  @Test
  void asyncStateV2GivesExactResults() throws Exception {
    long n = 5000;
    Configuration c = cluster.jobConfig(daemon.socket, 0);
    c.set(FloeOptions.ITERATOR_PAGE_ENTRIES, 2); // a histogram of 7 buckets is read in 4 pages
    StreamExecutionEnvironment env = FlinkCluster.env(c, 2);
    stateKindsJob(env, n, 0, 0, "async-kinds", true);
    cluster.run(env, null);
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("async-kinds"));
    assertEquals(0, StateKindsFunction.RESTORED_KEYS.get(), "nothing restored in a fresh job");
  }

  @Test
  void asyncStateV2RecoversFromATaskFailureAndRescales() throws Exception {
    long n = 3000;
    StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 3), 2);
    stateKindsJob(env, n, 200, 300, "async-recovery", true);
    JobID job = cluster.submit(env, null);
    FlinkCluster.waitFor("the failure and a checkpoint after it", 60_000, () -> StateKindsFunction.FAILURES.get() >= 1 && StateKindsFunction.RESTORED_KEYS.get() > 0);
    int checkpoints = StateKindsFunction.CHECKPOINTS.get();
    FlinkCluster.waitFor("two more checkpoints", 60_000, () -> StateKindsFunction.CHECKPOINTS.get() >= checkpoints + 4);
    cluster.cancel(job);
    String restore = cluster.latestCheckpoint(job).orElseThrow().toUri().toString();
    assertTrue(StateKindsFunction.RECORDS.get() < n, "stopped before the end of input");
    int restored = StateKindsFunction.RESTORED_KEYS.get();
    StreamExecutionEnvironment env3 = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), 3);
    stateKindsJob(env3, n, 0, 0, "async-recovery", true);
    cluster.run(env3, restore);
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("async-recovery"));
    assertTrue(StateKindsFunction.RESTORED_KEYS.get() > restored, "the parallelism-3 job started from the checkpoint");
  }

  /** A State V2 write-back cache of a few entries, so evictions, write-behind frames and stalls happen all the time. */
  static Configuration tinyCache(Configuration c) {
    c.set(FloeOptions.CACHE_SIZE, org.apache.flink.configuration.MemorySize.parse("4kb"));
    c.set(FloeOptions.CACHE_DIRTY_SIZE, org.apache.flink.configuration.MemorySize.parse("1kb"));
    c.set(FloeOptions.WRITE_IN_FLIGHT_SIZE, org.apache.flink.configuration.MemorySize.parse("512b"));
    return c;
  }

  @Test
  void asyncStateV2GivesExactResultsWithATinyCacheAndWithout() throws Exception {
    long n = 3000;
    for (boolean cache : new boolean[] {true, false}) {
      resetCounters();
      Configuration c = cluster.jobConfig(daemon.socket, 0);
      if (cache) tinyCache(c);
      else c.set(FloeOptions.CACHE_SIZE, org.apache.flink.configuration.MemorySize.ZERO);
      String sink = "async-cache-" + cache;
      StreamExecutionEnvironment env = FlinkCluster.env(c, 2);
      stateKindsJob(env, n, 0, 0, sink, true);
      cluster.run(env, null);
      assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results(sink));
    }
  }

  @Test
  void asyncStateV2WithATinyWriteBackCacheRecoversFromATaskFailureExactlyOnce() throws Exception {
    // Checkpoints taken while most written state is still dirty in the cache must hold every write before them.
    long n = 3000;
    StreamExecutionEnvironment env = FlinkCluster.env(tinyCache(cluster.jobConfig(daemon.socket, 3)), 2);
    stateKindsJob(env, n, 200, 300, "async-tiny-recovery", true);
    cluster.run(env, null);
    assertTrue(StateKindsFunction.FAILURES.get() >= 1, "the injected failure happened");
    assertTrue(StateKindsFunction.RESTORED_KEYS.get() > 0, "state came back from the checkpoint");
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("async-tiny-recovery"));
  }

  // ------------------------------------------------------------------ windows

  /** Event time of record i: 40 ms apart, jittered by up to 30 ms, with a 2 s pause every 150 records. */
  static long eventTime(long i) {
    return i * 40 + Long.remainderUnsigned(i * 0x9E3779B97F4A7C15L, 31) + (i / 150) * 2000;
  }

  static Tuple2<String, Long> event(long i) {
    return Tuple2.of("k" + (i % 5), i);
  }

  @Test
  void windowedAggregationsGiveExactResults() throws Exception {
    windows(false);
  }

  @Test
  void asyncWindowedAggregationsGiveExactResults() throws Exception {
    windows(true);
  }

  /**
   * Tumbling aggregate and session reduce windows against a model; {@code async}: the tumbling windows run on
   * Flink's async window operator (State V2 through FloeStateExecutor).
   */
  private void windows(boolean async) throws Exception {
    long n = 3000;
    StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), 2);
    DataGeneratorSource<Tuple2<String, Long>> source = new DataGeneratorSource<>(FlinkJobsTest::event, n, Types.TUPLE(Types.STRING, Types.LONG));
    DataStream<Tuple2<String, Long>> events = env.fromSource(source,
        WatermarkStrategy.<Tuple2<String, Long>>forBoundedOutOfOrderness(Duration.ofMillis(100)).withTimestampAssigner((e, t) -> eventTime(e.f1)), "events")
        .setParallelism(1);
    KeyedStream<Tuple2<String, Long>, String> tumblingKeys = events.keyBy(e -> e.f0);
    if (async) tumblingKeys = tumblingKeys.enableAsyncState();
    tumblingKeys
        .window(TumblingEventTimeWindows.of(Duration.ofSeconds(1)))
        .aggregate(new ValueSum(), new ProcessWindowFunction<Long, String, String, TimeWindow>() {
          @Override
          public void process(String key, Context ctx, Iterable<Long> sums, Collector<String> out) {
            out.collect("T " + key + " " + ctx.window().getStart() + " " + sums.iterator().next());
          }
        })
        .sinkTo(new CollectingSink("windows")).setParallelism(1);
    // Session windows stay on the synchronous API: Flink 2.3's async window operator rejects merging windows.
    events.keyBy(e -> e.f0)
        .window(EventTimeSessionWindows.withGap(Duration.ofMillis(500)))
        .reduce((a, b) -> Tuple2.of(a.f0, a.f1 + b.f1), new ProcessWindowFunction<Tuple2<String, Long>, String, String, TimeWindow>() {
          @Override
          public void process(String key, Context ctx, Iterable<Tuple2<String, Long>> sums, Collector<String> out) {
            out.collect("S " + key + " " + ctx.window().getStart() + "-" + ctx.window().getEnd() + " " + sums.iterator().next().f1);
          }
        })
        .sinkTo(new CollectingSink("sessions")).setParallelism(1);
    cluster.run(env, null);

    TreeMap<String, Long> tumbling = new TreeMap<>();
    TreeMap<String, List<long[]>> perKey = new TreeMap<>();
    for (long i = 0; i < n; i++) {
      String k = event(i).f0;
      long ts = eventTime(i);
      tumbling.merge("T " + k + " " + (ts - ts % 1000), i, Long::sum);
      perKey.computeIfAbsent(k, x -> new ArrayList<>()).add(new long[] {ts, i});
    }
    List<String> expectedTumbling = new ArrayList<>();
    for (Map.Entry<String, Long> e : tumbling.entrySet()) expectedTumbling.add(e.getKey() + " " + e.getValue());
    assertSameLines(sorted(expectedTumbling), CollectingSink.results("windows"));

    List<String> expectedSessions = new ArrayList<>();
    for (Map.Entry<String, List<long[]>> e : perKey.entrySet()) {
      List<long[]> evs = e.getValue();
      evs.sort((a, b) -> Long.compare(a[0], b[0]));
      long start = evs.get(0)[0], last = start, sum = 0;
      for (long[] ev : evs) {
        if (ev[0] - last > 500) {
          expectedSessions.add("S " + e.getKey() + " " + start + "-" + (last + 500) + " " + sum);
          start = ev[0];
          sum = 0;
        }
        last = ev[0];
        sum += ev[1];
      }
      expectedSessions.add("S " + e.getKey() + " " + start + "-" + (last + 500) + " " + sum);
    }
    assertTrue(expectedSessions.size() > 5 * 10, "the model has sessions to merge: " + expectedSessions.size());
    assertSameLines(sorted(expectedSessions), CollectingSink.results("sessions"));
  }

  /** Sum of the records' values, accumulated as (sum, count). */
  static final class ValueSum implements AggregateFunction<Tuple2<String, Long>, Tuple2<Long, Long>, Long> {
    private static final long serialVersionUID = 1L;
    private final StateKindsFunction.Sum sum = new StateKindsFunction.Sum();

    @Override
    public Tuple2<Long, Long> createAccumulator() {
      return sum.createAccumulator();
    }

    @Override
    public Tuple2<Long, Long> add(Tuple2<String, Long> value, Tuple2<Long, Long> acc) {
      return sum.add(value.f1, acc);
    }

    @Override
    public Long getResult(Tuple2<Long, Long> acc) {
      return acc.f0;
    }

    @Override
    public Tuple2<Long, Long> merge(Tuple2<Long, Long> a, Tuple2<Long, Long> b) {
      return sum.merge(a, b);
    }
  }

  // ------------------------------------------------------------------ failures and recovery

  @Test
  void taskFailureRecoversFromTheLastCheckpointExactlyOnce() throws Exception {
    long n = 3000;
    StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 3), 2);
    stateKindsJob(env, n, 200, 300, "recovery");
    cluster.run(env, null);
    assertTrue(StateKindsFunction.FAILURES.get() >= 1, "the injected failure happened");
    assertTrue(StateKindsFunction.RESTORED_KEYS.get() > 0, "state came back from the checkpoint");
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("recovery"));
  }

  @Test
  void retainedCheckpointRestoresAtParallelism2Then1Then3() throws Exception {
    long n = 4500;
    String restore = null;
    for (int parallelism : new int[] {2, 1}) {
      StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), parallelism);
      stateKindsJob(env, n, 300, 0, "rescale");
      int records = StateKindsFunction.RECORDS.get();
      JobID job = cluster.submit(env, restore);
      FlinkCluster.waitFor("records", 30_000, () -> StateKindsFunction.RECORDS.get() > records + 400);
      int checkpoints = StateKindsFunction.CHECKPOINTS.get();
      FlinkCluster.waitFor("two more checkpoints", 30_000, () -> StateKindsFunction.CHECKPOINTS.get() >= checkpoints + 2 * parallelism);
      cluster.cancel(job);
      restore = cluster.latestCheckpoint(job).orElseThrow().toUri().toString();
      assertTrue(StateKindsFunction.RECORDS.get() < n, "stopped before the end of input");
      if (parallelism == 1) assertTrue(StateKindsFunction.RESTORED_KEYS.get() > 0, "phase 2 started from phase 1's state");
    }
    int restoredBefore = StateKindsFunction.RESTORED_KEYS.get();
    StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), 3);
    stateKindsJob(env, n, 0, 0, "rescale");
    cluster.run(env, restore);
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("rescale"));
    assertTrue(StateKindsFunction.RESTORED_KEYS.get() > restoredBefore, "phase 3 started from phase 2's state");
  }

  @Test
  void daemonRestartMidJobRecoversExactly() throws Exception {
    long n = 4500;
    DaemonProcess own = DaemonProcess.start();
    Path dir = own.dir;
    DaemonProcess restarted = null;
    try {
      StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(own.socket, 60), 2);
      stateKindsJob(env, n, 300, 0, "daemon-restart");
      JobID job = cluster.submit(env, null);
      FlinkCluster.waitFor("checkpoints and records", 30_000, () -> StateKindsFunction.CHECKPOINTS.get() >= 4 && StateKindsFunction.RECORDS.get() > 600);
      own.kill();
      Thread.sleep(300);
      restarted = DaemonProcess.start(dir);
      JobResult r = cluster.await(job);
      assertTrue(r.isSuccess(), () -> "job failed: " + r.getSerializedThrowable());
      assertTrue(StateKindsFunction.RECORDS.get() > n, "records were replayed after the restart");
      assertTrue(StateKindsFunction.RESTORED_KEYS.get() > 0, "state came back from the last checkpoint");
      assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("daemon-restart"));
    } finally {
      if (restarted != null) restarted.close();
      else own.close();
    }
  }

  @Test
  void everyStateKindGivesExactResultsWithoutTheValueCache() throws Exception {
    // Every read goes to the daemon: the write-back buffer must be sent before each one.
    long n = 3000;
    Configuration c = cluster.jobConfig(daemon.socket, 0);
    c.set(FloeOptions.CACHE_SIZE, org.apache.flink.configuration.MemorySize.ZERO);
    StreamExecutionEnvironment env = FlinkCluster.env(c, 2);
    stateKindsJob(env, n, 0, 0, "kinds-uncached");
    cluster.run(env, null);
    assertSameLines(StateKindsFunction.expected(records(n)), CollectingSink.results("kinds-uncached"));
  }

  @Test
  void completedCheckpointsReleaseTheFloeCheckpointsTheySubsume() throws Exception {
    DaemonProcess own = DaemonProcess.start(); // its own primary: only this job's Floe checkpoints are on it
    try {
      StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(own.socket, 0), 1);
      stateKindsJob(env, 100_000, 20, 0, "subsumed");
      JobID job = cluster.submit(env, null);
      FlinkCluster.waitFor("10 completed checkpoints", 60_000, () -> StateKindsFunction.CHECKPOINTS.get() >= 10);
      List<String> left = own.checkpoints();
      cluster.cancel(job);
      // retained-checkpoints is 1: the newest completed one, plus at most one taken whose completion has not
      // been announced yet and one in progress. Without release all 10+ would still be there.
      assertTrue(left.size() >= 1 && left.size() <= 3, () -> left.size() + " Floe checkpoints on the primary after 10 completed: " + left);
    } finally {
      own.close();
    }
  }

  /** Job B of the serializer test: "count" of the state-kinds operator, now a ValueState of String. */
  static final class StringCount extends org.apache.flink.streaming.api.functions.KeyedProcessFunction<String, Tuple2<String, Long>, String> {
    private static final long serialVersionUID = 1L;
    private transient org.apache.flink.api.common.state.ValueState<String> count;

    @Override
    public void open(org.apache.flink.api.common.functions.OpenContext ctx) {
      count = getRuntimeContext().getState(new org.apache.flink.api.common.state.ValueStateDescriptor<>("count", Types.STRING));
    }

    @Override
    public void processElement(Tuple2<String, Long> in, Context ctx, Collector<String> out) throws Exception {
      out.collect(in.f0 + " " + count.value());
    }
  }

  @Test
  void restoringAStateWithAnIncompatibleSerializerFailsNamingTheState() throws Exception {
    StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), 1);
    stateKindsJob(env, 4000, 100, 0, "serializers");
    JobID job = cluster.submit(env, null);
    FlinkCluster.waitFor("two checkpoints", 30_000, () -> StateKindsFunction.CHECKPOINTS.get() >= 2);
    cluster.cancel(job);
    String restore = cluster.latestCheckpoint(job).orElseThrow().toUri().toString();
    // The same operator (uid "state-kinds") with "count" a ValueState<String> instead of ValueState<Long>.
    StreamExecutionEnvironment env2 = FlinkCluster.env(cluster.jobConfig(daemon.socket, 0), 1);
    DataGeneratorSource<Tuple2<String, Long>> source = new DataGeneratorSource<>(FlinkJobsTest::record, 10, RateLimiterStrategy.noOp(), Types.TUPLE(Types.STRING, Types.LONG));
    env2.fromSource(source, WatermarkStrategy.noWatermarks(), "records").uid("records")
        .keyBy(r -> r.f0).process(new StringCount()).uid("state-kinds")
        .sinkTo(new CollectingSink("serializers-2")).uid("sink").setParallelism(1);
    String all = failureChain(cluster.await(cluster.submit(env2, restore)));
    assertTrue(all.contains("cannot restore state 'count': its new value serializer StringSerializer is incompatible"), all);
  }

  /** The messages of a failed job's exception chain, one per line. */
  private String failureChain(JobResult r) throws Exception {
    assertTrue(!r.isSuccess(), "the job fails");
    Throwable t = r.getSerializedThrowable().orElseThrow().deserializeError(getClass().getClassLoader());
    StringBuilder chain = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) chain.append(c.getMessage()).append('\n');
    return chain.toString();
  }

  @Test
  void daemonOfAnotherProtocolVersionFailsTheJobWithVersion() throws Exception {
    try (FakeDaemon fake = FakeDaemon.choosingVersion(99)) {
      StreamExecutionEnvironment env = FlinkCluster.env(cluster.jobConfig(fake.socket, 0), 1);
      stateKindsJob(env, 10, 0, 0, "version");
      String all = failureChain(cluster.await(cluster.submit(env, null)));
      assertTrue(all.contains("VERSION: the floe daemon at " + fake.socket + " chose protocol version 99"), all);
    }
  }

  @Test
  void noDaemonAtTheSocketFailsTheJobNamingTheSocket() throws Exception {
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "floe-none-");
    Path socket = dir.resolve("floe.sock");
    try {
      Configuration c = cluster.jobConfig(socket, 0);
      StreamExecutionEnvironment env = FlinkCluster.env(c, 1);
      stateKindsJob(env, 10, 0, 0, "no-daemon");
      String all = failureChain(cluster.await(cluster.submit(env, null)));
      assertTrue(all.contains("IO: cannot connect to the floe daemon at " + socket), all);
      assertTrue(all.contains("floe daemon --config"), all);
    } finally {
      DaemonProcess.removeTree(dir);
    }
  }
}
