package io.floe.flink;

import io.floe.client.TestSeed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * FloeKeyTable against a java.util.HashMap model: seeded adds, finds and removals over a key space with equal
 * tags (pairs of keys whose 32-bit tags collide, found by brute force, so the key bytes decide), churn that
 * leaves tombstones, and growth: every find agrees with the model, ids are unique and reused, the index
 * checks itself after every step, and churn at a steady size does not grow it. -Dfloe.seed=N reproduces a run.
 */
class FloeKeyTableTest {
  /** Pairs of distinct keys (key group 0) with equal tags: among 600,000 keys, about 40 such pairs. */
  private static final List<byte[][]> TWINS = twins(600_000);

  private static List<byte[][]> twins(int n) {
    long[] byTag = new long[n];
    for (int i = 0; i < n; i++) byTag[i] = (long) FloeKeyTable.tag(0, ("t" + i).getBytes(StandardCharsets.UTF_8)) << 32 | i;
    Arrays.sort(byTag);
    List<byte[][]> out = new ArrayList<>();
    for (int i = 1; i < n; i++) {
      if (byTag[i] >> 32 != byTag[i - 1] >> 32) continue;
      out.add(new byte[][] {("t" + (int) byTag[i - 1]).getBytes(StandardCharsets.UTF_8), ("t" + (int) byTag[i]).getBytes(StandardCharsets.UTF_8)});
    }
    return out;
  }

  /** Key i: the first keys are the twins' (equal tags in key group 0), then k<i>. A fresh array each call. */
  private static byte[] key(int i) {
    if (i < 2 * TWINS.size()) return TWINS.get(i / 2)[i % 2].clone();
    return ("k" + i).getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void findsAddsAndRemovesAsAHashMapWould() {
    long seed = TestSeed.seed("FloeKeyTableTest");
    Random r = new Random(seed);
    FloeKeyTable table = new FloeKeyTable(4);
    Map<String, Integer> model = new HashMap<>();
    int maxSize = 0;
    int slotsAtSteadySize = 0;
    for (int step = 0; step < 60_000; step++) {
      // Phases: grow to ~2,000 keys, churn around that, shrink, churn small.
      int phase = step / 15_000;
      int space = phase == 0 || phase == 1 ? 3000 : 300;
      int kg = r.nextInt(3);
      int i = r.nextInt(space);
      byte[] k = key(i);
      String id = kg + "/" + new String(k, StandardCharsets.UTF_8);
      Integer want = model.get(id);
      int got = table.find(kg, key(i)); // an equal array, not the same one
      assertEquals(want == null ? -1 : want, got, "find " + id + ", seed " + seed + ", step " + step);
      boolean add = phase == 0 ? r.nextInt(10) < 7 : phase == 1 ? r.nextBoolean() : r.nextInt(10) < 3;
      if (add && want == null) {
        int newId = table.add(kg, k);
        assertTrue(newId >= 0 && newId < table.idCapacity() && newId < table.idLimit(), "id in range");
        assertTrue(!model.containsValue(newId), "id " + newId + " is not in use, seed " + seed);
        model.put(id, newId);
        assertEquals(kg, table.keyGroup(newId));
      } else if (!add && want != null) {
        table.remove(want);
        model.remove(id);
        assertTrue(!table.live(want), "a removed id is not live");
      }
      assertEquals(model.size(), table.size());
      maxSize = Math.max(maxSize, model.size());
      if (step % 97 == 0) table.check();
      if (step == 30_000) slotsAtSteadySize = table.slots();
    }
    table.check();
    for (Map.Entry<String, Integer> e : model.entrySet()) {
      int id = e.getValue();
      String back = table.keyGroup(id) + "/" + new String(table.key(id), StandardCharsets.UTF_8);
      assertEquals(e.getKey(), back, "the id's key");
    }
    assertTrue(table.idLimit() <= maxSize, "removed ids are reused: " + table.idLimit() + " ids for at most " + maxSize + " keys");
    assertTrue(slotsAtSteadySize >= 2048, "the index grew: " + slotsAtSteadySize + " slots");
    assertEquals(slotsAtSteadySize, table.slots(), "shrinking and churn at a small size rebuild in place (tombstones dropped), no growth");
  }

  @Test
  void tombstonesKeepProbeChainsAndRebuildsDropThem() {
    FloeKeyTable table = new FloeKeyTable(8);
    assertTrue(TWINS.size() >= 10, "enough equal-tag pairs: " + TWINS.size());
    for (byte[][] t : TWINS) assertEquals(FloeKeyTable.tag(0, t[0]), FloeKeyTable.tag(0, t[1]));
    List<Integer> ids = new ArrayList<>();
    // Twins share a tag, so each pair sits in one probe chain.
    for (int i = 0; i < 10; i++) {
      ids.add(table.add(0, key(2 * i)));
      ids.add(table.add(0, key(2 * i + 1)));
    }
    int slots = table.slots();
    for (int i = 0; i < 10; i++) table.remove(ids.get(2 * i)); // the first of each chain: the twin is found past it
    for (int i = 0; i < 10; i++) {
      assertEquals(-1, table.find(0, key(2 * i)));
      assertEquals(ids.get(2 * i + 1), table.find(0, key(2 * i + 1)));
    }
    table.check();
    Set<Integer> seen = new HashSet<>();
    for (int round = 0; round < 200; round++) {
      int id = table.add(1, key(round));
      seen.add(id);
      table.remove(id);
      table.check();
    }
    assertEquals(slots, table.slots(), "add/remove churn does not grow the index");
    assertTrue(seen.size() <= 10, "a removed id is handed out again: " + seen.size() + " ids");
  }
}
