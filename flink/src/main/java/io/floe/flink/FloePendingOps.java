package io.floe.flink;

import io.floe.client.WriteOp;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntConsumer;

/**
 * {@link FloeStateCache}'s pending write ops: at most one per key (by the cache's key ids), coalesced with the
 * key's earlier op ({@link FloeStateCache#coalesce}), kept in the order they were made (a coalesced op moves
 * to the end), until {@link #take} hands them to the write-behind. A flat array with holes (an op coalesced or
 * taken back leaves a null slot) and each id's position, so adding, finding and removing are O(1) and taking
 * copies nothing but the ops; when the array is full and half holes it is squeezed instead of grown. Task
 * thread only.
 */
final class FloePendingOps {
  private static final int NIL = -1;

  private WriteOp[] ops = new WriteOp[64];
  private int[] ids = new int[64];
  /** Per id: its op's position in {@link #ops}, or NIL (as long as the cache's per-id arrays). */
  private int[] pos;
  private int end;
  private int live;
  private long bytes;

  FloePendingOps(int idCapacity) {
    pos = new int[idCapacity];
    Arrays.fill(pos, NIL);
  }

  /** The cache's ids now go up to {@code n}: the new ones have no op. */
  void grow(int n) {
    int old = pos.length;
    pos = Arrays.copyOf(pos, n);
    Arrays.fill(pos, old, n, NIL);
  }

  boolean has(int id) {
    return pos[id] != NIL;
  }

  /** Ops pending. */
  int size() {
    return live;
  }

  /** Their bytes ({@link FloeStateCache#opBytes}). */
  long bytes() {
    return bytes;
  }

  /** Adds the id's op, coalesced with its earlier pending op (which it follows). */
  void add(int id, WriteOp op) {
    if (pos[id] != NIL) op = FloeStateCache.coalesce(remove(id), op); // re-added at the end: the order ops were made in
    if (end == ops.length) makeRoom();
    ops[end] = op;
    ids[end] = id;
    pos[id] = end++;
    live++;
    bytes += FloeStateCache.opBytes(op);
  }

  /** REQUIRES: the id has an op. PROMISES: it is removed (its slot left null) and returned. */
  WriteOp remove(int id) {
    int p = pos[id];
    WriteOp op = ops[p];
    ops[p] = null;
    pos[id] = NIL;
    live--;
    bytes -= FloeStateCache.opBytes(op);
    return op;
  }

  /** Every op, oldest first; emptied. {@code released} gets each op's id once it has no op any more. */
  List<WriteOp> take(IntConsumer released) {
    List<WriteOp> out = new ArrayList<>(live);
    for (int i = 0; i < end; i++) {
      WriteOp op = ops[i];
      if (op == null) continue;
      ops[i] = null;
      out.add(op);
      pos[ids[i]] = NIL;
      released.accept(ids[i]);
    }
    end = 0;
    live = 0;
    bytes = 0;
    return out;
  }

  /** Recounts (tests): throws if an op is not at its id's position or the totals disagree. */
  void check() {
    long b = 0;
    int n = 0;
    for (int i = 0; i < end; i++) {
      if (ops[i] == null) continue;
      b += FloeStateCache.opBytes(ops[i]);
      n++;
      if (pos[ids[i]] != i) throw new IllegalStateException("pending op " + i + " is not its id's");
    }
    if (b != bytes || n != live) throw new IllegalStateException("pending ops: bytes " + bytes + " vs " + b + ", ops " + live + " vs " + n);
  }

  /** Full: squeezes out the null slots when they are at least half, else doubles. */
  private void makeRoom() {
    if (live * 2 > end) {
      ops = Arrays.copyOf(ops, ops.length * 2);
      ids = Arrays.copyOf(ids, ids.length * 2);
      return;
    }
    int to = 0;
    for (int i = 0; i < end; i++) {
      if (ops[i] == null) continue;
      ops[to] = ops[i];
      ids[to] = ids[i];
      pos[ids[to]] = to;
      to++;
    }
    Arrays.fill(ops, to, end, null);
    end = to;
  }
}
