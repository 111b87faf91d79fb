package io.floe.flink;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputViewStreamWrapper;
import org.apache.flink.runtime.state.BackendBuildingException;
import org.apache.flink.runtime.state.KeyedBackendSerializationProxy;
import org.apache.flink.runtime.state.metainfo.StateMetaInfoSnapshot;
import org.apache.flink.util.StateMigrationException;

/**
 * Which states a Floe store holds and the serializers that wrote them, kept in every checkpoint handle (Flink's
 * own {@link KeyedBackendSerializationProxy} format: the key serializer's snapshot and one
 * {@link StateMetaInfoSnapshot} per state) so that a restore can check the job's serializers against them, as
 * Flink's RocksDB and ForSt backends do. Per state it records the namespace serializer, the value serializer
 * (for ListState the element's, for MapState the user value's: the same for the classic and the State V2 API,
 * whose stored bytes are the same) and for MapState the user key serializer.
 *
 * <p>Compatible as is: restored. Anything else (incompatible, or compatible only after a migration or with a
 * reconfigured serializer) fails the restore with a {@link StateMigrationException} naming the state: the Floe
 * backend does not rewrite stored state. States restored but not registered again are carried into later
 * checkpoints (their data is still in the store). Task thread only.
 */
final class FloeStateMeta {
  static final String NAMESPACE = "NAMESPACE_SERIALIZER";
  static final String VALUE = "VALUE_SERIALIZER";
  static final String USER_KEY = "USER_KEY_SERIALIZER";

  private final Map<String, StateMetaInfoSnapshot> restored = new HashMap<>();
  private final Map<String, StateMetaInfoSnapshot> states = new LinkedHashMap<>();

  /**
   * Reads the meta of the handles a store restores from (null entries: handles of the first format, which kept
   * none) and checks {@code keySerializer} against the key serializer they were written with.
   */
  void restore(List<byte[]> metas, TypeSerializer<?> keySerializer, ClassLoader classLoader) throws BackendBuildingException {
    for (byte[] meta : metas) {
      if (meta == null) continue;
      KeyedBackendSerializationProxy<?> proxy = new KeyedBackendSerializationProxy<>(classLoader);
      try {
        proxy.read(new DataInputDeserializer(meta));
      } catch (IOException e) {
        throw new BackendBuildingException("cannot read the state meta information of a Floe checkpoint: " + e.getMessage(), e);
      }
      TypeSerializerSchemaCompatibility<?> key = compatibility(keySerializer, proxy.getKeySerializerSnapshot());
      if (!key.isCompatibleAsIs()) {
        String why = "the Floe state backend cannot restore: the job's key serializer "
            + keySerializer.getClass().getSimpleName() + " is " + verdict(key) + " with the key serializer the checkpoint was taken with ("
            + proxy.getKeySerializerSnapshot().getClass().getSimpleName() + "); restore with the key type and serializer the job had";
        throw new BackendBuildingException(why, new StateMigrationException(why));
      }
      for (StateMetaInfoSnapshot s : proxy.getStateMetaInfoSnapshots()) {
        restored.put(s.getName(), s);
        states.put(s.getName(), s);
      }
    }
  }

  /**
   * Registers state {@code name} of kind {@code kind} (VALUE, LIST, MAP, REDUCING, AGGREGATING) with its
   * serializers ({@code userKey} null but for MapState). Throws when the state was restored with another kind
   * or a serializer that is not compatible as is.
   */
  void register(String name, String kind, TypeSerializer<?> namespace, TypeSerializer<?> value, TypeSerializer<?> userKey) throws StateMigrationException {
    Map<String, TypeSerializer<?>> serializers = new LinkedHashMap<>();
    serializers.put(NAMESPACE, namespace);
    serializers.put(VALUE, value);
    if (userKey != null) serializers.put(USER_KEY, userKey);
    StateMetaInfoSnapshot old = restored.get(name);
    if (old != null) check(name, kind, old, serializers);
    Map<String, TypeSerializerSnapshot<?>> snapshots = new LinkedHashMap<>();
    for (Map.Entry<String, TypeSerializer<?>> e : serializers.entrySet()) snapshots.put(e.getKey(), e.getValue().snapshotConfiguration());
    Map<String, String> options = Map.of(StateMetaInfoSnapshot.CommonOptionsKeys.KEYED_STATE_TYPE.toString(), kind);
    states.put(name, new StateMetaInfoSnapshot(name, StateMetaInfoSnapshot.BackendStateType.KEY_VALUE, options, snapshots));
  }

  private static void check(String name, String kind, StateMetaInfoSnapshot old, Map<String, TypeSerializer<?>> serializers) throws StateMigrationException {
    String oldKind = old.getOption(StateMetaInfoSnapshot.CommonOptionsKeys.KEYED_STATE_TYPE);
    if (oldKind != null && !oldKind.equals(kind)) {
      throw new StateMigrationException("the Floe state backend cannot restore state '" + name + "' as " + kind + ": the checkpoint holds it as " + oldKind);
    }
    for (Map.Entry<String, TypeSerializer<?>> e : serializers.entrySet()) {
      TypeSerializerSnapshot<?> was = old.getTypeSerializerSnapshot(e.getKey());
      if (was == null) continue;
      TypeSerializerSchemaCompatibility<?> c = compatibility(e.getValue(), was);
      if (c.isCompatibleAsIs()) continue;
      String which = e.getKey().toLowerCase().replace("_serializer", " serializer").replace('_', ' ');
      throw new StateMigrationException("the Floe state backend cannot restore state '" + name + "': its new " + which + " "
          + e.getValue().getClass().getSimpleName() + " is " + verdict(c) + " with the " + which + " it was checkpointed with ("
          + was.getClass().getSimpleName() + ")" + (c.isCompatibleAfterMigration()
              ? "; reading it would need a migration of the stored values, which the Floe backend does not do: keep the old serializer, or start the job without this state"
              : "; restore with a serializer that reads the old bytes, or start the job without this state"));
    }
  }

  @SuppressWarnings("unchecked")
  private static <T> TypeSerializerSchemaCompatibility<T> compatibility(TypeSerializer<T> now, TypeSerializerSnapshot<?> old) {
    return now.snapshotConfiguration().resolveSchemaCompatibility((TypeSerializerSnapshot<T>) old);
  }

  private static String verdict(TypeSerializerSchemaCompatibility<?> c) {
    if (c.isIncompatible()) return "incompatible";
    if (c.isCompatibleAfterMigration()) return "compatible only after migration";
    if (c.isCompatibleWithReconfiguredSerializer()) return "compatible only with a reconfigured serializer (not supported by the Floe backend)";
    return "not compatible as is";
  }

  /** Every state's meta (restored ones not registered again included), for a checkpoint handle. */
  <K> byte[] write(TypeSerializer<K> keySerializer) throws IOException {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    new KeyedBackendSerializationProxy<K>(keySerializer, new ArrayList<>(states.values()), false).write(new DataOutputViewStreamWrapper(bytes));
    return bytes.toByteArray();
  }
}
