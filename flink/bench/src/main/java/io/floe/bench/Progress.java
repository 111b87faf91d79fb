package io.floe.bench;

import java.util.ArrayList;
import java.util.List;

/**
 * What the counting operator tells the driver (same JVM: the MiniCluster runs in it). One subtask writes
 * (parallelism 1), so a volatile long is enough; the driver polls it.
 */
public final class Progress {
  /** Records whose count update has completed in the current job. */
  public static volatile long processed;
  /** System.nanoTime() when the counting operator's open() ran in the current job (0: not yet). */
  public static volatile long openedAtNanos;
  /** When set, the operator records (word, count) of each record (the restore check; small runs only). */
  public static volatile boolean recordOutputs;
  private static final List<Object[]> OUTPUTS = new ArrayList<>();

  private Progress() {}

  public static void reset(boolean record) {
    processed = 0;
    openedAtNanos = 0;
    synchronized (OUTPUTS) {
      OUTPUTS.clear();
    }
    recordOutputs = record;
  }

  static void output(String word, long count) {
    synchronized (OUTPUTS) {
      OUTPUTS.add(new Object[] {word, count});
    }
  }

  public static List<Object[]> outputs() {
    synchronized (OUTPUTS) {
      return new ArrayList<>(OUTPUTS);
    }
  }
}
