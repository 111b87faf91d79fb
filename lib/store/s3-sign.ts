/**
 * A lean AWS Signature Version 4 signer for the read path's GETs (lib/store/s3-get.ts): the request shape is
 * fixed (GET, no query, no body, the headers below), so the canonical request is one template string, and
 * a request costs one SHA-256 and one HMAC-SHA-256 with a signing key derived once per day and credential.
 *
 * Why not the SDK's SignatureV4: for every request it re-derives the signing-key cache key with an extra
 * HMAC, copies and re-sorts the headers, runs three regular expressions per header value and awaits five
 * promises. Measured on the cold remote benchmark: `signRequest` was 6.4% of the main thread (about 19 µs
 * per GET); bench/s3-get-cost.ts compares both signers side by side.
 *
 * Exactness: test/s3-sign.test.ts checks that every header this signer produces is byte-identical to the
 * SDK signer's for randomized keys, ranges, dates, regions and session tokens.
 *
 * Signed headers, in canonical (sorted) order: host, range (when present), x-amz-content-sha256 (the empty
 * body's hash), x-amz-date, x-amz-security-token (with session credentials).
 */
import { createHash, createHmac } from 'node:crypto';
import type { S3Identity } from './s3-get.js';

/** sha256 of the empty body: GETs send it as x-amz-content-sha256. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ALGORITHM = 'AWS4-HMAC-SHA256';

/** The SDK's canonical header value: CR/LF become spaces, runs of spaces and tabs one space, trimmed. */
function canonicalValue(v: string): string {
  return v.replace(/[\r\n]/g, ' ').replace(/[ \t]+/g, ' ').replace(/^ | $/g, '');
}

/** 'YYYYMMDDTHHMMSSZ' of a time in ms (UTC, whole seconds). */
function longDateOf(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
}

export class GetSigner {
  /** The signing key of (secret, short date); re-derived when either changes. */
  private keySecret: string | undefined;
  private keyDate = '';
  private key: Buffer = Buffer.alloc(0);
  /** longDate of the last second signed in (formatting a date is a visible share of a request). */
  private dateSecond = -1;
  private longDate = '';
  private tokenRaw: string | undefined;
  private tokenCanonical = '';

  constructor(
    private readonly region: string,
    private readonly service: string,
  ) {}

  /**
   * The headers to send for GET `path` (already URI-encoded, as sent) with an optional `range` header value.
   * PROMISES: the same headers, values and Authorization as @smithy/signature-v4's SignatureV4.sign with
   * `uriEscapePath: false` and `applyChecksum: true` for a request carrying host, range and
   * x-amz-content-sha256 headers; the returned object is the caller's.
   */
  sign(path: string, host: string, range: string | undefined, identity: S3Identity, nowMs: number): Record<string, string> {
    const second = Math.floor(nowMs / 1000);
    if (second !== this.dateSecond) {
      this.dateSecond = second;
      this.longDate = longDateOf(second * 1000);
    }
    const longDate = this.longDate;
    const shortDate = longDate.slice(0, 8);
    const scope = `${shortDate}/${this.region}/${this.service}/aws4_request`;
    const token = identity.sessionToken === '' ? undefined : identity.sessionToken;
    if (token !== this.tokenRaw) {
      this.tokenRaw = token;
      this.tokenCanonical = token === undefined ? '' : canonicalValue(token);
    }
    const canonicalHost = canonicalValue(host);
    const canonicalRange = range === undefined ? undefined : canonicalValue(range);
    let names = 'host';
    let lines = `host:${canonicalHost}\n`;
    if (canonicalRange !== undefined) {
      names += ';range';
      lines += `range:${canonicalRange}\n`;
    }
    names += ';x-amz-content-sha256;x-amz-date';
    lines += `x-amz-content-sha256:${EMPTY_SHA256}\nx-amz-date:${longDate}\n`;
    if (token !== undefined) {
      names += ';x-amz-security-token';
      lines += `x-amz-security-token:${this.tokenCanonical}\n`;
    }
    const canonicalRequest = `GET\n${path}\n\n${lines}\n${names}\n${EMPTY_SHA256}`;
    const hashed = createHash('sha256').update(canonicalRequest, 'utf8').digest('hex');
    const stringToSign = `${ALGORITHM}\n${longDate}\n${scope}\n${hashed}`;
    const signature = createHmac('sha256', this.signingKey(identity.secretAccessKey, shortDate)).update(stringToSign, 'utf8').digest('hex');
    const headers: Record<string, string> = { host };
    if (range !== undefined) headers.range = range;
    headers['x-amz-content-sha256'] = EMPTY_SHA256;
    headers['x-amz-date'] = longDate;
    if (token !== undefined) headers['x-amz-security-token'] = token;
    headers.authorization = `${ALGORITHM} Credential=${identity.accessKeyId}/${scope}, SignedHeaders=${names}, Signature=${signature}`;
    return headers;
  }

  private signingKey(secret: string, shortDate: string): Buffer {
    if (secret !== this.keySecret || shortDate !== this.keyDate) {
      const kDate = createHmac('sha256', `AWS4${secret}`).update(shortDate, 'utf8').digest();
      const kRegion = createHmac('sha256', kDate).update(this.region, 'utf8').digest();
      const kService = createHmac('sha256', kRegion).update(this.service, 'utf8').digest();
      this.key = createHmac('sha256', kService).update('aws4_request', 'utf8').digest();
      this.keySecret = secret;
      this.keyDate = shortDate;
    }
    return this.key;
  }
}
