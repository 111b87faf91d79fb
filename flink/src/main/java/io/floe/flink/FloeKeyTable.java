package io.floe.flink;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A flat hash index of (key group, key bytes) to small, stable int ids, for {@link FloeStateCache}: the
 * cache keeps what it knows of a key in its own arrays at the key's id, so a lookup is one probe of two int
 * arrays and one key comparison, with no per-key objects (no map entry, key record or linked-list node).
 *
 * <p>Layout: open addressing with linear probing over {@code slots} (a power of two of them), a slot one long
 * holding the key's id (high half) and tag (low half), so a probe reads one array. A slot's tag is 0 (empty), 1 (tombstone: a removed key; probes go on past it) or the key's tag, a
 * mixed 32-bit hash that is never 0 or 1; a probe compares tags first and touches the key bytes only on an
 * equal tag. Removal leaves a tombstone (or an empty slot when the next slot is empty, ending no probe chain);
 * when live keys plus tombstones would pass half the slots the index is rebuilt, doubled if live keys pass 3/8
 * (at most half full, a miss, the common case of a cache bigger than its working set, probes ~2.5 slots on
 * average; at 3/4 it would be ~8.5). Ids are dense from 0 and reused after removal (a free stack), so per-id arrays stay about as long as
 * the most keys ever held at once; {@link #idCapacity} is the length such arrays need.
 *
 * <p>The key arrays are held, not copied: callers never mutate a key after adding it. Not thread-safe.
 */
final class FloeKeyTable {
  private static final VarHandle LONGS = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final long MUL = 0x9E3779B97F4A7C15L;
  private static final int EMPTY = 0;
  private static final int TOMBSTONE = 1;

  /** Per slot: id << 32 | tag (as an unsigned int). */
  private long[] slots;
  private int mask;
  private int size;
  private int tombstones;

  private byte[][] keys;
  private int[] keyGroups;
  private int[] tags;
  private int[] slotOf;
  private int[] freeIds;
  private int freeCount;
  private int idLimit;
  /** The last {@link #find}'s key array and its tag (key arrays are not mutated once looked up or added). */
  private byte[] lastFindKey;
  private int lastFindGroup;
  private int lastFindTag;

  /** REQUIRES: initialIds > 0. */
  FloeKeyTable(int initialIds) {
    int slots = Integer.highestOneBit(Math.max(8, initialIds * 4 - 1)) << 1;
    this.slots = new long[slots];
    mask = slots - 1;
    keys = new byte[initialIds][];
    keyGroups = new int[initialIds];
    tags = new int[initialIds];
    slotOf = new int[initialIds];
    freeIds = new int[initialIds];
  }

  /**
   * The key's tag: a hash of the key group and key bytes, never EMPTY or TOMBSTONE. Eight bytes a step (JDK
   * 17's Arrays.hashCode takes one multiply per byte, in a chain), each step a multiply and xor-shift, then a
   * 64-bit finalizer (MurmurHash3's fmix64), so that the low bits, which pick the slot, depend on every byte.
   */
  static int tag(int keyGroup, byte[] key) {
    int n = key.length;
    long h = (keyGroup + 1L) * MUL ^ n;
    int i = 0;
    for (; i + 8 <= n; i += 8) {
      h = (h ^ (long) LONGS.get(key, i)) * MUL;
      h ^= h >>> 29;
    }
    if (i < n) {
      long tail = 0;
      for (int j = n - 1; j >= i; j--) tail = tail << 8 | (key[j] & 0xff);
      h = (h ^ tail) * MUL;
      h ^= h >>> 29;
    }
    h ^= h >>> 33;
    h *= 0xff51afd7ed558ccdL;
    h ^= h >>> 33;
    h *= 0xc4ceb9fe1a85ec53L;
    h ^= h >>> 33;
    int t = (int) h;
    return t == EMPTY || t == TOMBSTONE ? t + 2 : t;
  }

  /** The key's id, or -1. */
  int find(int keyGroup, byte[] key) {
    int t = tag(keyGroup, key);
    lastFindKey = key;
    lastFindGroup = keyGroup;
    lastFindTag = t;
    long[] sl = slots;
    int m = mask;
    for (int i = t & m;; i = (i + 1) & m) {
      long s = sl[i];
      int st = (int) s;
      if (st == EMPTY) return -1;
      if (st == t) {
        int id = (int) (s >>> 32);
        if (keyGroups[id] == keyGroup && Arrays.equals(keys[id], key)) return id;
      }
    }
  }

  /** REQUIRES: the key is not in the table. PROMISES: its new id, below {@link #idLimit}. */
  int add(int keyGroup, byte[] key) {
    if (size + tombstones + 1 > slots.length >>> 1) rebuild(size + 1 > (slots.length >>> 3) * 3 ? slots.length << 1 : slots.length);
    int t = key == lastFindKey && keyGroup == lastFindGroup ? lastFindTag : tag(keyGroup, key); // (a miss's add follows its find)
    int id = freeCount > 0 ? freeIds[--freeCount] : newId();
    keys[id] = key;
    keyGroups[id] = keyGroup;
    tags[id] = t;
    int i = t & mask;
    while ((int) slots[i] != EMPTY && (int) slots[i] != TOMBSTONE) i = (i + 1) & mask; // the key is absent: the first free slot will do
    if ((int) slots[i] == TOMBSTONE) tombstones--;
    slots[i] = slot(id, t);
    slotOf[id] = i;
    size++;
    return id;
  }

  /** REQUIRES: id is live. PROMISES: its key is gone and the id may be handed out again. */
  void remove(int id) {
    int i = slotOf[id];
    if ((int) slots[(i + 1) & mask] == EMPTY) {
      slots[i] = EMPTY; // no probe chain runs through this slot to a later one
    } else {
      slots[i] = TOMBSTONE;
      tombstones++;
    }
    keys[id] = null;
    slotOf[id] = -1;
    freeIds[freeCount++] = id;
    size--;
  }

  boolean live(int id) {
    return id >= 0 && id < idLimit && keys[id] != null;
  }

  byte[] key(int id) {
    return keys[id];
  }

  int keyGroup(int id) {
    return keyGroups[id];
  }

  /** Live keys. */
  int size() {
    return size;
  }

  /** Every id handed out so far is below this. */
  int idLimit() {
    return idLimit;
  }

  /** The length per-id arrays need to hold every id handed out so far (at least {@link #idLimit}). */
  int idCapacity() {
    return keys.length;
  }

  /** Slots of the index (tests: rebuilds happen). */
  int slots() {
    return slots.length;
  }

  /** Checks the index against the ids (tests): every live id is found at its slot, the counts agree. */
  void check() {
    int live = 0;
    int tomb = 0;
    for (int i = 0; i < slots.length; i++) {
      int t = (int) slots[i];
      if (t == TOMBSTONE) tomb++;
      else if (t != EMPTY) {
        live++;
        int id = (int) (slots[i] >>> 32);
        if (slotOf[id] != i || tags[id] != t || keys[id] == null) throw new IllegalStateException("slot " + i + " disagrees with id " + id);
        if (find(keyGroups[id], keys[id]) != id) throw new IllegalStateException("id " + id + " is not found by its key");
      }
    }
    if (live != size || tomb != tombstones || size + freeCount != idLimit) {
      throw new IllegalStateException("key table counts: " + live + " live vs " + size + ", " + tomb + " tombstones vs " + tombstones + ", free " + freeCount
          + " of " + idLimit);
    }
  }

  private int newId() {
    if (idLimit == keys.length) {
      int n = keys.length << 1;
      keys = Arrays.copyOf(keys, n);
      keyGroups = Arrays.copyOf(keyGroups, n);
      tags = Arrays.copyOf(tags, n);
      slotOf = Arrays.copyOf(slotOf, n);
      freeIds = Arrays.copyOf(freeIds, n);
    }
    return idLimit++;
  }

  private static long slot(int id, int tag) {
    return (long) id << 32 | (tag & 0xffffffffL);
  }

  /** Re-inserts every live key into {@code n} fresh slots (drops the tombstones). */
  private void rebuild(int n) {
    long[] fresh = new long[n];
    int m = n - 1;
    for (long s : slots) {
      int t = (int) s;
      if (t == EMPTY || t == TOMBSTONE) continue;
      int i = t & m;
      while ((int) fresh[i] != EMPTY) i = (i + 1) & m;
      fresh[i] = s;
      slotOf[(int) (s >>> 32)] = i;
    }
    slots = fresh;
    mask = m;
    tombstones = 0;
  }
}
