/**
 * Ownership and tidiness of a `localDir` (names in lib/store/paths.ts `localNames`; design in docs/caches.md):
 *
 * - **Lock.** One process at a time owns a localDir through `floe.lock`, holding "floe-lock 1 <pid> <start>"
 *   (start: the process start time, so a lock left by a dead process whose pid was reused — a restarted
 *   container's pid 1 — is recognised as stale). The lock is written under a private name, fsynced and
 *   published with an exclusive hard link, so it is seen complete or not at all. A lock whose owner no
 *   longer runs is taken over: renamed away (only one taker can rename it), checked, deleted.
 * - **Tidying.** Opening a localDir removes every entry with a Floe name that the current layout does not
 *   use (older per-instance cache folders, folders of shard counts no longer in use, takeover leftovers) and
 *   measures everything else — files Floe did not create — so the caller can count it against the budget.
 *   Floe never deletes a file it did not name.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { FloeError } from '../errors.js';
import { errnoOf } from '../store/errno.js';
import type { LocalEntry, LocalFs } from '../store/local-file.js';
import { isLocalLockTakeoverName, localLockTakeoverName, localNames, parseShardLocalDirName } from '../store/paths.js';
import { FS_BLOCK } from './disk-cache-layout.js';

/** Bytes of a localDir that are not cache: the lock file and the folder itself, one filesystem block each. */
export const LOCAL_DIR_OVERHEAD_BYTES = 2 * FS_BLOCK;

/** A process as a lock records it: pid and an opaque start stamp (same process ⇔ same pid and stamp). */
export interface ProcessIdentity {
  pid: number;
  start: string;
}

/** Tells which process we are and whether another one still runs. Tests inject their own. */
export interface ProcessProbe {
  self(): Promise<ProcessIdentity>;
  /** Whether the process `id` (pid and start stamp) still runs. */
  alive(id: ProcessIdentity): Promise<boolean>;
}

/**
 * The process start time in clock ticks since boot, from /proc/<pid>/stat (field 22), or undefined when the
 * process does not exist or the system has no /proc.
 */
async function procStart(fs: LocalFs, pid: number): Promise<string | undefined> {
  let bytes: Uint8Array | undefined;
  try {
    bytes = await fs.readFile(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  if (bytes === undefined) return undefined;
  const text = Buffer.from(bytes).toString('latin1');
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return fields[19];
}

/** Probes through /proc where it exists (exact, survives pid reuse), else with signal 0 (pid only). */
export function systemProcessProbe(fs: LocalFs): ProcessProbe {
  let self: Promise<ProcessIdentity> | undefined;
  return {
    self: () =>
      (self ??= (async () => {
        const start = await procStart(fs, process.pid);
        return { pid: process.pid, start: start === undefined ? 'unknown' : `ticks:${start}` };
      })()),
    async alive(id) {
      if (id.start.startsWith('ticks:')) {
        const start = await procStart(fs, id.pid);
        if (start !== undefined || (await procStart(fs, process.pid)) !== undefined) return `ticks:${start}` === id.start;
      }
      try {
        process.kill(id.pid, 0);
        return true;
      } catch (e) {
        return errnoOf(e) === 'EPERM'; // runs, as another user
      }
    },
  };
}

const LOCK_MAGIC = 'floe-lock';
const LOCK_VERSION = 1;

export function encodeLock(id: ProcessIdentity): Uint8Array {
  return Buffer.from(`${LOCK_MAGIC} ${LOCK_VERSION} ${id.pid} ${id.start}\n`, 'utf8');
}

/** The owner a lock file names, or undefined if the bytes are not a complete lock of this version. */
export function decodeLock(bytes: Uint8Array): ProcessIdentity | undefined {
  const m = /^floe-lock 1 ([1-9]\d{0,9}) (\S{1,64})\n$/.exec(Buffer.from(bytes).toString('utf8'));
  return m ? { pid: Number(m[1]), start: m[2]! } : undefined;
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

function token(): string {
  return randomBytes(8).toString('hex');
}

/** CONFIG: the folder belongs to a live process (or another thread of ours). */
export function localDirBusy(dir: string, owner: ProcessIdentity, self: ProcessIdentity): FloeError {
  const who =
    owner.pid === self.pid && owner.start === self.start
      ? `another thread of this process (pid ${owner.pid})`
      : `another running process (pid ${owner.pid})`;
  return new FloeError(
    'CONFIG',
    `localDir ${dir} is in use by ${who}: two stores in different processes or threads must not share a cache folder. ` +
      `Give each process its own localDir (option localDir; FLOE_LOCAL_DIR for the daemon). ` +
      `If no Floe process uses it, delete ${join(dir, localNames.lockFile)}.`,
    { path: dir },
  );
}

/** An acquired localDir lock; `release` deletes the lock file if it is still ours. */
export class LocalDirLock {
  private released = false;

  private constructor(
    readonly dir: string,
    private readonly fs: LocalFs,
    private readonly bytes: Uint8Array,
  ) {}

  /**
   * Takes the lock of `dir` (created if missing). Throws CONFIG (localDirBusy) if a live process or another
   * thread of this one holds it; takes over a lock whose owner is gone.
   */
  static async acquire(dir: string, fs: LocalFs, probe: ProcessProbe): Promise<LocalDirLock> {
    await fs.mkdirp(dir);
    const self = await probe.self();
    const bytes = encodeLock(self);
    const lockPath = join(dir, localNames.lockFile);
    const privatePath = join(dir, localLockTakeoverName(token()));
    const file = await fs.open(privatePath, 'truncate');
    try {
      await file.write(0, bytes);
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      for (let attempt = 0; attempt < 8; attempt++) {
        if (await fs.linkExclusive(privatePath, lockPath)) return new LocalDirLock(dir, fs, bytes);
        const held = await fs.readFile(lockPath);
        if (held === undefined) continue; // released meanwhile
        const owner = decodeLock(held);
        // A lock is published whole, so one that does not decode was torn by a crash: stale.
        if (owner !== undefined && (await probe.alive(owner))) throw localDirBusy(dir, owner, self);
        await LocalDirLock.takeOver(dir, fs, lockPath, held);
      }
    } finally {
      await fs.remove(privatePath);
    }
    throw new FloeError('BUSY', `could not lock localDir ${dir}: other processes keep taking it; give each process its own localDir`, { path: dir });
  }

  /**
   * Removes the stale lock `held`: rename it to a private name (of concurrent takers only one succeeds),
   * and delete it if it is still the stale one. If it was a fresh lock published since we read it, link it
   * back. (A third process publishing in between would lose its lock: the window is two renames long.)
   */
  private static async takeOver(dir: string, fs: LocalFs, lockPath: string, held: Uint8Array): Promise<void> {
    const aside = join(dir, localLockTakeoverName(token()));
    try {
      await fs.rename(lockPath, aside);
    } catch (e) {
      if (errnoOf((e as { cause?: unknown }).cause) === 'ENOENT') return; // another taker was first
      throw e;
    }
    const moved = await fs.readFile(aside);
    if (moved !== undefined && !same(moved, held)) await fs.linkExclusive(aside, lockPath);
    await fs.remove(aside);
  }

  /** Deletes the lock file if it still holds our lock. Idempotent; never rejects. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const lockPath = join(this.dir, localNames.lockFile);
    try {
      const held = await this.fs.readFile(lockPath);
      if (held !== undefined && same(held, this.bytes)) await this.fs.remove(lockPath);
    } catch {
      // A lock left behind is stale once this process exits; the next owner takes it over.
    }
  }
}

/**
 * Removes the lock of `dir` if it was taken by this very process (a shard thread that was terminated
 * without releasing it). REQUIRES: the caller owns the parent folder's lock, so no live user of `dir` exists.
 */
export async function clearOwnLock(dir: string, fs: LocalFs, probe: ProcessProbe): Promise<void> {
  const lockPath = join(dir, localNames.lockFile);
  const held = await fs.readFile(lockPath);
  const owner = held === undefined ? undefined : decodeLock(held);
  const self = await probe.self();
  if (owner !== undefined && owner.pid === self.pid && owner.start === self.start) await fs.remove(lockPath);
}

/** Whether `name` is something Floe may have created directly under a localDir (any layout, any version). */
export function isFloeLocalName(name: string): boolean {
  return (
    name === localNames.lockFile ||
    name === localNames.diskCacheDir ||
    parseShardLocalDirName(name) !== undefined ||
    isLocalLockTakeoverName(name)
  );
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

/** Disk use of one entry, walking folders: sizes rounded up to blocks (or allocated blocks if more), one block per folder. */
async function usage(path: string, e: LocalEntry, fs: LocalFs): Promise<number> {
  if (e.kind !== 'folder') return Math.max(roundUp(e.size, FS_BLOCK), e.allocated);
  let n = FS_BLOCK;
  for (const child of (await fs.list(path)) ?? []) n += await usage(join(path, child.name), child, fs);
  return n;
}

/**
 * Removes every Floe-named entry of `dir` except the lock and those `keep` accepts, and returns the bytes
 * of the entries Floe did not name (left in place; the caller counts them against its budget).
 * REQUIRES: the caller holds the lock of `dir`.
 */
export async function tidyLocalDir(dir: string, fs: LocalFs, keep: (name: string) => boolean): Promise<number> {
  let foreign = 0;
  for (const e of (await fs.list(dir)) ?? []) {
    if (e.name === localNames.lockFile || keep(e.name)) continue;
    const path = join(dir, e.name);
    if (isFloeLocalName(e.name)) await fs.remove(path);
    else foreign += await usage(path, e, fs);
  }
  return foreign;
}

/**
 * For a zero budget: if `dir` exists and no live process holds it, removes every Floe-named entry (caches of
 * earlier runs) and the lock. Leaves the folder itself and files Floe did not name. Never creates `dir`.
 */
export async function purgeLocalDir(dir: string, fs: LocalFs, probe: ProcessProbe): Promise<void> {
  if (!(await fs.isDirectory(dir))) return;
  let lock: LocalDirLock;
  try {
    lock = await LocalDirLock.acquire(dir, fs, probe);
  } catch (e) {
    if (e instanceof FloeError && (e.code === 'CONFIG' || e.code === 'BUSY')) return; // someone else's cache: not ours to clear
    throw e;
  }
  try {
    await tidyLocalDir(dir, fs, () => false);
  } finally {
    await lock.release();
  }
}
