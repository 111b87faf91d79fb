package io.floe.flink;

import io.floe.client.TestSeed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.floe.client.WriteOp;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * FloeStateCache alone, against a model, with a simulated daemon (a map the taken pending ops are applied to,
 * in order): seeded puts, deletes, merges and reads over a key space larger than the cache, reads that miss
 * answered later (after more writes, so stale answers happen) from the simulated daemon at the time the read
 * was issued, sends at random points, and snapshots (flush, send, compare the daemon with the model). After
 * every step: a hit equals the model, a read that goes to the daemon finds there every write of its key (the
 * send-before-read rule), the cache is within its capacity and its accounting (bytes, dirty list, pending ops,
 * key table) recounts. No Flink, no daemon: many steps in little time. -Dfloe.seed=N reproduces a run.
 */
class FloeStateCacheTest {
  private record InFlight(FloeStateCache.Fill fill, byte[] answer) {}

  @Test
  void answersAsTheModelAndStaysWithinBudget() {
    long seed = TestSeed.seed("FloeStateCacheTest");
    Random r = new Random(seed);
    long hits = 0;
    for (int round = 0; round < 6; round++) {
      long capacity = 400 + r.nextInt(4000);
      FloeStateCache cache = new FloeStateCache(capacity, 100 + r.nextInt((int) capacity), 20 + r.nextInt(80));
      Map<String, byte[]> model = new HashMap<>();
      Map<String, byte[]> daemon = new HashMap<>();
      ArrayDeque<InFlight> reads = new ArrayDeque<>();
      int keys = 3 + r.nextInt(40);
      for (int step = 0; step < 30_000; step++) {
        int kg = r.nextInt(3);
        byte[] key = ("k" + r.nextInt(keys)).getBytes(StandardCharsets.UTF_8);
        String id = kg + "/" + new String(key, StandardCharsets.UTF_8);
        String where = "seed " + seed + ", round " + round + ", step " + step + ", " + id;
        int op = r.nextInt(100);
        if (op < 40) {
          byte[] got = cache.get(kg, key);
          if (got != FloeStateCache.MISS) {
            hits++;
            if (model.get(id) == null) assertNull(got, where);
            else assertArrayEquals(model.get(id), got, where);
          } else {
            if (cache.takeSendBeforeRead()) send(cache, daemon);
            assertTrue(Arrays.equals(model.get(id), daemon.get(id)), "a read goes to the daemon only once it has every write of the key: " + where);
            reads.add(new InFlight(cache.expect(kg, key), daemon.get(id)));
          }
        } else if (op < 65) {
          byte[] v = ("v" + step).getBytes(StandardCharsets.UTF_8);
          cache.put(kg, key, v);
          model.put(id, v);
        } else if (op < 72) {
          cache.apply(WriteOp.delete(kg, key));
          model.remove(id);
        } else if (op < 92) {
          byte[] v = ("+" + step).getBytes(StandardCharsets.UTF_8);
          cache.merge(kg, key, v);
          model.put(id, concat(model.get(id), v));
        } else if (op < 97) {
          // Answers arrive (any order of fills is possible; FIFO here) and the next batch installs them.
          int n = r.nextInt(reads.size() + 1);
          for (int i = 0; i < n; i++) {
            InFlight f = reads.poll();
            f.fill().answered(f.answer());
          }
          cache.drainFills();
        } else if (op < 99) {
          send(cache, daemon);
        } else {
          cache.flushDirty();
          send(cache, daemon);
          assertEquals(render(model), render(daemon), "daemon after a snapshot's flush: " + where);
        }
        assertTrue(cache.bytes() <= capacity, "cache holds " + cache.bytes() + " > " + capacity + ": " + where);
        cache.checkAccounting();
      }
    }
    System.out.println("FloeStateCacheTest: " + hits + " hits");
    assertTrue(hits > 2000, "the cache answered reads: " + hits);
  }

  /** CLOCK: an entry used since the hand last passed outlives older ones that were not (FIFO would drop it). */
  @Test
  void clockSparesEntriesUsedSinceTheHandPassed() {
    byte[] v = new byte[8];
    int entry = 2 + v.length + FloeStateCache.ENTRY_OVERHEAD; // a clean entry of a 2-byte key
    // Room for ten clean entries, or nine and one dirty one.
    FloeStateCache cache = new FloeStateCache(10L * entry + FloeStateCache.DIRTY_OVERHEAD, 1 << 20);
    for (int i = 0; i <= 10; i++) putClean(cache, i);
    // The eleventh evicted one: the hand cleared every bit on its way round, then took k00.
    assertEquals(10L * entry, cache.bytes());
    assertSame(FloeStateCache.MISS, cache.get(0, key(0)), "k00: the first one the hand reached unused");
    for (int i = 1; i <= 5; i++) assertNotSame(FloeStateCache.MISS, cache.get(0, key(i)), "k0" + i); // used: spared once
    for (int i = 11; i <= 15; i++) putClean(cache, i);
    for (int i = 1; i <= 5; i++) assertNotSame(FloeStateCache.MISS, cache.get(0, key(i)), "k0" + i + " was used since the hand passed: it stays");
    for (int i = 6; i <= 10; i++) assertSame(FloeStateCache.MISS, cache.get(0, key(i)), "k" + i + " was not used: evicted");
    for (int i = 11; i <= 15; i++) assertNotSame(FloeStateCache.MISS, cache.get(0, key(i)), "k" + i + " is newer: it stays");
    cache.checkAccounting();
  }

  private static void putClean(FloeStateCache cache, int i) {
    cache.put(0, key(i), new byte[8]);
    cache.flushDirty();
    cache.takePending();
  }

  private static byte[] key(int i) {
    return String.format("%02d", i).getBytes(StandardCharsets.UTF_8);
  }

  private static void send(FloeStateCache cache, Map<String, byte[]> daemon) {
    for (WriteOp op : cache.takePending()) {
      String id = op.keyGroup() + "/" + new String(op.key(), StandardCharsets.UTF_8);
      switch (op.type()) {
        case PUT -> daemon.put(id, op.value());
        case DELETE -> daemon.remove(id);
        case MERGE -> daemon.put(id, concat(daemon.get(id), op.value()));
      }
    }
    assertEquals(0, cache.pendingOps());
    assertEquals(0, cache.pendingBytes());
  }

  private static byte[] concat(byte[] a, byte[] b) {
    if (a == null) return b;
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }

  private static String render(Map<String, byte[]> m) {
    StringBuilder sb = new StringBuilder();
    m.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> sb.append(e.getKey()).append('=').append(new String(e.getValue(), StandardCharsets.UTF_8)).append('\n'));
    return sb.toString();
  }
}
