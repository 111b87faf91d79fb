/**
 * Local-disk file I/O for caches and scratch files: positional read/write/fsync/truncate on one file, plus
 * the few folder operations a cache needs. It is the only module of lib/cache's dependencies that imports
 * `fs`, so tests can wrap a `LocalFs` to inject faults (torn writes, EIO, ENOSPC) without touching callers.
 *
 * Errors are FloeError: `IO` (retryable for passing conditions such as EAGAIN/EINTR/EIO), `CONFIG` for
 * permission and read-only problems. A missing file is not an error where the method says so.
 */
import { constants, readSync } from 'node:fs';
import { link, lstat, mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FloeError } from '../errors.js';
import { errnoOf, RETRYABLE_ERRNO } from './errno.js';

/** Positional I/O on one open local file. Concurrent calls are allowed (each is one positional syscall loop). */
export interface LocalFile {
  readonly path: string;
  /** Reads up to `length` bytes at `position`. PROMISES: fewer bytes only when the file ends first. */
  read(position: number, length: number): Promise<Uint8Array>;
  /**
   * Optional: `read` done synchronously on the calling thread (one pread loop, no thread-pool hop). For small
   * reads of data likely in the page cache (a disk-cache hit of a few KiB), where the hop costs more than the
   * read. Same contract and errors as `read`. Wrappers that do not provide it get `read`. With `into`
   * (REQUIRES into.length >= length) the bytes are read into it and the result is a view of it.
   */
  readSync?(position: number, length: number, into?: Uint8Array): Uint8Array;
  /** Writes all of `bytes` at `position` (extending the file if needed). Not durable until `sync`. */
  write(position: number, bytes: Uint8Array): Promise<void>;
  /**
   * Optional: writes `parts` back to back at `position` with one gathering syscall (pwritev), so a caller
   * need not copy a header and a payload into one buffer first. Same contract as `write` of their
   * concatenation. Wrappers that do not provide it get `write` of the concatenation (see `writeParts`).
   */
  writev?(position: number, parts: readonly Uint8Array[]): Promise<void>;
  /** fsync: data and size written so far survive a crash. */
  sync(): Promise<void>;
  /** Sets the file length; growing makes a sparse hole (no disk blocks used until written). */
  truncate(size: number): Promise<void>;
  /** Current length in bytes. */
  size(): Promise<number>;
  /** Releases the descriptor. Idempotent. */
  close(): Promise<void>;
}

/** How to open a file: read-write creating it if missing, or read-write truncated to empty (created if missing). */
export type LocalOpenMode = 'readwrite' | 'truncate';

export interface LocalFs {
  open(path: string, mode: LocalOpenMode): Promise<LocalFile>;
  /** The whole file, or undefined if it does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>;
  /** Atomically replaces `to` with `from` (same folder). */
  rename(from: string, to: string): Promise<void>;
  /** Deletes a file or folder tree; a missing one is not an error. */
  remove(path: string): Promise<void>;
  /** Creates a folder and its parents; an existing folder is fine. */
  mkdirp(path: string): Promise<void>;
  /** Whether `path` exists and is a folder. */
  isDirectory(path: string): Promise<boolean>;
  /**
   * Makes `to` a second name (hard link) of the existing file `from`, only if nothing exists at `to`:
   * true if linked, false if `to` already existed. Atomic, so a file written under a private name and then
   * linked appears complete or not at all (how lock files are published).
   */
  linkExclusive(from: string, to: string): Promise<boolean>;
  /** The entries of folder `path` (not following symbolic links), or undefined if it is missing or not a folder. */
  list(path: string): Promise<LocalEntry[] | undefined>;
}

/** One folder entry: its name, kind, apparent size and allocated bytes (st_blocks × 512). */
export interface LocalEntry {
  name: string;
  kind: 'file' | 'folder' | 'other';
  size: number;
  allocated: number;
}

/** Errno codes of passing conditions: retrying may succeed. */
/** Maps a Node fs error to a FloeError that names the file and what to do. */
export function localIoError(error: unknown, what: string, path: string): FloeError {
  const code = errnoOf(error);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new FloeError(
      'CONFIG',
      `cannot ${what} ${path} (${code}): the local folder must be writable by the user running Floe; fix its permissions or choose another localDir`,
      { cause: error, path },
    );
  }
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FloeError('IO', `cannot ${what} ${path}: the local disk is full (${code}); free space or lower the cache budget`, {
      cause: error,
      path,
    });
  }
  return new FloeError('IO', `cannot ${what} ${path}: ${code ?? String(error)}; check the local disk`, {
    cause: error,
    path,
    retryable: code !== undefined && RETRYABLE_ERRNO.has(code),
  });
}

class NodeLocalFile implements LocalFile {
  private closed = false;

  constructor(
    readonly path: string,
    private readonly handle: FileHandle,
  ) {}

  async read(position: number, length: number): Promise<Uint8Array> {
    // allocUnsafeSlow: never a slice of Node's shared pool, so callers may keep or transfer the buffer.
    const buf = Buffer.allocUnsafeSlow(length);
    let done = 0;
    try {
      while (done < length) {
        const { bytesRead } = await this.handle.read(buf, done, length - done, position + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (e) {
      throw localIoError(e, 'read', this.path);
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, done);
  }

  readSync(position: number, length: number, into?: Uint8Array): Uint8Array {
    if (this.closed) throw localIoError(Object.assign(new Error('file is closed'), { code: 'EBADF' }), 'read', this.path);
    if (into !== undefined && into.length < length) {
      throw new FloeError('INVALID_ARGUMENT', `readSync of ${length} bytes into a ${into.length}-byte buffer; pass a buffer of at least ${length} bytes`);
    }
    const buf = into ?? Buffer.allocUnsafeSlow(length);
    let done = 0;
    try {
      while (done < length) {
        const n = readSync(this.handle.fd, buf, done, length - done, position + done);
        if (n === 0) break;
        done += n;
      }
    } catch (e) {
      throw localIoError(e, 'read', this.path);
    }
    return new Uint8Array(buf.buffer, buf.byteOffset, done);
  }

  async write(position: number, bytes: Uint8Array): Promise<void> {
    let done = 0;
    try {
      while (done < bytes.length) {
        const { bytesWritten } = await this.handle.write(bytes, done, bytes.length - done, position + done);
        done += bytesWritten;
      }
    } catch (e) {
      throw localIoError(e, 'write', this.path);
    }
  }

  async writev(position: number, parts: readonly Uint8Array[]): Promise<void> {
    const total = parts.reduce((n, p) => n + p.length, 0);
    let done = 0;
    try {
      while (done < total) {
        const rest = done === 0 ? (parts as Uint8Array[]) : remainingParts(parts, done);
        const { bytesWritten } = await this.handle.writev(rest, position + done);
        done += bytesWritten;
      }
    } catch (e) {
      throw localIoError(e, 'write', this.path);
    }
  }

  async sync(): Promise<void> {
    try {
      await this.handle.sync();
    } catch (e) {
      throw localIoError(e, 'fsync', this.path);
    }
  }

  async truncate(size: number): Promise<void> {
    try {
      await this.handle.truncate(size);
    } catch (e) {
      throw localIoError(e, 'truncate', this.path);
    }
  }

  async size(): Promise<number> {
    try {
      return (await this.handle.stat()).size;
    } catch (e) {
      throw localIoError(e, 'stat', this.path);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.handle.close();
    } catch (e) {
      throw localIoError(e, 'close', this.path);
    }
  }
}

/** What is left of `parts` after their first `skip` bytes (a short pwritev resumes there). */
export function remainingParts(parts: readonly Uint8Array[], skip: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let left = skip;
  for (const p of parts) {
    if (left >= p.length) {
      left -= p.length;
      continue;
    }
    out.push(left > 0 ? p.subarray(left) : p);
    left = 0;
  }
  return out;
}

/** Writes `parts` back to back at `position`: one `writev` when the file has it, else one `write` of their concatenation. */
export function writeParts(file: LocalFile, position: number, parts: readonly Uint8Array[]): Promise<void> {
  if (file.writev !== undefined) return file.writev(position, parts);
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return file.write(position, all);
}

/** The real local filesystem. */
export const nodeLocalFs: LocalFs = {
  async open(path, mode) {
    // O_RDWR|O_CREAT without O_TRUNC keeps existing contents; 'w+' empties the file.
    const flags = mode === 'truncate' ? 'w+' : constants.O_RDWR | constants.O_CREAT;
    try {
      return new NodeLocalFile(path, await open(path, flags, 0o600));
    } catch (e) {
      throw localIoError(e, 'open', path);
    }
  },
  async readFile(path) {
    try {
      const buf = await readFile(path);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return undefined;
      throw localIoError(e, 'read', path);
    }
  },
  async rename(from, to) {
    try {
      await rename(from, to);
    } catch (e) {
      throw localIoError(e, `rename ${from} to`, to);
    }
  },
  async remove(path) {
    try {
      await rm(path, { recursive: true, force: true });
    } catch (e) {
      throw localIoError(e, 'remove', path);
    }
  },
  async mkdirp(path) {
    try {
      await mkdir(path, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw localIoError(e, 'create folder', path);
    }
  },
  async isDirectory(path) {
    try {
      return (await stat(path)).isDirectory();
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return false;
      throw localIoError(e, 'stat', path);
    }
  },
  async linkExclusive(from, to) {
    try {
      await link(from, to);
      return true;
    } catch (e) {
      if (errnoOf(e) === 'EEXIST') return false;
      throw localIoError(e, `link ${from} to`, to);
    }
  },
  async list(path) {
    let names: string[];
    try {
      names = await readdir(path);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return undefined;
      throw localIoError(e, 'list', path);
    }
    const out: LocalEntry[] = [];
    for (const name of names.sort()) {
      try {
        const st = await lstat(join(path, name));
        const kind = st.isDirectory() ? 'folder' : st.isFile() ? 'file' : 'other';
        out.push({ name, kind, size: st.size, allocated: st.blocks * 512 });
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') throw localIoError(e, 'stat', join(path, name)); // removed meanwhile: skip
      }
    }
    return out;
  },
};
