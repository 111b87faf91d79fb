package io.floe.client;

import java.time.Duration;

/**
 * Options of {@link FloeClient#connect}. Immutable; each {@code with} returns a copy.
 *
 * <ul>
 *   <li>{@code maxInFlight}: requests outstanding at once (default 1024). The effective bound is the lower of
 *       this and the daemon's announced maxInFlight; a caller beyond it blocks until responses drain
 *       (backpressure), except on the client's reader thread (see {@link FloeClient}).</li>
 *   <li>{@code connectTimeout}: how long connecting and the handshake may take (default 10 s).</li>
 *   <li>{@code closeTimeout}: how long {@link FloeClient#close} waits for outstanding requests (default 30 s).</li>
 *   <li>{@code flushOnClose}: {@code close()} flushes the daemon first (default true), as the TypeScript client.</li>
 *   <li>{@code versions}: the protocol versions offered in HELLO (default 1..2; tests use others).</li>
 * </ul>
 */
public final class ClientOptions {
  final int maxInFlight;
  final Duration connectTimeout;
  final Duration closeTimeout;
  final boolean flushOnClose;
  final int minVersion;
  final int maxVersion;

  private ClientOptions(int maxInFlight, Duration connectTimeout, Duration closeTimeout, boolean flushOnClose, int minVersion, int maxVersion) {
    this.maxInFlight = maxInFlight;
    this.connectTimeout = connectTimeout;
    this.closeTimeout = closeTimeout;
    this.flushOnClose = flushOnClose;
    this.minVersion = minVersion;
    this.maxVersion = maxVersion;
  }

  public static ClientOptions defaults() {
    return new ClientOptions(Protocol.DEFAULT_MAX_IN_FLIGHT, Duration.ofSeconds(10), Duration.ofSeconds(30), true, Protocol.MIN_VERSION, Protocol.VERSION);
  }

  public ClientOptions maxInFlight(int n) {
    if (n < 1) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "maxInFlight must be at least 1, got " + n);
    return new ClientOptions(n, connectTimeout, closeTimeout, flushOnClose, minVersion, maxVersion);
  }

  public ClientOptions connectTimeout(Duration d) {
    return new ClientOptions(maxInFlight, positive(d, "connectTimeout"), closeTimeout, flushOnClose, minVersion, maxVersion);
  }

  public ClientOptions closeTimeout(Duration d) {
    return new ClientOptions(maxInFlight, connectTimeout, positive(d, "closeTimeout"), flushOnClose, minVersion, maxVersion);
  }

  public ClientOptions flushOnClose(boolean flush) {
    return new ClientOptions(maxInFlight, connectTimeout, closeTimeout, flush, minVersion, maxVersion);
  }

  /** The protocol versions to offer (u16 each, min <= max). This client speaks 1 and 2. */
  public ClientOptions versions(int min, int max) {
    if (min < 0 || max > 0xffff || min > max) {
      throw new FloeException(FloeException.Code.INVALID_ARGUMENT, "versions must satisfy 0 <= min <= max <= 65535, got " + min + ".." + max);
    }
    return new ClientOptions(maxInFlight, connectTimeout, closeTimeout, flushOnClose, min, max);
  }

  private static Duration positive(Duration d, String what) {
    if (d == null || d.isNegative() || d.isZero()) throw new FloeException(FloeException.Code.INVALID_ARGUMENT, what + " must be a positive duration, got " + d);
    return d;
  }
}
