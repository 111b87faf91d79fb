package io.floe.flink;

import io.floe.client.WriteOp;
import java.io.IOException;
import java.io.UncheckedIOException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.runtime.asyncprocessing.StateRequest;

/**
 * The Floe keys and values of one State V2 state, the same layout as the synchronous backend's (FloeKeys):
 * requests are encoded on the task thread and answers decoded on the client's reader thread, so every
 * serializer and buffer here is thread-local (as ForSt's states do).
 */
final class FloeAsyncCodec<K, N> {
  final byte[] tag;
  private final ThreadLocal<FloeKeys<K>> keys;
  private final ThreadLocal<TypeSerializer<N>> namespace;
  private final ThreadLocal<DataOutputSerializer> out = ThreadLocal.withInitial(() -> new DataOutputSerializer(64));
  private final ThreadLocal<DataInputDeserializer> in = ThreadLocal.withInitial(DataInputDeserializer::new);

  FloeAsyncCodec(String stateName, TypeSerializer<K> keySerializer, TypeSerializer<N> namespaceSerializer) {
    this.tag = FloeKeys.tag(stateName);
    this.keys = ThreadLocal.withInitial(() -> new FloeKeys<>(keySerializer.duplicate()));
    this.namespace = ThreadLocal.withInitial(namespaceSerializer::duplicate);
  }

  static int keyGroup(StateRequest<?, ?, ?, ?> r) {
    return r.getRecordContext().getKeyGroup();
  }

  @SuppressWarnings("unchecked")
  private FloeKeys<K> keysOf(StateRequest<?, ?, ?, ?> r) {
    FloeKeys<K> k = keys.get();
    k.setKey((K) r.getRecordContext().getKey());
    return k;
  }

  /** tag | key | namespace of the request. */
  @SuppressWarnings("unchecked")
  byte[] key(StateRequest<?, ?, ?, ?> r) throws IOException {
    return keysOf(r).build(tag, (N) r.getNamespace(), namespace.get());
  }

  /** tag | key | namespace | user key. */
  @SuppressWarnings("unchecked")
  <UK> byte[] key(StateRequest<?, ?, ?, ?> r, UK userKey, TypeSerializer<UK> userKeySerializer) throws IOException {
    return keysOf(r).build(tag, (N) r.getNamespace(), namespace.get(), userKey, userKeySerializer);
  }

  /** Where the user key starts in a stored MapState key (reader thread). */
  int userKeyOffset(byte[] stored) {
    try {
      return keys.get().userKeyOffset(stored, tag.length, namespace.get());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The task thread's output buffer (the shared codings take it as an argument). */
  DataOutputSerializer out() {
    return out.get();
  }

  <T> byte[] serialize(T value, TypeSerializer<T> serializer) throws IOException {
    return FloeStateCoding.serialize(value, serializer, out.get());
  }

  /** Deserializes on any thread; failures become unchecked (they fail the request's future). */
  <T> T deserialize(byte[] bytes, int offset, TypeSerializer<T> serializer) {
    try {
      return FloeStateCoding.deserialize(bytes, offset, serializer, in.get());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** A stored MapState value, on any thread. */
  <V> V deserializeMapValue(byte[] bytes, TypeSerializer<V> serializer) {
    try {
      return FloeStateCoding.decodeMapValue(bytes, serializer, in.get());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The value-like requests (value, reducing and aggregating state hold one serialized value per key and
   * namespace): GETs read it, UPDATE/ADD put it (null deletes), CLEAR deletes.
   */
  <V> void executeValue(StateRequest<?, ?, ?, ?> r, FloeBatch b, Values<V> values) throws IOException {
    byte[] key = key(r);
    int kg = keyGroup(r);
    switch (r.getRequestType()) {
      case VALUE_GET:
      case REDUCING_GET:
      case AGGREGATING_GET:
        b.get(r, kg, key, v -> v == null ? null : deserialize(v, 0, values.read.get()));
        return;
      case VALUE_UPDATE:
      case REDUCING_ADD:
      case AGGREGATING_ADD: {
        @SuppressWarnings("unchecked")
        V value = (V) r.getPayload();
        b.write(r, value == null ? WriteOp.delete(kg, key) : WriteOp.put(kg, key, serialize(value, values.serializer)));
        return;
      }
      case CLEAR:
        b.write(r, WriteOp.delete(kg, key));
        return;
      default:
        throw unsupported(r);
    }
  }

  /** The serializer of a value-like state: one for the task thread, one per reader thread. */
  static final class Values<V> {
    final TypeSerializer<V> serializer;
    final ThreadLocal<TypeSerializer<V>> read;

    Values(TypeSerializer<V> serializer) {
      this.serializer = serializer.duplicate();
      this.read = ThreadLocal.withInitial(serializer::duplicate);
    }
  }

  static UnsupportedOperationException unsupported(StateRequest<?, ?, ?, ?> r) {
    return new UnsupportedOperationException("the Floe state backend cannot execute " + r.getRequestType() + " on " + r.getState().getClass().getSimpleName());
  }
}
