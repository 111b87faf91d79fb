package io.floe.flink;

import io.floe.client.TestSeed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.floe.client.WriteOp;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * FloeValueCache against a model of the store: after any seeded sequence of puts, deletes, merges and WRITE
 * batches, a cache hit equals the store's value (null for absent), a miss is allowed (eviction), and the
 * cache stays within its byte budget.
 */
class FloeValueCacheTest {
  @Test
  void hitsAlwaysEqualTheStoreAndTheBudgetHolds() {
    long seed = TestSeed.seed("FloeValueCacheTest");
    Random r = new Random(seed);
    long budget = 4096;
    FloeValueCache cache = new FloeValueCache(budget);
    Map<String, byte[]> store = new HashMap<>();
    int hits = 0;
    for (int step = 0; step < 20_000; step++) {
      int kg = r.nextInt(4);
      byte[] key = ("k" + r.nextInt(60)).getBytes();
      String id = kg + "/" + new String(key);
      byte[] value = new byte[r.nextInt(40)];
      r.nextBytes(value);
      switch (r.nextInt(6)) {
        case 0 -> {
          store.put(id, value);
          cache.put(kg, key, value);
        }
        case 1 -> {
          store.remove(id);
          cache.put(kg, key, null);
        }
        case 2 -> {
          byte[] old = store.getOrDefault(id, new byte[0]);
          byte[] merged = Arrays.copyOf(old, old.length + value.length);
          System.arraycopy(value, 0, merged, old.length, value.length);
          store.put(id, merged);
          cache.merge(kg, key, value);
        }
        case 3 -> {
          WriteOp op = r.nextBoolean() ? WriteOp.put(kg, key, value) : WriteOp.delete(kg, key);
          if (op.type() == WriteOp.Type.PUT) store.put(id, value);
          else store.remove(id);
          cache.apply(op);
        }
        default -> {
          byte[] got = cache.get(kg, key);
          if (got == FloeValueCache.MISSING) {
            cache.put(kg, key, store.get(id)); // what the backend does after a GET
          } else {
            hits++;
            byte[] want = store.get(id);
            if (want == null) assertNull(got, id);
            else assertArrayEquals(want, got, id);
          }
        }
      }
      assertTrue(cache.bytes() <= budget, "within budget at step " + step);
    }
    assertTrue(hits > 1000, "the cache answered reads: " + hits);
    assertSame(FloeValueCache.MISSING, new FloeValueCache(1000).get(0, new byte[] {1}), "an empty cache knows nothing");
  }
}
