package io.floe.client;

import java.util.Objects;

/** One operation of a {@link FloeClient#write} batch. {@code value} is null for a delete. */
public record WriteOp(Type type, int keyGroup, byte[] key, byte[] value) {
  public enum Type {
    PUT(1), DELETE(2), MERGE(3);

    final int wire;

    Type(int wire) {
      this.wire = wire;
    }
  }

  public WriteOp {
    Objects.requireNonNull(type, "type");
  }

  public static WriteOp put(int keyGroup, byte[] key, byte[] value) {
    return new WriteOp(Type.PUT, keyGroup, key, value);
  }

  public static WriteOp delete(int keyGroup, byte[] key) {
    return new WriteOp(Type.DELETE, keyGroup, key, null);
  }

  public static WriteOp merge(int keyGroup, byte[] key, byte[] operand) {
    return new WriteOp(Type.MERGE, keyGroup, key, operand);
  }
}
