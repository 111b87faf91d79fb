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

  <T> byte[] serialize(T value, TypeSerializer<T> serializer) throws IOException {
    DataOutputSerializer o = out.get();
    o.clear();
    serializer.serialize(value, o);
    return o.getCopyOfBuffer();
  }

  /** Deserializes on any thread; failures become unchecked (they fail the request's future). */
  <T> T deserialize(byte[] bytes, int offset, TypeSerializer<T> serializer) {
    DataInputDeserializer i = in.get();
    i.setBuffer(bytes, offset, bytes.length - offset);
    try {
      return serializer.deserialize(i);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * The value-like requests (value, reducing and aggregating state hold one serialized value per key and
   * namespace): GETs read it, UPDATE/ADD put it (null deletes), CLEAR deletes.
   */
  <V> void executeValue(StateRequest<?, ?, ?, ?> r, FloeBatch b, TypeSerializer<V> serializer, ThreadLocal<TypeSerializer<V>> readSerializer)
      throws IOException {
    byte[] key = key(r);
    int kg = keyGroup(r);
    switch (r.getRequestType()) {
      case VALUE_GET:
      case REDUCING_GET:
      case AGGREGATING_GET:
        b.read(r, () -> b.client().get(kg, key).thenApply(v -> v == null ? null : deserialize(v, 0, readSerializer.get())));
        return;
      case VALUE_UPDATE:
      case REDUCING_ADD:
      case AGGREGATING_ADD: {
        @SuppressWarnings("unchecked")
        V value = (V) r.getPayload();
        b.write(r, value == null ? WriteOp.delete(kg, key) : WriteOp.put(kg, key, serialize(value, serializer)));
        return;
      }
      case CLEAR:
        b.write(r, WriteOp.delete(kg, key));
        return;
      default:
        throw unsupported(r);
    }
  }

  static UnsupportedOperationException unsupported(StateRequest<?, ?, ?, ?> r) {
    return new UnsupportedOperationException("the Floe state backend cannot execute " + r.getRequestType() + " on " + r.getState().getClass().getSimpleName());
  }
}
