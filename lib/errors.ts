/**
 * Floe's one error type. `code` is stable and meant for programs; `message` says what went wrong and what
 * to do about it; internal detail (the underlying exception) goes in `cause`.
 */
export type FloeErrorCode =
  | 'INVALID_ARGUMENT' // the caller passed something malformed: fix the call
  | 'CONFIG' // options or config file are wrong: fix the configuration
  | 'CORRUPTION' // a file failed validation: restore from a checkpoint
  | 'IO' // the object store or disk failed; see `retryable`
  | 'FENCED' // another writer took over this instance: stop writing, reopen if needed
  | 'CLOSED' // the store was closed: open a new one
  | 'BUSY' // too much work in flight: retry later
  | 'PROTOCOL' // a malformed socket frame or unexpected message
  | 'VERSION' // a file, handle or frame of an unsupported version
  | 'NOT_FOUND' // object-store level: the object does not exist
  | 'ALREADY_EXISTS'; // object-store level: a create-if-absent write found the object present

export interface FloeErrorOptions {
  cause?: unknown;
  retryable?: boolean;
  /** Object path or URI the error is about, when there is one. */
  path?: string;
}

export class FloeError extends Error {
  readonly code: FloeErrorCode;
  readonly retryable: boolean;
  readonly path?: string;

  constructor(code: FloeErrorCode, message: string, options: FloeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FloeError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.path !== undefined) this.path = options.path;
  }

  /** Plain-object form for logs and the socket protocol. */
  toJSON(): { code: FloeErrorCode; message: string; retryable: boolean; path?: string } {
    return { code: this.code, message: this.message, retryable: this.retryable, ...(this.path ? { path: this.path } : {}) };
  }
}

export function isFloeError(e: unknown, code?: FloeErrorCode): e is FloeError {
  return e instanceof FloeError && (code === undefined || e.code === code);
}

export const invalidArgument = (message: string): FloeError => new FloeError('INVALID_ARGUMENT', message);
export const configError = (message: string, cause?: unknown): FloeError => new FloeError('CONFIG', message, { cause });
export const corruption = (path: string, what: string, cause?: unknown): FloeError =>
  new FloeError('CORRUPTION', `corrupt file ${path}: ${what}. The file cannot be trusted; restore from a checkpoint or a replica.`, {
    path,
    cause,
  });
