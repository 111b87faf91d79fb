/**
 * Argument checks shared by every object-store backend, so that all of them reject the same malformed
 * paths and ranges with the same INVALID_ARGUMENT errors (the contract suite checks this), and clip ranges
 * the same way.
 */
import { FloeError } from '../errors.js';
import type { GetRange } from './object-store.js';

/**
 * Checks an object path: relative, '/'-separated, no leading or trailing '/', no empty, '.' or '..'
 * segments, no backslash or NUL. PROMISES: returns `path` unchanged or throws INVALID_ARGUMENT naming the
 * store URI and the path.
 */
export function checkObjectPath(path: string, uri: string): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw new FloeError('INVALID_ARGUMENT', `object path must be a non-empty string (store ${uri}); build paths with lib/store/paths.ts`);
  }
  if (path.length > 1024 || !isCleanRelative(path)) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `object path ${JSON.stringify(path)} is not valid for store ${uri}: use at most 1024 characters of '/'-separated segments, ` +
        `without a leading or trailing '/', empty, '.' or '..' segments, backslashes or NUL; build paths with lib/store/paths.ts`,
      { path },
    );
  }
  return path;
}

/** Checks a list prefix: '' (everything) or a string that could begin a valid path. */
export function checkListPrefix(prefix: string, uri: string): string {
  if (typeof prefix !== 'string') {
    throw new FloeError('INVALID_ARGUMENT', `list prefix must be a string (store ${uri})`);
  }
  if (prefix === '') return prefix;
  // Everything before the last '/' must be whole clean segments; the last part may be a partial segment.
  const lastSlash = prefix.lastIndexOf('/');
  const whole = lastSlash < 0 ? '' : prefix.slice(0, lastSlash);
  if (lastSlash === 0 || prefix.includes('\\') || prefix.includes('\0') || (whole !== '' && !isCleanRelative(whole))) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `list prefix ${JSON.stringify(prefix)} is not valid for store ${uri}: use '' or the beginning of a relative path ` +
        `without a leading '/', empty, '.' or '..' segments, backslashes or NUL`,
      { path: prefix },
    );
  }
  return prefix;
}

/** One pass, no allocation (this runs on every get): segments non-empty, not '.' or '..', no '\\' or NUL. */
function isCleanRelative(path: string): boolean {
  let start = 0;
  for (let i = 0; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : SLASH;
    if (c === BACKSLASH || c === 0) return false;
    if (c !== SLASH) continue;
    const len = i - start;
    if (len === 0) return false;
    if (len <= 2 && path.charCodeAt(start) === DOT && (len === 1 || path.charCodeAt(start + 1) === DOT)) return false;
    start = i + 1;
  }
  return true;
}

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

/**
 * Checks a range and clips it to an object of `size` bytes. PROMISES: `0 <= start <= end <= size`;
 * a range at or past the end gives `start === end`. Throws INVALID_ARGUMENT for a negative or non-integer
 * offset or length.
 */
export function clipRange(range: GetRange | undefined, size: number, uri: string, path: string): { start: number; end: number } {
  if (range === undefined) return { start: 0, end: size };
  checkRange(range, uri, path);
  const start = Math.min(range.offset, size);
  const end = range.length === undefined ? size : Math.min(size, start + range.length);
  return { start, end };
}

/** Throws INVALID_ARGUMENT unless offset (and length, when given) are non-negative safe integers. */
export function checkRange(range: GetRange, uri: string, path: string): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0 || (length !== undefined && (!Number.isSafeInteger(length) || length < 0))) {
    throw new FloeError(
      'INVALID_ARGUMENT',
      `get range {offset: ${offset}, length: ${length}} for ${path} in ${uri} is not valid: offset and length must be non-negative integers`,
      { path },
    );
  }
}

/** Rejects with the signal's reason if it has been aborted (the Node convention for cancelled work). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason;
}

/** A FloeError for a missing object; every backend uses this wording. */
export function notFound(uri: string, path: string, cause?: unknown): FloeError {
  return new FloeError('NOT_FOUND', `object ${path} does not exist in ${uri}`, { path, cause });
}

/** A FloeError for a create-if-absent write that found the object present. */
export function alreadyExists(uri: string, path: string, cause?: unknown): FloeError {
  return new FloeError(
    'ALREADY_EXISTS',
    `object ${path} already exists in ${uri}; a create-if-absent write does not overwrite (another writer created it first)`,
    { path, cause },
  );
}

/** A FloeError for an operation on a closed store. */
export function closedStore(uri: string): FloeError {
  return new FloeError('CLOSED', `object store ${uri} is closed; open a new one`);
}

/** Checks the bytes of a put. PROMISES: returns normally only for a Uint8Array. */
export function checkBytes(bytes: unknown, path: string, uri: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new FloeError('INVALID_ARGUMENT', `bytes written to ${path} in ${uri} must be a Uint8Array`, { path });
  }
}
