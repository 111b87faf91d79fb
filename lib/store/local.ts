/**
 * The local-filesystem object store (`file:///abs/path`): each object is a regular file under the root
 * folder, at the object's path.
 *
 * Guarantees:
 * - Atomic visibility: a put writes a uniquely named temp file in `<root>/.floe-tmp/`, then renames it into
 *   place (same filesystem, so rename is atomic); readers see the old state or the whole new object.
 * - Create-if-absent: `link(temp, final)` fails with EEXIST atomically if the object exists; the temp name is
 *   then unlinked. No window where a partial object is visible, no check-then-act race between processes.
 * - Durability (option `durable`, default true): the temp file is fsynced before it becomes visible, and the
 *   directory holding the new name (and any directory created for it) is fsynced after, so a put that
 *   resolved survives power loss. Deletes are not fsynced: a delete lost in a crash is redone by GC.
 * - Temp files are never listed; temp files older than `staleTempMs` (left by a crash) are removed on open.
 *   Younger ones may belong to another live process writing to the same root, so they are left alone.
 * - Empty folders left by deletes are not removed (removing them would race with concurrent puts into them);
 *   they are invisible to `list` and `head`.
 *
 * Limitation versus S3: a path cannot be both an object and a folder (`a` and `a/b`); such a put fails with
 * INVALID_ARGUMENT. Paths built by lib/store/paths.ts never do this.
 *
 * Reads: ranged reads go through a small cache of open handles (local-handles.ts); those up to
 * SYNC_READ_LIMIT (block reads) are one synchronous pread on the main thread, as RocksDB does, since a
 * thread-pool hop per 16 KiB block cost far more than the copy. A cold block on a slow disk (or a network
 * filesystem mounted as file://) blocks the event loop for that one read; larger reads stay asynchronous.
 * Once a file's handle is open, `readIntoSync` serves such reads into the caller's buffer with no promise and
 * no allocation (the table reader's block-cache miss path, lib/sst/reader.ts).
 *
 * Errors: errno values map to FloeError in `mapFsError` (ENOENT → NOT_FOUND, EEXIST → ALREADY_EXISTS,
 * EACCES/EPERM/EROFS → CONFIG, transient ones → retryable IO, the rest → IO).
 */
import { constants } from 'node:fs';
import { access, link, mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { FileHandleCache } from './local-handles.js';
import { errnoOf } from './errno.js';
import { mapFsError, pathConflict, type FsErrorContext } from './local-errors.js';
import { readAt, readAtSync, readIntoAtSync, writeAll } from './local-io.js';
import { FloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
export { mapFsError, type FsErrorContext } from './local-errors.js';
import { alreadyExists, checkListPrefix, checkObjectPath, checkRange, clipRange, closedStore, notFound, throwIfAborted, checkBytes } from './validate.js';
import { mapBounded } from '../util/map-bounded.js';

/** Folder under the root that holds temp files; reserved, never listed. */
export const LOCAL_TEMP_DIR = '.floe-tmp';

/** Reads with an explicit length up to this size skip the fstat and read straight into a buffer. */
const NO_STAT_READ_LIMIT = 8 * 2 ** 20;
/**
 * Reads with an explicit length up to this size (a block or a few) are served with a synchronous positional
 * read on the cached handle's fd, as RocksDB does: from the page cache that costs a few microseconds, far
 * less than the thread-pool hop of an async read (which dominated block-cache misses on a file:// primary).
 * Larger reads stay asynchronous so a cold multi-megabyte read never stalls the event loop.
 */
export const SYNC_READ_LIMIT = 64 * 1024;
/** Concurrent stat calls while listing. */
const LIST_STAT_CONCURRENCY = 32;

export interface LocalObjectStoreOptions {
  /** fsync files and directories so a resolved put survives power loss (default true). */
  durable?: boolean;
  /** Create the root folder (and its parents) if missing (default true). */
  create?: boolean;
  /** Temp files older than this are crash leftovers and are removed on open (default 15 minutes). */
  staleTempMs?: number;
  /** Time source for the stale-temp age (default systemClock). */
  clock?: Clock;
}

/** How often the store fsynced; lets tests check that the durable path really runs. */
export interface LocalSyncCounts {
  files: number;
  dirs: number;
}

export class LocalObjectStore implements ObjectStore {
  readonly uri: string;
  /** Absolute root folder. */
  readonly root: string;
  readonly syncs: LocalSyncCounts = { files: 0, dirs: 0 };
  private readonly tempDir: string;
  private readonly durable: boolean;
  private readonly tempPrefix: string;
  private tempCounter = 0;
  private closed = false;
  /** Open handles for block reads; invalidated before this store replaces or deletes a path. */
  private readonly handles = new FileHandleCache(256);

  private constructor(root: string, durable: boolean) {
    this.root = root;
    this.uri = pathToFileURL(root).href;
    this.tempDir = join(root, LOCAL_TEMP_DIR);
    this.durable = durable;
    // pid + a random nonce: unique across processes and across stores in one process sharing the root.
    this.tempPrefix = `${process.pid}-${randomUUID().slice(0, 8)}-`;
  }

  /**
   * Opens (and by default creates) the store rooted at the absolute folder `root`, and removes stale temp
   * files. Throws CONFIG for a relative root, a root that is not a folder, or one Floe may not write.
   */
  static async open(root: string, options: LocalObjectStoreOptions = {}): Promise<LocalObjectStore> {
    if (typeof root !== 'string' || !isAbsolute(root)) {
      throw new FloeError(
        'CONFIG',
        `local store root ${JSON.stringify(root)} is not an absolute path; use file:///absolute/path (e.g. file://${resolve(String(root))})`,
      );
    }
    const store = new LocalObjectStore(resolve(root), options.durable ?? true);
    await store.prepare(options.create ?? true);
    await store.removeStaleTemps(options.staleTempMs ?? 15 * 60_000, options.clock ?? systemClock);
    return store;
  }

  private async prepare(create: boolean): Promise<void> {
    const ctx = { uri: this.uri, root: this.root, path: '', file: this.root, what: 'open the store folder' };
    if (create) {
      try {
        const first = await mkdir(this.root, { recursive: true });
        if (this.durable && first !== undefined) await this.syncNewNames('', first, this.root);
      } catch (error) {
        throw error instanceof FloeError ? error : this.rootError(error, ctx);
      }
    }
    try {
      const info = await stat(this.root);
      if (!info.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      await access(this.root, constants.R_OK | constants.W_OK | constants.X_OK);
      await mkdir(this.tempDir, { recursive: true });
    } catch (error) {
      throw this.rootError(error, ctx);
    }
  }

  private rootError(error: unknown, ctx: FsErrorContext): FloeError {
    const code = errnoOf(error);
    if (code === 'ENOENT') {
      return new FloeError('CONFIG', `the store folder ${this.root} (${this.uri}) does not exist; create it, or open with create enabled`, {
        cause: error,
      });
    }
    if (code === 'ENOTDIR' || code === 'EEXIST') {
      return new FloeError(
        'CONFIG',
        `the store root ${this.root} (${this.uri}) or one of its parents is not a folder; point primary at a folder`,
        { cause: error },
      );
    }
    return mapFsError(error, ctx);
  }

  private async removeStaleTemps(staleTempMs: number, clock: Clock): Promise<void> {
    const cutoff = clock.now() - staleTempMs;
    let names: string[];
    try {
      names = await readdir(this.tempDir);
    } catch (error) {
      throw mapFsError(error, { uri: this.uri, root: this.root, path: '', file: this.tempDir, what: 'list temp files in' });
    }
    for (const name of names) {
      const file = join(this.tempDir, name);
      try {
        const info = await stat(file);
        if (info.isFile() && info.mtimeMs < cutoff) await unlink(file);
      } catch (error) {
        // Another process may have renamed or cleaned it meanwhile.
        if (errnoOf(error) !== 'ENOENT') {
          throw mapFsError(error, { uri: this.uri, root: this.root, path: '', file, what: 'remove stale temp file' });
        }
      }
    }
  }

  async get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    if (range !== undefined) checkRange(range, this.uri, path);
    throwIfAborted(options?.signal);
    const file = this.fileOf(path);
    try {
      if (range !== undefined && range.length !== undefined && range.length <= NO_STAT_READ_LIMIT) {
        // Hot path (block reads): a cached open handle, no fstat; a read past the end comes back short.
        const { offset, length } = range;
        if (length <= SYNC_READ_LIMIT) {
          const fd = this.handles.fdIfOpen(file);
          if (fd >= 0) return readAtSync(fd, offset, length);
          return await this.handles.with(file, async (fh) => readAtSync(fh.fd, offset, length));
        }
        return await this.handles.with(file, (fh) => readAt(fh, offset, length));
      }
      const fh = await open(file, 'r');
      try {
        const info = await fh.stat();
        if (!info.isFile()) throw notFound(this.uri, path);
        const clipped = clipRange(range, info.size, this.uri, path);
        return await readAt(fh, clipped.start, clipped.end - clipped.start);
      } finally {
        await fh.close();
      }
    } catch (error) {
      if (error instanceof FloeError) throw error;
      const code = errnoOf(error);
      if (code === 'ENOTDIR' || code === 'EISDIR') throw notFound(this.uri, path, error);
      throw mapFsError(error, this.ctx(path, file, 'read'));
    }
  }

  /**
   * ObjectStore.readIntoSync: a block read (up to SYNC_READ_LIMIT) straight into the caller's buffer, when the
   * file's handle is already open (the first read of a file opens it through `get`). -1 for anything else,
   * and for any error: `get` then redoes the read and reports the error properly.
   */
  readIntoSync(path: string, offset: number, length: number, dest: Uint8Array): number {
    if (this.closed || length > SYNC_READ_LIMIT || length > dest.length || !Number.isSafeInteger(offset) || offset < 0 || length < 0) return -1;
    let file: string;
    try {
      checkObjectPath(path, this.uri);
      file = this.fileOf(path);
    } catch {
      return -1;
    }
    const fd = this.handles.fdIfOpen(file);
    if (fd < 0) return -1;
    try {
      return readIntoAtSync(fd, offset, length, dest);
    } catch {
      return -1;
    }
  }

  async put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    checkBytes(bytes, path, this.uri);
    throwIfAborted(options?.signal);
    const temp = await this.writeTemp(path, async (fh) => {
      await writeAll(fh, bytes, 0);
    });
    await this.publish(temp, path, options?.ifNoneMatch === true);
  }

  async putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const ifNoneMatch = options?.ifNoneMatch === true;
    // Fail fast without consuming the stream; the link() in publish is what decides.
    if (ifNoneMatch && (await this.head(path)) !== undefined) throw alreadyExists(this.uri, path);
    const signal = options?.signal;
    const temp = await this.writeTemp(path, async (fh) => {
      let position = 0;
      for await (const chunk of chunks) {
        throwIfAborted(signal);
        if (!(chunk instanceof Uint8Array)) {
          throw new FloeError('INVALID_ARGUMENT', `chunks written to ${path} in ${this.uri} must be Uint8Arrays`, { path });
        }
        await writeAll(fh, chunk, position);
        position += chunk.length;
      }
      throwIfAborted(signal);
    });
    await this.publish(temp, path, ifNoneMatch);
  }

  async head(path: string): Promise<ObjectInfo | undefined> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const file = this.fileOf(path);
    try {
      const info = await stat(file);
      return info.isFile() ? { path, size: info.size, mtimeMs: info.mtimeMs } : undefined;
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw mapFsError(error, this.ctx(path, file, 'stat'));
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    this.checkOpen();
    checkListPrefix(prefix, this.uri);
    // Start at the deepest folder the prefix names completely; filter its entries by the partial rest.
    const cut = prefix.lastIndexOf('/');
    const baseRel = cut < 0 ? '' : prefix.slice(0, cut);
    const namePrefix = prefix.slice(cut + 1);
    const found: string[] = [];
    const pending: Array<{ rel: string; filter: string }> = [{ rel: baseRel, filter: namePrefix }];
    while (pending.length > 0) {
      const { rel, filter } = pending.pop()!;
      const dir = rel === '' ? this.root : join(this.root, rel);
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        const code = errnoOf(error);
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw mapFsError(error, this.ctx(rel, dir, 'list'));
      }
      for (const entry of entries) {
        if (!entry.name.startsWith(filter)) continue;
        if (rel === '' && entry.name === LOCAL_TEMP_DIR) continue;
        const childRel = rel === '' ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) pending.push({ rel: childRel, filter: '' });
        else found.push(childRel);
      }
    }
    const infos = await mapBounded(found, LIST_STAT_CONCURRENCY, async (rel): Promise<ObjectInfo | undefined> => {
      const file = join(this.root, rel);
      try {
        const info = await stat(file);
        return info.isFile() ? { path: rel, size: info.size, mtimeMs: info.mtimeMs } : undefined;
      } catch (error) {
        if (errnoOf(error) === 'ENOENT') return undefined; // deleted while we listed
        throw mapFsError(error, this.ctx(rel, file, 'stat'));
      }
    });
    const out = infos.filter((info): info is ObjectInfo => info !== undefined);
    return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async delete(path: string): Promise<void> {
    this.checkOpen();
    checkObjectPath(path, this.uri);
    const file = this.fileOf(path);
    await this.handles.invalidate(file);
    try {
      await unlink(file);
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return; // no object there
      if (code === 'EPERM' && (await isDirectory(file))) return; // unlink(dir) on some systems
      throw mapFsError(error, this.ctx(path, file, 'delete'));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.handles.closeAll();
  }

  private fileOf(path: string): string {
    if (path.startsWith(LOCAL_TEMP_DIR) && (path.length === LOCAL_TEMP_DIR.length || path[LOCAL_TEMP_DIR.length] === '/')) {
      throw new FloeError('INVALID_ARGUMENT', `object path ${path} is reserved for temp files in ${this.uri}`, { path });
    }
    // checkObjectPath rejected '.', '..' and empty segments, so plain concatenation stays under the root
    // (and skips path.join's normalisation on the hot path).
    return `${this.root}/${path}`;
  }

  private ctx(path: string, file: string, what: string): FsErrorContext {
    return { uri: this.uri, root: this.root, path, file, what };
  }

  /**
   * Writes a temp file with `fill`, fsyncs it when durable, and returns its name.
   * PROMISES: on failure the temp file is removed and the error is a FloeError (or the abort reason).
   */
  private async writeTemp(path: string, fill: (fh: FileHandle) => Promise<void>): Promise<string> {
    const temp = join(this.tempDir, `${this.tempPrefix}${++this.tempCounter}`);
    let fh: FileHandle;
    try {
      fh = await open(temp, 'wx');
    } catch (error) {
      if (errnoOf(error) !== 'ENOENT') throw mapFsError(error, this.ctx(path, temp, 'create a temp file for'));
      // Someone removed the temp folder; recreate it once.
      try {
        await mkdir(this.tempDir, { recursive: true });
        fh = await open(temp, 'wx');
      } catch (again) {
        throw mapFsError(again, this.ctx(path, temp, 'create a temp file for'));
      }
    }
    try {
      await fill(fh);
      if (this.durable) {
        await fh.sync();
        this.syncs.files++;
      }
      await fh.close();
    } catch (error) {
      await fh.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
      if (error instanceof FloeError || errnoOf(error) === undefined) throw error;
      throw mapFsError(error, this.ctx(path, temp, 'write'));
    }
    return temp;
  }

  /** Makes the temp file visible at `path`: rename (plain put) or link + unlink (create-if-absent). */
  private async publish(temp: string, path: string, ifNoneMatch: boolean): Promise<void> {
    const file = this.fileOf(path);
    const dir = dirname(file);
    if (!ifNoneMatch) await this.handles.invalidate(file);
    try {
      try {
        await this.moveInto(temp, file, ifNoneMatch);
      } catch (error) {
        if (errnoOf(error) !== 'ENOENT') throw error;
        // The parent folder is missing (first object under it). Create it, then try once more.
        await this.makeDirs(path, dir);
        try {
          await this.moveInto(temp, file, ifNoneMatch);
        } catch (again) {
          if (errnoOf(again) !== 'ENOENT') throw again;
          // The temp file or the new folder vanished under us (a concurrent cleanup): the put did not happen.
          throw new FloeError('IO', `cannot publish ${path} in ${this.uri}: its temp file or folder vanished; retry the put`, {
            path,
            cause: again,
            retryable: true,
          });
        }
      }
    } catch (error) {
      await unlink(temp).catch(() => undefined);
      const code = errnoOf(error);
      if (code === 'EEXIST' && ifNoneMatch && !(await isDirectory(file))) throw alreadyExists(this.uri, path, error);
      if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR' || code === 'ENOTEMPTY') throw pathConflict(this.uri, path, error);
      if (error instanceof FloeError) throw error;
      throw mapFsError(error, this.ctx(path, file, 'publish'));
    }
    if (ifNoneMatch) await unlink(temp).catch(() => undefined);
    if (this.durable) await this.syncDir(path, dir);
  }

  private async moveInto(temp: string, file: string, ifNoneMatch: boolean): Promise<void> {
    if (ifNoneMatch) await link(temp, file);
    else await rename(temp, file);
  }

  /** mkdir -p; when durable, fsyncs the parent of every folder it created so the new names persist. */
  private async makeDirs(path: string, dir: string): Promise<void> {
    let first: string | undefined;
    try {
      first = await mkdir(dir, { recursive: true });
    } catch (error) {
      const code = errnoOf(error);
      if (code === 'EEXIST' || code === 'ENOTDIR') throw pathConflict(this.uri, path, error);
      throw mapFsError(error, this.ctx(path, dir, 'create folder'));
    }
    if (this.durable && first !== undefined) await this.syncNewNames(path, first, dir);
  }

  /** After mkdir -p created `first` .. `dir`: each new name lives in its parent, so fsync parent(first) .. parent(dir). */
  private async syncNewNames(path: string, first: string, dir: string): Promise<void> {
    const parents: string[] = [];
    const stop = dirname(first);
    for (let d = dir; d !== stop && d !== dirname(d); d = dirname(d)) parents.push(dirname(d));
    for (const parent of parents.reverse()) await this.syncDir(path, parent);
  }

  private async syncDir(path: string, dir: string): Promise<void> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(dir, 'r');
      await fh.sync();
      this.syncs.dirs++;
    } catch (error) {
      // Some filesystems cannot fsync a directory; there is nothing more we can do there.
      if (errnoOf(error) !== 'EINVAL') throw mapFsError(error, this.ctx(path, dir, 'fsync folder'));
    } finally {
      await fh?.close();
    }
  }

  private checkOpen(): void {
    if (this.closed) throw closedStore(this.uri);
  }
}

async function isDirectory(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isDirectory();
  } catch {
    return false;
  }
}
