/**
 * Maps S3 failures to FloeError, in one place for both request paths (the AWS SDK for control-plane calls
 * and uploads, the lean signed GET for reads).
 *
 * A failure is first reduced to an `S3Failure` (HTTP status, S3 error code, transport error code), then
 * classified. Every message names the s3:// object or root it is about and says what to do.
 *
 *   transport (refused, reset, timeout, DNS)     IO, retryable      "is the endpoint reachable?"
 *   429, 503 SlowDown, other 5xx                 IO, retryable
 *   NoSuchBucket                                 CONFIG             "create it or fix the URI"
 *   403 (AccessDenied, InvalidAccessKeyId, ...)  CONFIG             "check credentials"
 *   wrong region (301, AuthorizationHeaderMalformed)  CONFIG        "set s3.region"
 *   NoSuchKey / 404 on an object                 NOT_FOUND
 *   412 / 409 on a create-if-absent write        ALREADY_EXISTS
 *   anything else                                IO, not retryable (a request S3 will keep refusing)
 */
import { FloeError } from '../errors.js';
import { transportCodeOf } from './net-errors.js';
import { alreadyExists, notFound } from './validate.js';

export interface S3Failure {
  /** HTTP status, when a response arrived. */
  status?: number;
  /** S3 error code (`<Code>` of the XML body, or the SDK exception name). */
  code?: string;
  /** S3's own message, for the cause chain. */
  message?: string;
  /** Network-level error code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT, TimeoutError, ...). */
  transport?: string;
  /** `x-amz-bucket-region` of the response, when S3 says where the bucket lives. */
  bucketRegion?: string;
}

export interface S3ErrorContext {
  /** What was being done, e.g. 'GET', 'PUT', 'LIST'. */
  op: string;
  /** The store's root URI (s3://bucket/prefix). */
  storeUri: string;
  /** The object path relative to the root; absent for bucket-level calls. */
  path?: string;
  bucket: string;
  /** The endpoint URL the request went to. */
  endpoint: string;
  region: string;
  /** The request was a create-if-absent write. */
  conditional?: boolean;
  /** The request names an object (a 404 without a code means the object is missing). */
  objectLevel?: boolean;
}

const CREDENTIAL_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'InvalidSecurity',
  'AllAccessDisabled',
  'AccountProblem',
  'CredentialsProviderError',
]);

const THROTTLE_CODES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'TooManyRequests', 'RequestLimitExceeded']);

type Bag = Record<string, unknown>;
const asBag = (v: unknown): Bag | undefined => (typeof v === 'object' && v !== null ? (v as Bag) : undefined);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Reduces an AWS SDK exception, or a network error (from the SDK or undici), to an S3Failure. */
export function failureFromError(err: unknown): S3Failure {
  const e = asBag(err) ?? {};
  const meta = asBag(e.$metadata);
  const status = typeof meta?.httpStatusCode === 'number' ? meta.httpStatusCode : undefined;
  const response = asBag(e.$response);
  const headers = asBag(response?.headers);
  const bucketRegion = str(headers?.['x-amz-bucket-region']);
  const transport = status === undefined ? transportCodeOf(err) : undefined;
  const f: S3Failure = {};
  if (status !== undefined) f.status = status;
  // Generic names ('Error'; the SDK's 'Unknown' and 'UnknownError' for body-less responses) say nothing: leave them out.
  const code = str(e.Code) ?? str(e.name);
  if (code !== undefined && code !== 'Error' && code !== 'Unknown' && code !== 'UnknownError') f.code = code;
  const message = str(e.message);
  if (message !== undefined && message !== 'UnknownError') f.message = message;
  if (transport !== undefined) f.transport = transport;
  if (bucketRegion !== undefined) f.bucketRegion = bucketRegion;
  return f;
}

/** Reduces an S3 XML error response to an S3Failure. */
export function failureFromResponse(status: number, body: string, bucketRegion: string | undefined): S3Failure {
  const f: S3Failure = { status };
  const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1];
  if (code) f.code = code;
  const message = /<Message>([^<]*)<\/Message>/.exec(body)?.[1];
  if (message) f.message = message;
  if (bucketRegion) f.bucketRegion = bucketRegion;
  return f;
}

function describe(f: S3Failure): string {
  const parts: string[] = [];
  if (f.status !== undefined) parts.push(`HTTP ${f.status}`);
  if (f.code !== undefined && f.code !== String(f.status)) parts.push(f.code);
  if (f.transport !== undefined) parts.push(f.transport);
  return parts.join(' ');
}

/** PROMISES: a FloeError whose message names the s3:// object (or root) and says what to do. */
export function s3Error(f: S3Failure, ctx: S3ErrorContext, cause?: unknown): FloeError {
  const target = ctx.path === undefined ? ctx.storeUri : `${ctx.storeUri}/${ctx.path}`;
  const what = `${ctx.op} ${target} failed (${describe(f)}${f.message ? `: ${f.message}` : ''})`;
  const opts = (retryable: boolean) => ({ cause, retryable, path: ctx.path ?? ctx.storeUri });
  const code = f.code ?? '';
  const status = f.status;

  if (status === undefined && f.transport === undefined) {
    if (CREDENTIAL_CODES.has(code)) {
      return new FloeError(
        'CONFIG',
        `${what}: no usable AWS credentials; set s3.credentials or configure the AWS default chain (environment, profile, SSO, instance role).`,
        opts(false),
      );
    }
    return new FloeError('IO', `${what}: unexpected failure of the S3 client.`, opts(false));
  }
  if (status === undefined) {
    const t = f.transport ?? code;
    const timedOut = /TIMEOUT|Timeout|ETIMEDOUT/.test(t);
    return new FloeError(
      'IO',
      `${what}: ${timedOut ? 'request timed out talking to' : 'could not talk to'} S3 endpoint ${ctx.endpoint}; is the endpoint reachable?` +
        ' The operation may be retried.',
      opts(true),
    );
  }
  if (code === 'NoSuchBucket') {
    return new FloeError('CONFIG', `${what}: bucket ${ctx.bucket} does not exist at ${ctx.endpoint}; create it or fix the URI.`, opts(false));
  }
  if (code === 'NoSuchKey' || (status === 404 && ctx.objectLevel === true && (code === '' || code === 'NotFound' || code === '404'))) {
    return notFound(ctx.storeUri, ctx.path ?? '', cause);
  }
  if (ctx.conditional === true && (status === 412 || status === 409 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict')) {
    return alreadyExists(ctx.storeUri, ctx.path ?? '', cause);
  }
  if (code === 'RequestTimeTooSkewed') {
    return new FloeError('CONFIG', `${what}: this machine's clock differs too much from S3's; synchronise the clock (NTP).`, opts(false));
  }
  if (status === 301 || code === 'PermanentRedirect' || code === 'AuthorizationHeaderMalformed' || code === 'IllegalLocationConstraintException') {
    const where = f.bucketRegion ? `bucket ${ctx.bucket} is in region ${f.bucketRegion}` : `bucket ${ctx.bucket} is not in region ${ctx.region}`;
    return new FloeError('CONFIG', `${what}: ${where}; set s3.region${f.bucketRegion ? ` to '${f.bucketRegion}'` : ''} or fix the endpoint.`, opts(false));
  }
  if (status === 403 || CREDENTIAL_CODES.has(code)) {
    return new FloeError(
      'CONFIG',
      `${what}: access to bucket ${ctx.bucket} was refused; check credentials (access key, secret, session token) and that they allow this operation.`,
      opts(false),
    );
  }
  if (code === 'InvalidBucketName') {
    return new FloeError('CONFIG', `${what}: the server rejects bucket name ${ctx.bucket}; fix the URI.`, opts(false));
  }
  if (status === 429 || status === 503 || THROTTLE_CODES.has(code)) {
    return new FloeError('IO', `${what}: S3 is throttling requests; back off and retry.`, opts(true));
  }
  if (status >= 500) {
    return new FloeError('IO', `${what}: S3 server error; retry later.`, opts(true));
  }
  if (status === 408 || code === 'RequestTimeout') {
    return new FloeError('IO', `${what}: S3 timed out waiting for the request; retry.`, opts(true));
  }
  return new FloeError('IO', `${what}: S3 refused the request; this is not expected to succeed on retry.`, opts(false));
}
