package io.floe.client;

import java.util.List;
import java.util.Map;

/** The daemon's answer to OPEN_STORE: which store the connection is now bound to, and how it was opened. */
public record StoreInfo(String name, int shard, int maxKeyGroups, int firstKeyGroup, int lastKeyGroup, boolean restored, boolean created) {

  /** Parses the OPEN_STORE_OK JSON; PROTOCOL when a field is missing or of the wrong type. */
  static StoreInfo parse(String json) {
    Object v = Json.parse(json, "OPEN_STORE response");
    if (!(v instanceof Map<?, ?> m)) throw Codec.protocolError("OPEN_STORE response is not a JSON object: " + json);
    Object range = m.get("keyGroups");
    if (!(range instanceof List<?> r) || r.size() != 2) throw Codec.protocolError("OPEN_STORE response has no keyGroups [first, last]: " + json);
    return new StoreInfo(str(m, "name", json), num(m.get("shard"), "shard", json), num(m.get("maxKeyGroups"), "maxKeyGroups", json),
        num(r.get(0), "keyGroups[0]", json), num(r.get(1), "keyGroups[1]", json), bool(m, "restored", json), bool(m, "created", json));
  }

  private static String str(Map<?, ?> m, String k, String json) {
    if (m.get(k) instanceof String s) return s;
    throw Codec.protocolError("OPEN_STORE response lacks the string \"" + k + "\": " + json);
  }

  private static int num(Object v, String k, String json) {
    if (v instanceof Number n) return n.intValue();
    throw Codec.protocolError("OPEN_STORE response lacks the number \"" + k + "\": " + json);
  }

  private static boolean bool(Map<?, ?> m, String k, String json) {
    if (m.get(k) instanceof Boolean b) return b;
    throw Codec.protocolError("OPEN_STORE response lacks the boolean \"" + k + "\": " + json);
  }
}
