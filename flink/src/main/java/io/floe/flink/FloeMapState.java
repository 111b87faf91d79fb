package io.floe.flink;

import io.floe.client.ScanEntry;
import io.floe.client.WriteOp;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.runtime.state.internal.InternalMapState;

/**
 * MapState: one Floe entry per user key, {@code tag | key | namespace | user key} -> {@code u8 isNull | value};
 * iteration and clear() are prefix scans of {@code tag | key | namespace} in the current key group. An
 * iterator sees the map as it was when it was created (one scan); its remove() deletes through.
 */
final class FloeMapState<K, N, UK, UV> extends FloeState<K, N, Map<UK, UV>> implements InternalMapState<K, N, UK, UV> {
  private final TypeSerializer<UK> userKeySerializer;
  private final TypeSerializer<UV> userValueSerializer;

  FloeMapState(FloeKeyedStateBackend<K> backend, String name, TypeSerializer<N> ns, TypeSerializer<Map<UK, UV>> mapSerializer,
      TypeSerializer<UK> userKey, TypeSerializer<UV> userValue) {
    super(backend, name, ns, mapSerializer);
    this.userKeySerializer = userKey;
    this.userValueSerializer = userValue;
  }

  private byte[] entryKey(UK userKey) throws IOException {
    return backend.keys.build(tag, namespace, namespaceSerializer, userKey, userKeySerializer);
  }

  private byte[] encodeValue(UV value) throws IOException {
    return FloeStateCoding.encodeMapValue(value, userValueSerializer, out);
  }

  private UV decodeValue(byte[] bytes) throws IOException {
    return FloeStateCoding.decodeMapValue(bytes, userValueSerializer, in);
  }

  @Override
  public UV get(UK key) throws Exception {
    byte[] v = backend.get(entryKey(key));
    return v == null ? null : decodeValue(v);
  }

  @Override
  public void put(UK key, UV value) throws Exception {
    backend.put(entryKey(key), encodeValue(value));
  }

  @Override
  public void putAll(Map<UK, UV> map) throws Exception {
    if (map == null) return;
    List<WriteOp> ops = new ArrayList<>(map.size());
    int kg = backend.getCurrentKeyGroupIndex();
    for (Map.Entry<UK, UV> e : map.entrySet()) ops.add(WriteOp.put(kg, entryKey(e.getKey()), encodeValue(e.getValue())));
    backend.write(ops);
  }

  @Override
  public void remove(UK key) throws Exception {
    backend.delete(entryKey(key));
  }

  @Override
  public boolean contains(UK key) throws Exception {
    return backend.get(entryKey(key)) != null;
  }

  @Override
  public boolean isEmpty() throws Exception {
    return scan().isEmpty();
  }

  @Override
  public void clear() {
    try {
      List<ScanEntry> all = scan();
      List<WriteOp> ops = new ArrayList<>(all.size());
      for (ScanEntry e : all) ops.add(WriteOp.delete(e.keyGroup(), e.key()));
      backend.write(ops);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private List<ScanEntry> scan() throws IOException {
    return backend.scanCurrent(key());
  }

  @Override
  public Iterable<Map.Entry<UK, UV>> entries() throws Exception {
    List<ScanEntry> snapshot = scan();
    return () -> new EntryIterator(snapshot);
  }

  @Override
  public Iterable<UK> keys() throws Exception {
    Iterable<Map.Entry<UK, UV>> entries = entries();
    return () -> map(entries.iterator(), true);
  }

  @Override
  public Iterable<UV> values() throws Exception {
    Iterable<Map.Entry<UK, UV>> entries = entries();
    return () -> map(entries.iterator(), false);
  }

  @Override
  public Iterator<Map.Entry<UK, UV>> iterator() throws Exception {
    return entries().iterator();
  }

  @SuppressWarnings("unchecked")
  private static <UK, UV, T> Iterator<T> map(Iterator<Map.Entry<UK, UV>> it, boolean keys) {
    return new Iterator<T>() {
      @Override
      public boolean hasNext() {
        return it.hasNext();
      }

      @Override
      public T next() {
        Map.Entry<UK, UV> e = it.next();
        return (T) (keys ? e.getKey() : e.getValue());
      }

      @Override
      public void remove() {
        it.remove();
      }
    };
  }

  /** Decodes entries lazily; remove() and setValue() write through to the store. */
  private final class EntryIterator implements Iterator<Map.Entry<UK, UV>> {
    private final List<ScanEntry> entries;
    private int next;
    private ScanEntry last;

    EntryIterator(List<ScanEntry> entries) {
      this.entries = entries;
    }

    @Override
    public boolean hasNext() {
      return next < entries.size();
    }

    @Override
    public Map.Entry<UK, UV> next() {
      if (!hasNext()) throw new NoSuchElementException();
      ScanEntry e = entries.get(next++);
      last = e;
      try {
        int at = backend.keys.userKeyOffset(e.key(), tag.length, namespaceSerializer);
        UK uk = deserialize(Arrays.copyOfRange(e.key(), at, e.key().length), userKeySerializer);
        UV uv = decodeValue(e.value());
        return new Entry(e.key(), uk, uv);
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
    }

    @Override
    public void remove() {
      if (last == null) throw new IllegalStateException("remove() before next()");
      try {
        backend.deleteAt(last.keyGroup(), last.key());
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
      last = null;
    }
  }

  private final class Entry implements Map.Entry<UK, UV> {
    private final byte[] stored;
    private final UK key;
    private UV value;

    Entry(byte[] stored, UK key, UV value) {
      this.stored = stored;
      this.key = key;
      this.value = value;
    }

    @Override
    public UK getKey() {
      return key;
    }

    @Override
    public UV getValue() {
      return value;
    }

    @Override
    public UV setValue(UV v) {
      UV old = value;
      value = v;
      try {
        backend.putAt(backend.getCurrentKeyGroupIndex(), stored, encodeValue(v));
      } catch (IOException ex) {
        throw new UncheckedIOException(ex);
      }
      return old;
    }
  }

  @Override
  public byte[] getSerializedValue(byte[] serializedKeyAndNamespace, TypeSerializer<K> safeKeySerializer, TypeSerializer<N> safeNamespaceSerializer,
      TypeSerializer<Map<UK, UV>> safeValueSerializer) {
    throw new UnsupportedOperationException("queryable MapState is not supported by the Floe state backend");
  }
}
