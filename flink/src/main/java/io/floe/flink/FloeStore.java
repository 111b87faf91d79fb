package io.floe.flink;

import io.floe.client.CheckpointHandle;
import io.floe.client.FloeClient;
import io.floe.client.FloeException;
import io.floe.client.StoreOptions;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.FutureTask;
import java.util.concurrent.RunnableFuture;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.flink.runtime.checkpoint.CheckpointOptions;
import org.apache.flink.runtime.execution.Environment;
import org.apache.flink.runtime.state.BackendBuildingException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.SnapshotResult;
import org.apache.flink.runtime.state.StateBackend;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One operator subtask's named store in the daemon, shared by the synchronous and the asynchronous backend:
 * opening it (restoring from Flink's handles), pipelined writes and their failures, checkpoints by reference
 * and their release, and closing.
 *
 * <ul>
 *   <li>Snapshot: a CHECKPOINT request, sent synchronously (so it covers exactly the requests before it) and
 *       awaited in the asynchronous part; the handle JSON goes into Flink's metadata via
 *       {@link FloeStateHandles} (no files are copied).</li>
 *   <li>Release: when checkpoint N completes, this store's checkpoints other than the newest
 *       {@code retainedCheckpoints} completed ones are released (savepoints never are); after a failover of
 *       the same job, the checkpoint restored from is released the same way.</li>
 * </ul>
 * Checkpoint bookkeeping runs on the task thread (snapshot and notifications); write failures may be recorded
 * from the client's reader thread.
 */
final class FloeStore implements AutoCloseable {
  private static final Logger LOG = LoggerFactory.getLogger(FloeStore.class);

  /** What the backend needs besides Flink's parameters. */
  record Settings(String storePrefix, int retainedCheckpoints) {}

  final FloeClient client;
  final String name;
  private final String jobId;
  private final KeyGroupRange range;
  private final int retainedCheckpoints;
  private final AtomicReference<Throwable> writeFailure = new AtomicReference<>();
  /** Checkpoints this store releases, by Flink checkpoint id. */
  private final TreeMap<Long, List<CompletableFuture<CheckpointHandle>>> releasable = new TreeMap<>();
  private final TreeMap<Long, Boolean> completed = new TreeMap<>();
  /** The states of this store and their serializers (checked on restore, written into each checkpoint handle). */
  final FloeStateMeta meta;
  private final TypeSerializer<?> keySerializer;

  private FloeStore(FloeClient client, String name, String jobId, KeyGroupRange range, int retainedCheckpoints, TypeSerializer<?> keySerializer, FloeStateMeta meta) {
    this.keySerializer = keySerializer;
    this.meta = meta;
    this.client = client;
    this.name = name;
    this.jobId = jobId;
    this.range = range;
    this.retainedCheckpoints = retainedCheckpoints;
  }

  /**
   * Opens (restoring from the parameters' handles, clipped to the subtask's key groups) the subtask's store on
   * {@code client}. REQUIRES: {@code client} connected and unbound.
   */
  static FloeStore open(StateBackend.KeyedStateBackendParameters<?> p, FloeClient client, Settings settings, String kind)
      throws BackendBuildingException {
    List<FloeStateHandles.Taken> taken = FloeStateHandles.restoreHandles(p.getStateHandles());
    List<CheckpointHandle> restore = new ArrayList<>();
    List<byte[]> metas = new ArrayList<>();
    for (FloeStateHandles.Taken t : taken) {
      restore.add(t.handle());
      metas.add(t.meta());
    }
    FloeStateMeta meta = new FloeStateMeta();
    meta.restore(metas, p.getKeySerializer(), p.getEnv().getUserCodeClassLoader().asClassLoader()); // before opening anything
    String name = storeName(settings.storePrefix(), p.getEnv(), p.getOperatorIdentifier(), kind);
    KeyGroupRange range = p.getKeyGroupRange();
    client.openStore(new StoreOptions(name, p.getNumberOfKeyGroups(), range.getStartKeyGroup(), range.getEndKeyGroup(), restore, true)).join();
    LOG.info("Floe store {} opened for key groups {} (restored from {} checkpoint(s))", name, range, restore.size());
    FloeStore s = new FloeStore(client, name, p.getJobID().toString(), range, settings.retainedCheckpoints(), p.getKeySerializer(), meta);
    s.adopt(taken, p.getEnv());
    return s;
  }

  /** PREFIX/JOB/OPERATOR[-async]/sub-N/att-M, within the daemon's name rules (1..200 chars of [A-Za-z0-9._/-]). */
  static String storeName(String prefix, Environment env, String operatorIdentifier, String kind) {
    String op = operatorIdentifier.replaceAll("[^A-Za-z0-9._-]", "_").replaceAll("\\.\\.+", "_");
    if (op.length() > 96) op = op.substring(0, 80) + "_" + Integer.toHexString(operatorIdentifier.hashCode());
    return prefix + "/" + env.getJobID() + "/" + op + kind + "/sub-" + env.getTaskInfo().getIndexOfThisSubtask() + "/att-"
        + env.getTaskInfo().getAttemptNumber();
  }

  /**
   * After a failover within the same job, the checkpoint restored from is this job's own: once newer ones
   * complete, nobody else would release it, so this store does. Another job's checkpoint (a user's retained
   * checkpoint or savepoint, NO_CLAIM) is never released here.
   */
  private void adopt(List<FloeStateHandles.Taken> taken, Environment env) {
    Long restoredId = env.getTaskStateManager().getRestoreCheckpointId().orElse(null);
    if (restoredId == null) return;
    for (FloeStateHandles.Taken t : taken) {
      if (!t.jobId().equals(jobId)) continue;
      releasable.computeIfAbsent(restoredId, id -> new ArrayList<>()).add(CompletableFuture.completedFuture(t.handle()));
      completed.put(restoredId, Boolean.TRUE);
    }
  }

  // ------------------------------------------------------------------ requests

  /** Throws the first failure of a pipelined write, if any (the store may have missed writes since). */
  void checkWrites() throws IOException {
    Throwable t = writeFailure.get();
    if (t != null) throw new IOException("an earlier write to Floe store " + name + " failed: " + describe(t), t);
  }

  /** Records a failure that must fail every later access and the next snapshot. */
  void failed(Throwable t) {
    writeFailure.compareAndSet(null, t);
  }

  <T> T await(CompletableFuture<T> f, String what) throws IOException {
    checkWrites();
    try {
      return f.join();
    } catch (RuntimeException e) {
      throw new IOException(what + " on Floe store " + name + " failed: " + describe(e), e);
    }
  }

  /** Sends nothing itself: tracks a write sent without waiting; its failure is kept for {@link #checkWrites}. */
  void pipeline(CompletableFuture<Void> write) throws IOException {
    checkWrites();
    write.whenComplete((ok, e) -> {
      if (e != null) failed(e);
    });
  }

  static String describe(Throwable t) {
    FloeException f = FloeException.unwrap(t);
    return f != null ? f.code() + ": " + f.getMessage() : t.toString();
  }

  // ------------------------------------------------------------------ checkpoints

  RunnableFuture<SnapshotResult<KeyedStateHandle>> snapshot(long checkpointId, CheckpointOptions options) throws IOException {
    checkWrites();
    // Sent now, in request order after every write so far: the checkpoint holds exactly the state at the barrier.
    CompletableFuture<CheckpointHandle> handle = client.checkpoint();
    byte[] states = meta.write(keySerializer);
    if (!options.getCheckpointType().isSavepoint()) releasable.computeIfAbsent(checkpointId, id -> new ArrayList<>()).add(handle);
    return new FutureTask<>(() -> {
      CheckpointHandle h = await(handle, "checkpoint " + checkpointId);
      return SnapshotResult.of(FloeStateHandles.wrap(h, range, checkpointId, jobId, states));
    });
  }

  void checkpointComplete(long checkpointId) {
    if (!releasable.containsKey(checkpointId)) return;
    completed.put(checkpointId, Boolean.TRUE);
    // Keep the newest retained completed checkpoints; everything older (completed or never completed) goes.
    long keepFrom = checkpointId;
    int kept = 0;
    for (Long id : completed.descendingKeySet()) {
      if (kept++ < retainedCheckpoints) keepFrom = id;
      else break;
    }
    for (Long id : new ArrayList<>(releasable.headMap(keepFrom, false).keySet())) release(id);
  }

  void checkpointAborted(long checkpointId) {
    if (releasable.containsKey(checkpointId) && !completed.containsKey(checkpointId)) release(checkpointId);
  }

  private void release(long id) {
    List<CompletableFuture<CheckpointHandle>> handles = releasable.remove(id);
    completed.remove(id);
    if (handles == null) return;
    for (CompletableFuture<CheckpointHandle> f : handles) {
      f.thenCompose(client::releaseCheckpoint).whenComplete((ok, e) -> {
        if (e != null) LOG.warn("releasing Floe checkpoint {} of store {} failed (its files stay until released): {}", id, name, describe(e));
      });
    }
  }

  /** Disconnects; the daemon retires the ephemeral store with its last connection. */
  @Override
  public void close() {
    try {
      client.close();
    } catch (RuntimeException e) {
      LOG.warn("closing Floe store {}: {}", name, describe(e));
    }
  }
}
