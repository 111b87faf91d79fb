package io.floe.flink;

import java.io.IOException;
import org.apache.flink.runtime.asyncprocessing.StateRequest;

/** A State V2 state kept in Floe: turns one of its requests into frames of a {@link FloeBatch}. */
interface FloeAsyncState {
  /**
   * Adds {@code request} to {@code batch}. Runs on the task thread (key and value encoding happen here);
   * decoding of answers runs on the client's reader thread with thread-local serializers.
   */
  void execute(StateRequest<?, ?, ?, ?> request, FloeBatch batch) throws IOException;
}
