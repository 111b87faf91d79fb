/** Random access to the bytes of one immutable remote file, possibly through caches. */
export interface ByteSource {
  /** PROMISES: exactly `length` bytes or a FloeError (IO for short reads / backend failures). */
  read(offset: number, length: number, options?: { signal?: AbortSignal; fillCache?: boolean }): Promise<Uint8Array>;
}
