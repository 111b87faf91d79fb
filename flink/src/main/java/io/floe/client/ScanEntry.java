package io.floe.client;

/** One entry of a scan, in (keyGroup, key bytes) order. */
public record ScanEntry(int keyGroup, byte[] key, byte[] value) {}
