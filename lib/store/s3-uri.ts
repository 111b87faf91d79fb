/**
 * Parses and validates `s3://bucket/prefix` root URIs for the S3 backend.
 *
 * The prefix is normalised to '' (bucket root) or 'a/b/' (no leading '/', exactly one trailing '/'), so
 * that `prefix + path` is the object key and the root is a folder of its own: two stores at `s3://b/x` and
 * `s3://b/xy` never see each other's objects.
 */
import { FloeError } from '../errors.js';

export interface S3Location {
  bucket: string;
  /** '' or 'seg/seg/' (with a trailing '/'). */
  prefix: string;
  /** Canonical form of the URI: 's3://bucket' or 's3://bucket/seg/seg' (no trailing '/'). */
  uri: string;
}

const BUCKET_CHARS = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
/** Longest key S3 accepts is 1024 UTF-8 bytes; keep room for Floe's own paths under the prefix. */
const MAX_PREFIX_BYTES = 512;

function bad(uri: string, what: string): FloeError {
  return new FloeError('CONFIG', `invalid S3 URI ${JSON.stringify(uri)}: ${what}. Use s3://bucket or s3://bucket/prefix.`, { path: uri });
}

/** Why `bucket` is not a valid (DNS-compatible) S3 bucket name, or undefined when it is valid. */
export function bucketNameProblem(bucket: string): string | undefined {
  if (bucket.length < 3 || bucket.length > 63) return `bucket name ${JSON.stringify(bucket)} must be 3-63 characters long`;
  if (!BUCKET_CHARS.test(bucket)) {
    return `bucket name ${JSON.stringify(bucket)} may contain only lowercase letters, digits, '.' and '-', and must start and end with a letter or digit`;
  }
  if (bucket.includes('..') || bucket.includes('.-') || bucket.includes('-.')) {
    return `bucket name ${JSON.stringify(bucket)} must not contain '..', '.-' or '-.'`;
  }
  if (IPV4.test(bucket)) return `bucket name ${JSON.stringify(bucket)} must not look like an IP address`;
  if (bucket.startsWith('xn--') || bucket.startsWith('sthree-')) return `bucket name ${JSON.stringify(bucket)} uses a reserved prefix`;
  if (bucket.endsWith('-s3alias') || bucket.endsWith('--ol-s3') || bucket.endsWith('--x-s3')) {
    return `bucket name ${JSON.stringify(bucket)} uses a reserved suffix`;
  }
  return undefined;
}

/**
 * REQUIRES: nothing. PROMISES: a valid location, or throws FloeError CONFIG saying what is wrong.
 * Empty segments ('a//b'), '.' and '..' segments, query strings and fragments are rejected rather than
 * silently rewritten, because a rewritten prefix would point the store at different data.
 */
export function parseS3Uri(uri: string): S3Location {
  const m = /^s3:\/\/([^/?#]*)(\/[^?#]*)?$/.exec(uri);
  if (!m) {
    if (!uri.startsWith('s3://')) throw bad(uri, "it must start with 's3://'");
    throw bad(uri, 'query strings and fragments are not allowed');
  }
  const bucket = m[1]!;
  if (bucket === '') throw bad(uri, 'the bucket name is missing');
  const problem = bucketNameProblem(bucket);
  if (problem !== undefined) throw bad(uri, problem);
  let rest = m[2] ?? '';
  if (rest.startsWith('/')) rest = rest.slice(1);
  if (rest.endsWith('/')) rest = rest.slice(0, -1);
  if (rest === '') return { bucket, prefix: '', uri: `s3://${bucket}` };
  const segments = rest.split('/');
  for (const s of segments) {
    if (s === '') throw bad(uri, "the prefix has an empty segment ('//')");
    if (s === '.' || s === '..') throw bad(uri, "the prefix must not contain '.' or '..' segments");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point of this check
    if (/[\u0000-\u001f\u007f\\]/.test(s)) throw bad(uri, 'the prefix contains control characters or backslashes');
  }
  if (Buffer.byteLength(rest, 'utf8') > MAX_PREFIX_BYTES) throw bad(uri, `the prefix is longer than ${MAX_PREFIX_BYTES} bytes`);
  return { bucket, prefix: `${rest}/`, uri: `s3://${bucket}/${rest}` };
}
