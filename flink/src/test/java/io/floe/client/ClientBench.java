package io.floe.client;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.function.IntFunction;

/**
 * A throughput measurement of the Java client against a real daemon (not a test: surefire skips it;
 * docs/flink.md gives the command and the numbers). One thread issues N operations keeping up to W in flight;
 * reports ops/s and how many requests each socket write carried.
 *
 * <pre>java -Dfloe.root=. -cp flink/target/classes:flink/target/test-classes io.floe.client.ClientBench [N] [inFlight...]</pre>
 */
public final class ClientBench {
  private ClientBench() {}

  public static void main(String[] args) throws Exception {
    int n = args.length > 0 ? Integer.parseInt(args[0]) : 200_000;
    List<Integer> windows = new ArrayList<>();
    for (int i = 1; i < args.length; i++) windows.add(Integer.parseInt(args[i]));
    if (windows.isEmpty()) windows = List.of(1, 16, 256);
    byte[] value = new byte[100];
    try (DaemonProcess d = DaemonProcess.start(DaemonProcess.configure("\"shards\": 1"))) {
      System.out.printf("ClientBench: %d ops per cell, 1 shard, 100-byte values, %d cores, load %s%n", n,
          Runtime.getRuntime().availableProcessors(), java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim());
      for (int w : windows) {
        try (FloeClient c = FloeClient.connect(d.socket, ClientOptions.defaults().maxInFlight(w))) {
          run(c, "put", n, w, i -> c.put(i % 16, key(i), value));
          run(c, "get", n, w, i -> c.get(i % 16, key(i)));
          run(c, "mget x8", n / 8, w, i -> {
            List<byte[]> keys = new ArrayList<>(8);
            for (int j = 0; j < 8; j++) keys.add(key(i * 8 + j));
            return c.multiGet(i % 16, keys);
          });
          run(c, "put x100", n / 100, w, i -> {
            List<WriteOp> ops = new ArrayList<>(100);
            for (int j = 0; j < 100; j++) ops.add(WriteOp.put(j % 16, key(i * 100 + j), value));
            return c.write(ops);
          });
          run(c, "write x10", n / 10, w, i -> {
            List<WriteOp> ops = new ArrayList<>(10);
            for (int j = 0; j < 10; j++) ops.add(WriteOp.merge(j, key(i * 10 + j), value));
            return c.write(ops);
          });
        }
      }
    }
  }

  private static byte[] key(int i) {
    return ("bench/" + (i % 100_000)).getBytes(StandardCharsets.UTF_8);
  }

  private static void run(FloeClient c, String what, int n, int window, IntFunction<CompletableFuture<?>> op) {
    long sent0 = c.requestsSent();
    long writes0 = c.socketWrites();
    Semaphore room = new Semaphore(window);
    long t0 = System.nanoTime();
    List<CompletableFuture<?>> tail = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      room.acquireUninterruptibly();
      CompletableFuture<?> f = op.apply(i);
      f.whenComplete((v, e) -> room.release());
      if (i >= n - window) tail.add(f);
    }
    CompletableFuture.allOf(tail.toArray(new CompletableFuture<?>[0])).join();
    room.acquireUninterruptibly(window);
    double s = (System.nanoTime() - t0) / 1e9;
    long sent = c.requestsSent() - sent0;
    long writes = c.socketWrites() - writes0;
    System.out.printf("  %-9s in flight %4d: %9.0f requests/s  (%.1f requests per socket write)%n", what, window, n / s, (double) sent / Math.max(1, writes));
  }
}
