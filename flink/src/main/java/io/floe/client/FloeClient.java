package io.floe.client;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Function;

/**
 * A client of the Floe daemon ({@code floe daemon}) over its Unix domain socket, speaking the protocol of
 * docs/protocol.md: the same operations and error codes as the TypeScript client (lib/client/client.ts).
 *
 * <ul>
 *   <li><b>Async and pipelined</b>: every operation sends its frame at once and returns a
 *       {@link CompletableFuture} completed when its own answer arrives (matched by request id). Requests
 *       issued one after another on one client reach the daemon in that order (read-your-writes).</li>
 *   <li><b>Coalesced</b>: frames queued while a socket write is under way go out together in the next one.</li>
 *   <li><b>Bounded</b>: at most {@code maxInFlight} requests are outstanding (the lower of
 *       {@link ClientOptions#maxInFlight} and the daemon's limit); beyond it the caller blocks.</li>
 *   <li><b>Threads</b>: futures complete on the client's reader thread, so dependent stages added with the
 *       non-async methods ({@code thenApply}, ...) run there: keep them short and never block on another
 *       request's future in them (use the {@code *Async} variants for blocking work).</li>
 *   <li><b>Failures</b>: futures fail with {@link FloeException}: the daemon's error code, or IO (retryable)
 *       when the connection breaks (the request may or may not have been applied; the client does not
 *       reconnect: connect a new one), or CLOSED after {@link #close}.</li>
 * </ul>
 *
 * Key groups: every keyed operation takes a key group in [0, maxKeyGroups) or {@link KeyGroups#DEFAULT}
 * (the daemon hashes the key). Thread-safe.
 */
public final class FloeClient implements AutoCloseable {
  private final Connection connection;
  private final ClientOptions options;
  private final Object closeLock = new Object();
  private boolean closed;

  private FloeClient(Connection connection, ClientOptions options) {
    this.connection = connection;
    this.options = options;
  }

  /** {@link #connect(Path, ClientOptions)} with the defaults. */
  public static FloeClient connect(Path socket) {
    return connect(socket, ClientOptions.defaults());
  }

  /**
   * Connects to the daemon listening at {@code socket} and completes the handshake (version check).
   * Throws FloeException IO (retryable) when nobody listens there (the message names the socket and how to
   * start the daemon), VERSION when the daemon speaks no protocol version this client offers.
   */
  public static FloeClient connect(Path socket, ClientOptions options) {
    if (socket == null) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "connect() needs the path of the daemon socket, e.g. /run/floe/floe.sock");
    }
    ClientOptions o = options == null ? ClientOptions.defaults() : options;
    return new FloeClient(Connection.open(socket, o), o);
  }

  /** What the daemon announced in the handshake: version, shards, maxKeyGroups, limits, server name. */
  public ServerHello server() {
    return connection.hello();
  }

  /** The effective bound on outstanding requests. */
  public int maxInFlight() {
    return connection.maxInFlight();
  }

  /** The most requests that were ever outstanding at once (never above {@link #maxInFlight}, except from completion callbacks). */
  public int peakInFlight() {
    return connection.peakInFlight();
  }

  /** Requests sent so far on this client. */
  public long requestsSent() {
    return connection.writeCounters()[0];
  }

  /** Socket writes so far: each carries every frame queued since the previous one (coalescing). */
  public long socketWrites() {
    return connection.writeCounters()[1];
  }

  private static final Function<byte[], Void> NONE = p -> null;

  public CompletableFuture<Void> put(int keyGroup, byte[] key, byte[] value) {
    return connection.send(Protocol.PUT, (w, id) -> Codec.keyValue(w, Protocol.PUT, id, keyGroup, key, value), NONE);
  }

  public CompletableFuture<Void> put(byte[] key, byte[] value) {
    return put(KeyGroups.DEFAULT, key, value);
  }

  /** The value, or null when the key is absent. */
  public CompletableFuture<byte[]> get(int keyGroup, byte[] key) {
    return connection.send(Protocol.GET, (w, id) -> Codec.keyOnly(w, Protocol.GET, id, keyGroup, key), Codec::parseGetOk);
  }

  public CompletableFuture<byte[]> get(byte[] key) {
    return get(KeyGroups.DEFAULT, key);
  }

  public CompletableFuture<Void> delete(int keyGroup, byte[] key) {
    return connection.send(Protocol.DELETE, (w, id) -> Codec.keyOnly(w, Protocol.DELETE, id, keyGroup, key), NONE);
  }

  public CompletableFuture<Void> delete(byte[] key) {
    return delete(KeyGroups.DEFAULT, key);
  }

  /** Appends {@code operand} to the key's value (Floe's merge is list append; an absent key starts empty). */
  public CompletableFuture<Void> merge(int keyGroup, byte[] key, byte[] operand) {
    return connection.send(Protocol.MERGE, (w, id) -> Codec.keyValue(w, Protocol.MERGE, id, keyGroup, key, operand), NONE);
  }

  public CompletableFuture<Void> merge(byte[] key, byte[] operand) {
    return merge(KeyGroups.DEFAULT, key, operand);
  }

  /** A batch, validated as a whole by the daemon (one bad op rejects it all) and applied atomically per shard. */
  public CompletableFuture<Void> write(List<WriteOp> ops) {
    return connection.send(Protocol.WRITE, (w, id) -> Codec.write(w, id, ops), NONE);
  }

  /**
   * Deletes every key in {@code [gte, lt)} of {@code keyGroup} (null: in every key group; a null bound: no
   * bound on that side), in request order with this client's other requests. Protocol version 2: on a daemon
   * that speaks only version 1 it fails with VERSION without sending anything ({@link #supportsDeleteRange}).
   */
  public CompletableFuture<Void> deleteRange(Integer keyGroup, byte[] gte, byte[] lt) {
    if (!supportsDeleteRange()) {
      return CompletableFuture.failedFuture(new FloeException(FloeException.Code.VERSION, "deleteRange needs protocol version 2, but the daemon speaks version "
          + server().version() + " on this connection; upgrade the daemon"));
    }
    return connection.send(Protocol.DELETE_RANGE, (w, id) -> Codec.deleteRange(w, id, keyGroup, gte, lt), NONE);
  }

  /** True when the connection negotiated protocol version 2 or later (DELETE_RANGE). */
  public boolean supportsDeleteRange() {
    return server().version() >= 2;
  }

  /** The values of {@code keys} (all in {@code keyGroup}) in order, null where absent. */
  public CompletableFuture<List<byte[]>> multiGet(int keyGroup, List<byte[]> keys) {
    int n = keys == null ? 0 : keys.size();
    return connection.send(Protocol.MULTI_GET, (w, id) -> Codec.multiGet(w, id, keyGroup, keys), p -> Codec.parseMultiGetOk(p, n));
  }

  public CompletableFuture<List<byte[]>> multiGet(List<byte[]> keys) {
    return multiGet(KeyGroups.DEFAULT, keys);
  }

  /**
   * Opens a scan now (its snapshot is taken at this point of the request order) and returns its cursor;
   * pages are read with {@link FloeScan#nextPage}. Close the scan when stopping early.
   */
  public FloeScan scan(ScanOptions options) {
    CompletableFuture<ScanPage> first = connection.send(Protocol.SCAN, (w, id) -> Codec.scan(w, id, options), Codec::parsePage);
    return new FloeScan(this, first);
  }

  /** Every entry of a scan, all pages collected. */
  public CompletableFuture<List<ScanEntry>> scanAll(ScanOptions options) {
    FloeScan scan = scan(options);
    List<ScanEntry> all = new ArrayList<>();
    return collect(scan, all);
  }

  private static CompletableFuture<List<ScanEntry>> collect(FloeScan scan, List<ScanEntry> all) {
    return scan.nextPage().thenCompose(page -> {
      all.addAll(page.entries());
      return page.done() ? CompletableFuture.completedFuture(all) : collect(scan, all);
    });
  }

  CompletableFuture<ScanPage> scanNext(long cursor) {
    return connection.send(Protocol.SCAN_NEXT, (w, id) -> Codec.cursor(w, Protocol.SCAN_NEXT, id, cursor), Codec::parsePage);
  }

  CompletableFuture<Void> scanClose(long cursor) {
    return connection.send(Protocol.SCAN_CLOSE, (w, id) -> Codec.cursor(w, Protocol.SCAN_CLOSE, id, cursor), NONE);
  }

  /** Makes durable every write the daemon read before this request (from any connection). */
  public CompletableFuture<Void> flush() {
    return connection.send(Protocol.FLUSH, (w, id) -> Codec.empty(w, Protocol.FLUSH, id), NONE);
  }

  /** A checkpoint of the daemon's store (by reference: no files are copied). */
  public CompletableFuture<CheckpointHandle> checkpoint() {
    return connection.send(Protocol.CHECKPOINT, (w, id) -> Codec.empty(w, Protocol.CHECKPOINT, id), p -> new CheckpointHandle(Codec.parseUtf8(p)));
  }

  /** Releases a checkpoint, so the files only it references can be collected. */
  public CompletableFuture<Void> releaseCheckpoint(CheckpointHandle handle) {
    return connection.send(Protocol.RELEASE_CHECKPOINT, (w, id) -> Codec.releaseCheckpoint(w, id, handle), NONE);
  }

  /** The store's statistics and a {@code daemon} object, as the daemon's JSON. */
  public CompletableFuture<String> stats() {
    return connection.send(Protocol.STATS, (w, id) -> Codec.empty(w, Protocol.STATS, id), Codec::parseUtf8);
  }

  /**
   * Binds this connection to the named store of {@code options} (creating or restoring it, see
   * {@link StoreOptions}); every later request on this client acts on that store. A barrier in request
   * order: requests issued after this call see the named store. INVALID_ARGUMENT when already bound (close
   * first), for a bad name or range, or a handle the daemon cannot use.
   */
  public CompletableFuture<StoreInfo> openStore(StoreOptions options) {
    return connection.send(Protocol.OPEN_STORE, (w, id) -> Codec.openStore(w, id, options), p -> StoreInfo.parse(Codec.parseUtf8(p)));
  }

  /**
   * Unbinds this connection from its named store (back to the daemon's default store). With {@code drop} the
   * store is retired once no other connection holds it, as an ephemeral store is.
   */
  public CompletableFuture<Void> closeStore(boolean drop) {
    return connection.send(Protocol.CLOSE_STORE, (w, id) -> Codec.closeStore(w, id, drop), NONE);
  }

  /** Echoes {@code data} (at most 64 KiB). */
  public CompletableFuture<byte[]> ping(byte[] data) {
    return connection.send(Protocol.PING, (w, id) -> Codec.ping(w, id, data), p -> p);
  }

  /**
   * Flushes the daemon (unless {@code flushOnClose} is off, the connection is broken, or this is called from a
   * completion callback), waits up to {@code closeTimeout} for outstanding requests (not from a callback),
   * then disconnects. Later requests fail with CLOSED.
   * Idempotent. Throws the flush's FloeException after disconnecting, if the flush failed.
   */
  @Override
  public void close() {
    synchronized (closeLock) {
      if (closed) return;
      closed = true;
    }
    FloeException flushError = null;
    // From a completion callback (the reader thread) the flush's answer could never be read: skip it.
    if (options.flushOnClose && !connection.onOwnThread()) {
      try {
        flush().join();
      } catch (RuntimeException e) {
        FloeException f = FloeException.unwrap(e);
        // A broken connection has nothing to flush through; anything else is worth reporting.
        if (f == null || (f.code() != FloeException.Code.IO && f.code() != FloeException.Code.CLOSED)) {
          flushError = f != null ? f : new FloeException(FloeException.Code.IO, "flush on close failed: " + e, false, "", e);
        }
      }
    }
    connection.close(options.closeTimeout);
    if (flushError != null) throw flushError;
  }
}
