package io.floe.flink;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * FloeKeyTable against a java.util.HashMap model: seeded adds, finds and removals over a key space with equal
 * hashes (byte strings like "Aa" and "BB" hash alike, so tags collide and the key bytes decide), churn that
 * leaves tombstones, and growth: every find agrees with the model, ids are unique and reused, the index
 * checks itself after every step, and churn at a steady size does not grow it. -Dfloe.seed=N reproduces a run.
 */
class FloeKeyTableTest {
  /** Keys k<i>/ plus two bytes from {"Aa", "BB"} (equal Arrays.hashCode), so distinct keys share tags. */
  private static byte[] key(int i, boolean twin) {
    return ("k" + i + "/" + (twin ? "BB" : "Aa")).getBytes(StandardCharsets.UTF_8);
  }

  @Test
  void findsAddsAndRemovesAsAHashMapWould() {
    long seed = Long.getLong("floe.seed", new Random().nextLong());
    System.out.println("FloeKeyTableTest: seed " + seed + " (rerun with -Dfloe.seed=" + seed + ")");
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
      boolean twin = r.nextBoolean();
      int i = r.nextInt(space);
      byte[] k = key(i, twin);
      String id = kg + "/" + new String(k, StandardCharsets.UTF_8);
      Integer want = model.get(id);
      int got = table.find(kg, key(i, twin)); // an equal array, not the same one
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
      if (step == 22_000) slotsAtSteadySize = table.slots();
    }
    table.check();
    for (Map.Entry<String, Integer> e : model.entrySet()) {
      int id = e.getValue();
      String back = table.keyGroup(id) + "/" + new String(table.key(id), StandardCharsets.UTF_8);
      assertEquals(e.getKey(), back, "the id's key");
    }
    assertTrue(table.idLimit() <= maxSize, "removed ids are reused: " + table.idLimit() + " ids for at most " + maxSize + " keys");
    assertTrue(slotsAtSteadySize >= 2048, "the index grew: " + slotsAtSteadySize + " slots");
    assertEquals(slotsAtSteadySize, table.slots(), "churn and shrinking rebuild in place (tombstones dropped), no growth");
  }

  @Test
  void tombstonesKeepProbeChainsAndRebuildsDropThem() {
    FloeKeyTable table = new FloeKeyTable(8);
    List<Integer> ids = new ArrayList<>();
    // Twins share a tag, so each pair sits in one probe chain.
    for (int i = 0; i < 10; i++) {
      ids.add(table.add(0, key(i, false)));
      ids.add(table.add(0, key(i, true)));
    }
    int slots = table.slots();
    for (int i = 0; i < 10; i++) table.remove(ids.get(2 * i)); // the first of each chain: the twin is found past it
    for (int i = 0; i < 10; i++) {
      assertEquals(-1, table.find(0, key(i, false)));
      assertEquals(ids.get(2 * i + 1), table.find(0, key(i, true)));
    }
    table.check();
    Set<Integer> seen = new HashSet<>();
    for (int round = 0; round < 200; round++) {
      int id = table.add(1, key(round, false));
      seen.add(id);
      table.remove(id);
      table.check();
    }
    assertEquals(slots, table.slots(), "add/remove churn does not grow the index");
    assertTrue(seen.size() <= 10, "a removed id is handed out again: " + seen.size() + " ids");
  }
}
