package io.floe.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.runtime.asyncprocessing.AsyncRequestContainer;
import org.apache.flink.runtime.asyncprocessing.StateExecutor;
import org.apache.flink.runtime.asyncprocessing.StateRequest;

/**
 * Executes Flink's batches of State V2 requests on the subtask's Floe connection: one batch becomes one
 * {@link FloeBatch} (writes as WRITE frames, reads as GET/SCAN frames, all pipelined and coalesced into few
 * socket writes), answered by the daemon in order; with the value cache ({@link FloeWriteBack}) cached reads
 * and all writes of value, reducing, aggregating and list state complete at once on the task thread. Requests are encoded on the calling (task) thread; their
 * futures complete on the client's reader thread, from which Flink hands callbacks back to the task's mailbox.
 */
final class FloeStateExecutor implements StateExecutor {
  /** Batches in flight at which the executor reports itself fully loaded (Flink then stops forcing new batches). */
  private static final int LOADED_BATCHES = 4;

  private final FloeStore store;
  /** Null when the value cache is off. */
  private final FloeWriteBack writeBack;
  private final AtomicInteger ongoing = new AtomicInteger();

  FloeStateExecutor(FloeStore store, FloeWriteBack writeBack) {
    this.store = store;
    this.writeBack = writeBack;
  }

  /** The requests of one batch, in the order Flink offered them. */
  static final class Requests implements AsyncRequestContainer<StateRequest<?, ?, ?, ?>> {
    final List<StateRequest<?, ?, ?, ?>> list = new ArrayList<>();

    @Override
    public void offer(StateRequest<?, ?, ?, ?> request) {
      list.add(request);
    }

    @Override
    public boolean isEmpty() {
      return list.isEmpty();
    }
  }

  @Override
  public AsyncRequestContainer<StateRequest<?, ?, ?, ?>> createRequestContainer() {
    return new Requests();
  }

  @Override
  @SuppressWarnings({"rawtypes", "unchecked"})
  public CompletableFuture<Void> executeBatchRequests(AsyncRequestContainer container) {
    List<StateRequest<?, ?, ?, ?>> requests = ((Requests) container).list;
    FloeBatch batch = new FloeBatch(store, writeBack);
    CompletableFuture<Void> done;
    try {
      store.checkWrites();
      if (writeBack != null) {
        writeBack.check();
        writeBack.cache.drainFills();
      }
      for (StateRequest<?, ?, ?, ?> r : requests) ((FloeAsyncState) r.getState()).execute(r, batch);
      done = batch.finish();
    } catch (Exception e) {
      store.failed(e);
      for (StateRequest<?, ?, ?, ?> r : requests) {
        if (!r.getFuture().isDone()) r.getFuture().completeExceptionally("Floe state batch on store " + store.name + " failed: " + FloeStore.describe(e), e);
      }
      return CompletableFuture.failedFuture(e);
    }
    ongoing.incrementAndGet();
    return done.whenComplete((ok, e) -> ongoing.decrementAndGet());
  }

  @Override
  public void executeRequestSync(StateRequest<?, ?, ?, ?> request) {
    Requests one = new Requests();
    one.offer(request);
    executeBatchRequests(one).join();
  }

  @Override
  public boolean fullyLoaded() {
    return ongoing.get() >= LOADED_BATCHES;
  }

  @Override
  public void shutdown() {
    // Nothing of its own: the connection belongs to the backend's store.
  }
}
