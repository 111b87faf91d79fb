/**
 * Racing a shared promise against one caller's AbortSignal: the caller's promise rejects with the signal's
 * reason on abort, while the underlying work (maybe shared with other callers) carries on for them.
 */

/** `p`, or a rejection with `signal.reason` as soon as `signal` aborts (whichever comes first). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return p;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}
