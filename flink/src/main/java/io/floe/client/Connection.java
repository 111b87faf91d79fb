package io.floe.client;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;

/**
 * One connection to the daemon: request ids, the pending table, pipelined and coalesced writes, and a
 * reader thread that completes futures by request id (docs/protocol.md, "Pipelining", "Backpressure").
 *
 * <p>Threads: callers encode frames into {@code out} under {@code lock}; the writer thread swaps {@code out}
 * for an empty buffer and writes the whole burst in one go, so frames queued while a write is under way go
 * out together in the next one. The reader thread cuts the input into frames and completes each request's
 * future (its dependent stages run on that thread). When the connection breaks, every pending future fails
 * with a retryable IO error; the connection is not reopened (connect a new client).
 */
final class Connection {
  /** Writes one request frame with the given id (may throw INVALID_ARGUMENT before writing anything). */
  interface Encoder {
    void encode(FrameWriter w, int id);
  }

  private enum State { HANDSHAKE, READY, BROKEN, CLOSED }

  private static final int READ_BYTES = 256 * 1024;
  private static final int WRITE_BYTES = 64 * 1024;
  private static final int HELLO_ID = 0;

  private final Path path;
  private final SocketChannel channel;
  private final ReentrantLock lock = new ReentrantLock();
  private final Condition hasOutput = lock.newCondition();
  private final Condition slotFree = lock.newCondition();
  private final Condition idle = lock.newCondition();
  // Guarded by lock:
  private FrameWriter out = new FrameWriter(WRITE_BYTES);
  private FrameWriter spare = new FrameWriter(WRITE_BYTES);
  private final Map<Integer, Pending<?>> pending = new HashMap<>();
  private int nextId = 1;
  private int inFlight;
  /** The most requests ever outstanding at once (for tests of the bound). */
  private int peakInFlight;
  /** Request frames queued, and socket writes (bursts) that carried them. */
  private long framesSent;
  private long bursts;
  private int limit = 1;
  private long maxRequestBytes = Integer.MAX_VALUE;
  private State state = State.HANDSHAKE;
  private FloeException brokenBy;
  /** Responses longer than this are a protocol violation; lowered to the daemon's limit after HELLO. */
  private volatile long maxResponseBytes = Integer.MAX_VALUE - 8;
  private final Thread reader;
  private final Thread writer;
  private ServerHello hello;

  private Connection(Path path, SocketChannel channel) {
    this.path = path;
    this.channel = channel;
    this.reader = new Thread(this::readLoop, "floe-client-reader " + path);
    this.writer = new Thread(this::writeLoop, "floe-client-writer " + path);
    reader.setDaemon(true);
    writer.setDaemon(true);
  }

  /**
   * Connects to the daemon at {@code path} and completes the handshake.
   * PROMISES: a READY connection, or FloeException IO (nobody listening, no answer in time; retryable),
   * VERSION (no common protocol version) or PROTOCOL (not a Floe daemon).
   */
  static Connection open(Path path, ClientOptions options) {
    SocketChannel channel;
    try {
      channel = SocketChannel.open(StandardProtocolFamily.UNIX);
    } catch (IOException e) {
      throw new FloeException(FloeException.Code.IO, "cannot create a Unix domain socket: " + e.getMessage(), true, "", e);
    }
    try {
      channel.connect(UnixDomainSocketAddress.of(path));
    } catch (IOException | RuntimeException e) {
      closeQuietly(channel);
      throw cannotConnect(path, e.getMessage() == null ? e.toString() : e.getMessage(), e);
    }
    Connection c = new Connection(path, channel);
    c.handshake(options);
    return c;
  }

  static FloeException cannotConnect(Path path, String why, Throwable cause) {
    return new FloeException(FloeException.Code.IO,
        "cannot connect to the floe daemon at " + path + ": " + why + ". Is it running? Start it with `floe daemon --config FILE` "
            + "(or `make run` in a Floe checkout), and check that the socket path matches the daemon's `socket` setting",
        true, path.toString(), cause);
  }

  private void handshake(ClientOptions options) {
    Pending<ServerHello> p = new Pending<>(Protocol.HELLO, Codec::parseHelloOk, false);
    lock.lock();
    try {
      pending.put(HELLO_ID, p);
    } finally {
      lock.unlock();
    }
    FrameWriter w = new FrameWriter(32);
    Codec.hello(w, HELLO_ID, options.minVersion, options.maxVersion);
    ServerHello h;
    try {
      w.drainTo(channel);
      reader.start();
      h = p.future.get(options.connectTimeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (IOException e) {
      throw failHandshake(cannotConnect(path, "sending HELLO failed (" + e.getMessage() + ")", e));
    } catch (TimeoutException e) {
      throw failHandshake(cannotConnect(path, "no answer to HELLO within " + options.connectTimeout.toMillis() + " ms", e));
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw failHandshake(new FloeException(FloeException.Code.IO, "interrupted while connecting to the floe daemon at " + path, true, "", e));
    } catch (ExecutionException e) {
      FloeException f = FloeException.unwrap(e);
      if (f == null || f.code() == FloeException.Code.IO) { // the connection broke before the answer (daemon stopping?)
        throw failHandshake(cannotConnect(path, "the connection broke during the handshake", f != null ? f : e.getCause()));
      }
      throw failHandshake(f); // VERSION or PROTOCOL from the daemon
    }
    if (h.version() < options.minVersion || h.version() > options.maxVersion) {
      throw failHandshake(new FloeException(FloeException.Code.VERSION, "the floe daemon at " + path + " chose protocol version " + h.version()
          + ", outside the versions " + options.minVersion + ".." + options.maxVersion + " this client offered; upgrade the older side"));
    }
    lock.lock();
    try {
      if (state != State.HANDSHAKE) throw unusable();
      hello = h;
      limit = (int) Math.max(1, Math.min(options.maxInFlight, h.maxInFlight() > 0 ? h.maxInFlight() : Integer.MAX_VALUE));
      maxRequestBytes = h.maxFrameBytes();
      maxResponseBytes = Math.max(h.maxFrameBytes(), Protocol.FRAME_HEADER_BYTES);
      state = State.READY;
    } finally {
      lock.unlock();
    }
    writer.start();
  }

  private FloeException failHandshake(FloeException e) {
    fail(e, State.BROKEN);
    return e;
  }

  ServerHello hello() {
    return hello;
  }

  /** True on the client's own reader or writer thread (where waiting for answers would wait for itself). */
  boolean onOwnThread() {
    return Thread.currentThread() == reader || Thread.currentThread() == writer;
  }

  /** The effective bound on outstanding requests. */
  int maxInFlight() {
    lock.lock();
    try {
      return limit;
    } finally {
      lock.unlock();
    }
  }

  /** The most requests that were ever outstanding at once on this connection. */
  int peakInFlight() {
    lock.lock();
    try {
      return peakInFlight;
    } finally {
      lock.unlock();
    }
  }

  /** {requests sent, socket writes that carried them}: their ratio is the coalescing. */
  long[] writeCounters() {
    lock.lock();
    try {
      return new long[] {framesSent, bursts};
    } finally {
      lock.unlock();
    }
  }

  /**
   * Sends one request; the future completes with {@code decode(payload)} of its {@code op | 0x80} answer, or
   * fails with the daemon's error (or IO/CLOSED/INVALID_ARGUMENT from this side). Blocks while
   * {@code maxInFlight} requests are outstanding, except on the reader thread (which must never wait for
   * itself: there the bound is exceeded instead, and the daemon's own limit pushes back).
   */
  <T> CompletableFuture<T> send(int op, Encoder encoder, Function<byte[], T> decode) {
    Pending<T> p = new Pending<>(op, decode, true);
    boolean mayWait = Thread.currentThread() != reader;
    lock.lock();
    try {
      while (state == State.READY && inFlight >= limit && mayWait) slotFree.await();
      if (state != State.READY) {
        p.future.completeExceptionally(unusable());
        return p.future;
      }
      int id = nextId;
      while (id == HELLO_ID || pending.containsKey(id)) id++;
      nextId = id + 1;
      int start = out.length();
      try {
        encoder.encode(out, id);
      } catch (RuntimeException e) { // INVALID_ARGUMENT from validation; anything else must not leave half a frame either
        out.truncate(start);
        p.future.completeExceptionally(e);
        return p.future;
      }
      long size = out.length() - start;
      if (size - 4 > maxRequestBytes) {
        out.truncate(start);
        p.future.completeExceptionally(new FloeException(FloeException.Code.INVALID_ARGUMENT, "the request is " + size
            + " bytes, over the daemon's maximum frame size of " + maxRequestBytes + "; split it (smaller batches, fewer keys)"));
        return p.future;
      }
      pending.put(id, p);
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      framesSent++;
      hasOutput.signal();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.future.completeExceptionally(new FloeException(FloeException.Code.IO,
          "interrupted while waiting for room among the requests in flight; the request was not sent", true, "", e));
    } finally {
      lock.unlock();
    }
    return p.future;
  }

  /** The error for a request on a connection that is not READY. Call under lock. */
  private FloeException unusable() {
    if (state == State.CLOSED) return new FloeException(FloeException.Code.CLOSED, "this client is closed; connect a new FloeClient");
    String why = brokenBy == null ? "" : " (" + brokenBy.getMessage() + ")";
    return new FloeException(FloeException.Code.IO, "the connection to the floe daemon at " + path + " is broken" + why
        + "; the request was not sent. Connect a new FloeClient (the daemon may be restarting)", true, path.toString(), null);
  }

  private void writeLoop() {
    for (;;) {
      FrameWriter burst;
      lock.lock();
      try {
        while (state == State.READY && out.length() == 0) hasOutput.awaitUninterruptibly();
        if (state != State.READY) return;
        burst = out;
        out = spare;
        spare = burst;
        bursts++;
      } finally {
        lock.unlock();
      }
      try {
        burst.drainTo(channel); // only this thread touches `spare` outside the lock
      } catch (IOException e) {
        broken("writing failed: " + e.getMessage(), e);
        return;
      }
    }
  }

  private void readLoop() {
    ByteBuffer buf = ByteBuffer.allocate(READ_BYTES);
    try {
      for (;;) {
        if (channel.read(buf) < 0) {
          broken("the daemon closed the connection", null);
          return;
        }
        buf.flip();
        long needed = deliverFrames(buf);
        if (needed > buf.capacity()) {
          buf = ByteBuffer.allocate((int) needed).put(buf);
        } else if (!buf.hasRemaining() && buf.capacity() > READ_BYTES) {
          buf = ByteBuffer.allocate(READ_BYTES); // a huge frame is done: give its buffer back
        } else {
          buf.compact();
        }
      }
    } catch (FloeException e) { // a malformed frame: the stream cannot be trusted any more
      broken("the daemon sent a malformed frame: " + e.getMessage(), e);
    } catch (IOException e) {
      broken("reading failed: " + e.getMessage(), e);
    } catch (RuntimeException | Error e) {
      broken("the client's reader failed: " + e, e);
      throw e;
    }
  }

  /** Delivers every whole frame in {@code buf}; returns the size of the incomplete frame at its head (0 if unknown). */
  private long deliverFrames(ByteBuffer buf) {
    while (buf.remaining() >= 4) {
      int at = buf.position();
      long len = Integer.toUnsignedLong(buf.getInt(at));
      if (len < Protocol.MIN_FRAME_LENGTH || len > maxResponseBytes) {
        throw Codec.protocolError("frame length " + len + " is outside [" + Protocol.MIN_FRAME_LENGTH + ", " + maxResponseBytes + "]");
      }
      if (buf.remaining() < 4 + len) return 4 + len; // len >= 5: a whole frame includes its header
      int op = buf.get(at + 4) & 0xff;
      int id = buf.getInt(at + 5);
      byte[] payload = new byte[(int) len - 5];
      buf.position(at + Protocol.FRAME_HEADER_BYTES);
      buf.get(payload);
      deliver(op, id, payload);
    }
    return 0;
  }

  private void deliver(int op, int id, byte[] payload) {
    Pending<?> p;
    lock.lock();
    try {
      p = pending.remove(id);
      if (p != null && p.counted) {
        inFlight--;
        slotFree.signal();
      }
      if (pending.isEmpty()) idle.signalAll();
    } finally {
      lock.unlock();
    }
    if (p != null) p.complete(op, payload); // an unknown id (e.g. answered after a local failure) is ignored
  }

  private void broken(String why, Throwable cause) {
    fail(new FloeException(FloeException.Code.IO, "the connection to the floe daemon at " + path + " broke (" + why
        + ") while this request was in flight; it may or may not have been applied. Retry it if that is safe, on a new FloeClient",
        true, path.toString(), cause), State.BROKEN);
  }

  /** Moves to {@code next} (CLOSED wins over BROKEN), fails every pending request with {@code e}, closes the socket. */
  private void fail(FloeException e, State next) {
    List<Pending<?>> failed;
    lock.lock();
    try {
      if (state != State.CLOSED) {
        if (next == State.BROKEN && state != State.BROKEN) brokenBy = e;
        state = next;
      }
      failed = new ArrayList<>(pending.values());
      pending.clear();
      inFlight = 0;
      out.truncate(0);
      hasOutput.signalAll();
      slotFree.signalAll();
      idle.signalAll();
    } finally {
      lock.unlock();
    }
    closeQuietly(channel); // wakes the reader (and a blocked writer)
    for (Pending<?> p : failed) p.future.completeExceptionally(e);
  }

  /**
   * Waits up to {@code timeout} for outstanding requests (not on the reader thread, which would wait for
   * itself), then closes: later requests fail with CLOSED, unanswered ones with CLOSED too. Idempotent.
   */
  void close(Duration timeout) {
    boolean onOwnThread = onOwnThread();
    lock.lock();
    try {
      if (state == State.CLOSED) return;
      long left = timeout.toNanos();
      while (!onOwnThread && state == State.READY && !pending.isEmpty() && left > 0) left = idle.awaitNanos(left);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      lock.unlock();
    }
    fail(new FloeException(FloeException.Code.CLOSED, "the client was closed before the daemon answered this request"), State.CLOSED);
    if (!onOwnThread) {
      joinQuietly(writer);
      joinQuietly(reader);
    }
  }

  private static void joinQuietly(Thread t) {
    if (!t.isAlive()) return;
    try {
      t.join(5000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  private static void closeQuietly(SocketChannel c) {
    try {
      c.close();
    } catch (IOException ignored) {
      // closing is best effort; the socket is gone either way
    }
  }

  /** A request waiting for its answer. */
  private static final class Pending<T> {
    final int op;
    final Function<byte[], T> decode;
    final boolean counted;
    final CompletableFuture<T> future = new CompletableFuture<>();

    Pending(int op, Function<byte[], T> decode, boolean counted) {
      this.op = op;
      this.decode = decode;
      this.counted = counted;
    }

    void complete(int rop, byte[] payload) {
      try {
        if (rop == Protocol.ERROR) future.completeExceptionally(Codec.decodeError(payload));
        else if (rop != (op | Protocol.RESPONSE_BIT)) {
          future.completeExceptionally(Codec.protocolError("expected a " + Protocol.opName(op | Protocol.RESPONSE_BIT) + " response, got " + Protocol.opName(rop)));
        } else future.complete(decode.apply(payload));
      } catch (RuntimeException e) { // a malformed payload (PROTOCOL) fails this request only
        future.completeExceptionally(e);
      }
    }
  }
}
