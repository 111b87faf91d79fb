package io.floe.flink;

import java.time.Duration;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.MemorySize;

/** The settings of the Floe state backend, all under {@code state.backend.floe.*} (docs/flink.md). */
public final class FloeOptions {
  private FloeOptions() {}

  public static final ConfigOption<String> SOCKET = ConfigOptions.key("state.backend.floe.socket")
      .stringType()
      .noDefaultValue()
      .withDescription("The Unix socket of the Floe daemon on this machine (its config's \"socket\"), e.g. /run/floe/floe.sock. Required.");

  public static final ConfigOption<Duration> CONNECT_TIMEOUT = ConfigOptions.key("state.backend.floe.connect-timeout")
      .durationType()
      .defaultValue(Duration.ofSeconds(10))
      .withDescription("How long a task waits for the daemon's handshake before failing.");

  public static final ConfigOption<Integer> MAX_IN_FLIGHT = ConfigOptions.key("state.backend.floe.max-in-flight")
      .intType()
      .defaultValue(1024)
      .withDescription("Most requests a task keeps outstanding at the daemon (writes are pipelined; reads wait for their answer).");

  public static final ConfigOption<Integer> RETAINED_CHECKPOINTS = ConfigOptions.key("state.backend.floe.retained-checkpoints")
      .intType()
      .noDefaultValue()
      .withDescription("How many completed checkpoints of each store stay unreleased in Floe; defaults to execution.checkpointing.num-retained (1). Older ones are released when a newer one completes.");

  public static final ConfigOption<MemorySize> CACHE_SIZE = ConfigOptions.key("state.backend.floe.cache-size")
      .memoryType()
      .defaultValue(MemorySize.parse("32mb"))
      .withDescription("Per subtask, both APIs: a cache of values read or written before, answering reads without a round trip to the daemon. Exact (the subtask is its store's only writer); 0 disables it. State V2: a write-back cache (writes complete once cached and reach the daemon in batched WRITE frames, all of them before each checkpoint); MapState bypasses it.");

  public static final ConfigOption<MemorySize> CACHE_DIRTY_SIZE = ConfigOptions.key("state.backend.floe.cache-dirty-size")
      .memoryType()
      .defaultValue(MemorySize.parse("2mb"))
      .withDescription("State V2: most bytes of cached entries written but not yet sent to the daemon (part of cache-size); beyond it the oldest are sent (they stay cached). Bounds what a checkpoint must write first.");

  public static final ConfigOption<MemorySize> WRITE_IN_FLIGHT_SIZE = ConfigOptions.key("state.backend.floe.write-in-flight-size")
      .memoryType()
      .defaultValue(MemorySize.parse("8mb"))
      .withDescription("State V2: most bytes of write-behind WRITE frames the daemon has not acknowledged yet; beyond it the task waits instead of queueing more.");

  public static final ConfigOption<Integer> ITERATOR_PAGE_ENTRIES = ConfigOptions.key("state.backend.floe.iterator-page-entries")
      .intType()
      .defaultValue(256)
      .withDescription("State V2: how many MapState entries one page of a map iterator reads (one prefix scan each); the next page is read when the iterator reaches the end of the previous one.");

  public static final ConfigOption<String> STORE_PREFIX = ConfigOptions.key("state.backend.floe.store-prefix")
      .stringType()
      .defaultValue("flink")
      .withDescription("The first path element of every named store this backend opens (store names: PREFIX/JOB/OPERATOR/sub-N/att-M).");
}
