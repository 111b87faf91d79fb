/**
 * The lean read path of the S3 backend: ranged GETs signed with the SDK's own SigV4 signer and sent over a
 * keep-alive undici Pool, without the SDK command stack.
 *
 * Why: one `GetObjectCommand` costs 2-3 ms of client CPU (endpoint rules, schema, retry and checksum
 * middleware; docs/s3.md), which caps a 2-core machine at a few hundred block misses per second.
 * A signed request over a pooled connection costs a fraction of that. Control-plane calls and uploads stay
 * on the SDK (lib/store/s3.ts); this module only reads.
 *
 * It returns a tagged result rather than throwing for HTTP-level failures, so that all error mapping stays
 * in lib/store/s3-errors.ts and lib/store/s3.ts.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Pool } from 'undici';
import type { Clock } from '../util/clock.js';
import { EMPTY_SHA256, GetSigner } from './s3-sign.js';

/** AWS credentials as the SDK resolves them. */
export interface S3Identity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export type IdentityProvider = () => Promise<S3Identity>;

/** Refresh credentials this long before they expire, so no request is signed with a dying key. */
const REFRESH_BEFORE_EXPIRY_MS = 5 * 60_000;

/**
 * Holds resolved credentials: resolves them once, and again only when they carry an expiration that is
 * near (provider chains: SSO, STS, instance metadata). Concurrent callers share one refresh.
 */
export class CredentialCache {
  private identity: S3Identity | undefined;
  private pending: Promise<S3Identity> | undefined;

  constructor(
    private readonly provider: IdentityProvider,
    private readonly clock: Clock,
  ) {}

  get(): Promise<S3Identity> {
    const id = this.identity;
    if (id !== undefined && (id.expiration === undefined || id.expiration.getTime() - this.clock.now() > REFRESH_BEFORE_EXPIRY_MS)) {
      return Promise.resolve(id);
    }
    if (this.pending === undefined) {
      this.pending = this.provider().then(
        (fresh) => {
          this.identity = fresh;
          this.pending = undefined;
          return fresh;
        },
        (err: unknown) => {
          this.pending = undefined;
          throw err;
        },
      );
    }
    return this.pending;
  }
}

/**
 * SHA-256 / HMAC-SHA-256 on node:crypto in the shape the SigV4 signer takes (`new (secret?) => Checksum`).
 * bench/s3-get-cost.ts found no measurable difference from the pure-JS @aws-crypto/sha256-js on this path
 * (the signing key is cached; a request costs one hash and two HMACs of a few hundred bytes); node:crypto
 * is kept because it is native and needs no extra dependency on the hot path. The signer makes a fresh instance per hash and digests it once, so the node:crypto object is created
 * lazily, on first use, and not re-created after `digest()`.
 */
export class NodeSha256 {
  private readonly secret: Uint8Array | undefined;
  private hash: Hash | Hmac | undefined;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.secret = secret === undefined ? undefined : toBytes(secret);
  }

  update(data: Uint8Array): void {
    (this.hash ??= this.fresh()).update(data);
  }

  digest(): Promise<Uint8Array> {
    const out = (this.hash ?? this.fresh()).digest();
    this.hash = undefined;
    return Promise.resolve(out);
  }

  reset(): void {
    this.hash = undefined;
  }

  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', this.secret);
  }
}

function toBytes(data: string | ArrayBuffer | ArrayBufferView): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}

/** Error bodies are small XML documents; never buffer more than this of one. */
const MAX_ERROR_BODY = 64 * 1024;

export interface RangeReaderConfig {
  /** Where the bucket is addressed: 'http://host:port/bucket' (path-style) or 'https://bucket.host/'. */
  bucketUrl: URL;
  signingRegion: string;
  signingService: string;
  credentials: CredentialCache;
  /** Keep-alive connections to the endpoint. */
  connections: number;
  /** Headers and body timeouts, each (ms). */
  requestTimeoutMs: number;
  clock: Clock;
  /**
   * Which SigV4 signer signs each GET: 'lean' (default; lib/store/s3-sign.ts, byte-identical output) or the
   * SDK's SignatureV4 ('sdk'), kept so that bench/s3-get-cost.ts can measure the difference.
   */
  signer?: 'lean' | 'sdk';
  /** Hash for the SDK signer (default NodeSha256); the benchmark compares it with @aws-crypto/sha256-js. */
  sha256?: SignerInit['sha256'];
}

type SignerInit = ConstructorParameters<typeof SignatureV4>[0];

export type RangeResult =
  | { kind: 'bytes'; bytes: Uint8Array; status: number }
  /** 416: the range starts at or past the end of the object. */
  | { kind: 'unsatisfiable' }
  | { kind: 'error'; status: number; body: string; bucketRegion: string | undefined };

/** Percent-encodes an object key for the URL path (RFC 3986 unreserved characters and '/' stay). */
export function encodeKey(key: string): string {
  return encodeURIComponent(key)
    .replace(/%2F/g, '/')
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * Issues signed GETs for one bucket.
 * REQUIRES: `close()` once at the end. PROMISES: never retries; a network failure rejects with the
 * transport error (undici / node error with a `code`), HTTP failures resolve as `{ kind: 'error' }`.
 */
export class S3RangeReader {
  private readonly pool: Pool;
  private readonly sdkSigner: SignatureV4 | undefined;
  private readonly leanSigner: GetSigner;
  private readonly basePath: string;
  private readonly host: string;
  private readonly hostname: string;
  private readonly port: number | undefined;
  private readonly protocol: string;
  private sent = 0;

  constructor(private readonly config: RangeReaderConfig) {
    const url = config.bucketUrl;
    this.protocol = url.protocol;
    this.hostname = url.hostname;
    this.port = url.port === '' ? undefined : Number(url.port);
    this.host = url.host;
    this.basePath = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
    this.pool = new Pool(url.origin, {
      connections: config.connections,
      pipelining: 1,
      keepAliveTimeout: 4_000,
      headersTimeout: config.requestTimeoutMs,
      bodyTimeout: config.requestTimeoutMs,
      connectTimeout: Math.min(config.requestTimeoutMs, 10_000),
    });
    this.leanSigner = new GetSigner(config.signingRegion, config.signingService);
    this.sdkSigner = config.signer !== 'sdk' ? undefined : new SignatureV4({
      service: config.signingService,
      region: config.signingRegion,
      credentials: () => config.credentials.get(),
      sha256: config.sha256 ?? NodeSha256,
      // S3 paths are encoded once (by encodeKey), never twice.
      uriEscapePath: false,
      applyChecksum: true,
    });
  }

  /** Requests sent so far (tests use it to show reads take this path). */
  get requests(): number {
    return this.sent;
  }

  /**
   * GETs `key`, the byte range [offset, offset+length) or, without length, [offset, end).
   * REQUIRES: offset ≥ 0, length ≥ 1 when given (length 0 is the caller's business: it sends nothing).
   */
  async get(key: string, offset: number, length: number | undefined, signal?: AbortSignal): Promise<RangeResult> {
    const path = this.basePath + encodeKey(key);
    const ranged = offset > 0 || length !== undefined;
    const range = !ranged ? undefined : length === undefined ? `bytes=${offset}-` : `bytes=${offset}-${offset + length - 1}`;
    const headers = await this.sign(path, range);
    this.sent++;
    const res = await this.dispatch(path, headers, signal);
    const status = res.status;
    if (status === 200 || status === 206) {
      if (status === 200 && ranged) {
        // The server ignored Range (allowed by HTTP): cut the range out of the whole object.
        const all = res.body;
        const end = length === undefined ? all.length : Math.min(all.length, offset + length);
        return { kind: 'bytes', bytes: offset >= all.length ? new Uint8Array(0) : all.subarray(offset, end), status };
      }
      return { kind: 'bytes', bytes: res.body, status };
    }
    if (status === 416) return { kind: 'unsatisfiable' };
    const body = Buffer.from(res.body.buffer, res.body.byteOffset, res.body.length).toString('utf8');
    return { kind: 'error', status, body, bucketRegion: res.bucketRegion };
  }

  /** The headers of a signed GET of `path` (credentials resolved through the cache: no await when fresh). */
  private async sign(path: string, range: string | undefined): Promise<Record<string, string>> {
    const identity = await this.config.credentials.get();
    const now = this.config.clock.now();
    if (this.sdkSigner === undefined) return this.leanSigner.sign(path, this.host, range, identity, now);
    const headers: Record<string, string> = { host: this.host, 'x-amz-content-sha256': EMPTY_SHA256 };
    if (range !== undefined) headers.range = range;
    const signed = await this.sdkSigner.sign(
      { method: 'GET', protocol: this.protocol, hostname: this.hostname, port: this.port, path, query: {}, headers },
      { signingDate: new Date(now) },
    );
    return signed.headers;
  }

  /**
   * Sends one GET with undici's low-level dispatch API: the response body is copied straight into one array
   * of the announced length, without the stream and promise machinery of `request()` (measured: it is a
   * visible share of a 4 KiB GET's cost).
   */
  private dispatch(path: string, headers: Record<string, string>, signal: AbortSignal | undefined): Promise<RawResponse> {
    return new Promise<RawResponse>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      const collector = new ResponseCollector(resolve, reject, signal);
      this.pool.dispatch({ method: 'GET', path, headers }, collector);
    });
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Drops connections without waiting for in-flight requests (they fail). */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}

interface RawResponse {
  status: number;
  /** Whole body for 2xx; at most MAX_ERROR_BODY bytes otherwise. */
  body: Uint8Array;
  bucketRegion: string | undefined;
}

/**
 * Collects one response for `dispatch`. Settles exactly once: resolve on complete, reject on error (an abort
 * of the caller's signal rejects with the signal's reason).
 */
class ResponseCollector {
  private status = 0;
  private expected = -1;
  private limit = Number.MAX_SAFE_INTEGER;
  private out: Uint8Array | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private bucketRegion: string | undefined;
  private abortRequest: ((err?: Error) => void) | undefined;
  private settled = false;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly resolve: (r: RawResponse) => void,
    private readonly reject: (err: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal !== undefined) {
      this.onAbort = () => {
        const reason: unknown = signal.reason;
        this.abortRequest?.(reason instanceof Error ? reason : new Error(String(reason)));
        this.fail(reason);
      };
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortRequest = abort;
    if (this.signal?.aborted) abort();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[] | string[]): boolean {
    if (statusCode < 200) return true; // 1xx informational: the real answer follows
    this.status = statusCode;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString().toLowerCase();
      if (name === 'content-length') this.expected = Number(rawHeaders[i + 1]!.toString());
      else if (name === 'x-amz-bucket-region') this.bucketRegion = rawHeaders[i + 1]!.toString();
    }
    if (statusCode >= 300) this.limit = MAX_ERROR_BODY;
    else if (Number.isSafeInteger(this.expected) && this.expected >= 0) this.out = new Uint8Array(this.expected);
    return true;
  }

  onData(chunk: Buffer): boolean {
    const out = this.out;
    if (out !== undefined && this.chunks.length === 0 && this.size + chunk.length <= out.length) {
      out.set(chunk, this.size);
    } else if (this.size < this.limit) {
      // Unknown or exceeded length: fall back to collecting chunks (in order, after what is in `out`).
      if (out !== undefined && this.chunks.length === 0) this.chunks.push(Buffer.from(out.buffer, 0, this.size));
      this.chunks.push(chunk);
    }
    this.size += chunk.length;
    return true;
  }

  onComplete(): void {
    if (this.settled) return;
    let body: Uint8Array;
    if (this.chunks.length > 0) body = new Uint8Array(Buffer.concat(this.chunks)).subarray(0, Math.min(this.size, this.limit));
    else if (this.out !== undefined) body = this.size === this.out.length ? this.out : this.out.subarray(0, this.size);
    else body = new Uint8Array(0);
    this.finish();
    this.resolve({ status: this.status, body, bucketRegion: this.bucketRegion });
  }

  onError(err: Error): void {
    this.fail(this.signal?.aborted ? this.signal.reason : err);
  }

  private fail(err: unknown): void {
    if (this.settled) return;
    this.finish();
    this.reject(err);
  }

  private finish(): void {
    this.settled = true;
    if (this.onAbort !== undefined) this.signal?.removeEventListener('abort', this.onAbort);
  }
}
