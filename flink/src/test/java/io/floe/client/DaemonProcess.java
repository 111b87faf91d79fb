package io.floe.client;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * A real Floe daemon for tests: `node dist/bin/floe.js daemon --config DIR/floe.json`, run from the
 * repository root on a temp folder (data, cache and socket inside it), with the small engine settings of
 * test/support/daemon-process.ts. {@link #start} returns once the daemon logged its {@code ready} event
 * (JSON lines on stderr). Needs `make build` (dist/) first.
 */
public final class DaemonProcess implements AutoCloseable {
  public final Path dir;
  public final Path socket;
  private final Process process;
  private final List<String> stderr = new ArrayList<>();

  private DaemonProcess(Path dir, Process process) {
    this.dir = dir;
    this.socket = dir.resolve("d.sock");
    this.process = process;
  }

  /** A fresh temp folder with floe.json; {@code extra} is JSON members appended to the config, e.g. "\"shards\": 1". */
  public static Path configure(String extra) throws IOException {
    // Short path: Unix socket paths are limited to ~100 bytes.
    Path dir = Files.createTempDirectory(Path.of("/tmp"), "floe-java-");
    String config = "{\"primary\": \"file://./data\", \"localDir\": \"./cache\", \"socket\": \"./d.sock\", \"shards\": 2, \"maxKeyGroups\": 16,"
        + " \"memtableBytes\": 262144, \"targetFileBytes\": 262144, \"blockCacheBytes\": 4194304, \"compactionWorkers\": 0,"
        + " \"logLevel\": \"info\"" + (extra.isEmpty() ? "" : ", " + extra) + "}";
    Files.writeString(dir.resolve("floe.json"), config);
    return dir;
  }

  public static DaemonProcess start() throws IOException, InterruptedException {
    return start(configure(""));
  }

  public static DaemonProcess start(Path dir) throws IOException, InterruptedException {
    Path root = Golden.root();
    Path bin = root.resolve("dist/bin/floe.js");
    if (!Files.exists(bin)) throw new IllegalStateException(bin + " is missing: build the daemon first (`make build`, or `make flink-test`)");
    ProcessBuilder pb = new ProcessBuilder("node", bin.toString(), "daemon", "--config", dir.resolve("floe.json").toString());
    pb.directory(root.toFile());
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    // The daemon reads FLOE_* settings from the environment, and needs no test-runner hooks.
    pb.environment().keySet().removeIf(k -> k.startsWith("FLOE_") || k.equals("NODE_OPTIONS"));
    DaemonProcess d = new DaemonProcess(dir, pb.start());
    try {
      d.awaitReady();
    } catch (RuntimeException | InterruptedException e) {
      d.close(); // no daemon left behind, no temp folder either
      throw e;
    }
    return d;
  }

  private void awaitReady() throws InterruptedException {
    CountDownLatch ready = new CountDownLatch(1);
    Thread t = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
        for (String line = r.readLine(); line != null; line = r.readLine()) {
          synchronized (stderr) {
            stderr.add(line);
          }
          if (line.startsWith("{") && line.contains("\"event\":\"ready\"")) ready.countDown();
        }
      } catch (IOException ignored) {
        // the daemon is gone; its exit is reported below
      }
    }, "floe-daemon-stderr");
    t.setDaemon(true);
    t.start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!ready.await(100, TimeUnit.MILLISECONDS)) {
      if (!process.isAlive()) throw new IllegalStateException("the daemon exited with " + process.exitValue() + " before ready:\n" + log());
      if (System.nanoTime() > deadline) {
        process.destroyForcibly();
        throw new IllegalStateException("the daemon was not ready within 60 s:\n" + log());
      }
    }
  }

  public String log() {
    synchronized (stderr) {
      return String.join("\n", stderr);
    }
  }

  public long pid() {
    return process.pid();
  }

  /** The retained checkpoints on this daemon's primary, one line each, as `floe checkpoints list` prints them. */
  public java.util.List<String> checkpoints() throws IOException, InterruptedException {
    Path bin = Golden.root().resolve("dist/bin/floe.js");
    Process p = new ProcessBuilder("node", bin.toString(), "checkpoints", "list", "--config", dir.resolve("floe.json").toString())
        .directory(dir.toFile()).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
    if (p.waitFor() != 0) throw new IOException("floe checkpoints list failed: " + out);
    java.util.List<String> lines = new java.util.ArrayList<>();
    for (String l : out.split("\n")) if (!l.isBlank() && !l.startsWith("no retained checkpoints")) lines.add(l);
    return lines;
  }

  /** SIGKILL, and waits for the exit. */
  public void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  /** SIGTERM (a clean shutdown), and waits for the exit; SIGKILL after 30 s. Returns the exit code. */
  public int stop() throws InterruptedException {
    process.destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) process.destroyForcibly().waitFor();
    return process.exitValue();
  }

  /** Stops the daemon if it runs, and removes the temp folder. */
  @Override
  public void close() {
    try {
      if (process.isAlive()) stop();
    } catch (InterruptedException e) {
      process.destroyForcibly();
      Thread.currentThread().interrupt();
    }
    removeTree(dir);
  }

  public static void removeTree(Path dir) {
    try (Stream<Path> s = Files.walk(dir)) {
      s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
