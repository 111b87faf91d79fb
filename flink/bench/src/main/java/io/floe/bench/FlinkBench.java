package io.floe.bench;

import java.io.File;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.SavepointRestoreSettings;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.graph.StreamGraph;

/**
 * One backend's run of the Flink benchmark (bench/flink.ts starts one JVM per backend): a keyed word count
 * on a local MiniCluster in this JVM, parallelism 1.
 *
 * For each distribution: a fresh job counts `events` words; the source is paced by {@link Gate} so the
 * driver can stop it at exact event counts. Records/s = events ÷ the time from opening the gate to the
 * last count update completing (job start-up and checkpoints excluded). With --checkpoint-at, the job
 * stops at those event counts (and at the end) and takes a checkpoint (timed from trigger to completion).
 * Then each checkpoint is restored into a new job: restore time is Flink's own JobInitialization span
 * (the slowest task's state initialization) and the wall time from submission to the counting operator's
 * open(); after it, `verify` more events are counted and each emitted count is checked against the counts
 * recomputed from the event stream (the restored state must be exact).
 *
 * Prints one line `FLINKBENCH-RESULT {json}` and exits (System.exit: ForSt leaves a native thread).
 */
public final class FlinkBench {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final Map<String, String> opts;
  private final String backend;
  private final boolean async;
  private final int keys;
  private final long events;
  private final long seed;
  private final long verify;
  private final double maxSeconds;
  private final File work;
  private MiniCluster cluster;

  private FlinkBench(Map<String, String> opts) {
    this.opts = opts;
    this.backend = req(opts, "backend");
    boolean nativeAsync = switch (backend) {
      case "heap", "rocksdb", "forst-sync" -> false;
      case "forst-async", "floe" -> true;
      default -> throw new IllegalArgumentException("--backend must be heap, rocksdb, forst-sync, forst-async or floe, got " + backend);
    };
    // --api overrides the backend's natural API (e.g. a Floe backend that serves only the sync API yet:
    // on the async API Flink would wrap it in AsyncKeyedStateBackendAdaptor, one blocking call per request).
    String api = opts.getOrDefault("api", nativeAsync ? "async" : "sync");
    if (!api.equals("sync") && !api.equals("async")) throw new IllegalArgumentException("--api must be sync or async, got " + api);
    if (backend.equals("forst-async") && api.equals("sync")) throw new IllegalArgumentException("forst-async is ForSt on the async API");
    this.async = api.equals("async");
    this.keys = Integer.parseInt(opts.getOrDefault("keys", "1000000"));
    this.events = Long.parseLong(opts.getOrDefault("events", "2000000"));
    this.seed = Long.parseLong(opts.getOrDefault("seed", "20260101"));
    this.verify = Long.parseLong(opts.getOrDefault("verify", "2000"));
    this.maxSeconds = Double.parseDouble(opts.getOrDefault("max-seconds", "240"));
    this.work = new File(req(opts, "work-dir"));
  }

  public static void main(String[] args) {
    int code = 0;
    try {
      Map<String, String> opts = parse(args);
      Map<String, Object> result = new FlinkBench(opts).run();
      System.out.println("FLINKBENCH-RESULT " + JSON.writeValueAsString(result));
    } catch (Throwable t) {
      t.printStackTrace();
      System.out.println("FLINKBENCH-ERROR " + String.valueOf(t).replace('\n', ' '));
      code = 1;
    }
    System.out.flush();
    System.exit(code);
  }

  private Map<String, Object> run() throws Exception {
    Configuration conf = configuration();
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("backend", backend);
    out.put("api", async ? "async State V2" : "sync");
    out.put("keys", keys);
    out.put("events", events);
    out.put("configuration", conf.toMap());
    cluster = new MiniCluster(new MiniClusterConfiguration.Builder()
        .setConfiguration(conf).setNumTaskManagers(1).setNumSlotsPerTaskManager(1).withRandomPorts().build());
    cluster.start();
    try {
      List<Object> runs = new ArrayList<>();
      for (String dist : opts.getOrDefault("dists", "uniform,zipf").split(",")) {
        runs.add(runDistribution(conf, dist));
      }
      out.put("runs", runs);
      out.put("jvmCpuSecondsTotal", cpuSeconds());
    } finally {
      cluster.closeAsync().get(60, TimeUnit.SECONDS);
    }
    return out;
  }

  private Map<String, Object> runDistribution(Configuration conf, String dist) throws Exception {
    List<Long> stops = new ArrayList<>();
    boolean checkpoints = List.of(opts.getOrDefault("checkpoint-dists", "uniform").split(",")).contains(dist);
    if (checkpoints) {
      for (String s : opts.getOrDefault("checkpoint-at", "").split(",")) if (!s.isEmpty()) stops.add(Long.parseLong(s));
    }
    stops.add(events);
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("distribution", dist);
    Progress.reset(false);
    Gate.reset();
    JobID job = submit(conf, dist, null);
    awaitStarted(job);
    double seconds = 0;
    double cpu = 0;
    long counted = 0;
    String stoppedBy = "count";
    List<Map<String, Object>> cps = new ArrayList<>();
    long previous = 0;
    for (long stop : stops) {
      // Each phase gets its share of the time budget, so a slow backend still reaches every checkpoint
      // (at a smaller state when it runs out of time there).
      double budget = maxSeconds * (stop - previous) / events;
      long p0 = Progress.processed;
      long t0 = System.nanoTime();
      double c0 = cpuSeconds();
      Gate.allow(stop);
      boolean outOfTime = !awaitWindow(stop, budget);
      // The timed window: from opening the gate until the source has emitted its last record of the phase
      // (or the count is reached, or time is out). Records still in flight then are the drain tail, not
      // counted: with the source stopped, the async controller sends a partial batch only on its 1 s
      // buffer timeout, so a hot key's queued records would drain one timeout apart.
      seconds += (System.nanoTime() - t0) / 1e9;
      cpu += cpuSeconds() - c0;
      counted += Progress.processed - p0;
      long at = stop;
      if (outOfTime) {
        stoppedBy = "time";
        if (!checkpoints) break;
        at = Gate.stopNow();
      }
      if (checkpoints) {
        if (!awaitProcessed(at, 120)) {
          throw new IllegalStateException("the records in flight did not drain within 120 s: " + Progress.processed + " of " + at + " counted");
        }
        cps.add(checkpoint(job, dist, at));
      }
      previous = at;
    }
    long done = counted;
    r.put("events", done);
    r.put("eventsTotal", Progress.processed);
    r.put("seconds", seconds);
    r.put("recordsPerSec", done / seconds);
    r.put("jvmCpuSeconds", cpu);
    r.put("stoppedBy", stoppedBy);
    r.put("checkpoints", cps);
    cancel(job);
    List<Map<String, Object>> restores = new ArrayList<>();
    for (Map<String, Object> cp : cps) restores.add(restore(conf, dist, cp));
    r.put("restores", restores);
    return r;
  }

  private Map<String, Object> checkpoint(JobID job, String dist, long atEvents) throws Exception {
    int seen = SpanCollector.named("Checkpoint").size();
    long t0 = System.nanoTime();
    String path = cluster.triggerCheckpoint(job).get(300, TimeUnit.SECONDS);
    double ms = (System.nanoTime() - t0) / 1e6;
    Map<String, Object> cp = new LinkedHashMap<>();
    cp.put("events", atEvents);
    cp.put("distinctKeys", distinctKeys(dist, atEvents));
    cp.put("ms", ms);
    cp.put("path", path);
    cp.put("directoryBytes", directoryBytes(new File(path.replaceFirst("^file:", ""))));
    Map<String, Object> span = SpanCollector.awaitNew("Checkpoint", seen, 10_000);
    cp.put("span", span == null ? null : span.get("attributes"));
    return cp;
  }

  private Map<String, Object> restore(Configuration conf, String dist, Map<String, Object> cp) throws Exception {
    long at = ((Number) cp.get("events")).longValue();
    Map<String, Object> r = new LinkedHashMap<>();
    r.put("events", at);
    r.put("distinctKeys", cp.get("distinctKeys"));
    int seen = SpanCollector.named("JobInitialization").size();
    Progress.reset(true);
    Gate.reset();
    long t0 = System.nanoTime();
    JobID job = submit(conf, dist, (String) cp.get("path"));
    awaitStarted(job);
    r.put("submitToOpenMs", (Progress.openedAtNanos - t0) / 1e6);
    Map<String, Object> span = SpanCollector.awaitNew("JobInitialization", seen, 20_000);
    r.put("span", span == null ? null : span.get("attributes"));
    // Counting after the restore: reads of restored state (cold for backends that restore lazily).
    long tv = System.nanoTime();
    Gate.allow(verify);
    boolean reached = awaitProcessed(verify, 120);
    r.put("verifyEvents", Progress.processed);
    r.put("verifySeconds", (System.nanoTime() - tv) / 1e9);
    r.put("verifyMismatches", reached ? mismatches(dist, at, verify, Progress.outputs()) : -1);
    cancel(job);
    Progress.reset(false);
    return r;
  }

  /** Emitted (word, count) pairs that differ from the counts recomputed from events [0, at + n). */
  private long mismatches(String dist, long at, long n, List<Object[]> outputs) {
    Keys gen = new Keys(dist, keys, seed);
    int[] counts = new int[keys];
    for (long i = 0; i < at; i++) counts[gen.index(i)]++;
    Map<String, Integer> expected = new HashMap<>();
    for (long i = at; i < at + n; i++) {
      int k = gen.index(i);
      expected.merge(gen.word(k) + "#" + (++counts[k]), 1, Integer::sum);
    }
    long bad = Math.abs(outputs.size() - n);
    for (Object[] o : outputs) {
      String id = o[0] + "#" + o[1];
      Integer left = expected.get(id);
      if (left == null || left == 0) bad++;
      else expected.put(id, left - 1);
    }
    return bad;
  }

  private long distinctKeys(String dist, long n) {
    Keys gen = new Keys(dist, keys, seed);
    boolean[] seen = new boolean[keys];
    long d = 0;
    for (long i = 0; i < n; i++) {
      int k = gen.index(i);
      if (!seen[k]) {
        seen[k] = true;
        d++;
      }
    }
    return d;
  }

  private JobID submit(Configuration conf, String dist, String restorePath) throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
    env.setParallelism(1);
    DataGeneratorSource<String> source =
        new DataGeneratorSource<>(new WordGenerator(dist, keys, seed), Long.MAX_VALUE, new Gate(), Types.STRING);
    DataStream<String> words = env.fromSource(source, WatermarkStrategy.noWatermarks(), "words").uid("words");
    KeyedStream<String, String> keyed = words.keyBy(new Identity());
    DataStream<Tuple2<String, Long>> counts = async
        ? keyed.enableAsyncState().process(new AsyncCounter()).uid("count").name("count")
        : keyed.process(new SyncCounter()).uid("count").name("count");
    counts.sinkTo(new DiscardingSink<>()).uid("sink").name("sink");
    StreamGraph graph = env.getStreamGraph();
    graph.setJobName("floe-bench word count " + backend + " " + dist);
    if (restorePath != null) graph.setSavepointRestoreSettings(SavepointRestoreSettings.forPath(restorePath, false));
    JobGraph jobGraph = graph.getJobGraph();
    return cluster.submitJob(jobGraph).get(60, TimeUnit.SECONDS).getJobID();
  }

  private void awaitStarted(JobID job) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (Progress.openedAtNanos == 0 || !Gate.sourceRunning()) {
      if (cluster.requestJobResult(job).isDone()) {
        cluster.requestJobResult(job).get().toJobExecutionResult(FlinkBench.class.getClassLoader());
        throw new IllegalStateException("job " + job + " ended before it started counting");
      }
      if (System.nanoTime() > deadline) throw new IllegalStateException("job " + job + " did not start within 120 s");
      Thread.sleep(5);
    }
  }

  /**
   * Waits until `target` records are processed or the source has been granted all `target` (true), or
   * `seconds` pass (false).
   */
  private boolean awaitWindow(long target, double seconds) throws Exception {
    long deadline = System.nanoTime() + (long) (seconds * 1e9);
    while (Progress.processed < target && Gate.granted() < target) {
      if (System.nanoTime() > deadline) return false;
      Thread.sleep(2);
    }
    return true;
  }

  /** Waits until `target` records are processed or `seconds` pass (false); fails if the job ends. */
  private boolean awaitProcessed(long target, double seconds) throws Exception {
    long deadline = System.nanoTime() + (long) (seconds * 1e9);
    int polls = 0;
    while (Progress.processed < target) {
      if (System.nanoTime() > deadline) return false;
      if (++polls % 200 == 0) {
        // A failed job never reaches the target: surface its error instead of waiting for the deadline.
        for (var status : cluster.listJobs().get()) {
          if (status.getJobState().isGloballyTerminalState() && status.getJobState().name().equals("FAILED")) {
            cluster.requestJobResult(status.getJobId()).get().toJobExecutionResult(FlinkBench.class.getClassLoader());
          }
        }
      }
      Thread.sleep(2);
    }
    return true;
  }

  private void cancel(JobID job) throws Exception {
    cluster.cancelJob(job).get(60, TimeUnit.SECONDS);
    cluster.requestJobResult(job).get(120, TimeUnit.SECONDS);
  }

  private Configuration configuration() {
    Configuration conf = new Configuration();
    File cps = new File(work, "checkpoints");
    conf.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse(opts.getOrDefault("managed-memory", "64m")));
    conf.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, cps.toURI().toString());
    conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofHours(24));
    conf.set(CheckpointingOptions.CHECKPOINTING_TIMEOUT, Duration.ofMinutes(5));
    conf.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
    conf.set(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS, 10);
    conf.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
    conf.setString("traces.reporter.bench.factory.class", SpanCollector.class.getName());
    conf.setString("parallelism.default", "1");
    String local = new File(work, "local").getAbsolutePath();
    switch (backend) {
      case "heap" -> conf.set(StateBackendOptions.STATE_BACKEND, "hashmap");
      case "rocksdb" -> {
        conf.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
        conf.setString("state.backend.rocksdb.localdir", local);
      }
      case "forst-sync", "forst-async" -> {
        conf.set(StateBackendOptions.STATE_BACKEND, "forst");
        conf.setString("state.backend.forst.local-dir", local);
        conf.setString("state.backend.forst.primary-dir", new File(work, "primary").toURI().toString());
        // ForSt's local file cache of primary files: the counterpart of the Floe daemon's disk cache, with
        // the same budget (--disk-cache, default Floe's diskCacheBytes, 1 GiB). Only async ForSt reads the
        // primary; sync ForSt keeps its state in local-dir (sync.enforce-local).
        conf.setString("state.backend.forst.cache.dir", new File(work, "forst-cache").getAbsolutePath());
        conf.setString("state.backend.forst.cache.size-based-limit", opts.getOrDefault("disk-cache", "1gb"));
      }
      case "floe" -> {
        conf.set(StateBackendOptions.STATE_BACKEND, "io.floe.flink.FloeStateBackendFactory");
        conf.setString("state.backend.floe.socket", req(opts, "floe-socket"));
      }
      default -> throw new IllegalArgumentException(backend);
    }
    // Extra keys from the command line (--conf key=value), e.g. a backend's tuning, recorded with the result.
    for (Map.Entry<String, String> e : opts.entrySet()) {
      if (e.getKey().startsWith("conf.")) conf.setString(e.getKey().substring(5), e.getValue());
    }
    return conf;
  }

  private static double cpuSeconds() {
    var os = ManagementFactory.getOperatingSystemMXBean();
    if (os instanceof com.sun.management.OperatingSystemMXBean sun) return sun.getProcessCpuTime() / 1e9;
    return Double.NaN;
  }

  private static long directoryBytes(File f) {
    if (f.isFile()) return f.length();
    File[] children = f.listFiles();
    long sum = 0;
    if (children != null) for (File c : children) sum += directoryBytes(c);
    return sum;
  }

  /** --name value pairs; --conf key=value may repeat (stored as "conf.key"). */
  private static Map<String, String> parse(String[] args) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--") || i + 1 >= args.length) throw new IllegalArgumentException("expected --name value pairs, got " + a);
      String v = args[++i];
      if (a.equals("--conf")) {
        int eq = v.indexOf('=');
        if (eq <= 0) throw new IllegalArgumentException("--conf needs key=value, got " + v);
        m.put("conf." + v.substring(0, eq), v.substring(eq + 1));
      } else {
        m.put(a.substring(2), v);
      }
    }
    return m;
  }

  private static String req(Map<String, String> opts, String name) {
    String v = opts.get(name);
    if (v == null) throw new IllegalArgumentException("--" + name + " is required");
    return v;
  }

  /** The word is its own key. */
  public static final class Identity implements KeySelector<String, String> {
    private static final long serialVersionUID = 1L;

    @Override
    public String getKey(String w) {
      return w;
    }
  }
}
