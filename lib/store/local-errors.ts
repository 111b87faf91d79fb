/**
 * Errors of the local-filesystem object store (local.ts): errno values mapped to FloeError with a message
 * that names the file, the object and the fix.
 */
import { errnoOf, RETRYABLE_ERRNO } from './errno.js';
import { FloeError } from '../errors.js';
import { alreadyExists, notFound } from './validate.js';

/** Errno codes that describe a passing condition: retrying the operation may succeed. */
interface ErrnoLike {
  code?: string;
  message?: string;
}

/** What `mapFsError` needs to say where and what: store URI and root, object path ('' = root), file, action. */
export interface FsErrorContext {
  uri: string;
  root: string;
  path: string;
  file: string;
  what: string;
}

/**
 * Maps a filesystem error to a FloeError. `what` describes the action ("read", "write", ...), `file` is
 * the filesystem path involved, `path` the object path (or '' for the root itself).
 *
 * Retryable IO: EAGAIN, EBUSY, EINTR, EMFILE, ENFILE, ETIMEDOUT, EIO, ESTALE, ECONNRESET, ENOMEM (transient
 * pressure, or faults of network filesystems; a persistent EIO still surfaces once retries run out).
 * Not retryable IO: ENOSPC, EDQUOT (an operator must free space) and every other errno.
 */
export function mapFsError(error: unknown, ctx: FsErrorContext): FloeError {
  const code = errnoOf(error);
  const where = `${ctx.file} (object ${ctx.path === '' ? '<root>' : ctx.path} in ${ctx.uri})`;
  switch (code) {
    case 'ENOENT':
      return notFound(ctx.uri, ctx.path, error);
    case 'EEXIST':
      return alreadyExists(ctx.uri, ctx.path, error);
    case 'EACCES':
    case 'EPERM':
      return new FloeError(
        'CONFIG',
        `permission denied (${code}) trying to ${ctx.what} ${where}: give the user running Floe read and write access to ` +
          `${ctx.root} and everything under it (chown/chmod), or choose another primary directory`,
        { cause: error, path: ctx.path },
      );
    case 'EROFS':
      return new FloeError(
        'CONFIG',
        `cannot ${ctx.what} ${where}: the filesystem is read-only; mount it read-write or choose another primary directory`,
        { cause: error, path: ctx.path },
      );
    case 'ENAMETOOLONG':
      return new FloeError('INVALID_ARGUMENT', `cannot ${ctx.what} ${where}: the path is too long for this filesystem; use shorter ids`, {
        cause: error,
        path: ctx.path,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new FloeError('IO', `cannot ${ctx.what} ${where}: the disk is full or over quota (${code}); free space under ${ctx.root}`, {
        cause: error,
        path: ctx.path,
        retryable: false,
      });
    default: {
      const retryable = code !== undefined && RETRYABLE_ERRNO.has(code);
      const detail = (error as ErrnoLike | undefined)?.message ?? String(error);
      return new FloeError(
        'IO',
        `cannot ${ctx.what} ${where}: ${detail}` + (retryable ? ' (transient; the operation may be retried)' : ''),
        { cause: error, path: ctx.path, retryable },
      );
    }
  }
}

export function pathConflict(uri: string, path: string, cause: unknown): FloeError {
  return new FloeError(
    'INVALID_ARGUMENT',
    `object path ${path} in ${uri} conflicts with an existing object or folder (the local store cannot hold both 'a' and 'a/b'); ` +
      `build paths with lib/store/paths.ts`,
    { path, cause },
  );
}
