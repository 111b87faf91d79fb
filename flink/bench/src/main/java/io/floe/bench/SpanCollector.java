package io.floe.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.traces.Span;
import org.apache.flink.traces.reporter.TraceReporter;
import org.apache.flink.traces.reporter.TraceReporterFactory;

/**
 * A Flink trace reporter (traces.reporter.bench.factory.class) that keeps every span in memory: Flink
 * reports each completed checkpoint as a "Checkpoint" span (sizes, sync/async durations) and each job's
 * start as a "JobInitialization" span (per-task state initialization durations, i.e. the restore).
 */
public final class SpanCollector implements TraceReporterFactory {
  private static final List<Map<String, Object>> SPANS = new ArrayList<>();

  @Override
  public TraceReporter createTraceReporter(Properties properties) {
    return new TraceReporter() {
      @Override
      public void open(MetricConfig config) {}

      @Override
      public void close() {}

      @Override
      public void notifyOfAddedSpan(Span span) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", span.getName());
        m.put("startTsMillis", span.getStartTsMillis());
        m.put("endTsMillis", span.getEndTsMillis());
        m.put("attributes", new LinkedHashMap<>(span.getAttributes()));
        synchronized (SPANS) {
          SPANS.add(m);
          SPANS.notifyAll();
        }
      }
    };
  }

  /** Spans named `name` reported so far, oldest first. */
  public static List<Map<String, Object>> named(String name) {
    List<Map<String, Object>> out = new ArrayList<>();
    synchronized (SPANS) {
      for (Map<String, Object> s : SPANS) if (name.equals(s.get("name"))) out.add(s);
    }
    return out;
  }

  /** Waits up to timeoutMs for the count of spans named `name` to exceed `seen`; returns the newest or null. */
  public static Map<String, Object> awaitNew(String name, int seen, long timeoutMs) throws InterruptedException {
    long deadline = System.currentTimeMillis() + timeoutMs;
    synchronized (SPANS) {
      while (true) {
        List<Map<String, Object>> now = named(name);
        if (now.size() > seen) return now.get(now.size() - 1);
        long left = deadline - System.currentTimeMillis();
        if (left <= 0) return null;
        SPANS.wait(left);
      }
    }
  }
}
