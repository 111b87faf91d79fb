package io.floe.flink;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The key layout of Flink state in a Floe store. The key group travels in Floe's own key-group field (Floe
 * clips, restores and rescales by it); the key bytes are
 * <pre>
 *   state tag (u16 length + UTF-8 state name) | serialized key [| u32 key length] | serialized namespace
 *   [| u32 namespace length] | serialized user key (MapState only)
 * </pre>
 * The lengths follow a variable-length key or namespace (serializer length &lt; 0), as RocksDB's composite keys
 * do, so that (key, namespace) is always an unambiguous prefix for MapState scans. The current key is
 * serialized once per {@link #setKey}; not thread-safe (the task thread owns it).
 */
final class FloeKeys<K> {
  private final TypeSerializer<K> keySerializer;
  private final boolean ambiguousKey;
  private final DataOutputSerializer out = new DataOutputSerializer(64);
  private final DataInputDeserializer in = new DataInputDeserializer();
  private byte[] currentKey = new byte[0];

  FloeKeys(TypeSerializer<K> keySerializer) {
    this.keySerializer = keySerializer;
    this.ambiguousKey = keySerializer.getLength() < 0;
  }

  /**
   * The least key greater than every key starting with {@code prefix} (the prefix with its last byte below
   * 0xFF incremented and what follows dropped), or null when there is none (all bytes 0xFF): {@code [prefix,
   * prefixEnd)} is exactly the keys with that prefix.
   */
  static byte[] prefixEnd(byte[] prefix) {
    for (int i = prefix.length - 1; i >= 0; i--) {
      if (prefix[i] != (byte) 0xff) {
        byte[] end = java.util.Arrays.copyOf(prefix, i + 1);
        end[i]++;
        return end;
      }
    }
    return null;
  }

  /** The tag of a state: its name, length-prefixed. */
  static byte[] tag(String stateName) {
    byte[] name = stateName.getBytes(StandardCharsets.UTF_8);
    if (name.length > 0xffff) throw new IllegalArgumentException("state name longer than 65535 bytes: " + stateName.substring(0, 64) + "...");
    byte[] t = new byte[name.length + 2];
    t[0] = (byte) (name.length >>> 8);
    t[1] = (byte) name.length;
    System.arraycopy(name, 0, t, 2, name.length);
    return t;
  }

  void setKey(K key) {
    try {
      out.clear();
      keySerializer.serialize(key, out);
      if (ambiguousKey) out.writeInt(out.length());
      currentKey = out.getCopyOfBuffer();
    } catch (IOException e) {
      throw new UncheckedIOException("serializing the current key failed", e);
    }
  }

  /** tag | current key | namespace. */
  <N> byte[] build(byte[] tag, N namespace, TypeSerializer<N> nsSerializer) throws IOException {
    begin(tag);
    writeNamespace(namespace, nsSerializer);
    return out.getCopyOfBuffer();
  }

  /** tag | current key | namespace | user key. */
  <N, UK> byte[] build(byte[] tag, N namespace, TypeSerializer<N> nsSerializer, UK userKey, TypeSerializer<UK> ukSerializer) throws IOException {
    begin(tag);
    writeNamespace(namespace, nsSerializer);
    ukSerializer.serialize(userKey, out);
    return out.getCopyOfBuffer();
  }

  /** tag | key | namespace for an explicit key (queryable state). */
  <N> byte[] buildFor(byte[] tag, K key, TypeSerializer<K> keySer, N namespace, TypeSerializer<N> nsSerializer) throws IOException {
    out.clear();
    out.write(tag);
    keySer.serialize(key, out);
    if (ambiguousKey) out.writeInt(out.length() - tag.length);
    writeNamespace(namespace, nsSerializer);
    return out.getCopyOfBuffer();
  }

  private void begin(byte[] tag) throws IOException {
    out.clear();
    out.write(tag);
    out.write(currentKey);
  }

  private <N> void writeNamespace(N namespace, TypeSerializer<N> nsSerializer) throws IOException {
    int start = out.length();
    nsSerializer.serialize(namespace, out);
    if (nsSerializer.getLength() < 0) out.writeInt(out.length() - start);
  }

  /** The key and namespace of a stored key of the state tagged {@code tag}. */
  <N> Tuple2<K, N> decode(byte[] stored, int tagLength, TypeSerializer<N> nsSerializer) throws IOException {
    in.setBuffer(stored, tagLength, stored.length - tagLength);
    K key = keySerializer.deserialize(in);
    if (ambiguousKey) in.skipBytesToRead(4);
    N ns = nsSerializer.deserialize(in);
    return Tuple2.of(key, ns);
  }

  /** Where the user key starts in a stored MapState key. */
  <N> int userKeyOffset(byte[] stored, int tagLength, TypeSerializer<N> nsSerializer) throws IOException {
    decode(stored, tagLength, nsSerializer);
    if (nsSerializer.getLength() < 0) in.skipBytesToRead(4);
    return in.getPosition();
  }
}
