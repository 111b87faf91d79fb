package io.floe.client;

import java.util.List;

/**
 * One page of a scan: the daemon's cursor for SCAN_NEXT (0 once done), whether this is the last page, and
 * its entries.
 */
public record ScanPage(long cursor, boolean done, List<ScanEntry> entries) {
  static final ScanPage END = new ScanPage(0, true, List.of());
}
