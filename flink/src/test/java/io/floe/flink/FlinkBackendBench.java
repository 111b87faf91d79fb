package io.floe.flink;

import io.floe.client.DaemonProcess;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.operators.StreamingRuntimeContext;
import org.apache.flink.util.Collector;

/**
 * A rough throughput check of the backend (not a test, never run by the suite; the benchmark proper is
 * flink/bench/): a word count (ValueState count per word) of N records over K keys at parallelism 1 on the
 * heap backend, Floe (classic API) and Floe (State V2), printing records/s of the whole job (start included).
 * Run: mvn -q -f flink/pom.xml test-compile, then java -cp with the test classpath io.floe.flink.FlinkBackendBench N K.
 */
public final class FlinkBackendBench {
  private FlinkBackendBench() {}

  static final class Count extends KeyedProcessFunction<String, Tuple2<String, Long>, Long> {
    private static final long serialVersionUID = 1L;
    private transient ValueState<Long> count;

    @Override
    public void open(OpenContext ctx) {
      count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
    }

    @Override
    public void processElement(Tuple2<String, Long> in, Context ctx, Collector<Long> out) throws Exception {
      Long c = count.value();
      count.update(c == null ? 1 : c + 1);
    }
  }

  static final class AsyncCount extends KeyedProcessFunction<String, Tuple2<String, Long>, Long> {
    private static final long serialVersionUID = 1L;
    private transient org.apache.flink.api.common.state.v2.ValueState<Long> count;

    @Override
    public void open(OpenContext ctx) {
      count = ((StreamingRuntimeContext) getRuntimeContext()).getValueState(new org.apache.flink.api.common.state.v2.ValueStateDescriptor<>("count", Types.LONG));
    }

    @Override
    public void processElement(Tuple2<String, Long> in, Context ctx, Collector<Long> out) {
      count.asyncValue().thenCompose(c -> count.asyncUpdate(c == null ? 1L : c + 1));
    }
  }

  public static void main(String[] args) throws Exception {
    long n = args.length > 0 ? Long.parseLong(args[0]) : 300_000;
    long keys = args.length > 1 ? Long.parseLong(args[1]) : 10_000;
    DaemonProcess daemon = DaemonProcess.start();
    FlinkCluster cluster = new FlinkCluster();
    try {
      for (String backend : new String[] {"hashmap", "floe", "floe-async", "floe", "floe-async", "hashmap"}) {
        Configuration c = cluster.jobConfig(daemon.socket, 0);
        if (backend.equals("hashmap")) c.set(StateBackendOptions.STATE_BACKEND, "hashmap");
        StreamExecutionEnvironment env = FlinkCluster.env(c, 1);
        DataGeneratorSource<Tuple2<String, Long>> source = new DataGeneratorSource<>(i -> Tuple2.of("k" + (i % keys), i), n, Types.TUPLE(Types.STRING, Types.LONG));
        DataStream<Tuple2<String, Long>> in = env.fromSource(source, WatermarkStrategy.noWatermarks(), "in");
        DataStream<Long> out = backend.equals("floe-async")
            ? in.keyBy(t -> t.f0).enableAsyncState().process(new AsyncCount())
            : in.keyBy(t -> t.f0).process(new Count());
        out.sinkTo(new DiscardingSink<>());
        long t0 = System.nanoTime();
        cluster.run(env, null);
        double s = (System.nanoTime() - t0) / 1e9;
        System.out.printf("%-10s %d records, %d keys: %.1f s, %.0f records/s%n", backend, n, keys, s, n / s);
      }
    } finally {
      cluster.close();
      daemon.close();
    }
  }
}
