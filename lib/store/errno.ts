/** Node filesystem error codes shared by the local backend and the local-file wrapper of the disk cache. */

/** errno codes after which the same filesystem call may well succeed. */
export const RETRYABLE_ERRNO: ReadonlySet<string> = new Set([
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'EMFILE',
  'ENFILE',
  'ETIMEDOUT',
  'EIO',
  'ESTALE',
  'ECONNRESET',
  'ENOMEM',
]);

/** The errno code of a Node fs error, or undefined. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
