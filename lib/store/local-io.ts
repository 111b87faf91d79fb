/**
 * Positional reads and writes of the local-filesystem object store (local.ts). Reads up to a block or a few
 * may be synchronous (see SYNC_READ_LIMIT in local.ts); the others go through the thread pool.
 */
import { readSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** Writes all of `bytes` at `position` (a single write may be partial). */
export async function writeAll(fh: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, position + done);
    done += bytesWritten;
  }
}

/**
 * `readAt` done synchronously on `fd` (REQUIRES: the fd stays open for the call, as a FileHandleCache slot
 * in use guarantees). Errors are the same errno errors the async read raises, mapped by the caller.
 */
export function readAtSync(fd: number, start: number, want: number): Uint8Array {
  const buf = Buffer.allocUnsafeSlow(want);
  let got = 0;
  while (got < want) {
    const bytesRead = readSync(fd, buf, got, want - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, got);
}

/**
 * Reads up to `want` bytes at `start` of `fd` into `dest[0, want)` synchronously; returns how many (fewer at
 * the end of the file). REQUIRES: as readAtSync, and dest.length >= want. Errors are errno errors.
 */
export function readIntoAtSync(fd: number, start: number, want: number, dest: Uint8Array): number {
  let got = 0;
  while (got < want) {
    const bytesRead = readSync(fd, dest, got, want - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** Reads up to `want` bytes at `start` into a buffer with its own ArrayBuffer (callers may transfer it). */
export async function readAt(fh: FileHandle, start: number, want: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafeSlow(want);
  let got = 0;
  while (got < want) {
    const { bytesRead } = await fh.read(buf, got, want - got, start + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  // A plain Uint8Array view: Buffer's slice() would not copy, which surprises Uint8Array callers.
  return new Uint8Array(buf.buffer, buf.byteOffset, got);
}
