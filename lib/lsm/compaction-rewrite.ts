/**
 * Rewriting: merges sorted runs of entries into new SSTs, streaming. Inputs are read block range by block
 * range (lib/lsm/rewrite-input.ts) and outputs are uploaded while they are built (lib/lsm/rewrite-output.ts),
 * so one rewrite holds at most about `memoryBytes` of file bytes whatever the size of its inputs. The same
 * code runs on the calling thread or in a piscina worker thread (workers/compaction-worker.ts), which opens
 * the object store itself; it knows nothing of manifests.
 *
 * Inputs are runs ordered newest first. A run is a sequence of non-overlapping sources in key order: SST
 * files (optionally clipped to a key-group range) or a frozen memtable's image. For each key the newest
 * run's entry wins, with merge operands folded onto older values (merge-values.ts `combine`). At the
 * bottom of the tree (nothing older exists below the output level) tombstones are dropped and merges
 * become puts.
 *
 * Memory split of `memoryBytes` (M), see `memoryPlan`: a quarter for output, the rest for input read-ahead:
 * each run holds at most two windows of (3/4·M)/(2·runs) bytes (at least one data block each). Decoded
 * (decompressed) blocks come on top of that: about one block per run.
 */
import { EntryKind, type Entry, type Compression } from '../sst/entry.js';
import type { SstFileInfo } from '../sst/builder.js';
import { compareBytes } from '../keys.js';
import { combine } from './merge-values.js';
import { coveringSeq, type RangeTombstone } from './range-tombstones.js';
import { dropExpired } from './ttl.js';
import { RunCursor, type InputAccess, type RewriteSource } from './rewrite-input.js';
import { ByteBudget, OUTPUT_ALIGN, OutputFile, type OutputSink } from './rewrite-output.js';

export type { RewriteSource } from './rewrite-input.js';

export interface RewriteTask {
  runs: RewriteSource[][];
  bottommost: boolean;
  targetFileBytes: number;
  blockBytes: number;
  compression: Compression;
  /** Bound on read-ahead plus queued output of this rewrite (compactionMemoryBytes). */
  memoryBytes: number;
  /** Range tombstones to apply: entries they cover are dropped (range-tombstones.ts). */
  rangeTombstones?: RangeTombstone[];
  /** The store's clock at the start of the rewrite: bytes expired by then are dropped (ttl.ts). */
  now?: number;
}

export interface RewriteResult {
  /** Uploaded outputs, in key order. */
  files: Array<{ fileId: string; info: SstFileInfo }>;
  entriesIn: number;
  entriesOut: number;
}

/** Everything a rewrite does I/O through. */
export type RewriteIo = InputAccess & OutputSink;

const MAX_CHUNK_BYTES = 1024 * 1024;

/**
 * How a rewrite divides its memory budget M: a quarter for output (the builder's finished blocks not yet
 * shipped, below one chunk plus one block, and the chunks queued for the backend: `queueBytes`), the rest
 * for input read-ahead (two windows per run).
 */
export function memoryPlan(memoryBytes: number, runs: number, blockBytes: number): { windowBytes: number; queueBytes: number; chunkBytes: number } {
  const outputBytes = Math.floor(memoryBytes / 4);
  const windowBytes = Math.max(1, Math.floor((memoryBytes - outputBytes) / (2 * Math.max(1, runs))));
  const chunkBytes = Math.min(MAX_CHUNK_BYTES, Math.max(OUTPUT_ALIGN, Math.floor(outputBytes / 4 / OUTPUT_ALIGN) * OUTPUT_ALIGN));
  const queueBytes = Math.max(chunkBytes, outputBytes - chunkBytes - blockBytes);
  return { windowBytes, queueBytes, chunkBytes };
}

/**
 * Runs one rewrite. PROMISES on success every output is stored (ids from `io.allocate`); on failure every
 * output still being written is abandoned (nothing visible), while outputs already completed stay stored
 * under ids the caller allocated (and must unpin or delete).
 */
export async function rewrite(task: RewriteTask, io: RewriteIo): Promise<RewriteResult> {
  const tombstones = task.rangeTombstones ?? [];
  const plan = memoryPlan(task.memoryBytes, task.runs.length, task.blockBytes);
  const budget = new ByteBudget(plan.queueBytes);
  const outputOptions = { blockBytes: task.blockBytes, compression: task.compression, chunkBytes: plan.chunkBytes };
  const files: RewriteResult['files'] = [];
  let out: OutputFile | undefined;
  let entriesIn = 0;
  let entriesOut = 0;
  try {
    const cursors = await Promise.all(task.runs.map((run) => RunCursor.open(run, io, plan.windowBytes)));
    for (;;) {
      // The smallest key among run heads; ties resolved newest (lowest index) first.
      let min: Uint8Array | undefined;
      for (const c of cursors) if (c.head !== undefined && (min === undefined || compareBytes(c.head.key, min) < 0)) min = c.head.key;
      if (min === undefined) break;
      let merged: Entry | undefined;
      const covered = tombstones.length === 0 ? 0 : coveringSeq(tombstones, min);
      for (const c of cursors) {
        const h = c.head;
        if (h === undefined || compareBytes(h.key, min) !== 0) continue;
        entriesIn++;
        // An entry a range tombstone covers is deleted, and so is everything older: it ends the key.
        if (h.seq < covered) {
          if (merged !== undefined && merged.kind === EntryKind.Merge) merged = combine(merged, { key: h.key, kind: EntryKind.Delete, seq: h.seq, value: h.value.subarray(0, 0) });
        } else if (merged === undefined || merged.kind === EntryKind.Merge) {
          merged = merged === undefined ? h : combine(merged, h);
        }
        const moving = c.advance();
        if (moving !== undefined) await moving;
      }
      if (merged === undefined) continue;
      let e: Entry | undefined = task.now === undefined ? merged : dropExpired(merged, task.now, task.bottommost);
      if (e === undefined) continue;
      if (task.bottommost) {
        if (e.kind === EntryKind.Delete) continue;
        if (e.kind === EntryKind.Merge) e = { ...e, kind: EntryKind.Put };
      }
      out ??= await OutputFile.create(io, outputOptions, budget);
      const shipping = out.add(e);
      if (shipping !== undefined) await shipping;
      entriesOut++;
      if (out.estimatedBytes() >= task.targetFileBytes) {
        const done = out;
        out = undefined;
        files.push(await done.finish());
      }
    }
    if (out !== undefined && out.entryCount > 0) {
      const done = out;
      out = undefined;
      files.push(await done.finish());
    }
  } catch (e) {
    await out?.abandon(e);
    throw e;
  }
  return { files, entriesIn, entriesOut };
}
