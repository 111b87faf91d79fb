package io.floe.flink;

import io.floe.client.ClientOptions;
import io.floe.client.FloeClient;
import io.floe.client.FloeException;
import java.nio.file.Path;
import java.time.Duration;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.state.AbstractKeyedStateBackend;
import org.apache.flink.runtime.state.AbstractStateBackend;
import org.apache.flink.runtime.state.AsyncKeyedStateBackend;
import org.apache.flink.runtime.state.BackendBuildingException;
import org.apache.flink.runtime.state.ConfigurableStateBackend;
import org.apache.flink.runtime.state.DefaultOperatorStateBackendBuilder;
import org.apache.flink.runtime.state.OperatorStateBackend;
import org.apache.flink.runtime.state.metrics.LatencyTrackingStateConfig;
import org.apache.flink.runtime.state.metrics.SizeTrackingStateConfig;

/**
 * A Flink state backend keeping each operator subtask's keyed state in one named store of the Floe daemon on
 * this machine (docs/flink.md). Checkpoints are Floe checkpoints kept by reference in Flink's checkpoint
 * metadata; operator (non-keyed) state stays on Flink's default operator backend; timers stay on the heap and
 * are checkpointed as raw keyed state, as RocksDB's heap timers are.
 */
public class FloeStateBackend extends AbstractStateBackend implements ConfigurableStateBackend {
  private static final long serialVersionUID = 1L;

  private final String socket;
  private final Duration connectTimeout;
  private final int maxInFlight;
  private final int retainedCheckpoints;
  private final String storePrefix;
  private final long cacheBytes;
  private final long cacheDirtyBytes;
  private final long writeInFlightBytes;
  private final int pageEntries;

  /** Unconfigured: {@link #configure} (or the factory) supplies at least the socket. */
  public FloeStateBackend() {
    this(null);
  }

  /** A backend talking to the daemon at {@code socket}, the other settings at their defaults. */
  public FloeStateBackend(String socket) {
    this(socket, FloeOptions.CONNECT_TIMEOUT.defaultValue(), FloeOptions.MAX_IN_FLIGHT.defaultValue(), 1, FloeOptions.STORE_PREFIX.defaultValue(),
        FloeOptions.CACHE_SIZE.defaultValue().getBytes(), FloeOptions.CACHE_DIRTY_SIZE.defaultValue().getBytes(),
        FloeOptions.WRITE_IN_FLIGHT_SIZE.defaultValue().getBytes(), FloeOptions.ITERATOR_PAGE_ENTRIES.defaultValue());
  }

  private FloeStateBackend(String socket, Duration connectTimeout, int maxInFlight, int retainedCheckpoints, String storePrefix, long cacheBytes,
      long cacheDirtyBytes, long writeInFlightBytes, int pageEntries) {
    this.cacheBytes = cacheBytes;
    this.cacheDirtyBytes = cacheDirtyBytes;
    this.writeInFlightBytes = writeInFlightBytes;
    this.pageEntries = pageEntries;
    this.socket = socket;
    this.connectTimeout = connectTimeout;
    this.maxInFlight = maxInFlight;
    this.retainedCheckpoints = retainedCheckpoints;
    this.storePrefix = storePrefix;
  }

  @Override
  public FloeStateBackend configure(ReadableConfig config, ClassLoader classLoader) throws IllegalConfigurationException {
    String s = config.getOptional(FloeOptions.SOCKET).orElse(socket);
    if (s == null || s.isBlank()) {
      throw new IllegalConfigurationException("The Floe state backend needs the daemon's socket: set " + FloeOptions.SOCKET.key()
          + " to the \"socket\" of the Floe daemon running on each TaskManager machine (e.g. /run/floe/floe.sock)");
    }
    int retained = config.getOptional(FloeOptions.RETAINED_CHECKPOINTS).orElse(config.get(CheckpointingOptions.MAX_RETAINED_CHECKPOINTS));
    if (retained < 1) throw new IllegalConfigurationException(FloeOptions.RETAINED_CHECKPOINTS.key() + " must be at least 1, got " + retained);
    int inFlight = config.get(FloeOptions.MAX_IN_FLIGHT);
    if (inFlight < 1) throw new IllegalConfigurationException(FloeOptions.MAX_IN_FLIGHT.key() + " must be at least 1, got " + inFlight);
    String prefix = config.get(FloeOptions.STORE_PREFIX);
    int page = config.get(FloeOptions.ITERATOR_PAGE_ENTRIES);
    if (page < 1) throw new IllegalConfigurationException(FloeOptions.ITERATOR_PAGE_ENTRIES.key() + " must be at least 1, got " + page);
    long dirty = config.get(FloeOptions.CACHE_DIRTY_SIZE).getBytes();
    if (dirty < 1) throw new IllegalConfigurationException(FloeOptions.CACHE_DIRTY_SIZE.key() + " must be positive, got " + dirty);
    long writeInFlight = config.get(FloeOptions.WRITE_IN_FLIGHT_SIZE).getBytes();
    if (writeInFlight < 1) throw new IllegalConfigurationException(FloeOptions.WRITE_IN_FLIGHT_SIZE.key() + " must be positive, got " + writeInFlight);
    FloeStateBackend b = new FloeStateBackend(s, config.get(FloeOptions.CONNECT_TIMEOUT), inFlight, retained, prefix, config.get(FloeOptions.CACHE_SIZE).getBytes(),
        dirty, writeInFlight, page);
    b.latencyTrackingConfigBuilder = latencyTrackingConfigBuilder.configure(config);
    b.sizeTrackingConfigBuilder = sizeTrackingConfigBuilder.configure(config);
    return b;
  }

  public String getSocket() {
    return socket;
  }

  @Override
  public String getName() {
    return "FloeStateBackend";
  }

  @Override
  public boolean supportsNoClaimRestoreMode() {
    // Every Floe checkpoint stands alone (Flink registers no shared files), and a restore never releases the
    // checkpoints it restored from: NO_CLAIM holds.
    return true;
  }

  @Override
  public boolean supportsSavepointFormat(SavepointFormatType formatType) {
    // A native savepoint is a Floe checkpoint by reference; canonical savepoints would need a full export.
    return formatType == SavepointFormatType.NATIVE;
  }

  @Override
  public <K> AbstractKeyedStateBackend<K> createKeyedStateBackend(KeyedStateBackendParameters<K> parameters) throws BackendBuildingException {
    FloeClient client = connect(parameters);
    try {
      LatencyTrackingStateConfig latency = latencyTrackingConfigBuilder.setMetricGroup(parameters.getMetricGroup()).build();
      SizeTrackingStateConfig size = sizeTrackingConfigBuilder.setMetricGroup(parameters.getMetricGroup()).build();
      return FloeKeyedStateBackend.open(parameters, client, new FloeStore.Settings(storePrefix, retainedCheckpoints), cacheBytes, latency, size);
    } catch (RuntimeException | BackendBuildingException e) {
      throw failedOpen(parameters, client, e);
    }
  }

  @Override
  public boolean supportsAsyncKeyedStateBackend() {
    return true;
  }

  /** State V2 (enableAsyncState): a store of its own per subtask, requests executed in batches of frames. */
  @Override
  public <K> AsyncKeyedStateBackend<K> createAsyncKeyedStateBackend(KeyedStateBackendParameters<K> parameters) throws BackendBuildingException {
    FloeClient client = connect(parameters);
    try {
      return new FloeAsyncKeyedStateBackend<>(parameters, FloeStore.open(parameters, client, new FloeStore.Settings(storePrefix, retainedCheckpoints), "-async"), pageEntries,
          new FloeAsyncKeyedStateBackend.CacheSettings(cacheBytes, cacheDirtyBytes, writeInFlightBytes));
    } catch (RuntimeException | BackendBuildingException e) {
      throw failedOpen(parameters, client, e);
    }
  }

  private FloeClient connect(KeyedStateBackendParameters<?> parameters) throws BackendBuildingException {
    if (socket == null) {
      throw new BackendBuildingException("The Floe state backend was not configured: set " + FloeOptions.SOCKET.key() + " (the Floe daemon's socket)");
    }
    try {
      return FloeClient.connect(Path.of(socket), ClientOptions.defaults().connectTimeout(connectTimeout).maxInFlight(maxInFlight).flushOnClose(false));
    } catch (FloeException e) {
      throw new BackendBuildingException("Floe state backend of " + parameters.getOperatorIdentifier() + ": " + e.code() + ": " + e.getMessage(), e);
    }
  }

  private static BackendBuildingException failedOpen(KeyedStateBackendParameters<?> parameters, FloeClient client, Exception e) {
    client.close();
    if (e instanceof BackendBuildingException b) return b;
    FloeException f = FloeException.unwrap(e);
    return new BackendBuildingException("Floe state backend of " + parameters.getOperatorIdentifier() + " could not open its store: "
        + (f != null ? f.code() + ": " + f.getMessage() : e.toString()), e);
  }

  @Override
  public OperatorStateBackend createOperatorStateBackend(OperatorStateBackendParameters parameters) throws BackendBuildingException {
    return new DefaultOperatorStateBackendBuilder(parameters.getEnv().getUserCodeClassLoader().asClassLoader(),
        parameters.getEnv().getExecutionConfig(), true, parameters.getStateHandles(), parameters.getCancelStreamRegistry()).build();
  }

  @Override
  public String toString() {
    return "FloeStateBackend{socket=" + socket + "}";
  }
}
