package io.floe.flink;

import io.floe.client.WriteOp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
 * Dirty entries leave as write ops into the pending ops (coalesced per key: the latest value wins, a merge
 * after a known value becomes a put of the concatenation): when evicted (CLOCK, capacity in bytes), when dirty
 * bytes pass the dirty budget (the oldest dirtied first; they stay cached, clean), and on {@link #flushDirty}
 * (before a checkpoint). The owner sends {@link #takePending} as WRITE frames. Until sent, a pending op is
 * still this cache's knowledge: a miss finds the key there and takes it back as a dirty entry, so a read never
 * goes to the daemon for a key whose latest write is unsent.
 *
 * <p>Reads that miss go to the daemon; their answers ({@link Fill}) arrive on the client's reader thread and
 * are installed as clean entries on the task thread ({@link #drainFills}) unless the key was written after
 * the read was issued (the fill is then stale: the answer predates that write).
 *
 * <p>Layout: a {@link FloeKeyTable} gives each key an int id; what is known of it lives in flat per-id arrays
 * (value, kind, CLOCK bit, dirty-list links, read in flight; {@link FloePendingOps} its pending op), so the hot path
 * (a hit, a write) is one table probe and array stores: no per-entry objects, no map per role.
 *
 * <p>Eviction is CLOCK, not LRU: the hand sweeps the ids; an entry used (read or written) since the hand
 * last passed is spared once (its bit cleared), the first one not used is evicted. A hit only sets a bit
 * (an access-ordered LRU relinks a list node per access); hot keys stay cached as under LRU. The dirty
 * budget still cleans strictly the oldest dirtied first (a linked list through the per-id arrays).
 *
 * <p>Task thread only, except {@link Fill#answered}. Values are shared, never mutated.
 */
final class FloeStateCache {
  /** Returned by {@link #get} when the cache cannot answer (the read goes to the daemon). */
  static final byte[] MISS = new byte[0];
  /**
   * Bytes accounted per entry besides key and value bytes. Set when entries were objects in an LRU map
   * (measured then: 175 bytes of heap per clean word-count entry, 23-byte key, 8-byte value, against 23 + 8 + 144
   * accounted); kept for the flat table, which takes less (its slots, the per-id arrays with their growth
   * slack, and the key and value arrays' headers: about 120-150 bytes per such entry), so the budget stays
   * an upper bound of the heap the cache holds.
   */
  static final int ENTRY_OVERHEAD = 144;
  /** Accounted in addition while an entry is dirty (it was the dirty map's entry; kept, as ENTRY_OVERHEAD). */
  static final int DIRTY_OVERHEAD = 40;
  /** A known value longer than this is not grown by merges (each would copy it): it becomes a MERGE entry. */
  static final int MAX_MERGED_BYTES = 16 * 1024;
  private final int maxMergedBytes;

  /** An id's entry kind: NONE (not cached: the id lives for a pending op or a read in flight), or cached. */
  private static final byte NONE = 0;
  private static final byte CLEAN = 1;
  private static final byte DIRTY = 2;
  private static final byte MERGE = 3;
  private static final int NIL = -1;

  /** A read sent to the daemon; stale once the key is written after it. */
  static final class Fill {
    private final FloeStateCache cache;
    private final int id;
    private final java.util.concurrent.atomic.AtomicBoolean answeredOnce = new java.util.concurrent.atomic.AtomicBoolean();
    private volatile byte[] value;

    private Fill(FloeStateCache cache, int id) {
      this.cache = cache;
      this.id = id;
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
  /**
   * Every key this cache knows something of has an id: it is cached (kind != NONE), has a pending op, or has
   * a read in flight; an id with none of these is removed ({@link #release}).
   */
  private final FloeKeyTable table = new FloeKeyTable(256);
  // Per id (arrays as long as table.idCapacity()).
  private byte[][] values;
  private byte[] kinds;
  /** CLOCK reference bits: set when an entry is used, cleared as the hand passes. */
  private boolean[] referenced;
  /** The dirty (DIRTY and MERGE) entries as a doubly linked list, oldest dirtied first. */
  private int[] dirtyPrev;
  private int[] dirtyNext;
  private Fill[] fills;

  private int dirtyHead = NIL;
  private int dirtyTail = NIL;
  private int hand;
  private final FloePendingOps pending;
  private final ConcurrentLinkedQueue<Fill> answered = new ConcurrentLinkedQueue<>();
  private long bytes;
  private long dirtyBytes;
  private boolean sendBeforeRead;
  /** The last {@link #get} that missed: its key array, key group and id (NIL: none), for {@link #expect}. */
  private byte[] lastMissKey;
  private int lastMissGroup;
  private int lastMissId;
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
    int n = table.idCapacity();
    values = new byte[n][];
    kinds = new byte[n];
    referenced = new boolean[n];
    dirtyPrev = new int[n];
    dirtyNext = new int[n];
    pending = new FloePendingOps(n);
    fills = new Fill[n];
  }

  long bytes() {
    return bytes;
  }

  long dirtyBytes() {
    return dirtyBytes;
  }

  long pendingBytes() {
    return pending.bytes();
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
    int id = table.find(keyGroup, key);
    if (id != NIL) {
      byte kind = kinds[id];
      if (kind == NONE && pending.has(id)) kind = takeBack(id);
      if (kind == CLEAN || kind == DIRTY) {
        referenced[id] = true;
        hits++;
        return values[id];
      }
      if (kind == MERGE) {
        WriteOp op = WriteOp.merge(keyGroup, table.key(id), values[id]);
        uncache(id);
        pending.add(id, op);
      }
      // The daemon must have every write of the key before this read: send the pending ops first.
      if (pending.has(id)) sendBeforeRead = true;
    }
    lastMissKey = key;
    lastMissGroup = keyGroup;
    lastMissId = id;
    misses++;
    return MISS;
  }

  /** True once after a {@link #get} that needs the pending ops sent before its read; resets. */
  boolean takeSendBeforeRead() {
    boolean s = sendBeforeRead;
    sendBeforeRead = false;
    return s;
  }

  /** A read of the key is going to the daemon: its answer comes back through the returned fill. */
  Fill expect(int keyGroup, byte[] key) {
    int id = lastMissKey == key && lastMissGroup == keyGroup ? lastMissId : table.find(keyGroup, key);
    lastMissKey = null;
    if (id == NIL) id = newId(keyGroup, key);
    // A read of the key still in flight shares its fill: no write came between (a write removes the fill).
    Fill f = fills[id];
    if (f == null) {
      f = new Fill(this, id);
      fills[id] = f;
    }
    return f;
  }

  /** Installs the answers of reads whose keys were not written since (clean entries). */
  void drainFills() {
    Fill f;
    while ((f = answered.poll()) != null) {
      int id = f.id;
      if (id >= fills.length || fills[id] != f) continue; // stale: the key was written after the read (a write removes its fill)
      fills[id] = null;
      if (kinds[id] != NONE || pending.has(id)) continue;
      install(id, f.value, CLEAN); // (an answer larger than the whole cache is evicted, and its id released, at once)
    }
  }

  /** The store now holds {@code value} for the key (null: deleted). */
  void put(int keyGroup, byte[] key, byte[] value) {
    int id = written(keyGroup, key);
    if (cached(id)) update(id, value, DIRTY);
    else install(id, value, DIRTY);
  }

  /** A merge: the operand is appended to the stored value (known or not). */
  void merge(int keyGroup, byte[] key, byte[] operand) {
    int id = written(keyGroup, key);
    if (!cached(id)) {
      install(id, operand, MERGE);
      return;
    }
    byte[] v = values[id];
    if (v == null) {
      update(id, operand, DIRTY); // known absent: the operand is the value
    } else if (v.length + operand.length > maxMergedBytes) {
      // Long value: hand what is held to the daemon as it is and keep only operands from here on (growing it
      // would copy it per merge).
      WriteOp op = kinds[id] != CLEAN ? toOp(id) : null;
      uncache(id);
      if (op != null) pending.add(id, op);
      install(id, operand, MERGE);
    } else {
      update(id, concat(v, operand), kinds[id] == MERGE ? MERGE : DIRTY);
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
    while (dirtyHead != NIL) clean(dirtyHead);
  }

  /** The pending write ops, oldest first (emptied). */
  List<WriteOp> takePending() {
    return pending.take(this::release);
  }

  /**
   * Recounts the accounted bytes from the entries (tests): throws if the running totals disagree, a dirty entry
   * is missing from the dirty list, or an id is live without a reason (or the key table is inconsistent).
   */
  void checkAccounting() {
    table.check();
    long all = 0;
    long dirtyAll = 0;
    int dirtyCount = 0;
    for (int id = 0; id < table.idLimit(); id++) {
      if (!table.live(id)) continue;
      if (kinds[id] == NONE && !pending.has(id) && fills[id] == null) throw new IllegalStateException("id " + id + " is live for nothing");
      if (kinds[id] == NONE) continue;
      all += entryBytes(id);
      if (kinds[id] != CLEAN) {
        dirtyAll += entryBytes(id);
        dirtyCount++;
      }
    }
    int listed = 0;
    for (int id = dirtyHead; id != NIL; id = dirtyNext[id]) {
      if (kinds[id] == NONE || kinds[id] == CLEAN) throw new IllegalStateException("id " + id + " on the dirty list is not dirty");
      listed++;
    }
    pending.check();
    if (all != bytes || dirtyAll != dirtyBytes || listed != dirtyCount) {
      throw new IllegalStateException("accounting: bytes " + bytes + " vs " + all + ", dirty " + dirtyBytes + " vs " + dirtyAll + ", dirty list " + listed
          + " vs " + dirtyCount);
    }
  }

  // ------------------------------------------------------------------ internals

  private int entryBytes(int id) {
    byte[] v = values[id];
    return table.key(id).length + (v == null ? 0 : v.length) + ENTRY_OVERHEAD + (kinds[id] == CLEAN ? 0 : DIRTY_OVERHEAD);
  }

  /**
   * A write of the key: a read of it in flight must not install its (older) answer. PROMISES: the key's id;
   * a pending op of a key not cached was taken back as a dirty entry (it is the latest value).
   */
  private int written(int keyGroup, byte[] key) {
    int id = table.find(keyGroup, key);
    if (id == NIL) return newId(keyGroup, key);
    fills[id] = null;
    if (kinds[id] == NONE && pending.has(id)) takeBack(id);
    return id;
  }

  private boolean cached(int id) {
    return kinds[id] != NONE;
  }

  /** REQUIRES: the id is not cached and has a pending op. Takes the op back as an entry; PROMISES: its kind. */
  private byte takeBack(int id) {
    WriteOp op = pending.remove(id);
    install(id, op.value(), op.type() == WriteOp.Type.MERGE ? MERGE : DIRTY);
    return kinds[id]; // (NONE: an entry larger than the whole cache went straight back to pending)
  }

  private int newId(int keyGroup, byte[] key) {
    int id = table.add(keyGroup, key);
    if (id >= kinds.length) grow(table.idCapacity());
    return id;
  }

  /** Forgets the id once nothing is known of its key: not cached, no pending op, no read in flight. */
  private void release(int id) {
    if (kinds[id] != NONE || pending.has(id) || fills[id] != null) return;
    table.remove(id);
    if (lastMissId == id) lastMissKey = null;
  }

  /** REQUIRES: the id is not cached. */
  private void install(int id, byte[] value, byte kind) {
    values[id] = value;
    kinds[id] = kind;
    referenced[id] = true;
    int b = entryBytes(id);
    bytes += b;
    if (kind != CLEAN) {
      linkDirty(id);
      dirtyBytes += b;
    }
    bound();
  }

  private void update(int id, byte[] value, byte kind) {
    int before = entryBytes(id);
    boolean wasDirty = kinds[id] != CLEAN;
    values[id] = value;
    kinds[id] = kind;
    referenced[id] = true;
    int after = entryBytes(id);
    bytes += after - before;
    if (wasDirty) {
      dirtyBytes += after - before;
    } else {
      linkDirty(id);
      dirtyBytes += after;
    }
    bound();
  }

  /** The entry leaves the cache (the id stays: the caller gives it a pending op, a new entry, or releases it). */
  private void uncache(int id) {
    int b = entryBytes(id);
    bytes -= b;
    if (kinds[id] != CLEAN) {
      unlinkDirty(id);
      dirtyBytes -= b;
    }
    kinds[id] = NONE;
    values[id] = null;
  }

  /** Evicts beyond capacity (CLOCK; dirty entries become pending), then cleans beyond the dirty budget. */
  private void bound() {
    while (bytes > capacityBytes) evictOne();
    while (dirtyBytes > dirtyBudgetBytes && dirtyHead != NIL) clean(dirtyHead);
  }

  /**
   * CLOCK: the hand passes over the ids; a cached entry used since the hand last passed (referenced) is spared
   * once, the first one not used is evicted. REQUIRES: some entry is cached (bytes > 0).
   */
  private void evictOne() {
    int limit = table.idLimit();
    for (;;) {
      if (hand >= limit) hand = 0;
      int id = hand++;
      if (kinds[id] == NONE) continue;
      if (referenced[id]) {
        referenced[id] = false;
        continue;
      }
      WriteOp op = kinds[id] != CLEAN ? toOp(id) : null;
      uncache(id);
      if (op != null) pending.add(id, op);
      else release(id);
      return;
    }
  }

  /** A dirty entry's op goes to pending; a known value stays cached clean, a MERGE entry (value unknown) leaves. */
  private void clean(int id) {
    WriteOp op = toOp(id);
    if (kinds[id] == MERGE) {
      uncache(id);
    } else {
      int b = entryBytes(id);
      unlinkDirty(id);
      dirtyBytes -= b;
      kinds[id] = CLEAN;
      bytes -= b - entryBytes(id); // the dirty overhead is gone
    }
    pending.add(id, op);
  }

  private void linkDirty(int id) {
    dirtyPrev[id] = dirtyTail;
    dirtyNext[id] = NIL;
    if (dirtyTail == NIL) dirtyHead = id;
    else dirtyNext[dirtyTail] = id;
    dirtyTail = id;
  }

  private void unlinkDirty(int id) {
    int p = dirtyPrev[id];
    int n = dirtyNext[id];
    if (p == NIL) dirtyHead = n;
    else dirtyNext[p] = n;
    if (n == NIL) dirtyTail = p;
    else dirtyPrev[n] = p;
  }

  private WriteOp toOp(int id) {
    int kg = table.keyGroup(id);
    byte[] key = table.key(id);
    byte[] v = values[id];
    return switch (kinds[id]) {
      case MERGE -> WriteOp.merge(kg, key, v);
      case DIRTY -> v == null ? WriteOp.delete(kg, key) : WriteOp.put(kg, key, v);
      default -> throw new IllegalStateException("a clean entry has nothing to write");
    };
  }

  private void grow(int n) {
    values = Arrays.copyOf(values, n);
    kinds = Arrays.copyOf(kinds, n);
    referenced = Arrays.copyOf(referenced, n);
    dirtyPrev = Arrays.copyOf(dirtyPrev, n);
    dirtyNext = Arrays.copyOf(dirtyNext, n);
    pending.grow(n);
    fills = Arrays.copyOf(fills, n);
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
