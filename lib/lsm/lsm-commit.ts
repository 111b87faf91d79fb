/**
 * The mechanism under flush and compaction: running a rewrite (outputs stream to primary storage), retrying
 * it from its immutable inputs, and committing the resulting version edit as the next manifest. Every
 * change of the file set is one new manifest (create-if-absent, so a newer writer fences this one); commits
 * are serialized here, and checkpoints serialize with them through `serialized`.
 */
import { isFloeError } from '../errors.js';
import { sstFileId, sstPath } from '../store/paths.js';
import type { RewriteIo, RewriteResult, RewriteTask } from './compaction-rewrite.js';
import type { FileMeta } from './file-meta.js';
import { checkNotFenced } from './fencing.js';
import type { LsmCore } from './lsm-core.js';
import { writeManifest, type ManifestState } from './manifest.js';
import type { VersionEdit } from './version.js';

/** Attempts of one flush or compaction rewrite that fails with retryable errors, and the first backoff. */
const REWRITE_ATTEMPTS = 4;
const REWRITE_RETRY_MS = 50;

/** What a commit records besides the version edit. */
export interface CommitExtra {
  lastSequence?: number;
  compactPointer?: { level: number; key: string };
  /** Runs in the synchronous step that installs the new version. */
  onInstalled?: () => void;
}

export class ManifestCommitter {
  private manifestLock: Promise<void> = Promise.resolve();
  private nextFileNumber = -1;

  constructor(private readonly core: LsmCore) {}

  /** Runs `fn` after every commit started so far, and holds later commits until it settles. */
  serialized<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.manifestLock.then(fn);
    this.manifestLock = p.then(
      () => undefined,
      () => undefined,
    );
    return p;
  }

  /** Settles once every commit started so far has (close waits for this). */
  idle(): Promise<void> {
    return this.manifestLock;
  }

  /** The shape every rewrite of this store shares (file and block sizes, compression, memory). */
  rewriteShape(): Omit<RewriteTask, 'runs' | 'bottommost'> {
    const o = this.core.options;
    return { targetFileBytes: o.targetFileBytes, blockBytes: o.blockBytes, compression: o.compression, memoryBytes: o.compactionMemoryBytes, now: this.core.deps.ttlClock.now() };
  }

  /**
   * Runs a rewrite (its outputs stream to primary storage as they are built) and commits the edit built
   * from its outputs. Until the manifest names them, the new files are pinned so a GC pass of this process
   * cannot take them for garbage (other processes are kept off by the GC grace period).
   */
  async rewriteAndCommit(task: RewriteTask, edit: (added: FileMeta[]) => VersionEdit, extra: CommitExtra & { rangeDelSeq?: number }): Promise<void> {
    const pinned: string[] = [];
    try {
      const files = await this.rewriteWithRetries(task, pinned);
      const added = files.map(({ fileId, info }) => ({
        fileId,
        size: info.size,
        metaOffset: info.metaOffset,
        entries: info.entries,
        smallestKey: info.smallestKey,
        largestKey: info.largestKey,
        minSeq: info.minSeq,
        maxSeq: info.maxSeq,
        ...(extra.rangeDelSeq ? { rangeDelSeq: extra.rangeDelSeq } : {}),
      }));
      await this.commit(edit(added), extra);
    } finally {
      for (const id of pinned) this.core.uploading.delete(id);
    }
  }

  /**
   * A streamed output cannot be replayed by the store's retry layer (its bytes are not kept), so a rewrite
   * that fails with a retryable error is run again from its immutable inputs, after the failed attempt's
   * outputs (named by no manifest) are deleted. Output ids are allocated here and pinned into `pinned`.
   */
  private async rewriteWithRetries(task: RewriteTask, pinned: string[]): Promise<RewriteResult['files']> {
    const core = this.core;
    const store = core.deps.store;
    const cache = core.deps.diskCache;
    for (let attempt = 1; ; attempt++) {
      const ids: string[] = [];
      const io: RewriteIo = {
        store,
        allocate: () => {
          const fileId = sstFileId(core.state.instanceId, core.state.epoch, this.allocateFileNumber());
          core.uploading.add(fileId);
          pinned.push(fileId);
          ids.push(fileId);
          return Promise.resolve(fileId);
        },
        source: (f) => core.tables.source(f),
        describe: (fileId) => `${store.uri}/${sstPath(fileId)}`,
        ...(cache ? { admit: (fileId: string, offset: number, bytes: Uint8Array) => cache.admit(fileId, bytes, offset) } : {}),
      };
      try {
        return (await core.deps.executor.run(task, io)).files;
      } catch (e) {
        for (const id of ids) {
          await store.delete(sstPath(id)).catch(() => undefined); // best effort: GC removes what is left
          await cache?.forget(id).catch(() => undefined);
        }
        if (!isFloeError(e) || !e.retryable || attempt >= REWRITE_ATTEMPTS || core.closed) throw e;
        await core.deps.clock.sleep(REWRITE_RETRY_MS * 2 ** (attempt - 1));
      }
    }
  }

  private allocateFileNumber(): number {
    if (this.nextFileNumber < 0) this.nextFileNumber = this.core.state.nextFileNumber;
    return this.nextFileNumber++;
  }

  /**
   * Writes the next manifest with `edit` applied to the CURRENT version (flush and compaction commit
   * concurrently; their edits commute: flush only adds L0 files, compaction removes exactly its inputs).
   */
  commit(edit: VersionEdit, extra: CommitExtra): Promise<void> {
    const core = this.core;
    const run = async (): Promise<void> => {
      const prev = core.state;
      const compactPointers = prev.compactPointers.slice();
      if (extra.compactPointer) compactPointers[extra.compactPointer.level] = extra.compactPointer.key;
      const lastSequence = Math.max(prev.lastSequence, extra.lastSequence ?? 0);
      const next: ManifestState = {
        ...prev,
        seq: prev.seq + 1,
        nextFileNumber: Math.max(prev.nextFileNumber, this.nextFileNumber),
        lastSequence,
        version: prev.version.apply(edit),
        compactPointers,
        ...(core.wal !== undefined ? { walSeq: core.wal.nextSequence, walFloor: core.wal.floorFor(lastSequence) } : {}),
      };
      // Readers elsewhere learn of files our open scans still need BEFORE the manifest stops naming them.
      const stillRead = core.droppedButRead(new Set(next.version.allFiles().map((f) => f.fileId)));
      if (stillRead.length > 0) await core.lease.update(stillRead);
      await writeManifest(core.deps.store, next, core.deps.clock.now());
      await checkNotFenced(core.deps.store, next.instanceId, next.epoch, `manifest ${next.seq}`);
      // Installing the version and retiring what it replaces happen in one synchronous step, so no reader
      // sees both (a flushed memtable and its SST would apply merge operands twice).
      core.state = next;
      extra.onInstalled?.();
      core.tables.retain(new Set([...next.version.allFiles().map((f) => f.fileId), ...core.scanPins.keys()]));
    };
    return this.serialized(run);
  }
}
