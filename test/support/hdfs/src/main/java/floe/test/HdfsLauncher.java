/*
 * Floe's test HDFS: starts a Hadoop MiniDFSCluster (one namenode, one datanode, WebHDFS enabled,
 * permissions off) bound to 127.0.0.1, proves that WebHDFS works end to end (a file is created through the
 * namenode's redirect to the datanode, read back and deleted), then prints one line
 *
 *   READY {"httpPort":H,"rpcPort":R,"baseDir":"..."}
 *
 * on stdout. It shuts the cluster down and deletes its base directory on SIGTERM/SIGINT and when its
 * standard input closes (so a parent that dies, even by SIGKILL, takes the JVM with it).
 *
 * Usage: java -cp 'hdfs-launcher.jar:lib/*' floe.test.HdfsLauncher
 *          [--base-dir PARENT] [--rpc-port N] [--http-port N] [--user NAME] [--conf KEY=VALUE]...
 *          [--no-stdin-watch]
 *   --base-dir   parent folder for the cluster's fresh temp dir (default: java.io.tmpdir)
 *   --rpc-port   namenode RPC port (default 0: the kernel picks a free one)
 *   --http-port  namenode HTTP (WebHDFS) port (default 0: the kernel picks a free one)
 *   --user       user.name for the readiness probe (default "floe")
 *   --conf       sets a Hadoop configuration key (after the launcher's own settings, so it wins)
 *   --no-stdin-watch  keep running when stdin closes (for running it by hand in the background)
 * Ports chosen by the kernel cannot race with another process picking "a free port" first.
 */
package floe.test;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Comparator;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;

public final class HdfsLauncher {
  private static final String LOOPBACK = "127.0.0.1";
  private static final long READY_TIMEOUT_MS = 120_000;

  /** Held strongly: java.util.logging forgets the level of a logger nobody references. */
  private static final java.util.logging.Logger JERSEY_LOG = java.util.logging.Logger.getLogger("org.apache.hadoop.shaded.com.sun.jersey");

  private HdfsLauncher() {}

  public static void main(String[] args) throws Exception {
    // stdout carries only the READY line; everything Hadoop prints goes to stderr.
    PrintStream ready = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
    System.setOut(System.err);
    if (System.getProperty("org.slf4j.simpleLogger.defaultLogLevel") == null) {
      System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
    }
    // Jersey logs through java.util.logging: INFO lines and a page of harmless resource-method warnings on
    // every start. Keep only its errors.
    JERSEY_LOG.setLevel(java.util.logging.Level.SEVERE);

    String baseParent = System.getProperty("java.io.tmpdir");
    int rpcPort = 0;
    int httpPort = 0;
    String user = "floe";
    boolean watchStdin = true;
    java.util.Map<String, String> overrides = new java.util.LinkedHashMap<>();
    for (int i = 0; i < args.length; i++) {
      switch (args[i]) {
        case "--base-dir" -> baseParent = args[++i];
        case "--rpc-port" -> rpcPort = Integer.parseInt(args[++i]);
        case "--http-port" -> httpPort = Integer.parseInt(args[++i]);
        case "--user" -> user = args[++i];
        case "--no-stdin-watch" -> watchStdin = false;
        case "--conf" -> {
          String kv = args[++i];
          int eq = kv.indexOf('=');
          if (eq <= 0) {
            System.err.println("HdfsLauncher: --conf wants key=value, got " + kv);
            System.exit(2);
          }
          overrides.put(kv.substring(0, eq), kv.substring(eq + 1));
        }
        default -> {
          System.err.println("HdfsLauncher: unknown argument " + args[i]);
          System.exit(2);
        }
      }
    }

    Path parent = Paths.get(baseParent);
    Files.createDirectories(parent);
    Path baseDir = Files.createTempDirectory(parent, "floe-hdfs-");

    // HdfsConfiguration (not plain Configuration) also loads hdfs-default.xml, as Hadoop's own
    // MiniDFSCluster tests do, so every HDFS key has its documented default.
    Configuration conf = new HdfsConfiguration();
    conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, baseDir.toString());
    conf.setBoolean("dfs.webhdfs.enabled", true);
    conf.setBoolean("dfs.permissions.enabled", false);
    // Loopback only: the namenode's RPC and HTTP addresses are set by MiniDFSCluster to 127.0.0.1; the
    // datanode's are pinned here, and its advertised hostname too, so the WebHDFS redirects of OPEN and
    // CREATE point at 127.0.0.1 rather than at whatever the machine's hostname resolves to.
    conf.set("dfs.datanode.address", LOOPBACK + ":0");
    conf.set("dfs.datanode.http.address", LOOPBACK + ":0");
    conf.set("dfs.datanode.ipc.address", LOOPBACK + ":0");
    conf.set("dfs.datanode.hostname", LOOPBACK);
    conf.set("dfs.namenode.secondary.http-address", LOOPBACK + ":0");
    // Small test cluster: one replica, small heap use, fast heartbeats so the datanode registers quickly.
    conf.setInt("dfs.replication", 1);
    conf.setInt("dfs.heartbeat.interval", 1);
    conf.setLong("dfs.namenode.fs-limits.min-block-size", 0);
    // Closing a file waits until the namenode has heard from the datanode about its last block; when it
    // has not yet, the client (here: the datanode's WebHDFS handler) retries after 400 ms, doubling. On a
    // single-node test cluster the report comes within milliseconds, so retry sooner: small writes take
    // tens of milliseconds instead of ~0.5 s. Semantics are unchanged (close still waits for completion).
    conf.setInt("dfs.client.block.write.locateFollowingBlock.initial.delay.ms", 10);
    overrides.forEach(conf::set);

    // SIGTERM/SIGINT and the end of stdin only *request* a stop; the main thread then shuts the cluster down
    // in the ordinary way. (Shutting it down from a JVM shutdown hook races Hadoop's own hooks, which throw
    // "Shutdown in progress" from the datanode's threads.) The hook below only removes the base directory if
    // the JVM ends some other way.
    CountDownLatch stopRequested = new CountDownLatch(1);
    AtomicBoolean cleaned = new AtomicBoolean(false);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      if (cleaned.compareAndSet(false, true)) deleteTree(baseDir);
    }, "floe-hdfs-cleanup"));
    for (String name : new String[] {"TERM", "INT"}) {
      sun.misc.Signal.handle(new sun.misc.Signal(name), sig -> {
        System.err.println("HdfsLauncher: SIG" + sig.getName() + ", shutting down");
        stopRequested.countDown();
      });
    }

    MiniDFSCluster cluster = null;
    int status = 0;
    try {
      cluster = new MiniDFSCluster.Builder(conf, baseDir.toFile())
          .numDataNodes(1)
          .nameNodePort(rpcPort)
          .nameNodeHttpPort(httpPort)
          .format(true)
          .build();
      cluster.waitActive();
      int actualHttp = cluster.getNameNode().getHttpAddress().getPort();
      int actualRpc = cluster.getNameNodePort();
      probeWebHdfs(actualHttp, user);
      ready.println("READY {\"httpPort\":" + actualHttp + ",\"rpcPort\":" + actualRpc + ",\"baseDir\":\""
          + baseDir.toString().replace("\\", "\\\\").replace("\"", "\\\"") + "\"}");
      if (watchStdin) watchStdin(stopRequested);
      stopRequested.await();
    } catch (Throwable t) {
      System.err.println("HdfsLauncher: the cluster did not start: " + t);
      t.printStackTrace(System.err);
      status = 1;
    } finally {
      if (cluster != null) {
        try {
          cluster.shutdown(true);
        } catch (Throwable t) {
          System.err.println("HdfsLauncher: error while shutting the cluster down: " + t);
        }
      }
      if (cleaned.compareAndSet(false, true)) deleteTree(baseDir);
    }
    System.exit(status);
  }

  /** Requests a stop when stdin reaches its end (the parent closed it or died). */
  private static void watchStdin(CountDownLatch stopRequested) {
    Thread watcher = new Thread(() -> {
      try {
        InputStream in = System.in;
        byte[] buf = new byte[256];
        while (in.read(buf) >= 0) {
          // Input is ignored; only its end matters.
        }
      } catch (IOException e) {
        // A broken stdin means the parent is gone, the same as EOF.
      }
      System.err.println("HdfsLauncher: stdin closed, shutting down");
      stopRequested.countDown();
    }, "floe-hdfs-stdin-watch");
    watcher.setDaemon(true);
    watcher.start();
  }

  /**
   * Creates a small file through WebHDFS (namenode 307 → datanode), reads it back, and deletes it, retrying
   * until it works or READY_TIMEOUT_MS passes: READY then means the whole redirect path serves.
   */
  private static void probeWebHdfs(int httpPort, String user) throws Exception {
    String base = "http://" + LOOPBACK + ":" + httpPort + "/webhdfs/v1/.floe-launcher-probe";
    String userQ = "user.name=" + user;
    byte[] body = "probe".getBytes(StandardCharsets.UTF_8);
    long deadline = System.currentTimeMillis() + READY_TIMEOUT_MS;
    Exception last = null;
    while (System.currentTimeMillis() < deadline) {
      try {
        String location = redirect("PUT", base + "?op=CREATE&overwrite=true&" + userQ);
        HttpURLConnection put = open("PUT", location);
        put.setDoOutput(true);
        put.setRequestProperty("Content-Type", "application/octet-stream");
        try (OutputStream out = put.getOutputStream()) {
          out.write(body);
        }
        expect(put, 201);
        String readFrom = redirect("GET", base + "?op=OPEN&" + userQ);
        HttpURLConnection get = open("GET", readFrom);
        expect(get, 200);
        byte[] got;
        try (InputStream in = get.getInputStream()) {
          got = in.readAllBytes();
        }
        if (!java.util.Arrays.equals(got, body)) throw new IOException("probe read back different bytes");
        HttpURLConnection del = open("DELETE", base + "?op=DELETE&" + userQ);
        expect(del, 200);
        return;
      } catch (Exception e) {
        if (last == null || !String.valueOf(last.getMessage()).equals(String.valueOf(e.getMessage()))) {
          System.err.println("HdfsLauncher: WebHDFS probe not there yet: " + e);
        }
        last = e;
        Thread.sleep(250);
      }
    }
    throw new IOException("WebHDFS did not serve a create/read round trip within " + READY_TIMEOUT_MS + " ms", last);
  }

  private static HttpURLConnection open(String method, String url) throws IOException {
    HttpURLConnection c = (HttpURLConnection) URI.create(url).toURL().openConnection();
    c.setRequestMethod(method);
    c.setInstanceFollowRedirects(false);
    c.setConnectTimeout(5_000);
    c.setReadTimeout(10_000);
    return c;
  }

  private static String redirect(String method, String url) throws IOException {
    HttpURLConnection c = open(method, url);
    expect(c, 307);
    String location = c.getHeaderField("Location");
    c.disconnect();
    if (location == null) throw new IOException(method + " " + url + " answered 307 without a Location");
    return location;
  }

  private static void expect(HttpURLConnection c, int status) throws IOException {
    int code = c.getResponseCode();
    if (code != status) {
      String detail = "";
      InputStream err = c.getErrorStream();
      if (err != null) {
        try (err) {
          detail = new String(err.readAllBytes(), StandardCharsets.UTF_8);
        }
      }
      throw new IOException(c.getRequestMethod() + " " + c.getURL() + " answered " + code + " (wanted " + status + "): " + detail);
    }
  }

  private static void deleteTree(Path root) {
    if (!Files.exists(root)) return;
    try (Stream<Path> walk = Files.walk(root)) {
      walk.sorted(Comparator.reverseOrder()).map(Path::toFile).forEach(File::delete);
    } catch (IOException e) {
      System.err.println("HdfsLauncher: could not delete " + root + ": " + e);
    }
  }
}
