package io.floe.flink;

import io.floe.client.WriteOp;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A bounded LRU cache of a synchronous backend's values, by (key group, Floe key). Exact because the backend
 * is its store's only writer (one ephemeral store per subtask attempt): every write the backend sends updates
 * the cache in the same order (put: the value; delete: "absent"; merge: the cached value with the operand
 * appended, as Floe's merge does), so a hit equals what a GET would answer. Values are shared, never
 * mutated. Task thread only.
 */
final class FloeValueCache {
  /** Returned by {@link #get} when the key is not cached (a cached "absent" is returned as null). */
  static final byte[] MISSING = new byte[0];
  private static final byte[] ABSENT = new byte[0];
  private static final int ENTRY_OVERHEAD = 64;

  /** (key group, Floe key) with value equality; also the key of FloeStateCache. */
  record Key(int keyGroup, byte[] key, int hash) {
    static Key of(int keyGroup, byte[] key) {
      return new Key(keyGroup, key, 31 * keyGroup + Arrays.hashCode(key));
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.keyGroup == keyGroup && Arrays.equals(k.key, key);
    }

    @Override
    public int hashCode() {
      return hash;
    }
  }

  private final long capacityBytes;
  private final LinkedHashMap<Key, byte[]> map = new LinkedHashMap<>(1024, 0.75f, true);
  private long bytes;
  long hits;
  long misses;

  FloeValueCache(long capacityBytes) {
    this.capacityBytes = capacityBytes;
  }

  /** Bytes accounted (keys, values and a fixed overhead per entry); at most the capacity. */
  long bytes() {
    return bytes;
  }

  /** The cached value, null for a cached absence, {@link #MISSING} when unknown. */
  byte[] get(int keyGroup, byte[] key) {
    byte[] v = map.get(Key.of(keyGroup, key));
    if (v == null) {
      misses++;
      return MISSING;
    }
    hits++;
    return v == ABSENT ? null : v;
  }

  /** Records what the store holds for the key now (null: absent). */
  void put(int keyGroup, byte[] key, byte[] value) {
    byte[] v = value == null ? ABSENT : value;
    byte[] old = map.put(Key.of(keyGroup, key), v);
    bytes += v.length - (old == null ? -(key.length + ENTRY_OVERHEAD) : old.length);
    evict();
  }

  /** A merge: the cached value grows by the operand; an unknown value stays unknown. */
  void merge(int keyGroup, byte[] key, byte[] operand) {
    Key k = Key.of(keyGroup, key);
    byte[] old = map.get(k);
    if (old == null) return;
    byte[] merged = Arrays.copyOf(old, old.length + operand.length);
    System.arraycopy(operand, 0, merged, old.length, operand.length);
    put(keyGroup, key, merged);
  }

  /** The effect of one op of a WRITE batch. */
  void apply(WriteOp op) {
    switch (op.type()) {
      case PUT -> put(op.keyGroup(), op.key(), op.value());
      case DELETE -> put(op.keyGroup(), op.key(), null);
      case MERGE -> merge(op.keyGroup(), op.key(), op.value());
    }
  }

  private void evict() {
    Iterator<Map.Entry<Key, byte[]>> it = map.entrySet().iterator();
    while (bytes > capacityBytes && it.hasNext()) {
      Map.Entry<Key, byte[]> e = it.next();
      bytes -= e.getKey().key().length + ENTRY_OVERHEAD + e.getValue().length;
      it.remove();
    }
  }
}
