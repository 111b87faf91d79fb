package io.floe.flink;

import io.floe.client.ScanEntry;
import io.floe.client.ScanOptions;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestHandler;
import org.apache.flink.runtime.state.v2.AbstractMapState;
import org.apache.flink.runtime.state.v2.adaptor.CompleteStateIterator;

/**
 * State V2 MapState on Floe, stored as the synchronous FloeMapState stores it: one entry per user key,
 * {@code tag | key | namespace | user key} -> {@code u8 isNull | value}. Point requests are GET/PUT/DELETE;
 * iteration and isEmpty are prefix scans in the key's key group (an iterator holds the whole map, read in one
 * scan); clear is a scan, then one WRITE deleting what it found.
 */
final class FloeAsyncMapState<K, N, UK, UV> extends AbstractMapState<K, N, UK, UV> implements FloeAsyncState {
  private final FloeAsyncCodec<K, N> codec;
  private final TypeSerializer<UK> userKeySerializer;
  private final TypeSerializer<UV> valueSerializer;
  private final ThreadLocal<TypeSerializer<UK>> readUserKey;
  private final ThreadLocal<TypeSerializer<UV>> readValue;

  FloeAsyncMapState(StateRequestHandler handler, FloeAsyncCodec<K, N> codec, TypeSerializer<UK> userKeySerializer, TypeSerializer<UV> valueSerializer) {
    super(handler, valueSerializer);
    this.codec = codec;
    this.userKeySerializer = userKeySerializer.duplicate();
    this.valueSerializer = valueSerializer.duplicate();
    this.readUserKey = ThreadLocal.withInitial(userKeySerializer::duplicate);
    this.readValue = ThreadLocal.withInitial(valueSerializer::duplicate);
  }

  private byte[] encodeValue(UV value) throws IOException {
    return FloeStateCoding.encodeMapValue(value, valueSerializer, codec.out());
  }

  private UV decodeValue(byte[] bytes) {
    return codec.deserializeMapValue(bytes, readValue.get());
  }

  private UK decodeUserKey(byte[] stored) {
    return codec.deserialize(stored, codec.userKeyOffset(stored), readUserKey.get());
  }

  @Override
  @SuppressWarnings("unchecked")
  public void execute(StateRequest<?, ?, ?, ?> r, FloeBatch b) throws IOException {
    int kg = FloeAsyncCodec.keyGroup(r);
    switch (r.getRequestType()) {
      case MAP_GET: {
        byte[] key = codec.key(r, (UK) r.getPayload(), userKeySerializer);
        b.get(r, kg, key, v -> v == null ? null : decodeValue(v));
        return;
      }
      case MAP_CONTAINS: {
        byte[] key = codec.key(r, (UK) r.getPayload(), userKeySerializer);
        b.get(r, kg, key, v -> v != null);
        return;
      }
      case MAP_PUT: {
        Tuple2<UK, UV> e = (Tuple2<UK, UV>) r.getPayload();
        b.write(r, WriteOp.put(kg, codec.key(r, e.f0, userKeySerializer), encodeValue(e.f1)));
        return;
      }
      case MAP_PUT_ALL: {
        Map<UK, UV> map = (Map<UK, UV>) r.getPayload();
        List<WriteOp> ops = new ArrayList<>();
        if (map != null) for (Map.Entry<UK, UV> e : map.entrySet()) ops.add(WriteOp.put(kg, codec.key(r, e.getKey(), userKeySerializer), encodeValue(e.getValue())));
        b.write(r, ops);
        return;
      }
      case MAP_REMOVE:
        b.write(r, WriteOp.delete(kg, codec.key(r, (UK) r.getPayload(), userKeySerializer)));
        return;
      case MAP_ITER:
      case MAP_ITER_KEY:
      case MAP_ITER_VALUE: {
        byte[] prefix = codec.key(r);
        StateRequest<?, ?, ?, ?> request = r;
        b.read(r, () -> b.client().scanAll(ScanOptions.all().keyGroup(kg).prefix(prefix)).thenApply(entries -> iterator(request, entries)));
        return;
      }
      case MAP_IS_EMPTY: {
        byte[] prefix = codec.key(r);
        b.read(r, () -> b.client().scanAll(ScanOptions.all().keyGroup(kg).prefix(prefix).limit(1)).thenApply(List::isEmpty));
        return;
      }
      case CLEAR: {
        byte[] prefix = codec.key(r);
        b.read(r, () -> b.client().scanAll(ScanOptions.all().keyGroup(kg).prefix(prefix)).thenCompose(entries -> {
          List<WriteOp> deletes = new ArrayList<>(entries.size());
          for (ScanEntry e : entries) deletes.add(WriteOp.delete(e.keyGroup(), e.key()));
          return deletes.isEmpty() ? java.util.concurrent.CompletableFuture.completedFuture(null) : b.client().write(deletes);
        }).thenApply(ignored -> null));
        return;
      }
      default:
        throw FloeAsyncCodec.unsupported(r);
    }
  }

  private Object iterator(StateRequest<?, ?, ?, ?> r, List<ScanEntry> entries) {
    switch (r.getRequestType()) {
      case MAP_ITER_KEY: {
        List<UK> keys = new ArrayList<>(entries.size());
        for (ScanEntry e : entries) keys.add(decodeUserKey(e.key()));
        return new CompleteStateIterator<>(keys);
      }
      case MAP_ITER_VALUE: {
        List<UV> values = new ArrayList<>(entries.size());
        for (ScanEntry e : entries) values.add(decodeValue(e.value()));
        return new CompleteStateIterator<>(values);
      }
      default: {
        List<Map.Entry<UK, UV>> all = new ArrayList<>(entries.size());
        for (ScanEntry e : entries) all.add(new AbstractMap.SimpleEntry<>(decodeUserKey(e.key()), decodeValue(e.value())));
        return new CompleteStateIterator<>(all);
      }
    }
  }
}
