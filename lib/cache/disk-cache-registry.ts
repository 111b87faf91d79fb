/**
 * One disk cache per localDir, shared by every store of this thread that uses the localDir, whatever its
 * instance: pages are keyed by (primary storage, file id), and file ids are unique across the instances of
 * one primary (lib/store/paths.ts `sstFileId`), so a restored or rescaled instance finds the pages of the
 * files it shares with its source. The primary is named by its URI and store id (lib/store/store-id.ts):
 * a store re-created at the same URI hands out the same file ids for other bytes.
 * `diskCacheBytes` bounds everything under localDir (docs/caches.md).
 *
 * - `openLocalDiskCache` locks the localDir against other processes and threads (lib/cache/local-dir.ts),
 *   tidies it, opens the cache folder within what the budget leaves, and hands out refcounted handles.
 * - `claimShardedLocalDir` is the sharded store's counterpart: it owns the localDir, keeps the folders of
 *   the current shard count and removes the others, and tells the shards their share of the budget.
 *
 * The registry of open localDirs is module state of this thread (like the mem:// registry): worker threads
 * have their own and are kept apart by the lock file. A localDir is open in one mode at a time.
 */
import { join, resolve } from 'node:path';
import { FloeError } from '../errors.js';
import { nodeLocalFs, type LocalFs } from '../store/local-file.js';
import type { ObjectStore } from '../store/object-store.js';
import { localNames, parseShardLocalDirName, shardLocalDirName } from '../store/paths.js';
import { readOrCreateStoreId } from '../store/store-id.js';
import type { Clock } from '../util/clock.js';
import type { ByteSource } from './byte-source.js';
import { DiskCacheFolder, type DiskCache, type DiskCacheCounters, type DiskCacheStats } from './disk-cache.js';
import { clearOwnLock, LOCAL_DIR_OVERHEAD_BYTES, LocalDirLock, purgeLocalDir, systemProcessProbe, tidyLocalDir, type ProcessProbe } from './local-dir.js';

export interface LocalDirOptions {
  /** Absolute path of the localDir. */
  localDir: string;
  /** `diskCacheBytes`: the bound for everything under localDir. 0: no cache, and earlier caches there are removed. */
  capacityBytes: number;
  fs?: LocalFs;
  probe?: ProcessProbe;
}

export interface LocalDiskCacheOptions extends LocalDirOptions {
  /** The primary storage: pages are keyed by its URI, its store id and the file id. */
  primary: ObjectStore;
  clock?: Clock;
}

interface StoreEntry {
  mode: 'store';
  capacity: number;
  refs: number;
  opened: Promise<{ folder: DiskCacheFolder; lock: LocalDirLock }>;
  closing?: Promise<void>;
}

interface ShardedEntry {
  mode: 'sharded';
}

const registry = new Map<string, StoreEntry | ShardedEntry>();

function inUseHere(dir: string, how: string): FloeError {
  return new FloeError(
    'CONFIG',
    `localDir ${dir} is already used by ${how} in this process; give each sharded store its own localDir (option localDir)`,
    { path: dir },
  );
}

/**
 * Opens (or joins) the disk cache of `o.localDir`. Returns undefined for a zero budget (after removing the
 * caches earlier runs left there, unless another process holds the folder).
 * Throws CONFIG if another process or thread holds the folder, if a sharded store of this thread owns it, or
 * if a store of this thread has it open with a different budget.
 */
export async function openLocalDiskCache(o: LocalDiskCacheOptions): Promise<DiskCache | undefined> {
  const dir = resolve(o.localDir);
  const fs = o.fs ?? nodeLocalFs;
  const probe = o.probe ?? systemProcessProbe(fs);
  let namespace: string | undefined;
  for (;;) {
    const entry = registry.get(dir);
    if (entry?.mode === 'sharded') throw inUseHere(dir, 'a sharded store');
    if (entry?.closing !== undefined) {
      await entry.closing;
      continue;
    }
    if (o.capacityBytes === 0) {
      if (entry === undefined) await purgeLocalDir(dir, fs, probe);
      return undefined;
    }
    namespace ??= `${o.primary.uri}#${await readOrCreateStoreId(o.primary)}`;
    if (registry.get(dir) !== entry || entry?.closing !== undefined) continue; // changed while the id was read
    if (entry !== undefined && entry.capacity !== o.capacityBytes) {
      throw new FloeError(
        'CONFIG',
        `localDir ${dir} is already used by a store of this process with diskCacheBytes ${entry.capacity}, not ${o.capacityBytes}: the stores share its cache, so give them the same diskCacheBytes or separate localDirs`,
        { path: dir },
      );
    }
    const e: StoreEntry = entry ?? { mode: 'store', capacity: o.capacityBytes, refs: 0, opened: openFolder(dir, fs, probe, o) };
    if (entry === undefined) {
      registry.set(dir, e);
      e.opened.catch(() => {
        if (registry.get(dir) === e) registry.delete(dir);
      });
    }
    e.refs++;
    let folder: DiskCacheFolder;
    try {
      folder = (await e.opened).folder;
    } catch (error) {
      e.refs--;
      throw error;
    }
    return new LocalDiskCache(folder, namespace, () => release(dir, e));
  }
}

async function openFolder(dir: string, fs: LocalFs, probe: ProcessProbe, o: LocalDiskCacheOptions): Promise<{ folder: DiskCacheFolder; lock: LocalDirLock }> {
  const lock = await LocalDirLock.acquire(dir, fs, probe);
  try {
    const foreign = await tidyLocalDir(dir, fs, (name) => name === localNames.diskCacheDir);
    const folder = await DiskCacheFolder.open({
      dir: join(dir, localNames.diskCacheDir),
      capacityBytes: Math.max(0, o.capacityBytes - LOCAL_DIR_OVERHEAD_BYTES - foreign),
      // A remote block read once (a cold uniform get) costs one GET of the block alone, no page-sized read
      // and no local write; a page missed again while remembered is admitted (disk-cache.ts).
      admitOnSecondAccess: true,
      fs,
      ...(o.clock ? { clock: o.clock } : {}),
    });
    return { folder, lock };
  } catch (e) {
    await lock.release();
    throw e;
  }
}

/** Drops one reference; the last one closes the folder and releases the lock (a new open waits for that). */
function release(dir: string, e: StoreEntry): Promise<void> {
  e.refs--;
  if (e.refs > 0) return Promise.resolve();
  e.closing = (async () => {
    const { folder, lock } = await e.opened;
    try {
      await folder.close();
    } finally {
      await lock.release();
      if (registry.get(dir) === e) registry.delete(dir);
    }
  })();
  return e.closing;
}

/** One store's handle on a shared cache folder: its own namespace, hit/miss counts and close. */
class LocalDiskCache implements DiskCache {
  private readonly counters: DiskCacheCounters = { hits: 0, misses: 0, missedReads: 0 };
  private closing: Promise<void> | undefined;

  constructor(
    private readonly folder: DiskCacheFolder,
    private readonly namespace: string,
    private readonly onClose: () => Promise<void>,
  ) {}

  /** The id the folder knows a file by: store namespace and file id (file ids repeat across stores). */
  private id(fileId: string): string {
    return `${this.namespace}|${fileId}`;
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new FloeError('CLOSED', 'the disk cache of this store is closed; open the store again');
  }

  source(fileId: string, fileSize: number, remote: ByteSource): ByteSource {
    const inner = this.folder.source(this.id(fileId), fileSize, remote, this.counters);
    const sync = inner.readIntoSync;
    return {
      read: (offset, length, options) => {
        this.checkOpen();
        return inner.read(offset, length, options);
      },
      // Not served once closing: `read` then reports CLOSED.
      ...(sync === undefined ? {} : { readIntoSync: (offset: number, length: number, dest: Uint8Array) => this.closing === undefined && sync(offset, length, dest) }),
    };
  }

  admit(fileId: string, bytes: Uint8Array, offset?: number): Promise<void> {
    if (this.closing !== undefined) return Promise.resolve();
    return this.folder.admit(this.id(fileId), bytes, offset);
  }

  forget(fileId: string): Promise<void> {
    return this.folder.forget(this.id(fileId));
  }

  isCached(fileId: string, offset: number, length: number): boolean {
    return this.closing === undefined && this.folder.isCached(this.id(fileId), offset, length);
  }

  settle(): Promise<void> {
    return this.folder.settle();
  }

  cachedRanges(fileId: string): Array<[number, number]> {
    return this.closing === undefined ? this.folder.cachedRanges(this.id(fileId)) : [];
  }

  /** Capacity and cached bytes of the shared folder; hits and misses of this store's reads. */
  stats(): DiskCacheStats {
    const s = this.folder.stats();
    return { capacity: s.capacity, bytes: s.bytes, hits: this.counters.hits, misses: this.counters.misses, missedReads: this.counters.missedReads };
  }

  get ioErrors(): number {
    return this.folder.ioErrors;
  }

  /** Releases this store's reference; the last one closes the folder. Idempotent. */
  close(): Promise<void> {
    this.closing ??= this.onClose();
    return this.closing;
  }
}

/** A sharded store's hold on its localDir. */
export interface ShardedLocalDir {
  /** `diskCacheBytes` of each shard (whose localDir is `<localDir>/shard-<i>`). */
  readonly shardBytes: number;
  /**
   * Before a shard restarts in a new thread: removes the lock its terminated thread left in its folder.
   * REQUIRES: the shard's previous thread is terminated (it no longer uses the folder).
   */
  clearShardLock(index: number): Promise<void>;
  release(): Promise<void>;
}

/**
 * Takes `o.localDir` for a sharded store of `shards` shards: locks it, removes the folders of other shard
 * counts and anything else Floe named there, clears locks left in the kept shard folders by terminated
 * threads of this process, and splits what the budget leaves between the shards. A zero budget takes
 * nothing and purges what earlier runs left.
 */
export async function claimShardedLocalDir(o: LocalDirOptions & { shards: number }): Promise<ShardedLocalDir> {
  const dir = resolve(o.localDir);
  const fs = o.fs ?? nodeLocalFs;
  const probe = o.probe ?? systemProcessProbe(fs);
  if (registry.has(dir)) throw inUseHere(dir, registry.get(dir)!.mode === 'sharded' ? 'another sharded store' : 'an embedded store');
  if (o.capacityBytes === 0) {
    await purgeLocalDir(dir, fs, probe);
    return { shardBytes: 0, clearShardLock: async () => undefined, release: async () => undefined };
  }
  const entry: ShardedEntry = { mode: 'sharded' };
  registry.set(dir, entry);
  let lock: LocalDirLock | undefined;
  try {
    lock = await LocalDirLock.acquire(dir, fs, probe);
    const keep = (name: string): boolean => {
      const i = parseShardLocalDirName(name);
      return i !== undefined && i < o.shards;
    };
    const foreign = await tidyLocalDir(dir, fs, keep);
    for (const e of (await fs.list(dir)) ?? []) if (keep(e.name)) await clearOwnLock(join(dir, e.name), fs, probe);
    const held = lock;
    let released: Promise<void> | undefined;
    return {
      shardBytes: Math.floor(Math.max(0, o.capacityBytes - LOCAL_DIR_OVERHEAD_BYTES - foreign) / o.shards),
      clearShardLock: (index) => clearOwnLock(join(dir, shardLocalDirName(index)), fs, probe),
      release: () =>
        (released ??= held.release().finally(() => {
          if (registry.get(dir) === entry) registry.delete(dir);
        })),
    };
  } catch (e) {
    await lock?.release();
    if (registry.get(dir) === entry) registry.delete(dir);
    throw e;
  }
}
