package io.floe.client;

import java.util.Objects;

/**
 * A checkpoint of the daemon's store, as the JSON the daemon returned (docs/checkpoints: it references
 * immutable files, nothing is copied). Keep it (e.g. in Flink's checkpoint metadata) and pass it back to
 * {@link FloeClient#releaseCheckpoint} or to a restore; the client does not interpret it.
 */
public record CheckpointHandle(String json) {
  public CheckpointHandle {
    Objects.requireNonNull(json, "json");
  }
}
