package io.floe.flink;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;

/**
 * The value formats of Flink state in a Floe store, one per state kind, shared by the synchronous states
 * (FloeListState, FloeMapState) and the State V2 ones (FloeAsyncListState, FloeAsyncMapState) so both read
 * what the other wrote (the key layout is FloeKeys'):
 * <ul>
 *   <li>ListState: a run of elements, each {@code u32 length | serialized element}; runs concatenate, so
 *       Floe's merge (byte append) is list append;</li>
 *   <li>MapState entry value: {@code u8 isNull | serialized value} (Flink's MapState allows null values);</li>
 *   <li>value, reducing, aggregating state: the serializer's bytes as they are.</li>
 * </ul>
 * Stateless: callers pass the serializer and buffers (thread-confined or thread-local on their side).
 */
final class FloeStateCoding {
  private FloeStateCoding() {}

  /** REQUIRES: no element is null (Flink forbids null list elements). PROMISES: one run of the elements. */
  static <T> byte[] encodeList(Collection<T> values, TypeSerializer<T> serializer, DataOutputSerializer out) throws IOException {
    out.clear();
    for (T v : values) {
      Objects.requireNonNull(v, "You cannot add null to a ListState.");
      int at = out.length();
      out.writeInt(0); // patched below: element lengths let a reader check each element's size
      serializer.serialize(v, out);
      int len = out.length() - at - 4;
      byte[] b = out.getSharedBuffer();
      b[at] = (byte) (len >>> 24);
      b[at + 1] = (byte) (len >>> 16);
      b[at + 2] = (byte) (len >>> 8);
      b[at + 3] = (byte) len;
    }
    return out.getCopyOfBuffer();
  }

  /** The elements of a stored run (empty for null); IOException when an element's size disagrees with its length. */
  static <T> List<T> decodeList(byte[] bytes, TypeSerializer<T> serializer) throws IOException {
    List<T> list = new ArrayList<>();
    if (bytes == null) return list;
    DataInputDeserializer d = new DataInputDeserializer(bytes);
    while (d.available() > 0) {
      int len = d.readInt();
      int end = d.getPosition() + len;
      list.add(serializer.deserialize(d));
      if (d.getPosition() != end) throw new IOException("a ListState element decoded to " + (d.getPosition() - end + len) + " bytes, stored as " + len);
    }
    return list;
  }

  /** A MapState entry's stored value. */
  static <V> byte[] encodeMapValue(V value, TypeSerializer<V> serializer, DataOutputSerializer out) throws IOException {
    out.clear();
    out.writeBoolean(value == null);
    if (value != null) serializer.serialize(value, out);
    return out.getCopyOfBuffer();
  }

  /** The value of a stored MapState entry (null when stored as null). */
  static <V> V decodeMapValue(byte[] bytes, TypeSerializer<V> serializer, DataInputDeserializer in) throws IOException {
    in.setBuffer(bytes);
    return in.readBoolean() ? null : serializer.deserialize(in);
  }

  /** A plain serialized value (value, reducing, aggregating state; map user keys). */
  static <T> byte[] serialize(T value, TypeSerializer<T> serializer, DataOutputSerializer out) throws IOException {
    out.clear();
    serializer.serialize(value, out);
    return out.getCopyOfBuffer();
  }

  static <T> T deserialize(byte[] bytes, int offset, TypeSerializer<T> serializer, DataInputDeserializer in) throws IOException {
    in.setBuffer(bytes, offset, bytes.length - offset);
    return serializer.deserialize(in);
  }
}
