/** Random access to the bytes of one immutable remote file, possibly through caches. */
export interface ByteSource {
  /** PROMISES: exactly `length` bytes or a FloeError (IO for short reads / backend failures). */
  read(offset: number, length: number, options?: { signal?: AbortSignal; fillCache?: boolean }): Promise<Uint8Array>;
  /**
   * Optional synchronous read into `dest[0, length)` for sources that can serve it without waiting (a local
   * file whose handle is open). PROMISES: true when exactly `length` bytes were written to `dest`; false when
   * the read was not served (unsupported now, short, any failure), and the caller then uses `read`, which
   * reports errors. Never throws. REQUIRES dest.length >= length.
   */
  readIntoSync?(offset: number, length: number, dest: Uint8Array): boolean;
}
