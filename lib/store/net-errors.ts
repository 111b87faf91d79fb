/**
 * Network-level failures of the HTTP-based backends (S3, and any other backend speaking HTTP through node:http
 * or undici): which error codes mean "the request did not get a usable answer", so the backend can map them
 * to a retryable IO error that names the endpoint.
 */

/** Codes (or error names) of failures below HTTP: connect, DNS, socket, timeouts. */
export const TRANSPORT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  // the AWS SDK's node-http-handler
  'TimeoutError',
  'RequestTimeout',
  // undici
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
]);

type Bag = Record<string, unknown>;

/**
 * The transport code of an error, looking through `cause` chains and AggregateError members (Node's
 * happy-eyeballs connect reports one), or undefined when the error is not a transport failure.
 */
export function transportCodeOf(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  const e = err as Bag;
  for (const field of [e.code, e.name]) {
    if (typeof field === 'string' && TRANSPORT_CODES.has(field)) return field;
  }
  if (Array.isArray(e.errors)) {
    for (const inner of e.errors) {
      const c = transportCodeOf(inner, depth + 1);
      if (c !== undefined) return c;
    }
  }
  return transportCodeOf(e.cause, depth + 1);
}
