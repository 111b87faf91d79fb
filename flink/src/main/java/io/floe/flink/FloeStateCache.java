package io.floe.flink;

import io.floe.client.WriteOp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * The State V2 backend's bounded write-back cache of stored values, by (key group, Floe key): what the store
 * holds for a key as far as this subtask knows, including writes not yet sent to the daemon.
 *
 * <p>Exact because the backend is its store's only writer (one ephemeral store per subtask attempt): every
 * write goes through here in request order, so a cached value is what a read would answer. An entry is
 * <ul>
 *   <li>CLEAN: the daemon holds this value (or, {@code value == null}, nothing);</li>
 *   <li>DIRTY: written here, not yet handed to the daemon (null: a delete);</li>
 *   <li>MERGE: merge operands appended after a base this cache does not know (a ListState add of a list never
 *       read): written back as one MERGE, the operands concatenated (Floe's merge is a byte append); a read
 *       must first send it, then ask the daemon.</li>
 * </ul>
 * Dirty entries leave as write ops into {@link #pending} (coalesced per key: the latest value wins, a merge
 * after a known value becomes a put of the concatenation): when evicted (LRU, capacity in bytes), when dirty
 * bytes pass the dirty budget (the oldest dirtied first; they stay cached, clean), and on {@link #flushDirty}
 * (before a checkpoint). The owner sends {@link #takePending} as WRITE frames. Until sent, a pending op is
 * still this cache's knowledge: a miss finds the key there and takes it back as a dirty entry, so a read never
 * goes to the daemon for a key whose latest write is unsent.
 *
 * <p>Reads that miss go to the daemon; their answers ({@link Fill}) arrive on the client's reader thread and
 * are installed as clean entries on the task thread ({@link #drainFills}) unless the key was written after
 * the read was issued (the fill is then stale: the answer predates that write).
 *
 * <p>Task thread only, except {@link Fill#answered}. Values are shared, never mutated.
 */
final class FloeStateCache {
  /** Returned by {@link #get} when the cache cannot answer (the read goes to the daemon). */
  static final byte[] MISS = new byte[0];
  /**
   * Bytes accounted per entry besides key and value bytes, as a 64-bit JVM with compressed pointers lays them
   * out: the LRU map's entry (40) and table slot (~6), the key record (24), the entry (24), two array headers
   * and their alignment (~48). Measured: 175 bytes of heap per clean word-count entry (23-byte key, 8-byte
   * value) against 23 + 8 + 144 accounted.
   */
  static final int ENTRY_OVERHEAD = 144;
  /** Accounted in addition while an entry is dirty: its entry in the dirty map (measured: 215 bytes in all). */
  static final int DIRTY_OVERHEAD = 40;
  /** A known value longer than this is not grown by merges (each would copy it): it becomes a MERGE entry. */
  static final int MAX_MERGED_BYTES = 16 * 1024;
  private final int maxMergedBytes;

  enum Kind { CLEAN, DIRTY, MERGE }

  private static final class Entry {
    byte[] value;
    Kind kind;

    Entry(byte[] value, Kind kind) {
      this.value = value;
      this.kind = kind;
    }

    int bytes(FloeValueCache.Key k) {
      return k.key().length + (value == null ? 0 : value.length) + ENTRY_OVERHEAD + (kind == Kind.CLEAN ? 0 : DIRTY_OVERHEAD);
    }
  }

  /** A read sent to the daemon; stale once the key is written after it. */
  static final class Fill {
    private final FloeStateCache cache;
    final FloeValueCache.Key key;
    private final java.util.concurrent.atomic.AtomicBoolean answeredOnce = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile byte[] value;

    private Fill(FloeStateCache cache, FloeValueCache.Key key) {
      this.cache = cache;
      this.key = key;
    }

    /** The daemon's answer (null: absent). Any thread; reads sharing the fill answer the same, the first counts. */
    void answered(byte[] value) {
      if (!answeredOnce.compareAndSet(false, true)) return;
      this.value = value;
      cache.answered.add(this);
    }
  }

  private final long capacityBytes;
  private final long dirtyBudgetBytes;
  private final LinkedHashMap<FloeValueCache.Key, Entry> map = new LinkedHashMap<>(1024, 0.75f, true);
  /** Entries that are DIRTY or MERGE, oldest dirtied first. */
  private final LinkedHashMap<FloeValueCache.Key, Entry> dirty = new LinkedHashMap<>();
  private LinkedHashMap<FloeValueCache.Key, WriteOp> pending = new LinkedHashMap<>();
  private final HashMap<FloeValueCache.Key, Fill> fills = new HashMap<>();
  private final ConcurrentLinkedQueue<Fill> answered = new ConcurrentLinkedQueue<>();
  private long bytes;
  private long dirtyBytes;
  private long pendingBytes;
  private boolean sendBeforeRead;
  /** The key of the last {@link #get} that missed (the same array is then passed to {@link #expect}). */
  private FloeValueCache.Key lastMiss;
  long hits;
  long misses;

  /** REQUIRES: capacityBytes > 0, 0 < dirtyBudgetBytes. */
  FloeStateCache(long capacityBytes, long dirtyBudgetBytes) {
    this(capacityBytes, dirtyBudgetBytes, MAX_MERGED_BYTES);
  }

  /** With another merge threshold (tests use small ones). */
  FloeStateCache(long capacityBytes, long dirtyBudgetBytes, int maxMergedBytes) {
    if (capacityBytes <= 0 || dirtyBudgetBytes <= 0) throw new IllegalArgumentException("cache and dirty budget must be positive");
    this.maxMergedBytes = maxMergedBytes;
    this.capacityBytes = capacityBytes;
    this.dirtyBudgetBytes = Math.min(dirtyBudgetBytes, capacityBytes);
  }

  long bytes() {
    return bytes;
  }

  long dirtyBytes() {
    return dirtyBytes;
  }

  long pendingBytes() {
    return pendingBytes;
  }

  int pendingOps() {
    return pending.size();
  }

  /**
   * The stored value of the key as this cache knows it: the value, null for "absent", or {@link #MISS}. A
   * MERGE entry is a miss whose operands must reach the daemon before the read: they move to the pending ops
   * and {@link #takeSendBeforeRead} is true until asked.
   */
  byte[] get(int keyGroup, byte[] key) {
    FloeValueCache.Key k = FloeValueCache.Key.of(keyGroup, key);
    Entry e = lookup(k);
    if (e == null || e.kind == Kind.MERGE) {
      if (e != null) {
        remove(k, e);
        addPending(k, WriteOp.merge(keyGroup, key, e.value));
      }
      // The daemon must have every write of the key before this read: send the pending ops first.
      if (!pending.isEmpty() && pending.containsKey(k)) sendBeforeRead = true;
      lastMiss = k;
      misses++;
      return MISS;
    }
    hits++;
    return e.value;
  }

  /** True once after a {@link #get} that needs the pending ops sent before its read; resets. */
  boolean takeSendBeforeRead() {
    boolean s = sendBeforeRead;
    sendBeforeRead = false;
    return s;
  }

  /** A read of the key is going to the daemon: its answer comes back through the returned fill. */
  Fill expect(int keyGroup, byte[] key) {
    FloeValueCache.Key k = lastMiss != null && lastMiss.key() == key && lastMiss.keyGroup() == keyGroup ? lastMiss : FloeValueCache.Key.of(keyGroup, key);
    lastMiss = null;
    // A read of the key still in flight shares its fill: no write came between (a write removes the fill).
    return fills.computeIfAbsent(k, key2 -> new Fill(this, key2));
  }

  /** Installs the answers of reads whose keys were not written since (clean entries). */
  void drainFills() {
    Fill f;
    while ((f = answered.poll()) != null) {
      if (!fills.remove(f.key, f)) continue; // stale: the key was written after the read (a write removes its fill)
      if (map.containsKey(f.key) || (!pending.isEmpty() && pending.containsKey(f.key))) continue;
      install(f.key, new Entry(f.value, Kind.CLEAN));
    }
  }

  /** The store now holds {@code value} for the key (null: deleted). */
  void put(int keyGroup, byte[] key, byte[] value) {
    FloeValueCache.Key k = FloeValueCache.Key.of(keyGroup, key);
    written(k);
    Entry e = lookup(k);
    if (e == null) {
      install(k, new Entry(value, Kind.DIRTY));
    } else {
      update(k, e, value, Kind.DIRTY);
    }
  }

  /** A merge: the operand is appended to the stored value (known or not). */
  void merge(int keyGroup, byte[] key, byte[] operand) {
    FloeValueCache.Key k = FloeValueCache.Key.of(keyGroup, key);
    written(k);
    Entry e = lookup(k);
    if (e == null) {
      install(k, new Entry(operand, Kind.MERGE));
    } else if (e.value == null) {
      update(k, e, operand, Kind.DIRTY); // known absent: the operand is the value
    } else if (e.value.length + operand.length > maxMergedBytes) {
      // Long value: hand what is held to the daemon as it is and keep only operands from here on (growing it
      // would copy it per merge).
      if (e.kind != Kind.CLEAN) addPending(k, toOp(k, e));
      remove(k, e);
      install(k, new Entry(operand, Kind.MERGE));
    } else {
      update(k, e, concat(e.value, operand), e.kind == Kind.MERGE ? Kind.MERGE : Kind.DIRTY);
    }
  }

  /** The effect of one write op. */
  void apply(WriteOp op) {
    switch (op.type()) {
      case PUT -> put(op.keyGroup(), op.key(), op.value());
      case DELETE -> put(op.keyGroup(), op.key(), null);
      case MERGE -> merge(op.keyGroup(), op.key(), op.value());
    }
  }

  /** Every dirty entry becomes a pending op (before a checkpoint); known values stay cached, clean. */
  void flushDirty() {
    while (!dirty.isEmpty()) clean(dirty.keySet().iterator().next());
  }

  /** The pending write ops, oldest first (emptied). */
  List<WriteOp> takePending() {
    List<WriteOp> ops = new ArrayList<>(pending.values());
    pending = new LinkedHashMap<>();
    pendingBytes = 0;
    return ops;
  }

  /** Recounts the accounted bytes from the entries (tests): throws if the running totals disagree. */
  void checkAccounting() {
    long all = 0;
    long dirtyAll = 0;
    for (Map.Entry<FloeValueCache.Key, Entry> me : map.entrySet()) {
      int b = me.getValue().bytes(me.getKey());
      all += b;
      if (me.getValue().kind != Kind.CLEAN) {
        dirtyAll += b;
        if (dirty.get(me.getKey()) != me.getValue()) throw new IllegalStateException("dirty entry missing from the dirty map");
      }
    }
    long pend = 0;
    for (WriteOp op : pending.values()) pend += opBytes(op);
    if (all != bytes || dirtyAll != dirtyBytes || pend != pendingBytes) {
      throw new IllegalStateException("accounting: bytes " + bytes + " vs " + all + ", dirty " + dirtyBytes + " vs " + dirtyAll + ", pending " + pendingBytes + " vs " + pend);
    }
  }

  // ------------------------------------------------------------------ internals

  /** The key's entry; a pending op of a key not cached is taken back as a dirty entry (it is the latest value). */
  private Entry lookup(FloeValueCache.Key k) {
    Entry e = map.get(k);
    if (e != null || pending.isEmpty()) return e;
    WriteOp op = pending.remove(k);
    if (op == null) return null;
    pendingBytes -= opBytes(op);
    e = new Entry(op.value(), op.type() == WriteOp.Type.MERGE ? Kind.MERGE : Kind.DIRTY);
    install(k, e);
    return map.get(k) == e ? e : null; // (an entry larger than the whole cache went straight back to pending)
  }

  /** A write of the key: a read of it in flight must not install its (older) answer. */
  private void written(FloeValueCache.Key k) {
    if (fills.isEmpty()) return;
    fills.remove(k);
  }

  private void install(FloeValueCache.Key k, Entry e) {
    map.put(k, e);
    int b = e.bytes(k);
    bytes += b;
    if (e.kind != Kind.CLEAN) {
      dirty.put(k, e);
      dirtyBytes += b;
    }
    bound();
  }

  private void update(FloeValueCache.Key k, Entry e, byte[] value, Kind kind) {
    int before = e.bytes(k);
    boolean wasDirty = e.kind != Kind.CLEAN;
    e.value = value;
    e.kind = kind;
    int after = e.bytes(k);
    bytes += after - before;
    if (wasDirty) {
      dirtyBytes += after - before;
    } else {
      dirty.put(k, e);
      dirtyBytes += after;
    }
    bound();
  }

  private void remove(FloeValueCache.Key k, Entry e) {
    map.remove(k);
    int b = e.bytes(k);
    bytes -= b;
    if (e.kind != Kind.CLEAN) {
      dirty.remove(k);
      dirtyBytes -= b;
    }
  }

  /** Evicts least recently used entries beyond capacity (dirty ones become pending), then cleans beyond the dirty budget. */
  private void bound() {
    if (bytes > capacityBytes) {
      Iterator<Map.Entry<FloeValueCache.Key, Entry>> it = map.entrySet().iterator();
      while (bytes > capacityBytes && it.hasNext()) {
        Map.Entry<FloeValueCache.Key, Entry> me = it.next();
        Entry e = me.getValue();
        int b = e.bytes(me.getKey());
        it.remove();
        bytes -= b;
        if (e.kind != Kind.CLEAN) {
          dirty.remove(me.getKey());
          dirtyBytes -= b;
          addPending(me.getKey(), toOp(me.getKey(), e));
        }
      }
    }
    while (dirtyBytes > dirtyBudgetBytes && !dirty.isEmpty()) clean(dirty.keySet().iterator().next());
  }

  /** A dirty entry's op goes to pending; a known value stays cached clean, a MERGE entry (value unknown) leaves. */
  private void clean(FloeValueCache.Key k) {
    Entry e = dirty.remove(k);
    int b = e.bytes(k);
    dirtyBytes -= b;
    addPending(k, toOp(k, e));
    if (e.kind == Kind.MERGE) {
      map.remove(k);
      bytes -= b;
    } else {
      e.kind = Kind.CLEAN;
      bytes -= b - e.bytes(k); // the dirty map's entry is gone
    }
  }

  private static WriteOp toOp(FloeValueCache.Key k, Entry e) {
    return switch (e.kind) {
      case MERGE -> WriteOp.merge(k.keyGroup(), k.key(), e.value);
      case DIRTY -> e.value == null ? WriteOp.delete(k.keyGroup(), k.key()) : WriteOp.put(k.keyGroup(), k.key(), e.value);
      case CLEAN -> throw new IllegalStateException("a clean entry has nothing to write");
    };
  }

  /** Adds an op to pending, coalesced with an earlier pending op of the key (which it follows). */
  private void addPending(FloeValueCache.Key k, WriteOp op) {
    WriteOp old = pending.remove(k); // re-inserted at the end: pending keeps the order ops were made in
    if (old != null) {
      pendingBytes -= opBytes(old);
      op = coalesce(old, op);
    }
    pending.put(k, op);
    pendingBytes += opBytes(op);
  }

  /** One op with the effect of {@code first} then {@code then} on the same key. */
  static WriteOp coalesce(WriteOp first, WriteOp then) {
    if (then.type() != WriteOp.Type.MERGE) return then;
    return switch (first.type()) {
      case PUT -> WriteOp.put(then.keyGroup(), then.key(), concat(first.value(), then.value()));
      case DELETE -> WriteOp.put(then.keyGroup(), then.key(), then.value());
      case MERGE -> WriteOp.merge(then.keyGroup(), then.key(), concat(first.value(), then.value()));
    };
  }

  static long opBytes(WriteOp op) {
    return op.key().length + (op.value() == null ? 0 : op.value().length) + 16;
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] c = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, c, a.length, b.length);
    return c;
  }
}
