package io.floe.flink;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.jobgraph.SavepointRestoreSettings;
import org.apache.flink.runtime.jobmaster.JobResult;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** A Flink MiniCluster in this JVM (one TaskManager, 4 slots) and the job settings of the Floe tests. */
final class FlinkCluster {
  final MiniCluster mini;
  final Path checkpoints;

  FlinkCluster() throws Exception {
    checkpoints = Files.createTempDirectory("floe-flink-cp-");
    Configuration c = new Configuration();
    c.set(RestOptions.BIND_PORT, "0"); // other MiniClusters (benchmarks, other checkouts) may hold 8081
    c.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MemorySize.parse("16m"));
    c.set(TaskManagerOptions.NETWORK_MEMORY_MIN, MemorySize.parse("32m"));
    c.set(TaskManagerOptions.NETWORK_MEMORY_MAX, MemorySize.parse("32m"));
    mini = new MiniCluster(new MiniClusterConfiguration.Builder().setConfiguration(c).setNumTaskManagers(1).setNumSlotsPerTaskManager(4).withRandomPorts().build());
    mini.start();
  }

  /** Job settings: the Floe backend at {@code socket}, checkpoints every 100 ms retained on cancel, {@code restarts} fixed-delay restarts. */
  Configuration jobConfig(Path socket, int restarts) {
    Configuration c = new Configuration();
    c.set(StateBackendOptions.STATE_BACKEND, FloeStateBackendFactory.class.getName());
    c.set(FloeOptions.SOCKET, socket.toString());
    c.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
    c.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
    c.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION, ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
    c.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(100));
    if (restarts > 0) {
      c.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
      c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, restarts);
      c.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
    } else {
      c.set(RestartStrategyOptions.RESTART_STRATEGY, "none");
    }
    return c;
  }

  static StreamExecutionEnvironment env(Configuration c, int parallelism) {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(c);
    env.setParallelism(parallelism);
    env.setMaxParallelism(128);
    return env;
  }

  JobID submit(StreamExecutionEnvironment env, String restoreFrom) throws Exception {
    JobGraph g = env.getStreamGraph().getJobGraph();
    if (restoreFrom != null) g.setSavepointRestoreSettings(SavepointRestoreSettings.forPath(restoreFrom, false));
    mini.submitJob(g).get(60, TimeUnit.SECONDS);
    return g.getJobID();
  }

  JobResult await(JobID id) throws Exception {
    return mini.requestJobResult(id).get(120, TimeUnit.SECONDS);
  }

  /** Runs to the end; throws the job's failure. */
  void run(StreamExecutionEnvironment env, String restoreFrom) throws Exception {
    JobResult r = await(submit(env, restoreFrom));
    if (!r.isSuccess()) throw new AssertionError("job failed", r.getSerializedThrowable().get().deserializeError(getClass().getClassLoader()));
  }

  void cancel(JobID id) throws Exception {
    mini.cancelJob(id).get(30, TimeUnit.SECONDS);
    await(id);
  }

  JobStatus status(JobID id) throws Exception {
    return mini.getJobStatus(id).get(10, TimeUnit.SECONDS);
  }

  /** The newest complete retained checkpoint of a job (chk-N with _metadata). */
  Optional<Path> latestCheckpoint(JobID id) throws Exception {
    Path dir = checkpoints.resolve(id.toString());
    if (!Files.isDirectory(dir)) return Optional.empty();
    try (Stream<Path> s = Files.list(dir)) {
      return s.filter(p -> p.getFileName().toString().startsWith("chk-") && Files.exists(p.resolve("_metadata")))
          .max(Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(4))));
    }
  }

  static void waitFor(String what, long timeoutMs, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    while (!condition.getAsBoolean()) {
      if (System.currentTimeMillis() > deadline) throw new AssertionError("timed out waiting for " + what);
      Thread.sleep(20);
    }
  }

  void close() throws Exception {
    mini.closeAsync().get(60, TimeUnit.SECONDS);
    io.floe.client.DaemonProcess.removeTree(checkpoints);
  }
}
