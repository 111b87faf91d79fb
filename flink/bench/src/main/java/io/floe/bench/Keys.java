package io.floe.bench;

import java.util.concurrent.ConcurrentHashMap;

/**
 * The words of the benchmark: event i's key is a pure function of (distribution, key count, seed, i), so the
 * driver can recompute any prefix of the stream (to count distinct keys and to check restored counts) and a
 * restored job continues the same stream.
 *
 * Keys are 16-character words "w000000000012345". Uniform draws a key index from a 64-bit hash of i. Zipf(s)
 * (P(rank = k) ∝ 1 / (k + 1)^s, s = 0.99 as in bench/workload.ts) inverts the cumulative distribution by
 * binary search, then scatters ranks over the key space with a multiplicative bijection so the hot keys do
 * not share a key group.
 */
public final class Keys {
  public static final double ZIPF_S = 0.99;

  private static final ConcurrentHashMap<Integer, String[]> WORDS = new ConcurrentHashMap<>();
  private static final ConcurrentHashMap<Integer, double[]> ZIPF_CDF = new ConcurrentHashMap<>();

  private final boolean zipf;
  private final int keys;
  private final long seed;
  private final double[] cdf;
  private final long scatter;

  /** REQUIRES keys >= 1. distribution is "uniform" or "zipf". */
  public Keys(String distribution, int keys, long seed) {
    if (keys < 1) throw new IllegalArgumentException("keys must be >= 1, got " + keys);
    if (!distribution.equals("uniform") && !distribution.equals("zipf")) {
      throw new IllegalArgumentException("distribution must be uniform or zipf, got " + distribution);
    }
    this.zipf = distribution.equals("zipf");
    this.keys = keys;
    this.seed = seed;
    this.cdf = zipf ? ZIPF_CDF.computeIfAbsent(keys, Keys::zipfCdf) : null;
    long a = 0x9E3779B97F4A7C15L % keys;
    if (a <= 0) a += keys;
    while (gcd(a, keys) != 1) a++;
    this.scatter = a;
  }

  /** The key index of event i, in [0, keys). */
  public int index(long i) {
    long h = mix64(seed + (i + 1) * 0x9E3779B97F4A7C15L);
    double u = (h >>> 11) * 0x1.0p-53;
    if (!zipf) return (int) (u * keys);
    int lo = 0;
    int hi = keys - 1;
    while (lo < hi) {
      int mid = (lo + hi) >>> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return (int) ((lo * scatter) % keys);
  }

  /** The word of key index k (shared, precomputed once per key count and JVM). */
  public String word(int k) {
    return words(keys)[k];
  }

  public static String[] words(int keys) {
    return WORDS.computeIfAbsent(keys, n -> {
      String[] w = new String[n];
      for (int k = 0; k < n; k++) w[k] = String.format("w%015d", k);
      return w;
    });
  }

  private static double[] zipfCdf(int n) {
    double[] c = new double[n];
    double sum = 0;
    for (int k = 0; k < n; k++) {
      sum += 1.0 / Math.pow(k + 1, ZIPF_S);
      c[k] = sum;
    }
    for (int k = 0; k < n; k++) c[k] /= sum;
    c[n - 1] = 1.0;
    return c;
  }

  static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static long gcd(long a, long b) {
    while (b != 0) {
      long t = a % b;
      a = b;
      b = t;
    }
    return a;
  }
}
