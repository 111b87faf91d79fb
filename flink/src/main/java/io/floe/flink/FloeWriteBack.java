package io.floe.flink;

import io.floe.client.FloeClient;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * The State V2 backend's write-behind: a {@link FloeStateCache} and the WRITE frames that carry its dirty
 * entries to the daemon.
 *
 * <p>A write request of a batch completes as soon as the cache holds it, before the daemon has it. That is
 * what Flink's contract allows: state is durable only at checkpoints, and after a failure Flink restores the
 * last completed checkpoint (the store is ephemeral; nothing else reads it). So a checkpoint must cover every
 * write before it: {@link #flushAndAwait} (the synchronous part of a snapshot) sends every dirty entry and
 * waits until the daemon has acknowledged every WRITE before the CHECKPOINT request goes out. A failed WRITE is
 * never lost silently: it fails the next batch ({@link #check}, through the store's failure too) and the
 * next snapshot.
 *
 * <p>Ordering: the ops are sent on the subtask's one connection (the daemon socket; this client uses no shard
 * sockets), whose frames leave in call order. In the daemon the subtask's named store is one LSM instance in
 * one shard thread (lib/daemon/named-stores.ts); the router hands that shard a connection's frames in the
 * order it read them (lib/daemon/router.ts, "Ordering"), and the shard executes them in that order, a read
 * starting only after the writes received before it are applied (lib/daemon/shard-service.ts, "Ordering";
 * docs/protocol.md, "Pipelining and ordering"). A key's op leaves the cache's pending set only when its
 * WRITE is issued, and until then the cache answers reads of that key itself; so a later read of the key
 * that does go to the daemon is issued after that WRITE and sees it.
 *
 * <p>Memory: the cache's capacity, plus pending ops (sent once they reach {@link #SEND_BYTES} or
 * {@link #SEND_OPS}), plus at most {@code maxUnackedBytes} of WRITE frames the daemon has not acknowledged:
 * beyond that the task thread waits (a stall) instead of queueing more. Task thread only, except the
 * acknowledgements, which arrive on the client's reader thread.
 */
final class FloeWriteBack {
  /** Pending op bytes (keys, values, 16 per op) at which they are sent; also the largest WRITE frame. */
  static final long SEND_BYTES = 256 * 1024;
  static final int SEND_OPS = 2048;

  final FloeStateCache cache;
  private final FloeClient client;
  private final String storeName;
  private final Consumer<Throwable> onFailure;
  private final long maxUnackedBytes;
  private final long sendBytes;
  private final int sendOps;
  private final Object lock = new Object();
  /** Bytes of WRITE frames sent and not yet answered; guarded by lock. */
  private long unackedBytes;
  private final AtomicReference<Throwable> failure = new AtomicReference<>();
  /** WRITE frames sent, and times the task thread waited for acknowledgements (statistics, tests). */
  long frames;
  long stalls;

  FloeWriteBack(FloeStateCache cache, FloeClient client, String storeName, Consumer<Throwable> onFailure, long maxUnackedBytes) {
    this(cache, client, storeName, onFailure, maxUnackedBytes, SEND_BYTES, SEND_OPS);
  }

  /** With other send thresholds (tests use small ones, so that sends, frames and stalls happen often). */
  FloeWriteBack(FloeStateCache cache, FloeClient client, String storeName, Consumer<Throwable> onFailure, long maxUnackedBytes, long sendBytes,
      int sendOps) {
    this.sendBytes = sendBytes;
    this.sendOps = sendOps;
    this.cache = cache;
    this.client = client;
    this.storeName = storeName;
    this.onFailure = onFailure;
    this.maxUnackedBytes = maxUnackedBytes;
  }

  /** Throws if a WRITE of this write-behind failed: the daemon may lack writes whose requests completed. */
  void check() throws IOException {
    Throwable t = failure.get();
    if (t != null) {
      throw new IOException("a write-behind WRITE to Floe store " + storeName + " failed, so the store may lack writes this task made: "
          + FloeStore.describe(t) + " (the task fails; Flink restores its last checkpoint)", t);
    }
  }

  /** True when enough ops are pending to be worth a WRITE frame. */
  boolean wantsSend() {
    return cache.pendingBytes() >= sendBytes || cache.pendingOps() >= sendOps;
  }

  /** Sends every pending op, in WRITE frames of about the send threshold's bytes; may wait for acknowledgements. */
  void send() throws IOException {
    check();
    List<WriteOp> ops = cache.takePending();
    List<WriteOp> frame = new ArrayList<>();
    long bytes = 0;
    for (WriteOp op : ops) {
      frame.add(op);
      bytes += FloeStateCache.opBytes(op);
      if (bytes >= sendBytes) {
        sendFrame(frame, bytes);
        frame = new ArrayList<>();
        bytes = 0;
      }
    }
    if (!frame.isEmpty()) sendFrame(frame, bytes);
  }

  /** Sends every dirty entry and waits until the daemon has acknowledged every WRITE (before a checkpoint). */
  void flushAndAwait() throws IOException {
    cache.drainFills();
    cache.flushDirty();
    send();
    awaitUnackedAtMost(0, 0);
    check();
  }

  private void sendFrame(List<WriteOp> ops, long bytes) throws IOException {
    awaitUnackedAtMost(maxUnackedBytes, bytes);
    synchronized (lock) {
      unackedBytes += bytes;
    }
    frames++;
    CompletableFuture<Void> f;
    try {
      f = client.write(ops);
    } catch (RuntimeException e) {
      f = CompletableFuture.failedFuture(e);
    }
    f.whenComplete((ok, e) -> {
      if (e != null && failure.compareAndSet(null, e)) onFailure.accept(e);
      synchronized (lock) {
        unackedBytes -= bytes;
        lock.notifyAll();
      }
    });
  }

  /** Waits until {@code more} bytes fit under {@code limit} (or nothing is unacknowledged), or a WRITE failed. */
  private void awaitUnackedAtMost(long limit, long more) throws IOException {
    synchronized (lock) {
      if (unackedBytes == 0 || unackedBytes + more <= limit) return;
      stalls++;
      while (unackedBytes > 0 && unackedBytes + more > limit && failure.get() == null) {
        try {
          lock.wait(1000);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new InterruptedIOException("interrupted waiting for the Floe daemon to acknowledge writes to store " + storeName);
        }
      }
    }
    check();
  }
}
