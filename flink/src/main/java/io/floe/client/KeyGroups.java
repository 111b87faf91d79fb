package io.floe.client;

/**
 * Key groups as the daemon sees them. A request without an explicit key group uses the default one,
 * {@code murmur3_32(key, seed 0) % maxKeyGroups}, computed by the daemon exactly as here (lib/keys.ts).
 */
public final class KeyGroups {
  private KeyGroups() {}

  /** Passed where a key group is expected: let the daemon hash the key. */
  public static final int DEFAULT = -1;

  /** The key group the daemon assigns to {@code key} when none is given. */
  public static int defaultKeyGroup(byte[] key, int maxKeyGroups) {
    return (int) (Integer.toUnsignedLong(murmur3_32(key, 0)) % maxKeyGroups);
  }

  /** MurmurHash3 x86 32-bit, as lib/keys.ts. */
  public static int murmur3_32(byte[] data, int seed) {
    int h = seed;
    int len = data.length;
    int blocks = len & ~3;
    for (int i = 0; i < blocks; i += 4) {
      int k = (data[i] & 0xff) | (data[i + 1] & 0xff) << 8 | (data[i + 2] & 0xff) << 16 | (data[i + 3] & 0xff) << 24;
      h ^= mixK(k);
      h = Integer.rotateLeft(h, 13);
      h = h * 5 + 0xe6546b64;
    }
    int tail = len & 3;
    if (tail > 0) {
      int k = 0;
      if (tail == 3) k ^= (data[blocks + 2] & 0xff) << 16;
      if (tail >= 2) k ^= (data[blocks + 1] & 0xff) << 8;
      k ^= data[blocks] & 0xff;
      h ^= mixK(k);
    }
    h ^= len;
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return h;
  }

  private static int mixK(int k) {
    k *= 0xcc9e2d51;
    k = Integer.rotateLeft(k, 15);
    return k * 0x1b873593;
  }

  /** The kg field for a key group argument. Throws INVALID_ARGUMENT outside [0, 32768) ∪ {DEFAULT}. */
  static int wireValue(int keyGroup, String where) {
    if (keyGroup == DEFAULT) return Protocol.DEFAULT_KG;
    if (keyGroup < 0 || keyGroup >= Protocol.MAX_KEY_GROUPS) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT,
          where + "keyGroup must be in [0, maxKeyGroups) (at most " + Protocol.MAX_KEY_GROUPS + "), got " + keyGroup
              + "; pass KeyGroups.DEFAULT to use the default hash");
    }
    return keyGroup;
  }
}
