package io.floe.client;

import java.util.Random;

/** The seed of a randomized test: -Dfloe.seed=N, else a random one; printed so a failing run can be repeated. */
public final class TestSeed {
  private TestSeed() {}

  /** The seed, printed as "{@code who}: seed N (rerun with -Dfloe.seed=N)". */
  public static long seed(String who) {
    String s = System.getProperty("floe.seed");
    long seed = s != null ? Long.parseLong(s) : new Random().nextLong();
    System.out.println(who + ": seed " + seed + " (rerun with -Dfloe.seed=" + seed + ")");
    return seed;
  }
}
