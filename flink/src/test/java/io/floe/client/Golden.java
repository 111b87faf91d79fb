package io.floe.client;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

/** The shared golden frames in test/golden/protocol/ (see its README.md), and the repository root. */
public final class Golden {
  private Golden() {}

  /** The repository root (set by the pom as -Dfloe.root; defaults to the parent of the working directory). */
  public static Path root() {
    String r = System.getProperty("floe.root");
    return (r != null ? Path.of(r) : Path.of("..")).toAbsolutePath().normalize();
  }

  /** The bytes of test/golden/protocol/NAME.hex: hex digits; whitespace and # comments ignored. */
  static byte[] bytes(String name) {
    Path p = root().resolve("test/golden/protocol/" + name + ".hex");
    String text;
    try {
      text = Files.readString(p, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the golden frame " + p, e);
    }
    String hex = text.replaceAll("#[^\\n]*", "").replaceAll("\\s+", "");
    return HexFormat.of().parseHex(hex);
  }

  static String hex(byte[] b) {
    return HexFormat.of().formatHex(b);
  }
}
