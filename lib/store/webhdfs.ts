/**
 * The HDFS object-store backend (`hdfs://host:port/path`), speaking WebHDFS to the namenode's HTTP port
 * through lib/store/webhdfs-client.ts. See docs/hdfs.md.
 *
 * Object `p` is the HDFS file `<root>/p`. How each operation maps:
 *   get     OPEN with offset/length (namenode 307 → datanode; later reads of the same file go straight to
 *           the datanode that served it, see webhdfs-client.ts). A range starting at or past the end is an
 *           error in WebHDFS; it is answered here with an empty array after GETFILESTATUS confirms the size.
 *   put     CREATE of a hidden temp file `.floe-tmp.<random>` in the object's folder, then one RENAME with
 *           options onto the object's name: `renameoptions=NONE` for create-if-absent (fails atomically if
 *           the name exists → ALREADY_EXISTS), `OVERWRITE` otherwise. The object's name therefore only ever
 *           names a complete, closed file; a failed or crashed write leaves at most a temp file.
 *   head    GETFILESTATUS (a folder is not an object → undefined).
 *   list    LISTSTATUS from the deepest folder the prefix names, walking sub-folders the prefix can reach,
 *           concurrently; temp files are skipped (and deleted once older than `tempFileGraceMs`).
 *   delete  DELETE, not recursive; a missing file is not an error, nor is a folder (never deleted if it
 *           holds anything). Emptied folders stay (folders are not objects and list never reports them).
 * Like the local store, HDFS cannot hold both 'a' and 'a/b': such a write fails with INVALID_ARGUMENT.
 */
import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import type { HdfsOptions } from '../api.js';
import { FloeError, isFloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { folderConflict, WebHdfsClient, WebHdfsRemoteError } from './webhdfs-client.js';
import { checkListPrefix, checkObjectPath, checkRange, closedStore, notFound, throwIfAborted } from './validate.js';

export interface WebHdfsStoreOptions extends HdfsOptions {
  /** Time for the temp-file grace period (the namenode's mtimes are wall time; tests may inject a clock). */
  clock?: Clock;
  /**
   * Accepted so every backend takes the same option bag, but not used: temp-file names must not collide
   * between processes, so they come from the OS's random source, not from a (possibly shared) seed.
   */
  random?: Random;
  /** Keep-alive connections per server (namenode, each datanode). Default 64. */
  maxSockets?: number;
  /** TCP connect timeout in ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Temp files of failed or crashed writes older than this are deleted by `list`. Default 6 hours. */
  tempFileGraceMs?: number;
  /** Folders listed concurrently by one `list`. Default 8. */
  listConcurrency?: number;
  /**
   * Files whose datanode read URL is remembered so later reads skip the namenode (one request per read
   * instead of two). Default 4096; 0 turns it off.
   */
  datanodeCacheEntries?: number;
  /** Check at open that the namenode answers and the root is not a file (GETFILESTATUS). Default true. */
  verify?: boolean;
}

/** Defaults in one place. */
export const WEBHDFS_DEFAULTS = {
  port: 9870,
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxSockets: 64,
  tempFileGraceMs: 6 * 3600_000,
  listConcurrency: 8,
  datanodeCacheEntries: 4096,
  fallbackUser: 'floe',
} as const;

/** Names of in-progress writes start with this; no object name may (put rejects it). */
export const TEMP_MARK = '.floe-tmp.';

/** A parsed hdfs:// URI. */
export interface HdfsLocation {
  /** Canonical form: hdfs://host:port/path (no trailing slash; '/' alone for the HDFS root). */
  uri: string;
  /** http://host:port of the namenode's WebHDFS server. */
  origin: string;
  /** Absolute HDFS path of the store root, without a trailing slash ('/' for the HDFS root). */
  rootPath: string;
}

function badUri(uri: string, what: string): FloeError {
  return new FloeError(
    'CONFIG',
    `HDFS URI ${JSON.stringify(uri)} is not valid: ${what}. Use hdfs://namenode-host:http-port/folder, where the port is the ` +
      `namenode's HTTP (WebHDFS) port (default ${WEBHDFS_DEFAULTS.port}), e.g. hdfs://namenode:9870/floe.`,
    { path: uri },
  );
}

/** Parses `hdfs://host[:port][/path]`. Throws CONFIG naming the URI and the fix. */
export function parseHdfsUri(uri: string): HdfsLocation {
  if (typeof uri !== 'string' || !/^hdfs:\/\//i.test(uri)) throw badUri(String(uri), 'it must start with hdfs://');
  let url: URL;
  try {
    url = new URL(uri);
  } catch (error) {
    throw badUri(uri, `it does not parse as a URL (${(error as Error).message})`);
  }
  if (url.hostname === '') throw badUri(uri, 'it names no namenode host');
  if (url.username !== '' || url.password !== '') throw badUri(uri, 'it carries a user or password; set the user with the hdfs.user option');
  if (url.search !== '' || url.hash !== '') throw badUri(uri, 'it has a query or fragment');
  // URL resolves '.' and '..' segments away; a URI that has them is a mistake to report, not to guess at.
  const rawPath = /^hdfs:\/\/[^/?#]*([^?#]*)/i.exec(uri)?.[1] ?? '';
  if (rawPath.replace(/\/+$/, '').split('/').slice(1).some((s) => s === '' || s === '.' || s === '..' || /^%2e(%2e)?$/i.test(s) || s === '.%2e' || s === '%2e.')) {
    throw badUri(uri, "its path has empty, '.' or '..' segments");
  }
  const port = url.port === '' ? WEBHDFS_DEFAULTS.port : Number(url.port);
  let rootPath: string;
  try {
    rootPath = decodeURIComponent(url.pathname).replace(/\/+$/, '');
  } catch {
    throw badUri(uri, 'its path has a malformed %-escape');
  }
  if (rootPath === '') rootPath = '/';
  if (rootPath !== '/') {
    const segments = rootPath.slice(1).split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..' || s.includes(':'))) {
      throw badUri(uri, "its path has empty, '.', '..' or ':' segments");
    }
  }
  const host = url.hostname; // IPv6 literals keep their brackets here
  return {
    uri: `hdfs://${host}:${port}${rootPath === '/' ? '/' : rootPath}`,
    origin: `http://${host}:${port}`,
    rootPath,
  };
}

/** The OS user, as Hadoop's own clients default to it (HADOOP_USER_NAME first). */
function defaultUser(): string {
  const fromEnv = process.env.HADOOP_USER_NAME;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    const name = userInfo().username;
    if (name !== '') return name;
  } catch {
    // No passwd entry (some containers): fall through.
  }
  return WEBHDFS_DEFAULTS.fallbackUser;
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new FloeError('CONFIG', `hdfs.${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** Opens the WebHDFS store for `uri`; with `verify` (default), checks that the namenode answers. */
export async function createWebHdfsStore(uri: string, options: WebHdfsStoreOptions = {}): Promise<WebHdfsObjectStore> {
  const store = new WebHdfsObjectStore(uri, options);
  if (options.verify ?? true) {
    try {
      await store.verify();
    } catch (error) {
      await store.close();
      throw error;
    }
  }
  return store;
}

export class WebHdfsObjectStore implements ObjectStore {
  readonly uri: string;
  /** The user.name every request carries. */
  readonly user: string;
  /** http://host:port of the namenode's WebHDFS server, for messages. */
  readonly namenode: string;
  private readonly location: HdfsLocation;
  private readonly client: WebHdfsClient;
  private readonly clock: Clock;
  private readonly tempFileGraceMs: number;
  private readonly listConcurrency: number;
  private closing: Promise<void> | undefined;

  constructor(uri: string, options: WebHdfsStoreOptions = {}) {
    this.location = parseHdfsUri(uri);
    this.uri = this.location.uri;
    this.namenode = this.location.origin;
    const user = options.user ?? defaultUser();
    if (typeof user !== 'string' || !/^[^\s/:?#&=]+$/.test(user)) {
      throw new FloeError('CONFIG', `hdfs.user ${JSON.stringify(user)} is not a valid HDFS user name (no spaces, '/', ':', '?', '#', '&', '=')`);
    }
    this.user = user;
    this.clock = options.clock ?? systemClock;
    this.tempFileGraceMs = positiveInt('tempFileGraceMs', options.tempFileGraceMs, WEBHDFS_DEFAULTS.tempFileGraceMs);
    this.listConcurrency = positiveInt('listConcurrency', options.listConcurrency, WEBHDFS_DEFAULTS.listConcurrency);
    this.client = new WebHdfsClient({
      origin: this.location.origin,
      storeUri: this.uri,
      rootPath: this.location.rootPath,
      user,
      requestTimeoutMs: positiveInt('requestTimeoutMs', options.requestTimeoutMs, WEBHDFS_DEFAULTS.requestTimeoutMs),
      connectTimeoutMs: positiveInt('connectTimeoutMs', options.connectTimeoutMs, WEBHDFS_DEFAULTS.connectTimeoutMs),
      maxSockets: positiveInt('maxSockets', options.maxSockets, WEBHDFS_DEFAULTS.maxSockets),
      datanodeCacheEntries:
        options.datanodeCacheEntries === 0 ? 0 : positiveInt('datanodeCacheEntries', options.datanodeCacheEntries, WEBHDFS_DEFAULTS.datanodeCacheEntries),
    });
  }

  /** One GETFILESTATUS of the root: the namenode answers, WebHDFS is on, the user may look, the root is not a file. */
  async verify(): Promise<void> {
    this.checkOpen();
    const status = await this.client.getFileStatus(this.location.rootPath);
    if (status !== undefined && status.type !== 'DIRECTORY') {
      throw new FloeError('CONFIG', `HDFS store root ${this.uri} is a ${status.type.toLowerCase()}, not a folder; point the URI at a folder`, {
        path: this.uri,
      });
    }
  }

  async get(path: string, range?: GetRange, options: GetOptions = {}): Promise<Uint8Array> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    if (range !== undefined) checkRange(range, this.uri, path);
    throwIfAborted(options.signal);
    const file = this.hdfsPath(path);
    const offset = range?.offset ?? 0;
    try {
      return await this.client.open(file, offset, range?.length, options.signal);
    } catch (error) {
      if (isFloeError(error, 'NOT_FOUND')) throw error;
      // WebHDFS refuses an OPEN that starts at or past the end (403 IOException "Offset=N out of the range"
      // from the namenode, or 403 EOFException "Cannot seek after EOF" from the datanode); the contract
      // says: an empty result. Decide by the file's size, not by the message text, which differs between
      // Hadoop versions; any other refusal is rethrown as it was.
      if (offset > 0 && isRangeRefusal(error)) {
        const status = await this.client.getFileStatus(file, options.signal);
        if (status === undefined) throw notFound(this.uri, path, error);
        if (status.type === 'FILE' && offset >= status.length) return new Uint8Array(0);
      }
      throw error;
    }
  }

  async put(path: string, bytes: Uint8Array, options: PutOptions = {}): Promise<void> {
    await this.write(path, bytes, options);
  }

  async putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: PutOptions = {}): Promise<void> {
    await this.write(path, chunks, options);
  }

  async head(path: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const status = await this.client.getFileStatus(this.hdfsPath(path));
    if (status === undefined || status.type !== 'FILE') return undefined;
    return { path, size: status.length, mtimeMs: status.modificationTime };
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    checkListPrefix(prefix, this.uri);
    const slash = prefix.lastIndexOf('/');
    const startRel = slash < 0 ? '' : prefix.slice(0, slash);
    const found: ObjectInfo[] = [];
    const stale: string[] = [];
    const now = this.clock.now();
    const queue: string[] = [startRel];
    let active = 0;
    let failure: unknown;

    // A bounded pool of folder listings: each worker takes the next folder from the queue until none is
    // left and no other worker can add more.
    await new Promise<void>((resolve) => {
      const pump = (): void => {
        while (failure === undefined && active < this.listConcurrency && queue.length > 0) {
          const rel = queue.shift()!;
          active++;
          this.listFolder(rel, prefix, found, queue, stale, now).then(
            () => {
              active--;
              pump();
            },
            (error: unknown) => {
              active--;
              failure ??= error;
              pump();
            },
          );
        }
        if (active === 0 && (queue.length === 0 || failure !== undefined)) resolve();
      };
      pump();
    });
    if (failure !== undefined) throw failure;
    await this.sweep(stale);
    return found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(path: string): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    try {
      await this.client.delete(this.hdfsPath(path));
    } catch (error) {
      // No object there: under a file, or a non-empty folder (which is never deleted).
      if (isFloeError(error, 'NOT_FOUND')) return;
      throw error;
    }
  }

  async close(): Promise<void> {
    this.closing ??= this.client.close();
    await this.closing;
  }

  /** Writes `body` to a temp file next to `path`, then renames it onto `path` (docs/hdfs.md). */
  private async write(path: string, body: Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (name.startsWith(TEMP_MARK)) {
      throw new FloeError('INVALID_ARGUMENT', `object name ${JSON.stringify(name)} is reserved for in-progress writes in ${this.uri}`, { path });
    }
    throwIfAborted(options.signal);
    const target = this.hdfsPath(path);
    const temp = `${target.slice(0, target.lastIndexOf('/'))}/${TEMP_MARK}${randomBytes(12).toString('hex')}`;
    try {
      // overwrite=false: a clash with another writer's temp name (2^-96) fails instead of clobbering it.
      await this.client.create(temp, body, false, options.signal);
    } catch (error) {
      if (isFloeError(error, 'ALREADY_EXISTS')) {
        throw new FloeError('IO', `put ${path} in ${this.uri}: temp file name clash; retry the write`, { path, cause: error, retryable: true });
      }
      if (isFloeError(error, 'INVALID_ARGUMENT')) throw folderConflict(this.uri, path, error); // a parent is a file
      // A write that failed part-way may have left a partial temp file: remove it (best effort).
      await this.removeQuietly(temp);
      throw error;
    }
    try {
      // ALREADY_EXISTS from here names `path`: only a create-if-absent (no-overwrite) rename can fail so.
      await this.client.rename(temp, target, options.ifNoneMatch !== true, options.signal);
    } catch (error) {
      await this.removeQuietly(temp);
      // A folder at the object's name makes the rename fail with a plain IOException ("must both be
      // directories"); tell that case by looking, not by the message.
      if (!isFloeError(error, 'ALREADY_EXISTS') && !isFloeError(error, 'INVALID_ARGUMENT')) {
        const status = await this.client.getFileStatus(target, options.signal).catch(() => undefined);
        if (status?.type === 'DIRECTORY') throw folderConflict(this.uri, path, error);
      }
      throw error;
    }
  }

  /** Lists one folder into `found`, queues the sub-folders that can hold matches, notes stale temp files. */
  private async listFolder(rel: string, prefix: string, found: ObjectInfo[], queue: string[], stale: string[], now: number): Promise<void> {
    const entries = await this.client.listStatus(rel === '' ? this.location.rootPath : this.hdfsPath(rel));
    if (entries === undefined) return; // missing folder (or removed meanwhile): nothing under it
    for (const e of entries) {
      if (e.pathSuffix === '') continue; // the folder named a file, which lists as itself
      const child = rel === '' ? e.pathSuffix : `${rel}/${e.pathSuffix}`;
      if (e.type === 'DIRECTORY') {
        if (`${child}/`.startsWith(prefix) || prefix.startsWith(`${child}/`)) queue.push(child);
      } else if (e.type === 'FILE') {
        if (e.pathSuffix.startsWith(TEMP_MARK)) {
          if (now - e.modificationTime > this.tempFileGraceMs) stale.push(child);
        } else if (child.startsWith(prefix)) {
          found.push({ path: child, size: e.length, mtimeMs: e.modificationTime });
        }
      }
    }
  }

  /** Deletes temp files left by writers that failed or crashed long ago; failures are ignored (next list retries). */
  private async sweep(stale: string[]): Promise<void> {
    await Promise.all(stale.map((rel) => this.removeQuietly(this.hdfsPath(rel))));
  }

  private async removeQuietly(hdfsPath: string): Promise<void> {
    try {
      await this.client.delete(hdfsPath);
    } catch {
      // Best effort: a leftover temp file is invisible to readers and swept by a later list.
    }
  }

  private hdfsPath(path: string): string {
    return this.location.rootPath === '/' ? `/${path}` : `${this.location.rootPath}/${path}`;
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw closedStore(this.uri);
  }
}

/** A 403 IOException/EOFException answer to OPEN: what WebHDFS says to a range that starts outside the file. */
function isRangeRefusal(error: unknown): boolean {
  const cause = isFloeError(error, 'IO') ? error.cause : undefined;
  return cause instanceof WebHdfsRemoteError && cause.status === 403 && (cause.exception === 'IOException' || cause.exception === 'EOFException');
}
