/**
 * The S3 object-store backend (`s3://bucket/prefix`), for AWS S3 and S3-compatible servers.
 *
 * Two request paths (docs/s3.md):
 * - reads (`get`) go through the lean path of lib/store/s3-get.ts: SigV4-signed GETs over a keep-alive
 *   undici Pool, because the SDK's command stack costs several times the request itself;
 * - everything else (PUT, multipart upload, HEAD, LIST, DELETE, the bucket check at open) goes through
 *   `@aws-sdk/client-s3`, with checksums only WHEN_REQUIRED (otherwise some servers store the
 *   aws-chunked framing inside the object) and a keep-alive agent.
 *
 * No retries here: the SDK runs with maxAttempts 1 and the retry wrapper (lib/store/retry.ts) decides.
 * Failures map to FloeError in lib/store/s3-errors.ts.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { S3Options } from '../api.js';
import { FloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { failureFromError, failureFromResponse, s3Error, type S3ErrorContext } from './s3-errors.js';
import { CredentialCache, S3RangeReader } from './s3-get.js';
import { parseS3Uri, type S3Location } from './s3-uri.js';
import { checkListPrefix, checkObjectPath, checkRange, closedStore, notFound, throwIfAborted, checkBytes } from './validate.js';

export interface S3StoreOptions extends S3Options {
  /**
   * Accepted so every backend takes the same option bag, but deliberately not used: request signatures and
   * credential expiry are checked by S3 against wall time, so this backend always uses the system clock
   * (a simulated test clock would make every request fail with RequestTimeTooSkewed on real S3).
   */
  clock?: Clock;
  /** Accepted for the same reason; the S3 backend draws no random numbers. */
  random?: Random;
  /** Check at open that the bucket exists and the credentials work (HeadBucket). Default true. */
  verifyBucket?: boolean;
  /** Keep-alive connections of the GET pool (default: maxSockets). */
  getConnections?: number;
  /** Multipart part size for putStream (default 8 MiB, at least 5 MiB as S3 requires). */
  multipartPartBytes?: number;
  /** Parts uploaded concurrently by one putStream (default 4). */
  multipartConcurrency?: number;
  /** Keys per ListObjectsV2 page (default 1000, S3's maximum); tests lower it to exercise pagination. */
  listPageSize?: number;
}

/** Defaults in one place. */
export const S3_DEFAULTS = {
  region: 'us-east-1',
  maxSockets: 256,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  multipartPartBytes: 8 * 2 ** 20,
  multipartConcurrency: 4,
} as const;

/** S3's smallest part (all parts but the last), and its largest part count. */
const MIN_PART_BYTES = 5 * 2 ** 20;
const MAX_PARTS = 10_000;
/** Initial size of putStream's first part buffer. */
const FIRST_BUFFER_BYTES = 64 * 1024;

/** Request counts per path, so tests and benchmarks can see which path served a call. */
export interface S3RequestCounts {
  /** GETs sent by the lean signed path. */
  leanGets: number;
  /** Commands sent through the AWS SDK. */
  sdkCommands: number;
}

/**
 * Opens an S3 store. PROMISES: a validated URI and options (CONFIG otherwise) and, unless
 * `verifyBucket: false`, a bucket that exists and answers these credentials (CONFIG, or IO retryable when
 * the endpoint cannot be reached).
 */
export async function createS3Store(uri: string, options: S3StoreOptions = {}): Promise<S3ObjectStore> {
  const store = new S3ObjectStore(parseS3Uri(uri), options);
  if (options.verifyBucket !== false) {
    try {
      await store.verifyBucket();
    } catch (err) {
      await store.close();
      throw err;
    }
  }
  return store;
}

function positiveInt(name: string, value: number | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) throw new FloeError('CONFIG', `s3.${name} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

type Credentials = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };

/** Static credentials from the options, checked; undefined = the SDK's default provider chain. */
function checkCredentials(c: S3Options['credentials'], uri: string): Credentials | undefined {
  if (c === undefined) return undefined;
  if (typeof c.accessKeyId !== 'string' || c.accessKeyId === '' || typeof c.secretAccessKey !== 'string' || c.secretAccessKey === '') {
    throw new FloeError('CONFIG', `s3.credentials for ${uri} need a non-empty accessKeyId and secretAccessKey (or omit them to use the AWS default chain)`);
  }
  return { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, ...(c.sessionToken ? { sessionToken: c.sessionToken } : {}) };
}

function parseEndpoint(endpoint: string | undefined): URL | undefined {
  if (endpoint === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch (err) {
    throw new FloeError('CONFIG', `s3.endpoint ${JSON.stringify(endpoint)} is not a URL; use e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FloeError('CONFIG', `s3.endpoint ${JSON.stringify(endpoint)} must be an http:// or https:// URL`);
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new FloeError('CONFIG', `s3.endpoint ${JSON.stringify(endpoint)} must not carry a query, fragment or user info; pass credentials in s3.credentials`);
  }
  return url;
}

/** A bucket endpoint as the SDK's own endpoint rules resolve it, so both paths address the bucket alike. */
interface BucketEndpoint {
  url: URL;
  signingRegion: string;
  signingService: string;
}

function resolveBucketEndpoint(client: S3Client, bucket: string, region: string, endpoint: URL | undefined, forcePathStyle: boolean): BucketEndpoint {
  const resolved = client.config.endpointProvider({
    Bucket: bucket,
    Region: region,
    UseFIPS: false,
    UseDualStack: false,
    Accelerate: false,
    ForcePathStyle: forcePathStyle,
    ...(endpoint === undefined ? {} : { Endpoint: endpoint.href }),
  });
  const schemes = resolved.properties?.authSchemes;
  const first: Record<string, unknown> | undefined = Array.isArray(schemes) ? (schemes[0] as unknown as Record<string, unknown> | undefined) : undefined;
  const signingRegion = typeof first?.signingRegion === 'string' ? first.signingRegion : region;
  const signingService = typeof first?.signingName === 'string' ? first.signingName : 's3';
  return { url: new URL(resolved.url.href), signingRegion, signingService };
}

export class S3ObjectStore implements ObjectStore {
  readonly uri: string;
  readonly bucket: string;
  /** '' or 'a/b/': object key = prefix + path. */
  readonly prefix: string;
  private readonly region: string;
  /** Where requests go (scheme://host[:port]), for messages: the configured endpoint or the resolved AWS one. */
  readonly endpoint: string;
  private readonly client: S3Client;
  private readonly agents: Array<HttpAgent | HttpsAgent>;
  private readonly reader: S3RangeReader;
  private readonly partBytes: number;
  private readonly partConcurrency: number;
  private readonly listPageSize: number;
  private sdkCommands = 0;
  private closed = false;

  /** Prefer `createS3Store`, which also checks the bucket. */
  constructor(location: S3Location, options: S3StoreOptions = {}) {
    this.uri = location.uri;
    this.bucket = location.bucket;
    this.prefix = location.prefix;
    const clock = systemClock; // wall time on purpose; see S3StoreOptions.clock
    this.region = options.region ?? S3_DEFAULTS.region;
    const endpoint = parseEndpoint(options.endpoint);
    const maxSockets = positiveInt('maxSockets', options.maxSockets, S3_DEFAULTS.maxSockets);
    const timeoutMs = positiveInt('requestTimeoutMs', options.requestTimeoutMs, S3_DEFAULTS.requestTimeoutMs);
    const getConnections = positiveInt('getConnections', options.getConnections, maxSockets);
    this.partBytes = positiveInt('multipartPartBytes', options.multipartPartBytes, S3_DEFAULTS.multipartPartBytes, MIN_PART_BYTES);
    this.partConcurrency = positiveInt('multipartConcurrency', options.multipartConcurrency, S3_DEFAULTS.multipartConcurrency);
    this.listPageSize = Math.min(1000, positiveInt('listPageSize', options.listPageSize, 1000));
    const forcePathStyle = options.forcePathStyle ?? false;
    const credentials = checkCredentials(options.credentials, this.uri);

    const httpAgent = new HttpAgent({ keepAlive: true, maxSockets });
    const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets });
    this.agents = [httpAgent, httpsAgent];
    const config: S3ClientConfig = {
      region: this.region,
      forcePathStyle,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      requestHandler: {
        httpAgent,
        httpsAgent,
        requestTimeout: timeoutMs,
        connectionTimeout: Math.min(timeoutMs, S3_DEFAULTS.connectTimeoutMs),
        throwOnRequestTimeout: true,
      },
    };
    if (endpoint !== undefined) config.endpoint = endpoint.href;
    if (credentials !== undefined) config.credentials = credentials;
    this.client = new S3Client(config);
    // Count every command the SDK sends (the first middleware step sees each one once).
    this.client.middlewareStack.add(
      (next) => (args) => {
        this.sdkCommands++;
        return next(args);
      },
      { step: 'initialize', name: 'floeCountCommands' },
    );

    let bucketEndpoint: BucketEndpoint;
    try {
      bucketEndpoint = resolveBucketEndpoint(this.client, this.bucket, this.region, endpoint, forcePathStyle);
    } catch (err) {
      this.client.destroy();
      for (const agent of this.agents) agent.destroy();
      throw new FloeError('CONFIG', `cannot address bucket ${this.bucket} (region ${this.region}, endpoint ${options.endpoint ?? 'AWS'}): ${(err as Error).message}; fix s3.region or s3.endpoint`, {
        cause: err,
      });
    }
    this.endpoint = endpoint?.origin ?? bucketEndpoint.url.origin;
    // The SDK's resolved provider: static credentials, or the default chain memoized with refresh.
    const provider = this.client.config.credentials;
    this.reader = new S3RangeReader({
      bucketUrl: bucketEndpoint.url,
      signingRegion: bucketEndpoint.signingRegion,
      signingService: bucketEndpoint.signingService,
      credentials: new CredentialCache(() => provider(), clock),
      connections: getConnections,
      requestTimeoutMs: timeoutMs,
      clock,
    });
  }

  /** How many requests went down each path so far. */
  requestCounts(): S3RequestCounts {
    return { leanGets: this.reader.requests, sdkCommands: this.sdkCommands };
  }

  /** Throws CONFIG if the bucket is missing or refuses these credentials, IO if unreachable. */
  async verifyBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
    } catch (err) {
      const f = failureFromError(err);
      // HEAD responses carry no body: a 404 here can only mean the bucket.
      if (f.status === 404) f.code = 'NoSuchBucket';
      throw s3Error(f, this.context('OPEN'), err);
    }
  }

  async get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    if (range !== undefined) checkRange(range, this.uri, path);
    const signal = options?.signal;
    throwIfAborted(signal);
    const offset = range?.offset ?? 0;
    const length = range?.length;
    if (length === 0) {
      // Nothing to read, but a missing object must still be NOT_FOUND.
      if ((await this.head(path)) === undefined) throw notFound(this.uri, path);
      return new Uint8Array(0);
    }
    let result;
    try {
      result = await this.reader.get(this.prefix + path, offset, length, signal);
    } catch (err) {
      throwIfAborted(signal);
      throw s3Error(failureFromError(err), this.context('GET', path), err);
    }
    switch (result.kind) {
      case 'bytes':
        return result.bytes;
      case 'unsatisfiable':
        return new Uint8Array(0);
      case 'error':
        throw s3Error(failureFromResponse(result.status, result.body, result.bucketRegion), this.context('GET', path), undefined);
    }
  }

  async put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    checkBytes(bytes, path, this.uri);
    throwIfAborted(options?.signal);
    await this.putObject(path, bytes, options?.ifNoneMatch === true, options?.signal);
  }

  /**
   * Objects up to one part go up as a single PutObject; larger ones as a multipart upload whose parts are
   * at least 5 MiB. PROMISES: on failure the multipart upload is aborted, so nothing becomes visible.
   * Create-if-absent on a multipart upload is checked by CompleteMultipartUpload (If-None-Match).
   */
  async putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const signal = options?.signal;
    const ifNoneMatch = options?.ifNoneMatch === true;
    throwIfAborted(signal);
    // The first part buffer starts small and grows, so a small stream (a manifest) does not allocate a whole
    // part; once a multipart upload has begun, later parts are allocated at full size.
    let part: Uint8Array = new Uint8Array(Math.min(this.partBytes, FIRST_BUFFER_BYTES));
    let fill = 0;
    let upload: MultipartUpload | undefined;
    try {
      for await (const chunk of chunks) {
        throwIfAborted(signal);
        checkBytes(chunk, path, this.uri);
        let at = 0;
        while (at < chunk.length) {
          const n = Math.min(this.partBytes - fill, chunk.length - at);
          if (fill + n > part.length) part = grow(part, fill, fill + n, this.partBytes);
          part.set(chunk.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === this.partBytes) {
            upload ??= await this.startMultipart(path, signal);
            await upload.add(part);
            part = new Uint8Array(this.partBytes);
            fill = 0;
          }
        }
      }
      throwIfAborted(signal);
      this.checkOpen();
      if (upload === undefined) {
        await this.putObject(path, part.subarray(0, fill), ifNoneMatch, signal);
        return;
      }
      if (fill > 0) await upload.add(part.subarray(0, fill));
      await upload.complete(ifNoneMatch);
    } catch (err) {
      if (upload !== undefined) await upload.abort();
      throw err;
    }
  }

  async head(path: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + path }));
      const info: ObjectInfo = { path, size: out.ContentLength ?? 0 };
      if (out.LastModified !== undefined) info.mtimeMs = out.LastModified.getTime();
      return info;
    } catch (err) {
      const f = failureFromError(err);
      if (f.status === 404 && f.code !== 'NoSuchBucket') return undefined;
      throw s3Error(f, this.context('HEAD', path), err);
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    checkListPrefix(prefix, this.uri);
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.prefix + prefix,
            MaxKeys: this.listPageSize,
            ...(token === undefined ? {} : { ContinuationToken: token }),
          }),
        );
      } catch (err) {
        const ctx = { ...this.context('LIST', prefix === '' ? undefined : `${prefix}*`), objectLevel: false };
        throw s3Error(failureFromError(err), ctx, err);
      }
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(this.prefix)) continue;
        const info: ObjectInfo = { path: o.Key.slice(this.prefix.length), size: o.Size ?? 0 };
        if (o.LastModified !== undefined) info.mtimeMs = o.LastModified.getTime();
        out.push(info);
      }
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(path: string): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + path }));
    } catch (err) {
      const f = failureFromError(err);
      if (f.code === 'NoSuchKey') return;
      throw s3Error(f, this.context('DELETE', path), err);
    }
  }

  /** Idempotent. Waits for in-flight GETs, then releases every socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.reader.close();
    } finally {
      this.client.destroy();
      for (const agent of this.agents) agent.destroy();
    }
  }

  private async putObject(path: string, bytes: Uint8Array, ifNoneMatch: boolean, signal: AbortSignal | undefined): Promise<void> {
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.prefix + path,
          Body: bytes,
          ContentLength: bytes.length,
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
        abortable(signal),
      );
    } catch (err) {
      throwIfAborted(signal);
      throw s3Error(failureFromError(err), { ...this.context('PUT', path), conditional: ifNoneMatch }, err);
    }
  }

  private async startMultipart(path: string, signal: AbortSignal | undefined): Promise<MultipartUpload> {
    const key = this.prefix + path;
    let uploadId: string | undefined;
    try {
      const out = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key }), abortable(signal));
      uploadId = out.UploadId;
    } catch (err) {
      throwIfAborted(signal);
      throw s3Error(failureFromError(err), this.context('PUT (create multipart upload)', path), err);
    }
    if (uploadId === undefined) {
      throw new FloeError('IO', `PUT ${this.uri}/${path} failed: the server started a multipart upload without an UploadId`, { path });
    }
    return new MultipartUpload(this.client, this, path, key, uploadId, this.partConcurrency, signal);
  }

  /** @internal Error context for a request about `path` (or the whole store). */
  context(op: string, path?: string): S3ErrorContext {
    return {
      op,
      storeUri: this.uri,
      bucket: this.bucket,
      endpoint: this.endpoint,
      region: this.region,
      objectLevel: path !== undefined,
      ...(path === undefined ? {} : { path }),
    };
  }

  private checkOpen(): void {
    if (this.closed) throw closedStore(this.uri);
  }
}

/**
 * One multipart upload in progress: uploads parts with bounded concurrency, then completes or aborts.
 * Part promises never reject (the first failure is remembered), so no rejection goes unhandled while the
 * producer is still filling the next part.
 */
class MultipartUpload {
  private readonly parts: Array<{ PartNumber: number; ETag: string }> = [];
  private readonly inflight = new Set<Promise<void>>();
  private failure: unknown;
  private nextPart = 1;

  constructor(
    private readonly client: S3Client,
    private readonly store: S3ObjectStore,
    private readonly path: string,
    private readonly key: string,
    private readonly uploadId: string,
    private readonly concurrency: number,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** Queues `bytes` as the next part; waits while `concurrency` parts are in flight. REQUIRES: `bytes` is
   * not modified afterwards. */
  async add(bytes: Uint8Array): Promise<void> {
    this.throwIfFailed();
    while (this.inflight.size >= this.concurrency) await Promise.race(this.inflight);
    this.throwIfFailed();
    const partNumber = this.nextPart++;
    if (partNumber > MAX_PARTS) {
      throw new FloeError(
        'IO',
        `PUT ${this.store.uri}/${this.path} failed: the object needs more than ${MAX_PARTS} parts; raise s3 multipartPartBytes`,
        { path: this.path },
      );
    }
    const done: Promise<void> = this.uploadPart(partNumber, bytes).then(
      (etag) => {
        this.parts.push({ PartNumber: partNumber, ETag: etag });
      },
      (err: unknown) => {
        this.failure ??= err;
      },
    );
    const tracked = done.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  /** Waits for every part, then makes the object visible. With `ifNoneMatch`, ALREADY_EXISTS if present. */
  async complete(ifNoneMatch: boolean): Promise<void> {
    await Promise.all(this.inflight);
    this.throwIfFailed();
    throwIfAborted(this.signal);
    const parts = [...this.parts].sort((a, b) => a.PartNumber - b.PartNumber);
    try {
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.store.bucket,
          Key: this.key,
          UploadId: this.uploadId,
          MultipartUpload: { Parts: parts },
          ...(ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        }),
        abortable(this.signal),
      );
    } catch (err) {
      throwIfAborted(this.signal);
      throw s3Error(failureFromError(err), { ...this.store.context('PUT (complete multipart upload)', this.path), conditional: ifNoneMatch }, err);
    }
  }

  /**
   * Aborts the upload so its parts are dropped and nothing becomes visible. Never throws: the caller is
   * already failing with the error that matters; a failed abort leaves invisible parts that a bucket
   * lifecycle rule (AbortIncompleteMultipartUpload) reclaims (docs/s3.md).
   */
  async abort(): Promise<void> {
    await Promise.all(this.inflight);
    try {
      // Not tied to the caller's signal: the abort must go out even when the caller cancelled.
      await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.store.bucket, Key: this.key, UploadId: this.uploadId }));
    } catch {
      // Deliberately ignored; see above.
    }
  }

  private async uploadPart(partNumber: number, bytes: Uint8Array): Promise<string> {
    let etag: string | undefined;
    try {
      const out = await this.client.send(
        new UploadPartCommand({
          Bucket: this.store.bucket,
          Key: this.key,
          UploadId: this.uploadId,
          PartNumber: partNumber,
          Body: bytes,
          ContentLength: bytes.length,
        }),
        abortable(this.signal),
      );
      etag = out.ETag;
    } catch (err) {
      throwIfAborted(this.signal);
      throw s3Error(failureFromError(err), this.store.context(`PUT (upload part ${partNumber})`, this.path), err);
    }
    if (etag === undefined) {
      throw new FloeError('IO', `PUT ${this.store.uri}/${this.path} failed: part ${partNumber} was stored without an ETag`, { path: this.path });
    }
    return etag;
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/** A copy of the first `fill` bytes of `buf` in a buffer of at least `needed` bytes (doubling, at most `max`). */
function grow(buf: Uint8Array, fill: number, needed: number, max: number): Uint8Array {
  const bigger = new Uint8Array(Math.min(max, Math.max(needed, buf.length * 2)));
  bigger.set(buf.subarray(0, fill));
  return bigger;
}

/** SDK send options carrying the caller's abort signal, if any. */
function abortable(signal: AbortSignal | undefined): { abortSignal?: AbortSignal } {
  return signal === undefined ? {} : { abortSignal: signal };
}

