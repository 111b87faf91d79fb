/**
 * The object-store interface: every byte Floe keeps on primary storage goes through it.
 *
 * Paths are relative to the store's root, '/'-separated, without a leading '/', built only by
 * `lib/store/paths.ts`. Objects are immutable once written: nobody overwrites an object, except that a
 * plain `put` of the same bytes after a failed attempt must succeed (retries). Only create-if-absent writes
 * (`ifNoneMatch`) coordinate writers.
 *
 * Errors are FloeError: `NOT_FOUND` for a missing object, `ALREADY_EXISTS` for a lost create-if-absent
 * race, `IO` (with `retryable`) for failures of the backend, `CONFIG` for wrong bucket/credentials/URI.
 */

export interface GetRange {
  offset: number;
  /** Bytes to read from `offset`; omitted = to the end of the object. */
  length?: number;
}

export interface ObjectInfo {
  /** Path relative to the store root. */
  path: string;
  size: number;
  /** Last-modified time in ms since the epoch, when the backend knows it (used by GC grace periods). */
  mtimeMs?: number;
}

export interface PutOptions {
  /** Create-if-absent: fail with ALREADY_EXISTS if the object exists. Atomic on every backend. */
  ifNoneMatch?: boolean;
  signal?: AbortSignal;
  /**
   * putStream only: the caller streams more than it can hold (a compaction output), so no layer may keep
   * consumed chunks to replay them. A retrying layer then retries only an attempt that failed before it
   * consumed a chunk; any later failure reaches the caller, which regenerates the stream if it wants to.
   */
  noReplay?: boolean;
}

export interface GetOptions {
  signal?: AbortSignal;
}

export interface ObjectStore {
  /** Human-readable root URI (e.g. 's3://bucket/prefix'), used in error messages. */
  readonly uri: string;

  /**
   * Reads an object, or the byte range of it. PROMISES: returns bytes [offset, min(offset+length, size));
   * a range starting at or past the end returns an empty array. Callers that need an exact length check it
   * (a short result is how a torn or truncated object shows).
   */
  get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array>;

  /**
   * Optional: a synchronous ranged read for backends whose reads are local and fast (the file:// store's
   * block reads), so a block-cache miss costs no promise. Reads bytes [offset, offset + length) of `path`
   * into `dest[0, length)` and returns how many it read (fewer at the end of the object), or -1 when it does
   * not serve this read synchronously (not supported for this size, no open handle yet, any error): the
   * caller then uses `get`, which retries, maps and counts errors as usual. Never throws.
   * REQUIRES: dest.length >= length.
   */
  readIntoSync?(path: string, offset: number, length: number, dest: Uint8Array): number;

  /** Writes a whole object; it becomes visible atomically (readers never see a partial object). */
  put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void>;

  /**
   * Writes a large object from chunks (multipart upload where the backend has it). Visible atomically on
   * success; nothing visible on failure.
   */
  putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void>;

  /** Size (and mtime) of an object, or undefined if it does not exist. */
  head(path: string): Promise<ObjectInfo | undefined>;

  /** Every object whose path starts with `prefix`, recursively, sorted by path. */
  list(prefix: string): Promise<ObjectInfo[]>;

  /** Deletes an object; deleting a missing object is not an error. */
  delete(path: string): Promise<void>;

  /** Releases sockets/handles. Idempotent. */
  close(): Promise<void>;
}
