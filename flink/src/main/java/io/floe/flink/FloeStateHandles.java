package io.floe.flink;

import io.floe.client.CheckpointHandle;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import org.apache.flink.runtime.state.KeyGroupRange;
import org.apache.flink.runtime.state.KeyGroupRangeOffsets;
import org.apache.flink.runtime.state.KeyGroupsStateHandle;
import org.apache.flink.runtime.state.KeyedStateHandle;
import org.apache.flink.runtime.state.StreamStateHandle;
import org.apache.flink.runtime.state.memory.ByteStreamStateHandle;
import org.apache.flink.runtime.state.BackendBuildingException;

/**
 * A Floe checkpoint as Flink keyed state: a {@link KeyGroupsStateHandle} (a type Flink's checkpoint metadata
 * serializer knows, and that it intersects with new key-group ranges on rescale) over the subtask's key
 * groups, whose stream is a {@link ByteStreamStateHandle} held inline in the metadata:
 * <pre>  "FLOE-CHECKPOINT/2\n" + the id of the Flink job that took it + "\n" + u32 length + state meta + the daemon's
 *   checkpoint handle JSON (UTF-8)</pre>
 * where the state meta is {@link FloeStateMeta}'s (Flink's KeyedBackendSerializationProxy bytes: the key
 * serializer and each state's serializers, checked on restore). Format 1 (written before) has no length and
 * meta; it is still read, without serializer checks.
 * The job id tells a restore whether the checkpoint is its own job's (failover: the restored backend takes
 * over releasing it) or another job's (a user's retained checkpoint or savepoint: never released by Floe).
 * No file is written or copied: the handle references the store's immutable files in Floe's primary.
 */
final class FloeStateHandles {
  private FloeStateHandles() {}

  static final byte[] MAGIC_V1 = "FLOE-CHECKPOINT/1\n".getBytes(StandardCharsets.US_ASCII);
  static final byte[] MAGIC = "FLOE-CHECKPOINT/2\n".getBytes(StandardCharsets.US_ASCII);

  /** A Floe checkpoint, the job that took it, and its state meta (null in format 1); equal by job and handle. */
  record Taken(String jobId, CheckpointHandle handle, byte[] meta) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Taken t && t.jobId.equals(jobId) && t.handle.equals(handle);
    }

    @Override
    public int hashCode() {
      return jobId.hashCode() * 31 + handle.hashCode();
    }
  }

  static KeyGroupsStateHandle wrap(CheckpointHandle handle, KeyGroupRange range, long checkpointId, String jobId, byte[] meta) {
    byte[] job = (jobId + "\n").getBytes(StandardCharsets.UTF_8);
    byte[] json = handle.json().getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(MAGIC.length + job.length + 4 + meta.length + json.length);
    b.put(MAGIC).put(job).putInt(meta.length).put(meta).put(json);
    byte[] data = b.array();
    String name = "floe-checkpoint-" + checkpointId + "-kg-" + range.getStartKeyGroup() + "-" + range.getEndKeyGroup();
    return new KeyGroupsStateHandle(new KeyGroupRangeOffsets(range), new ByteStreamStateHandle(name, data));
  }

  /** The Floe checkpoint inside {@code h}, or null when {@code h} is not one. */
  static Taken unwrap(KeyedStateHandle h) {
    if (!(h instanceof KeyGroupsStateHandle k)) return null;
    StreamStateHandle s = k.getDelegateStateHandle();
    if (!(s instanceof ByteStreamStateHandle b)) return null;
    byte[] data = b.getData();
    boolean v2 = startsWith(data, MAGIC);
    if (!v2 && !startsWith(data, MAGIC_V1)) return null;
    int nl = MAGIC.length;
    while (nl < data.length && data[nl] != '\n') nl++;
    if (nl >= data.length) return null;
    String jobId = new String(data, MAGIC.length, nl - MAGIC.length, StandardCharsets.UTF_8);
    int at = nl + 1;
    byte[] meta = null;
    if (v2) {
      if (at + 4 > data.length) return null;
      int len = ByteBuffer.wrap(data, at, 4).getInt();
      if (len < 0 || at + 4 + len > data.length) return null;
      meta = Arrays.copyOfRange(data, at + 4, at + 4 + len);
      at += 4 + len;
    }
    return new Taken(jobId, new CheckpointHandle(new String(data, at, data.length - at, StandardCharsets.UTF_8)), meta);
  }

  private static boolean startsWith(byte[] data, byte[] magic) {
    return data.length >= magic.length && Arrays.equals(data, 0, magic.length, magic, 0, magic.length);
  }

  /**
   * The distinct Floe checkpoints to restore a subtask from (after a rescale, several old subtasks' handles
   * overlap its key groups; the daemon clips each to the new range). Throws when a handle was not written by
   * this backend (a checkpoint of another state backend cannot be read by reference).
   */
  static List<Taken> restoreHandles(Collection<KeyedStateHandle> handles) throws BackendBuildingException {
    LinkedHashSet<Taken> taken = new LinkedHashSet<>();
    for (KeyedStateHandle h : handles) {
      if (h == null) continue;
      Taken c = unwrap(h);
      if (c == null) {
        throw new BackendBuildingException("cannot restore keyed state handle " + h.getClass().getSimpleName() + " (" + h.getKeyGroupRange()
            + ") with the Floe state backend: it was not taken by Floe; restore from a checkpoint or native savepoint taken with "
            + "state.backend.type: io.floe.flink.FloeStateBackendFactory");
      }
      taken.add(c);
    }
    return new ArrayList<>(taken);
  }
}
