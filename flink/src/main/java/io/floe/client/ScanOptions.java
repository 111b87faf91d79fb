package io.floe.client;

/**
 * What a scan covers (docs/protocol.md, "Scans"): optionally one key group, a key range [gte, lt) and/or a
 * prefix within it, a limit on the number of entries, and a page-size hint. Immutable; each {@code with}
 * returns a copy.
 */
public final class ScanOptions {
  final Integer keyGroup;
  final Long limit;
  final byte[] gte;
  final byte[] lt;
  final byte[] prefix;
  final int pageBytes;

  private ScanOptions(Integer keyGroup, Long limit, byte[] gte, byte[] lt, byte[] prefix, int pageBytes) {
    this.keyGroup = keyGroup;
    this.limit = limit;
    this.gte = gte;
    this.lt = lt;
    this.prefix = prefix;
    this.pageBytes = pageBytes;
  }

  /** Every key group, every key, no limit, the daemon's default page size. */
  public static ScanOptions all() {
    return new ScanOptions(null, null, null, null, null, 0);
  }

  /** Only key group {@code kg} (in [0, maxKeyGroups)). */
  public ScanOptions keyGroup(int kg) {
    return new ScanOptions(kg, limit, gte, lt, prefix, pageBytes);
  }

  /** At most {@code n} entries (n >= 0). */
  public ScanOptions limit(long n) {
    return new ScanOptions(keyGroup, n, gte, lt, prefix, pageBytes);
  }

  /** Keys >= {@code key}. */
  public ScanOptions gte(byte[] key) {
    return new ScanOptions(keyGroup, limit, key, lt, prefix, pageBytes);
  }

  /** Keys < {@code key}. */
  public ScanOptions lt(byte[] key) {
    return new ScanOptions(keyGroup, limit, gte, key, prefix, pageBytes);
  }

  /** Keys starting with {@code p}. */
  public ScanOptions prefix(byte[] p) {
    return new ScanOptions(keyGroup, limit, gte, lt, p, pageBytes);
  }

  /** Page-size hint in bytes; 0 = the daemon's default (256 KiB); the daemon clamps it to [4 KiB, 4 MiB]. */
  public ScanOptions pageBytes(int bytes) {
    return new ScanOptions(keyGroup, limit, gte, lt, prefix, bytes);
  }
}
