package io.floe.client;

/**
 * The error of every Floe operation: a stable {@link Code} (the same codes as the TypeScript {@code FloeError}
 * and the protocol's ERROR frames), whether retrying may succeed, the object it is about (may be empty), and
 * a message that says what is wrong and what to do.
 *
 * <p>Futures returned by {@link FloeClient} complete exceptionally with this exception.
 */
public final class FloeException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** The error codes of docs/protocol.md ("Errors"). */
  public enum Code {
    INVALID_ARGUMENT,
    CONFIG,
    CORRUPTION,
    IO,
    FENCED,
    CLOSED,
    BUSY,
    PROTOCOL,
    VERSION,
    NOT_FOUND,
    ALREADY_EXISTS;

    /** The code named {@code name}, or null when this client does not know it. */
    static Code parse(String name) {
      for (Code c : values()) if (c.name().equals(name)) return c;
      return null;
    }
  }

  private final Code code;
  private final boolean retryable;
  private final String path;

  public FloeException(Code code, String message) {
    this(code, message, false, "", null);
  }

  public FloeException(Code code, String message, boolean retryable, String path, Throwable cause) {
    super(message, cause);
    this.code = code;
    this.retryable = retryable;
    this.path = path == null ? "" : path;
  }

  public Code code() {
    return code;
  }

  /** True when the same request may succeed if sent again (e.g. IO after a broken connection, BUSY). */
  public boolean retryable() {
    return retryable;
  }

  /** The object the error is about (an object-store path, ...); empty when none. */
  public String path() {
    return path;
  }

  @Override
  public String toString() {
    return "FloeException[" + code + (retryable ? ", retryable" : "") + (path.isEmpty() ? "" : ", " + path) + "]: " + getMessage();
  }

  /** The FloeException inside a future's failure (CompletionException/ExecutionException wrap it), or null. */
  public static FloeException unwrap(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause()) if (c instanceof FloeException) return (FloeException) c;
    return null;
  }
}
