/**
 * A lean WebHDFS REST client over undici: the only code that speaks HTTP to HDFS. It owns the keep-alive
 * connection pool, the two-step OPEN/CREATE (namenode answers 307 with the datanode's URL; the data goes to
 * the datanode), per-request timeouts and cancellation, and the mapping of every failure to FloeError.
 *
 * Why not the `webhdfs` npm package (docs/hdfs.md has the per-operation table and the measurements): its
 * `rename` ignores the `{"boolean": false}` answer and cannot pass `renameoptions`, so it can neither detect
 * a failed rename nor make one that refuses to overwrite; its errors keep only the message text, dropping
 * the exception class (FileNotFoundException vs AccessControlException vs FileAlreadyExistsException) and
 * the HTTP status; it has no timeouts or AbortSignal; writes need a Buffer or a paused stream; and each
 * request through the deprecated `request` package costs several times more CPU than undici.
 *
 * Uploads to the datanode go through node:http instead of undici: the datanode answers every CREATE with
 * an unsolicited `100 Continue` before the final status, which undici's HTTP/1 parser rejects as
 * "bad response" (and undici will not send `Expect: 100-continue` over HTTP/1 to make it solicited).
 *
 * Paths given to this client are absolute HDFS paths ('/floe/sst/x.sst'); the store maps object paths to
 * them. Every request carries `user.name` (simple authentication, as WebHDFS without Kerberos expects).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent, request, type Dispatcher } from 'undici';
import { FloeError } from '../errors.js';
import { alreadyExists, notFound } from './validate.js';
import { transportCodeOf } from './net-errors.js';

export interface WebHdfsClientOptions {
  /** 'http://host:port' of the namenode's HTTP server (the WebHDFS port). */
  origin: string;
  /** The store's root URI (hdfs://host:port/path), for messages. */
  storeUri: string;
  /** Absolute HDFS path of the store root, used to turn HDFS paths back into object paths in messages. */
  rootPath: string;
  user: string;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  /** Keep-alive connections per origin (namenode, each datanode). */
  maxSockets: number;
  /**
   * Files whose datanode OPEN URL is remembered, so later reads of them skip the namenode hop (0 = off).
   * See `open`.
   */
  datanodeCacheEntries: number;
}

/** One entry of LISTSTATUS / the answer of GETFILESTATUS (the fields Floe reads). */
export interface HdfsFileStatus {
  pathSuffix: string;
  type: 'FILE' | 'DIRECTORY' | 'SYMLINK';
  length: number;
  modificationTime: number;
}

/**
 * The `cause` of every FloeError made from an error answer: what the server said, for logs and for callers
 * that must tell one refusal from another (the store's past-the-end read).
 */
export class WebHdfsRemoteError extends Error {
  constructor(
    message: string,
    readonly status: number,
    /** The RemoteException's exception name ('FileNotFoundException'), or '' when the body had none. */
    readonly exception: string,
  ) {
    super(message);
    this.name = 'WebHdfsRemoteError';
  }
}

/** The RemoteException body WebHDFS sends with every error status. */
interface RemoteException {
  exception: string;
  javaClassName?: string;
  message?: string;
}

/** What a failed request was, for the error message and the mapping. */
interface CallContext {
  op: string;
  hdfsPath: string;
  /** The request went to a datanode (after the namenode's redirect), not the namenode. */
  datanode?: string;
  /** The request was the final, no-overwrite RENAME of a create-if-absent write. */
  conditional?: boolean;
}

type Body = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;


/** Exceptions after which the same request may well succeed: the namenode is busy, starting, or failing over. */
const RETRYABLE_EXCEPTIONS = new Set(['SafeModeException', 'RetriableException', 'StandbyException', 'ObserverRetryOnActiveException']);
const PERMISSION_EXCEPTIONS = new Set(['AccessControlException', 'SecurityException', 'AuthorizationException']);
/** Exceptions that the same request will meet again: retrying cannot help. */
const PERMANENT_EXCEPTIONS = new Set([
  'PathComponentTooLongException',
  'InvalidPathException',
  'NSQuotaExceededException',
  'DSQuotaExceededException',
  'QuotaExceededException',
  'UnsupportedOperationException',
  'IllegalArgumentException',
]);

export class WebHdfsClient {
  private readonly agent: Agent;
  /** For datanode uploads only (see the top of this file). */
  private readonly uploadAgent: HttpAgent;
  private readonly o: WebHdfsClientOptions;
  /** HDFS path → the datanode OPEN URL (without offset/length) that served it last; insertion order = age. */
  private readonly datanodeOpens = new Map<string, URL>();

  constructor(options: WebHdfsClientOptions) {
    this.o = options;
    this.agent = new Agent({
      connections: options.maxSockets,
      connect: { timeout: options.connectTimeoutMs },
      // Jetty (namenode) keeps idle connections 30 s or more; reuse them for a while.
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 60_000,
    });
    this.uploadAgent = new HttpAgent({ keepAlive: true, maxSockets: options.maxSockets, timeout: options.requestTimeoutMs });
  }

  /** Closes the pool; requests in flight finish first. */
  async close(): Promise<void> {
    this.uploadAgent.destroy();
    await this.agent.close();
  }

  /** GETFILESTATUS: the status of `hdfsPath`, or undefined if nothing is there. */
  async getFileStatus(hdfsPath: string, signal?: AbortSignal): Promise<HdfsFileStatus | undefined> {
    const ctx: CallContext = { op: 'GETFILESTATUS', hdfsPath };
    const res = await this.send('GET', this.url(hdfsPath, 'GETFILESTATUS'), ctx, signal);
    if (res.statusCode !== 200) {
      const failure = await this.failure(res, ctx);
      if (failure.code === 'NOT_FOUND') return undefined;
      throw failure;
    }
    const body = (await this.json(res, ctx, 200)) as { FileStatus?: HdfsFileStatus };
    if (body.FileStatus === undefined) throw this.malformed(ctx, 'no FileStatus in the answer');
    return body.FileStatus;
  }

  /** LISTSTATUS: the entries of folder `hdfsPath` (a file lists as itself, with pathSuffix ''), or undefined if missing. */
  async listStatus(hdfsPath: string, signal?: AbortSignal): Promise<HdfsFileStatus[] | undefined> {
    const ctx: CallContext = { op: 'LISTSTATUS', hdfsPath };
    const res = await this.send('GET', this.url(hdfsPath, 'LISTSTATUS'), ctx, signal);
    if (res.statusCode !== 200) {
      const failure = await this.failure(res, ctx);
      if (failure.code === 'NOT_FOUND') return undefined;
      throw failure;
    }
    const body = (await this.json(res, ctx, 200)) as { FileStatuses?: { FileStatus?: HdfsFileStatus[] } };
    const list = body.FileStatuses?.FileStatus;
    if (!Array.isArray(list)) throw this.malformed(ctx, 'no FileStatuses in the answer');
    return list;
  }

  /**
   * OPEN: bytes [offset, offset+length) of file `hdfsPath`, following the namenode's 307 to a datanode.
   * WebHDFS clips a range that runs past the end; a range that *starts* past the end is an error there
   * (the caller handles it). Throws NOT_FOUND for a missing file.
   *
   * The datanode URL of the last successful OPEN of each file is remembered and reused for the next read
   * of that file with its offset/length replaced, skipping the namenode round trip (one request per read
   * instead of two; docs/hdfs.md has the measurement). This is safe because the datanode does not serve
   * from a block it was told about: it opens the *path* as an HDFS client of the namenode named in the URL,
   * so it always reads the file currently at that path. (With several datanodes, the namenode's choice
   * for a later block may be a closer one; the reused datanode then reads that block remotely.)
   */
  async open(hdfsPath: string, offset: number | undefined, length: number | undefined, signal?: AbortSignal): Promise<Uint8Array> {
    const ctx: CallContext = { op: 'OPEN', hdfsPath };
    const remembered = this.datanodeOpens.get(hdfsPath);
    if (remembered !== undefined) {
      // Straight to the datanode that served this file before. Any failure there (datanode gone, file
      // deleted, range refused) drops the entry and asks the namenode, whose answer counts.
      const direct = withRange(remembered, offset, length);
      const dnCtx: CallContext = { ...ctx, datanode: direct.host };
      try {
        const res = await this.send('GET', direct, dnCtx, signal);
        if (res.statusCode === 200) return await this.readBytes(res, dnCtx);
        await res.body.dump();
      } catch {
        if (signal?.aborted) throw signal.reason;
      }
      this.datanodeOpens.delete(hdfsPath);
    }
    const location = await this.redirect('GET', this.url(hdfsPath, 'OPEN', rangeParams(offset, length)), ctx, signal);
    const dnCtx: CallContext = { ...ctx, datanode: location.host };
    const res = await this.send('GET', location, dnCtx, signal);
    if (res.statusCode !== 200) throw await this.failure(res, dnCtx);
    const bytes = await this.readBytes(res, dnCtx);
    this.rememberDatanode(hdfsPath, location);
    return bytes;
  }

  /** Notes the datanode URL of an OPEN, evicting the oldest entry when the table is full. */
  private rememberDatanode(hdfsPath: string, location: URL): void {
    if (this.o.datanodeCacheEntries <= 0) return;
    this.datanodeOpens.delete(hdfsPath);
    if (this.datanodeOpens.size >= this.o.datanodeCacheEntries) {
      const oldest = this.datanodeOpens.keys().next().value;
      if (oldest !== undefined) this.datanodeOpens.delete(oldest);
    }
    this.datanodeOpens.set(hdfsPath, withRange(location, undefined, undefined));
  }

  /**
   * CREATE: writes `body` as the new file `hdfsPath` (namenode 307 → datanode 201). With overwrite false,
   * an existing file makes it fail with ALREADY_EXISTS. PROMISES: on success the file is complete and
   * closed (the datanode answers 201 only after closing it). Parent folders are created as needed.
   */
  async create(hdfsPath: string, body: Body, overwrite: boolean, signal?: AbortSignal): Promise<void> {
    const ctx: CallContext = { op: 'CREATE', hdfsPath };
    const location = await this.redirect('PUT', this.url(hdfsPath, 'CREATE', { overwrite: String(overwrite) }), ctx, signal);
    await this.upload(location, body, { ...ctx, datanode: location.host }, signal);
  }

  /**
   * RENAME with options (the `rename2` API): moves file `from` to `to` in one namenode operation.
   * `overwrite` false: fails with ALREADY_EXISTS if `to` exists (checked atomically with the move).
   * `overwrite` true: atomically replaces an existing file `to`. Unlike the option-less RENAME, neither
   * form moves `from` *into* `to` when `to` is a folder. The parent folder of `to` must exist.
   */
  async rename(from: string, to: string, overwrite: boolean, signal?: AbortSignal): Promise<void> {
    const ctx: CallContext = { op: 'RENAME', hdfsPath: to, conditional: !overwrite };
    const url = this.url(from, 'RENAME', { destination: to, renameoptions: overwrite ? 'OVERWRITE' : 'NONE' });
    const res = await this.send('PUT', url, ctx, signal);
    if (res.statusCode !== 200) throw await this.failure(res, ctx);
    await res.body.dump();
  }

  /** DELETE (not recursive): true if a file was deleted, false if nothing was there. */
  async delete(hdfsPath: string, signal?: AbortSignal): Promise<boolean> {
    const ctx: CallContext = { op: 'DELETE', hdfsPath };
    const res = await this.send('DELETE', this.url(hdfsPath, 'DELETE', { recursive: 'false' }), ctx, signal);
    const body = (await this.json(res, ctx, 200)) as { boolean?: boolean };
    return body.boolean === true;
  }

  private url(hdfsPath: string, op: string, extra: Record<string, string> = {}): URL {
    const url = new URL(`${this.o.origin}/webhdfs/v1${encodePath(hdfsPath)}`);
    url.searchParams.set('op', op);
    url.searchParams.set('user.name', this.o.user);
    for (const [k, v] of Object.entries(extra)) url.searchParams.set(k, v);
    return url;
  }

  /** Sends one request; transport failures become FloeError. The caller consumes or dumps the body. */
  private async send(method: Dispatcher.HttpMethod, url: URL, ctx: CallContext, signal: AbortSignal | undefined): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, {
        method,
        dispatcher: this.agent,
        headersTimeout: this.o.requestTimeoutMs,
        bodyTimeout: this.o.requestTimeoutMs,
        ...(signal ? { signal } : {}),
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw this.transportError(error, ctx);
    }
  }

  /**
   * PUTs `body` to the datanode URL of a CREATE and waits for 201. A Uint8Array goes with its length; an
   * iterable goes chunked, written with backpressure. If the iterable throws, the request is destroyed
   * (the datanode sees a truncated upload) and that error is rethrown as it was: it is the producer's.
   */
  private upload(url: URL, body: Body, ctx: CallContext, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let producerError: unknown;
      let settled = false;
      const settle = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        if (error === undefined) resolve();
        else reject(error);
      };
      const fail = (error: unknown): void => {
        if (signal?.aborted) settle(signal.reason);
        else if (producerError !== undefined) settle(producerError);
        else settle(error instanceof FloeError ? error : this.transportError(error, ctx));
      };
      const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
      if (body instanceof Uint8Array) headers['content-length'] = String(body.byteLength);
      const req = httpRequest(url, { method: 'PUT', agent: this.uploadAgent, headers, ...(signal ? { signal } : {}) });
      req.setTimeout(this.o.requestTimeoutMs, () => {
        req.destroy(Object.assign(new Error(`no progress for ${this.o.requestTimeoutMs} ms`), { code: 'ETIMEDOUT' }));
      });
      req.on('error', fail);
      req.on('response', (res: IncomingMessage) => {
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('error', fail);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          if (status === 201) {
            settle();
            return;
          }
          settle(this.failureFromText(status, Buffer.concat(parts).toString('utf8'), ctx));
          // The datanode refused early (the body may still be streaming): drop the connection.
          req.destroy();
        });
      });
      if (body instanceof Uint8Array) {
        req.end(body);
        return;
      }
      void (async () => {
        try {
          for await (const chunk of body) {
            if (settled || req.destroyed) return;
            if (chunk.byteLength === 0) continue;
            if (!req.write(chunk)) await waitForDrain(req);
          }
          req.end();
        } catch (error) {
          producerError = error;
          req.destroy(error instanceof Error ? error : new Error(String(error)));
          settle(error);
        }
      })();
    });
  }

  /** Sends a namenode request that must answer 307, and returns the datanode URL it points to. */
  private async redirect(method: Dispatcher.HttpMethod, url: URL, ctx: CallContext, signal: AbortSignal | undefined): Promise<URL> {
    const res = await this.send(method, url, ctx, signal);
    if (res.statusCode !== 307) {
      if (res.statusCode >= 200 && res.statusCode < 300) {
        await res.body.dump();
        throw this.malformed(ctx, `the namenode answered ${res.statusCode} instead of a 307 redirect to a datanode`);
      }
      throw await this.failure(res, ctx);
    }
    await res.body.dump();
    const location = res.headers.location;
    const raw = Array.isArray(location) ? location[0] : location;
    if (raw === undefined) throw this.malformed(ctx, 'a 307 answer without a Location header');
    try {
      return new URL(raw, this.o.origin);
    } catch (error) {
      throw this.malformed(ctx, `an unreadable Location header ${JSON.stringify(raw)}`, error);
    }
  }

  private async readBytes(res: Dispatcher.ResponseData, ctx: CallContext): Promise<Uint8Array> {
    try {
      return new Uint8Array(await res.body.arrayBuffer());
    } catch (error) {
      throw this.transportError(error, ctx);
    }
  }

  private async json(res: Dispatcher.ResponseData, ctx: CallContext, status: number): Promise<unknown> {
    if (res.statusCode !== status) throw await this.failure(res, ctx);
    let text: string;
    try {
      text = await res.body.text();
    } catch (error) {
      throw this.transportError(error, ctx);
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw this.malformed(ctx, `an answer that is not JSON: ${text.slice(0, 200)}`, error);
    }
  }

  private target(ctx: CallContext): string {
    const rel = this.relative(ctx.hdfsPath);
    return rel === '' ? this.o.storeUri : `${this.o.storeUri}/${rel}`;
  }

  /** The object path of `hdfsPath` under the store root ('' for the root itself, or the HDFS path if outside it). */
  private relative(hdfsPath: string): string {
    const root = this.o.rootPath === '/' ? '' : this.o.rootPath;
    if (hdfsPath === root || hdfsPath === '/') return '';
    return hdfsPath.startsWith(`${root}/`) ? hdfsPath.slice(root.length + 1) : hdfsPath;
  }

  /** Maps an error status (with its RemoteException body) to FloeError. Consumes the body. */
  private async failure(res: Dispatcher.ResponseData, ctx: CallContext): Promise<FloeError> {
    let text = '';
    try {
      text = await res.body.text();
    } catch {
      // The status alone still says enough.
    }
    return this.failureFromText(res.statusCode, text, ctx);
  }

  private failureFromText(status: number, text: string, ctx: CallContext): FloeError {
    const remote = parseRemoteException(text);
    const server = ctx.datanode === undefined ? `namenode ${this.o.origin}` : `datanode ${ctx.datanode}`;
    const detail = remote ? `${remote.exception}: ${firstLine(remote.message ?? '')}` : `HTTP ${status}${text ? `: ${firstLine(text).slice(0, 200)}` : ''}`;
    const what = `WebHDFS ${ctx.op} ${this.target(ctx)} failed (${detail})`;
    const exception = remote?.exception ?? '';
    const cause = new WebHdfsRemoteError(`${server} answered HTTP ${status}: ${text.slice(0, 2000)}`, status, exception);
    const path = this.relative(ctx.hdfsPath) || this.o.storeUri;

    if (exception === 'FileNotFoundException') return notFound(this.o.storeUri, this.relative(ctx.hdfsPath), cause);
    // A file where the path needs a folder ('a' is an object, the call names 'a/b'). HDFS says so with
    // ParentNotDirectoryException on writes, but with an AccessControlException "(is not a directory)"
    // from its traversal check on reads; that message is the only way to tell it from a refusal. For
    // reads and deletes nothing is there (NOT_FOUND); a write cannot happen (an object cannot be a folder).
    // A DELETE of a non-empty folder likewise names no object.
    const notADirectory = exception === 'ParentNotDirectoryException' || (exception === 'AccessControlException' && /\(is not a directory\)/.test(remote?.message ?? ''));
    if (notADirectory || (exception === 'PathIsNotEmptyDirectoryException' && ctx.op === 'DELETE')) {
      if (ctx.op === 'CREATE' || ctx.op === 'RENAME') return folderConflict(this.o.storeUri, this.relative(ctx.hdfsPath), cause);
      return notFound(this.o.storeUri, this.relative(ctx.hdfsPath), cause);
    }
    if (exception === 'FileAlreadyExistsException') return alreadyExists(this.o.storeUri, this.relative(ctx.hdfsPath), cause);
    if (PERMISSION_EXCEPTIONS.has(exception) || status === 401) {
      return new FloeError(
        'CONFIG',
        `${what}: HDFS refused user ${JSON.stringify(this.o.user)}; set the hdfs.user option to a user allowed to write ${this.o.storeUri}, ` +
          'or fix the owner and permissions of that folder.',
        { cause, path },
      );
    }
    if (remote === undefined && status === 404) {
      const ipc = /Hadoop IPC port/i.test(text);
      return new FloeError(
        'CONFIG',
        `${what}: ${server} does not serve WebHDFS at /webhdfs/v1. ` +
          (ipc
            ? 'That port is the namenode RPC port; put the namenode HTTP port (dfs.namenode.http-address, default 9870) in the hdfs:// URI.'
            : 'Is the port in the hdfs:// URI the namenode HTTP port (default 9870), and is dfs.webhdfs.enabled true?'),
        { cause, path },
      );
    }
    if (RETRYABLE_EXCEPTIONS.has(exception) || status >= 500 || status === 429) {
      return new FloeError('IO', `${what}: HDFS is busy, starting or failing over; the operation may be retried.`, { cause, path, retryable: true });
    }
    if (status === 400) {
      return new FloeError('IO', `${what}: WebHDFS rejected the request as malformed; this is a bug in Floe or an incompatible WebHDFS server.`, {
        cause,
        path,
      });
    }
    if (PERMANENT_EXCEPTIONS.has(exception)) {
      return new FloeError('IO', `${what}: HDFS refuses this operation on the folder layout or quota as it is; retrying will not help.`, {
        cause,
        path,
      });
    }
    // Other IOExceptions (403): a write that found no datanode, a lease conflict, a quota. Some clear up on
    // their own (a datanode coming back), so the retry layer may try again a few times.
    return new FloeError('IO', `${what}.`, { cause, path, retryable: true });
  }

  private transportError(error: unknown, ctx: CallContext): FloeError {
    const code = transportCodeOf(error) ?? (error instanceof Error ? error.name : 'unknown');
    const timedOut = /TIMEOUT|ETIMEDOUT/.test(code);
    const path = this.relative(ctx.hdfsPath) || this.o.storeUri;
    const server =
      ctx.datanode === undefined
        ? `the WebHDFS namenode at ${this.o.origin}`
        : `datanode ${ctx.datanode} (where the namenode redirected the ${ctx.op})`;
    let hint: string;
    if (timedOut) hint = `no answer within ${this.o.requestTimeoutMs} ms (hdfs.requestTimeoutMs); is HDFS overloaded?`;
    else if (code === 'ECONNREFUSED')
      hint =
        ctx.datanode === undefined
          ? 'connection refused: is the namenode running, and is the port its HTTP (WebHDFS) port?'
          : 'connection refused: is the datanode running, and is its HTTP address reachable from here?';
    else if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') hint = 'the host name does not resolve; check the hdfs:// URI and DNS.';
    else hint = 'the connection failed; is HDFS reachable?';
    return new FloeError('IO', `WebHDFS ${ctx.op} ${this.target(ctx)}: cannot talk to ${server} (${code}): ${hint} The operation may be retried.`, {
      cause: error,
      path,
      retryable: true,
    });
  }

  private malformed(ctx: CallContext, what: string, cause?: unknown): FloeError {
    return new FloeError('IO', `WebHDFS ${ctx.op} ${this.target(ctx)}: the server sent ${what}; is this a WebHDFS endpoint?`, {
      cause,
      path: this.relative(ctx.hdfsPath) || this.o.storeUri,
    });
  }
}

/** The FloeError for a write whose path conflicts with an object or folder (HDFS cannot hold 'a' and 'a/b'). */
export function folderConflict(storeUri: string, path: string, cause?: unknown): FloeError {
  return new FloeError(
    'INVALID_ARGUMENT',
    `object path ${path} in ${storeUri} conflicts with an existing object or folder (HDFS cannot hold both 'a' and 'a/b'); ` +
      'build object paths with lib/store/paths.ts, which never makes such pairs',
    { path, cause },
  );
}

function rangeParams(offset: number | undefined, length: number | undefined): Record<string, string> {
  const params: Record<string, string> = {};
  if (offset !== undefined && offset > 0) params.offset = String(offset);
  if (length !== undefined) params.length = String(length);
  return params;
}

/** A copy of a datanode OPEN URL with its offset/length replaced (removed when undefined). */
function withRange(url: URL, offset: number | undefined, length: number | undefined): URL {
  const copy = new URL(url);
  copy.searchParams.delete('offset');
  copy.searchParams.delete('length');
  for (const [k, v] of Object.entries(rangeParams(offset, length))) copy.searchParams.set(k, v);
  return copy;
}

/** Percent-encodes each segment of an absolute HDFS path. */
function encodePath(hdfsPath: string): string {
  return hdfsPath
    .split('/')
    .map((segment) => encodeURIComponent(segment))
    .join('/');
}

function parseRemoteException(text: string): RemoteException | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const body = JSON.parse(text) as { RemoteException?: RemoteException };
    return typeof body.RemoteException?.exception === 'string' ? body.RemoteException : undefined;
  } catch {
    return undefined;
  }
}

/** HDFS puts a server-side stack trace after the first line of a message; keep the first line. */
function firstLine(message: string): string {
  const nl = message.indexOf('\n');
  return nl < 0 ? message : message.slice(0, nl);
}

/** Resolves when a writable with a full buffer drains, or rejects if it closes first. */
function waitForDrain(req: import('node:http').ClientRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      req.off('close', onClose);
      resolve();
    };
    const onClose = (): void => {
      req.off('drain', onDrain);
      reject(new Error('the upload connection closed'));
    };
    req.once('drain', onDrain);
    req.once('close', onClose);
  });
}
