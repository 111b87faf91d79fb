package io.floe.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A scripted peer on a Unix socket, for what a real daemon never does (a wrong version, silence, a
 * malformed frame, a slow reader). Serves one connection with {@code script} on its own thread.
 */
public final class FakeDaemon implements AutoCloseable {
  interface Script {
    void run(FakeDaemon d, SocketChannel c) throws Exception;
  }

  final Path dir;
  public final Path socket;
  private final ServerSocketChannel server;
  private final Thread thread;
  volatile Throwable failure;

  FakeDaemon(Script script) throws IOException {
    dir = Files.createTempDirectory(Path.of("/tmp"), "floe-java-fake-");
    socket = dir.resolve("f.sock");
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(socket));
    thread = new Thread(() -> {
      try (SocketChannel c = server.accept()) {
        script.run(this, c);
      } catch (Throwable e) {
        failure = e;
      }
    }, "fake-daemon");
    thread.setDaemon(true);
    thread.start();
  }

  /** A peer that answers the first connection's HELLO choosing protocol {@code version} (for VERSION errors elsewhere). */
  public static FakeDaemon choosingVersion(int version) throws IOException {
    return new FakeDaemon((d, c) -> answerHello(c, version));
  }

  /** Reads one whole frame: {opcode, requestId, payload...} as {int op, int id, byte[] payload}. */
  static Object[] readFrame(SocketChannel c) throws IOException {
    ByteBuffer len = ByteBuffer.allocate(4);
    readFully(c, len);
    ByteBuffer body = ByteBuffer.allocate(len.getInt(0));
    readFully(c, body);
    byte[] payload = new byte[body.capacity() - 5];
    body.position(5);
    body.get(payload);
    return new Object[] {body.get(0) & 0xff, body.getInt(1), payload};
  }

  private static void readFully(SocketChannel c, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) if (c.read(b) < 0) throw new IOException("the client closed the connection");
  }

  static void write(SocketChannel c, byte[] bytes) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(bytes);
    while (b.hasRemaining()) c.write(b);
  }

  /** Reads the HELLO and answers it with {@code version} (shards 1, maxKeyGroups 16, 1 MiB frames, 1024 in flight). */
  static void answerHello(SocketChannel c, int version) throws IOException {
    Object[] hello = readFrame(c);
    if ((int) hello[0] != Protocol.HELLO) throw new IOException("expected HELLO, got opcode " + hello[0]);
    FrameWriter w = new FrameWriter(64);
    Codec.helloOk(w, (int) hello[1], new ServerHello(version, 1, 16, 1 << 20, 1024, "fake"));
    write(c, w.toByteArray());
  }

  @Override
  public void close() {
    try {
      server.close();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    thread.interrupt();
    DaemonProcess.removeTree(dir);
  }
}
