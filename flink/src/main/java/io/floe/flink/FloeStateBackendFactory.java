package io.floe.flink;

import org.apache.flink.configuration.IllegalConfigurationException;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.runtime.state.StateBackendFactory;

/**
 * Loaded by Flink for {@code state.backend.type: io.floe.flink.FloeStateBackendFactory}; builds a
 * {@link FloeStateBackend} from the {@code state.backend.floe.*} settings.
 */
public final class FloeStateBackendFactory implements StateBackendFactory<FloeStateBackend> {
  @Override
  public FloeStateBackend createFromConfig(ReadableConfig config, ClassLoader classLoader) throws IllegalConfigurationException {
    return new FloeStateBackend().configure(config, classLoader);
  }
}
