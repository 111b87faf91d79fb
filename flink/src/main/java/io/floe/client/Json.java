package io.floe.client;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The little JSON this client needs: quoting strings for requests it builds (OPEN_STORE) and parsing the
 * daemon's small answers into maps, lists, strings, numbers (as {@code Double} or {@code Long}), booleans
 * and null. Checkpoint handles are never parsed: they travel as the daemon's own text.
 */
public final class Json {
  private Json() {}

  /** {@code s} as a JSON string literal. */
  public static String quote(String s) {
    StringBuilder b = new StringBuilder(s.length() + 2).append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
          else b.append(c);
      }
    }
    return b.append('"').toString();
  }

  /** Parses one JSON value; throws PROTOCOL (naming {@code what}) when {@code text} is not JSON. */
  public static Object parse(String text, String what) {
    Parser p = new Parser(text, what);
    Object v = p.value();
    p.ws();
    if (p.i != text.length()) throw p.fail("trailing characters");
    return v;
  }

  private static final class Parser {
    final String s;
    final String what;
    int i;

    Parser(String s, String what) {
      this.s = s;
      this.what = what;
    }

    FloeException fail(String why) {
      return Codec.protocolError("malformed JSON in " + what + " at offset " + i + ": " + why);
    }

    void ws() {
      while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
    }

    Object value() {
      ws();
      if (i >= s.length()) throw fail("unexpected end");
      char c = s.charAt(i);
      if (c == '{') return object();
      if (c == '[') return array();
      if (c == '"') return string();
      if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
      if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
      if (s.startsWith("null", i)) { i += 4; return null; }
      return number();
    }

    Map<String, Object> object() {
      Map<String, Object> m = new LinkedHashMap<>();
      i++;
      ws();
      if (i < s.length() && s.charAt(i) == '}') { i++; return m; }
      while (true) {
        ws();
        if (i >= s.length() || s.charAt(i) != '"') throw fail("expected a member name");
        String k = string();
        ws();
        if (i >= s.length() || s.charAt(i) != ':') throw fail("expected ':'");
        i++;
        m.put(k, value());
        ws();
        if (i >= s.length()) throw fail("unterminated object");
        char c = s.charAt(i++);
        if (c == '}') return m;
        if (c != ',') throw fail("expected ',' or '}'");
      }
    }

    List<Object> array() {
      List<Object> a = new ArrayList<>();
      i++;
      ws();
      if (i < s.length() && s.charAt(i) == ']') { i++; return a; }
      while (true) {
        a.add(value());
        ws();
        if (i >= s.length()) throw fail("unterminated array");
        char c = s.charAt(i++);
        if (c == ']') return a;
        if (c != ',') throw fail("expected ',' or ']'");
      }
    }

    String string() {
      StringBuilder b = new StringBuilder();
      i++;
      while (true) {
        if (i >= s.length()) throw fail("unterminated string");
        char c = s.charAt(i++);
        if (c == '"') return b.toString();
        if (c != '\\') { b.append(c); continue; }
        if (i >= s.length()) throw fail("unterminated escape");
        char e = s.charAt(i++);
        switch (e) {
          case 'n': b.append('\n'); break;
          case 'r': b.append('\r'); break;
          case 't': b.append('\t'); break;
          case 'b': b.append('\b'); break;
          case 'f': b.append('\f'); break;
          case 'u':
            if (i + 4 > s.length()) throw fail("short \\u escape");
            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
            i += 4;
            break;
          default: b.append(e);
        }
      }
    }

    Object number() {
      int start = i;
      while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
      String n = s.substring(start, i);
      if (n.isEmpty()) throw fail("unexpected character '" + s.charAt(i) + "'");
      try {
        if (n.indexOf('.') < 0 && n.indexOf('e') < 0 && n.indexOf('E') < 0) return Long.parseLong(n);
        return Double.parseDouble(n);
      } catch (NumberFormatException ex) {
        throw fail("bad number " + n);
      }
    }
  }
}
