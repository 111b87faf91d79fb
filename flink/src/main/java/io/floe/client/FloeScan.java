package io.floe.client;

import java.util.concurrent.CompletableFuture;

/**
 * The cursor of one scan (docs/protocol.md, "Scans"): the daemon holds the scan's snapshot until the last
 * page was read or {@link #close} is called. One page is read ahead: once a page handed out by
 * {@link #nextPage} arrives and is not the last, the next one is requested at once. Thread-safe; pages are
 * handed out in order.
 */
public final class FloeScan implements AutoCloseable {
  private final FloeClient client;
  /** The next page to hand out; completes with null after the last page. */
  private CompletableFuture<ScanPage> ahead;
  /** The daemon's cursor once a page named it; 0 before. */
  private long cursor;
  private boolean done;
  private boolean closed;

  FloeScan(FloeClient client, CompletableFuture<ScanPage> first) {
    this.client = client;
    this.ahead = track(first);
  }

  /** Records what a page says; a page landing after close() closes the cursor it names. */
  private CompletableFuture<ScanPage> track(CompletableFuture<ScanPage> page) {
    return page.thenApply(p -> {
      boolean closeNow;
      synchronized (this) {
        if (p.done()) done = true;
        else cursor = p.cursor();
        closeNow = closed && !p.done();
      }
      if (closeNow) client.scanClose(p.cursor());
      return p;
    });
  }

  /**
   * The next page (its {@code done} flag says whether more follow). After the last page, an empty last
   * page. Fails with the scan's error (the cursor is then gone), or CLOSED after {@link #close}.
   */
  public synchronized CompletableFuture<ScanPage> nextPage() {
    if (closed) return CompletableFuture.failedFuture(new FloeException(FloeException.Code.CLOSED, "this scan was closed; open a new one"));
    CompletableFuture<ScanPage> current = ahead;
    // Read ahead: once this page arrives, ask for the next (a null "page" marks the end).
    ahead = current.thenCompose(p -> p == null || p.done() ? CompletableFuture.completedFuture(null) : readAhead(p.cursor()));
    return current.thenApply(p -> p == null ? ScanPage.END : p);
  }

  private CompletableFuture<ScanPage> readAhead(long c) {
    synchronized (this) {
      if (closed) return CompletableFuture.completedFuture(null);
    }
    return track(client.scanNext(c));
  }

  /** True once the last page arrived (the daemon released the cursor). */
  public synchronized boolean isDone() {
    return done;
  }

  /** Releases the daemon's cursor (SCAN_CLOSE) unless the scan is done. Idempotent. */
  @Override
  public void close() {
    long c;
    synchronized (this) {
      if (closed) return;
      closed = true;
      c = done ? 0 : cursor;
    }
    if (c != 0) client.scanClose(c);
  }
}
