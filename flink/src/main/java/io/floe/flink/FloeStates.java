package io.floe.flink;

import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.state.AggregatingStateDescriptor;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReducingStateDescriptor;
import org.apache.flink.api.common.state.StateDescriptor;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.util.FlinkRuntimeException;

/** Builds the Floe state of a Flink state descriptor (TTL and metrics wrappers are added by Flink around it). */
final class FloeStates {
  private FloeStates() {}

  /** The serializer of the stored values (FloeStateMeta): a list's element, a map's user value, else the state's. */
  static TypeSerializer<?> valueSerializer(StateDescriptor<?, ?> desc) {
    if (desc instanceof ListStateDescriptor<?> l) return l.getElementSerializer();
    if (desc instanceof MapStateDescriptor<?, ?> m) return m.getValueSerializer();
    return desc.getSerializer();
  }

  /** A MapState's user key serializer, else null. */
  static TypeSerializer<?> userKeySerializer(StateDescriptor<?, ?> desc) {
    return desc instanceof MapStateDescriptor<?, ?> m ? m.getKeySerializer() : null;
  }

  @SuppressWarnings({"unchecked", "rawtypes"})
  static <K, N, SV> FloeState<K, N, ?> create(FloeKeyedStateBackend<K> backend, TypeSerializer<N> ns, StateDescriptor<?, SV> desc) {
    String name = desc.getName();
    switch (desc.getType()) {
      case VALUE:
        return new FloeValueState<>(backend, name, ns, desc.getSerializer(), desc.getDefaultValue());
      case LIST: {
        ListStateDescriptor<?> l = (ListStateDescriptor<?>) desc;
        return new FloeListState(backend, name, ns, (TypeSerializer<List<?>>) (TypeSerializer) l.getSerializer(), l.getElementSerializer());
      }
      case MAP: {
        MapStateDescriptor<?, ?> m = (MapStateDescriptor<?, ?>) desc;
        return new FloeMapState(backend, name, ns, (TypeSerializer<Map<?, ?>>) (TypeSerializer) m.getSerializer(), m.getKeySerializer(), m.getValueSerializer());
      }
      case REDUCING: {
        ReducingStateDescriptor<SV> r = (ReducingStateDescriptor<SV>) desc;
        return new FloeReducingState<>(backend, name, ns, r.getSerializer(), r.getReduceFunction());
      }
      case AGGREGATING: {
        AggregatingStateDescriptor a = (AggregatingStateDescriptor) desc;
        return new FloeAggregatingState(backend, name, ns, a.getSerializer(), a.getAggregateFunction());
      }
      default:
        throw new FlinkRuntimeException("state " + name + " of type " + desc.getType() + " is not supported by the Floe state backend");
    }
  }
}
