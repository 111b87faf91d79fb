package io.floe.flink;

import io.floe.client.ScanEntry;
import io.floe.client.ScanOptions;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.util.AbstractMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.runtime.asyncprocessing.StateRequest;
import org.apache.flink.runtime.asyncprocessing.StateRequestHandler;
import org.apache.flink.runtime.state.v2.AbstractMapState;
import org.apache.flink.runtime.asyncprocessing.AbstractStateIterator;
import org.apache.flink.runtime.asyncprocessing.StateRequestType;
import org.apache.flink.api.common.state.v2.State;

/**
 * State V2 MapState on Floe, stored as the synchronous FloeMapState stores it: one entry per user key,
 * {@code tag | key | namespace | user key} -> {@code u8 isNull | value}. Point requests are GET/PUT/DELETE;
 * iteration and isEmpty are prefix scans in the key's key group; an iterator reads the map in pages of
 * {@code state.backend.floe.iterator-page-entries} entries (one limited scan each, the next page from the key
 * after the last one, read when the iterator reaches it, as ForSt's iterators load); clear is one DELETE_RANGE
 * of the map's key range (protocol version 2), or, on a version-1 daemon, a scan, then one WRITE deleting what it
 * found.
 */
final class FloeAsyncMapState<K, N, UK, UV> extends AbstractMapState<K, N, UK, UV> implements FloeAsyncState {
  /** Where to read an iterator's next page: its kind, key group, map prefix and first key (inclusive). */
  record Page(StateRequestType type, int keyGroup, byte[] prefix, byte[] from) {}

  private final StateRequestHandler handler;
  private final int pageEntries;
  private final FloeAsyncCodec<K, N> codec;
  private final TypeSerializer<UK> userKeySerializer;
  private final TypeSerializer<UV> valueSerializer;
  private final ThreadLocal<TypeSerializer<UK>> readUserKey;
  private final ThreadLocal<TypeSerializer<UV>> readValue;

  FloeAsyncMapState(StateRequestHandler handler, FloeAsyncCodec<K, N> codec, TypeSerializer<UK> userKeySerializer, TypeSerializer<UV> valueSerializer,
      int pageEntries) {
    super(handler, valueSerializer);
    this.handler = handler;
    this.pageEntries = pageEntries;
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
        b.directGet(r, kg, key, v -> v == null ? null : decodeValue(v));
        return;
      }
      case MAP_CONTAINS: {
        byte[] key = codec.key(r, (UK) r.getPayload(), userKeySerializer);
        b.directGet(r, kg, key, v -> v != null);
        return;
      }
      case MAP_PUT: {
        Tuple2<UK, UV> e = (Tuple2<UK, UV>) r.getPayload();
        b.directWrite(r, WriteOp.put(kg, codec.key(r, e.f0, userKeySerializer), encodeValue(e.f1)));
        return;
      }
      case MAP_PUT_ALL: {
        Map<UK, UV> map = (Map<UK, UV>) r.getPayload();
        List<WriteOp> ops = new ArrayList<>();
        if (map != null) for (Map.Entry<UK, UV> e : map.entrySet()) ops.add(WriteOp.put(kg, codec.key(r, e.getKey(), userKeySerializer), encodeValue(e.getValue())));
        b.directWrite(r, ops);
        return;
      }
      case MAP_REMOVE:
        b.directWrite(r, WriteOp.delete(kg, codec.key(r, (UK) r.getPayload(), userKeySerializer)));
        return;
      case MAP_ITER:
      case MAP_ITER_KEY:
      case MAP_ITER_VALUE: {
        byte[] prefix = codec.key(r);
        readPage(r, b, new Page(r.getRequestType(), kg, prefix, prefix));
        return;
      }
      case ITERATOR_LOADING:
        readPage(r, b, (Page) r.getPayload());
        return;
      case MAP_IS_EMPTY: {
        byte[] prefix = codec.key(r);
        b.read(r, () -> b.client().scanAll(ScanOptions.all().keyGroup(kg).prefix(prefix).limit(1)).thenApply(List::isEmpty));
        return;
      }
      case CLEAR: {
        byte[] prefix = codec.key(r);
        byte[] end = FloeKeys.prefixEnd(prefix);
        if (b.client().supportsDeleteRange() && end != null) {
          b.deleteRange(r, kg, prefix, end); // one frame, in order: the map's entries are [prefix, end)
          return;
        }
        // A daemon of protocol version 1: a scan, then deletes of what it found, as a barrier.
        b.barrier(r, () -> b.client().scanAll(ScanOptions.all().keyGroup(kg).prefix(prefix)).thenCompose(entries -> {
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

  /** One page of an iterator: at most pageEntries entries of the map from {@code p.from()} on, one prefix scan. */
  private void readPage(StateRequest<?, ?, ?, ?> r, FloeBatch b, Page p) {
    ScanOptions page = ScanOptions.all().keyGroup(p.keyGroup()).prefix(p.prefix()).gte(p.from()).limit(pageEntries);
    b.read(r, () -> b.client().scanAll(page).thenApply(entries -> iterator(p, entries)));
  }

  /** The iterator over one page; it loads the next page (ITERATOR_LOADING) if this one was full. */
  private FloeMapIterator<Object> iterator(Page p, List<ScanEntry> entries) {
    List<Object> items = new ArrayList<>(entries.size());
    for (ScanEntry e : entries) {
      switch (p.type()) {
        case MAP_ITER_KEY -> items.add(decodeUserKey(e.key()));
        case MAP_ITER_VALUE -> items.add(decodeValue(e.value()));
        default -> items.add(new AbstractMap.SimpleEntry<>(decodeUserKey(e.key()), decodeValue(e.value())));
      }
    }
    Page next = null;
    if (entries.size() >= pageEntries) {
      byte[] last = entries.get(entries.size() - 1).key();
      next = new Page(p.type(), p.keyGroup(), p.prefix(), Arrays.copyOf(last, last.length + 1)); // the least key after it
    }
    return new FloeMapIterator<>(this, p.type(), handler, items, next);
  }

  /** A page of a map iterator; Flink's AbstractStateIterator asks for the next one through ITERATOR_LOADING. */
  static final class FloeMapIterator<T> extends AbstractStateIterator<T> {
    private final Page next;

    FloeMapIterator(State state, StateRequestType type, StateRequestHandler handler, Collection<T> page, Page next) {
      super(state, type, handler, page);
      this.next = next;
    }

    @Override
    public boolean hasNextLoading() {
      return next != null;
    }

    @Override
    protected Object nextPayloadForContinuousLoading() {
      return next;
    }
  }
}
