package io.floe.bench;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource.NumberSequenceSplit;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiter;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;

/**
 * How the driver paces the source without blocking its task thread: the source's rate limiter grants
 * permits up to a limit the driver raises ({@link #allow}); past it, {@code acquire} returns a pending
 * future, so the source task stays idle but responsive (checkpoint barriers still flow). The MiniCluster
 * runs in the driver's JVM, so static state is shared; parallelism is 1, so there is one limiter at a time.
 */
public final class Gate implements RateLimiterStrategy<NumberSequenceSplit> {
  private static final long serialVersionUID = 1L;
  private static final CompletableFuture<Void> OPEN = CompletableFuture.completedFuture(null);
  private static final Object LOCK = new Object();
  private static volatile long limit;
  private static volatile long granted;
  private static CompletableFuture<Void> waiting;
  private static volatile boolean created;

  /** Before each job: nothing granted, nothing allowed. */
  public static void reset() {
    synchronized (LOCK) {
      limit = 0;
      granted = 0;
      waiting = null;
      created = false;
    }
  }

  /** Lets the source emit up to `total` records in this job (counted from the job's start). */
  public static void allow(long total) {
    CompletableFuture<Void> wake;
    synchronized (LOCK) {
      limit = total;
      wake = waiting;
      waiting = null;
    }
    if (wake != null) wake.complete(null);
  }

  /**
   * Stops the source where it is (a run out of time): lowers the limit to what was granted and returns the
   * final count once no more can be granted (the source thread may have raced one permit past the read).
   */
  public static long stopNow() throws InterruptedException {
    synchronized (LOCK) {
      limit = granted;
    }
    Thread.sleep(100);
    synchronized (LOCK) {
      return granted;
    }
  }

  /** Records the source has been allowed to emit so far in this job (it emits each right after its permit). */
  public static long granted() {
    return granted;
  }

  /** Whether the source reader has created its limiter (it is running). */
  public static boolean sourceRunning() {
    return created;
  }

  @Override
  public RateLimiter<NumberSequenceSplit> createRateLimiter(int parallelism) {
    created = true;
    return new RateLimiter<>() {
      @Override
      public CompletionStage<Void> acquire(int permits) {
        // Fast path without the lock: only this (source) thread changes `granted`.
        if (granted + permits <= limit) {
          granted += permits;
          return OPEN;
        }
        synchronized (LOCK) {
          if (granted + permits <= limit) {
            granted += permits;
            return OPEN;
          }
          CompletableFuture<Void> f = new CompletableFuture<>();
          waiting = f;
          return f.thenCompose(v -> acquire(permits));
        }
      }
    };
  }
}
