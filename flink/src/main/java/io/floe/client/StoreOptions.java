package io.floe.client;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * What OPEN_STORE asks for (docs/protocol.md, "Named stores"): the store's name, its fixed maxKeyGroups, the
 * inclusive key-group range it owns, optionally the checkpoint handles to restore from (clipped to that
 * range; an empty list means "start empty, replacing whatever the name held"), and whether the store is
 * ephemeral (retired when its last connection leaves).
 */
public record StoreOptions(String name, int maxKeyGroups, int firstKeyGroup, int lastKeyGroup, List<CheckpointHandle> restore, boolean ephemeral) {
  private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._/-]{1,200}");

  /** Validates as the daemon does, so a bad request fails here with the reason (INVALID_ARGUMENT). */
  public StoreOptions {
    if (name == null || !NAME.matcher(name).matches() || name.contains("..") || name.startsWith("/")) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "store name " + (name == null ? "null" : Json.quote(name))
          + " is not valid: use 1..200 characters of [A-Za-z0-9._/-], without \"..\" and not starting with \"/\"");
    }
    if (maxKeyGroups < 1 || maxKeyGroups > Protocol.MAX_KEY_GROUPS) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "maxKeyGroups must be in 1.." + Protocol.MAX_KEY_GROUPS + ", got " + maxKeyGroups);
    }
    if (firstKeyGroup < 0 || firstKeyGroup > lastKeyGroup || lastKeyGroup >= maxKeyGroups) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "key groups [" + firstKeyGroup + ", " + lastKeyGroup
          + "] must be a non-empty inclusive range within [0, " + maxKeyGroups + ")");
    }
    if (restore != null) {
      for (CheckpointHandle h : restore) Objects.requireNonNull(h, "restore handle");
      restore = List.copyOf(restore);
    }
  }

  /** A store owning every key group, opened (or created) as it is, not ephemeral. */
  public static StoreOptions of(String name, int maxKeyGroups) {
    return new StoreOptions(name, maxKeyGroups, 0, maxKeyGroups - 1, null, false);
  }

  public StoreOptions keyGroups(int first, int last) {
    return new StoreOptions(name, maxKeyGroups, first, last, restore, ephemeral);
  }

  /** Restore from these handles (empty: start empty). Null: open what the name holds. */
  public StoreOptions restore(List<CheckpointHandle> handles) {
    return new StoreOptions(name, maxKeyGroups, firstKeyGroup, lastKeyGroup, handles == null ? null : new ArrayList<>(handles), ephemeral);
  }

  public StoreOptions ephemeral(boolean on) {
    return new StoreOptions(name, maxKeyGroups, firstKeyGroup, lastKeyGroup, restore, on);
  }

  /** The OPEN_STORE request JSON. Handles are inserted as the daemon's own JSON text. */
  public String toJson() {
    StringBuilder b = new StringBuilder();
    b.append("{\"name\":").append(Json.quote(name))
        .append(",\"maxKeyGroups\":").append(maxKeyGroups)
        .append(",\"keyGroups\":[").append(firstKeyGroup).append(',').append(lastKeyGroup).append(']');
    if (restore != null) {
      b.append(",\"restore\":[");
      for (int i = 0; i < restore.size(); i++) {
        if (i > 0) b.append(',');
        b.append(restore.get(i).json());
      }
      b.append(']');
    }
    if (ephemeral) b.append(",\"ephemeral\":true");
    return b.append('}').toString();
  }
}
