package io.floe.flink;

import java.io.IOException;
import java.util.Collection;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.internal.InternalMergingState;

/**
 * ReducingState and AggregatingState: one Floe entry per (key, namespace) holding the accumulator. add() is a
 * read (awaited) then a pipelined put; merging namespaces folds the sources into the target and deletes them.
 */
abstract class FloeFoldingState<K, N, IN, ACC, OUT> extends FloeState<K, N, ACC> implements InternalMergingState<K, N, IN, ACC, OUT> {
  FloeFoldingState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> ns, TypeSerializer<ACC> acc) {
    super(backend, name, ns, acc);
  }

  /** The accumulator after adding {@code value} to {@code acc} (null: none yet). */
  abstract ACC add(ACC acc, IN value) throws Exception;

  abstract ACC merge(ACC a, ACC b) throws Exception;

  abstract OUT result(ACC acc) throws Exception;

  @Override
  public OUT get() throws Exception {
    ACC acc = getInternal();
    return acc == null ? null : result(acc);
  }

  @Override
  public void add(IN value) throws Exception {
    byte[] key = key();
    byte[] old = backend.get(key);
    ACC acc = add(old == null ? null : deserialize(old, valueSerializer), value);
    backend.put(key, serialize(acc, valueSerializer));
  }

  @Override
  public ACC getInternal() throws IOException {
    byte[] v = backend.get(key());
    return v == null ? null : deserialize(v, valueSerializer);
  }

  @Override
  public void updateInternal(ACC acc) throws IOException {
    if (acc == null) clear();
    else backend.put(key(), serialize(acc, valueSerializer));
  }

  @Override
  public void mergeNamespaces(N target, Collection<N> sources) throws Exception {
    if (sources == null || sources.isEmpty()) return;
    ACC current = null;
    for (N source : sources) {
      if (source == null) continue;
      byte[] k = keyOf(source);
      byte[] v = backend.get(k);
      if (v == null) continue;
      backend.delete(k);
      ACC acc = deserialize(v, valueSerializer);
      current = current == null ? acc : merge(current, acc);
    }
    if (current == null) return;
    byte[] targetKey = keyOf(target);
    byte[] old = backend.get(targetKey);
    if (old != null) current = merge(current, deserialize(old, valueSerializer));
    backend.put(targetKey, serialize(current, valueSerializer));
  }
}
