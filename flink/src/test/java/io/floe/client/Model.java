package io.floe.client;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** What the store should hold: (keyGroup, key bytes) → value, in scan order; merge appends (lib/lsm/merge-values.ts). */
final class Model {
  record Key(int keyGroup, byte[] key) implements Comparable<Key> {
    @Override
    public int compareTo(Key o) {
      int c = Integer.compare(keyGroup, o.keyGroup);
      return c != 0 ? c : Arrays.compareUnsigned(key, o.key);
    }

    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && compareTo(k) == 0;
    }

    @Override
    public int hashCode() {
      return 31 * keyGroup + Arrays.hashCode(key);
    }
  }

  private final TreeMap<Key, byte[]> map = new TreeMap<>();

  void put(int kg, byte[] key, byte[] value) {
    map.put(new Key(kg, key.clone()), value.clone());
  }

  void delete(int kg, byte[] key) {
    map.remove(new Key(kg, key));
  }

  void merge(int kg, byte[] key, byte[] operand) {
    byte[] old = map.get(new Key(kg, key));
    if (old == null) {
      put(kg, key, operand);
      return;
    }
    byte[] v = Arrays.copyOf(old, old.length + operand.length);
    System.arraycopy(operand, 0, v, old.length, operand.length);
    map.put(new Key(kg, key.clone()), v);
  }

  void apply(WriteOp o, int kg) {
    switch (o.type()) {
      case PUT -> put(kg, o.key(), o.value());
      case DELETE -> delete(kg, o.key());
      case MERGE -> merge(kg, o.key(), o.value());
    }
  }

  byte[] get(int kg, byte[] key) {
    return map.get(new Key(kg, key));
  }

  int size() {
    return map.size();
  }

  /** Entries filtered like Store.scan: key group, then gte/lt/prefix on the user key, then the limit. */
  List<ScanEntry> scan(Integer keyGroup, byte[] gte, byte[] lt, byte[] prefix, Long limit) {
    List<ScanEntry> out = new ArrayList<>();
    for (Map.Entry<Key, byte[]> e : map.entrySet()) {
      if (limit != null && out.size() >= limit) break;
      Key k = e.getKey();
      if (keyGroup != null && k.keyGroup() != keyGroup) continue;
      if (gte != null && Arrays.compareUnsigned(k.key(), gte) < 0) continue;
      if (lt != null && Arrays.compareUnsigned(k.key(), lt) >= 0) continue;
      if (prefix != null && (k.key().length < prefix.length || Arrays.compareUnsigned(k.key(), 0, prefix.length, prefix, 0, prefix.length) != 0)) continue;
      out.add(new ScanEntry(k.keyGroup(), k.key(), e.getValue()));
    }
    return out;
  }
}
