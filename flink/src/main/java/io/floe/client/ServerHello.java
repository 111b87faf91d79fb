package io.floe.client;

/** What the daemon announced in its HELLO answer: protocol version, shards and limits, and its name. */
public record ServerHello(int version, int shards, long maxKeyGroups, long maxFrameBytes, long maxInFlight, String server) {}
