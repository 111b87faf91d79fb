package io.floe.flink;

import io.floe.client.CheckpointHandle;
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
 * <pre>  "FLOE-CHECKPOINT/1\n" + the id of the Flink job that took it + "\n" + the daemon's checkpoint handle JSON (UTF-8)</pre>
 * The job id tells a restore whether the checkpoint is its own job's (failover: the restored backend takes
 * over releasing it) or another job's (a user's retained checkpoint or savepoint: never released by Floe).
 * No file is written or copied: the handle references the store's immutable files in Floe's primary.
 */
final class FloeStateHandles {
  private FloeStateHandles() {}

  static final byte[] MAGIC = "FLOE-CHECKPOINT/1\n".getBytes(StandardCharsets.US_ASCII);

  /** A Floe checkpoint and the job that took it. */
  record Taken(String jobId, CheckpointHandle handle) {}

  static KeyGroupsStateHandle wrap(CheckpointHandle handle, KeyGroupRange range, long checkpointId, String jobId) {
    byte[] json = (jobId + "\n" + handle.json()).getBytes(StandardCharsets.UTF_8);
    byte[] data = Arrays.copyOf(MAGIC, MAGIC.length + json.length);
    System.arraycopy(json, 0, data, MAGIC.length, json.length);
    String name = "floe-checkpoint-" + checkpointId + "-kg-" + range.getStartKeyGroup() + "-" + range.getEndKeyGroup();
    return new KeyGroupsStateHandle(new KeyGroupRangeOffsets(range), new ByteStreamStateHandle(name, data));
  }

  /** The Floe checkpoint inside {@code h}, or null when {@code h} is not one. */
  static Taken unwrap(KeyedStateHandle h) {
    if (!(h instanceof KeyGroupsStateHandle k)) return null;
    StreamStateHandle s = k.getDelegateStateHandle();
    if (!(s instanceof ByteStreamStateHandle b)) return null;
    byte[] data = b.getData();
    if (data.length < MAGIC.length || !Arrays.equals(data, 0, MAGIC.length, MAGIC, 0, MAGIC.length)) return null;
    String text = new String(data, MAGIC.length, data.length - MAGIC.length, StandardCharsets.UTF_8);
    int nl = text.indexOf('\n');
    if (nl < 0) return null;
    return new Taken(text.substring(0, nl), new CheckpointHandle(text.substring(nl + 1)));
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
