package io.floe.flink;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.api.connector.sink2.Sink;
import org.apache.flink.api.connector.sink2.SinkWriter;
import org.apache.flink.api.connector.sink2.WriterInitContext;

/** Collects a job's output in this JVM (the MiniCluster runs in it), under a name per job. */
public class CollectingSink implements Sink<String> {
  private static final long serialVersionUID = 1L;
  private static final Map<String, List<String>> RESULTS = new ConcurrentHashMap<>();
  private final String name;

  CollectingSink(String name) {
    this.name = name;
    RESULTS.put(name, new ArrayList<>());
  }

  @Override
  public SinkWriter<String> createWriter(WriterInitContext context) {
    List<String> l = RESULTS.get(name);
    return new SinkWriter<>() {
      @Override
      public void write(String value, Context ctx) {
        synchronized (l) {
          l.add(value);
        }
      }

      @Override
      public void flush(boolean endOfInput) {}

      @Override
      public void close() {}
    };
  }

  static List<String> results(String name) {
    List<String> l = RESULTS.get(name);
    synchronized (l) {
      return new ArrayList<>(l);
    }
  }
}
