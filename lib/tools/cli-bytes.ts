/**
 * Keys and values on the command line: UTF-8 text by default, hex with `--hex` (for binary data). Output
 * uses the same encoding, so what `floe scan --hex` prints can be fed back to `floe get --hex`.
 */
import { FloeError } from '../errors.js';

/** Bytes of a command-line word. REQUIRES nothing; throws INVALID_ARGUMENT naming `what` for bad hex. */
export function parseBytes(text: string, hex: boolean, what: string): Uint8Array {
  if (!hex) return Buffer.from(text, 'utf8');
  const digits = text.startsWith('0x') || text.startsWith('0X') ? text.slice(2) : text;
  if (digits.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(digits)) {
    throw new FloeError('INVALID_ARGUMENT', `${what} ${JSON.stringify(text)} is not hex (pairs of 0-9a-f, optional 0x); drop --hex to give UTF-8 text`);
  }
  return Buffer.from(digits, 'hex');
}

/** Text of bytes for output: hex with `hex`, else UTF-8 (bytes that are not UTF-8 print as U+FFFD: use --hex). */
export function formatBytes(bytes: Uint8Array, hex: boolean): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return hex ? b.toString('hex') : b.toString('utf8');
}

/** A physical key ([keyGroup u16 BE][user key]) as `KEYGROUP:KEY`, the key in formatBytes' encoding. */
export function formatPhysicalKey(key: Uint8Array, hex: boolean): string {
  const kg = key.length >= 2 ? (key[0]! << 8) | key[1]! : 0;
  return `${kg}:${formatBytes(key.subarray(2), hex)}`;
}
