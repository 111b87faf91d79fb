/**
 * Rewriting: merges sorted runs of entries into new SSTs. Pure CPU work on bytes in memory (decode,
 * merge, encode, compress, checksum), so it runs unchanged inline or in a piscina worker thread
 * (workers/compaction-worker.ts). It knows nothing of manifests or object stores.
 *
 * Inputs are runs ordered newest first. A run is a sequence of non-overlapping sources in key order:
 * SST files (whole-file bytes, optionally clipped to a key-group range) or packed memtable entries.
 * For each key the newest run's entry wins, with merge operands folded onto older values.
 * At the bottom of the tree (nothing older exists below the output level) tombstones are dropped and
 * merges become puts.
 */
import { EntryKind, type Entry, type Compression } from '../sst/entry.js';
import { SstBuilder, type SstFileInfo } from '../sst/builder.js';
import { readAllEntries } from '../sst/reader.js';
import { compareBytes } from '../keys.js';
import { combine } from './merge-values.js';
import { unpackEntries } from './entry-pack.js';

export type RunSource =
  | { kind: 'sst'; bytes: Uint8Array; path: string; clip?: [number, number] }
  | { kind: 'packed'; bytes: Uint8Array };

export interface RewriteTask {
  runs: RunSource[][];
  bottommost: boolean;
  targetFileBytes: number;
  blockBytes: number;
  compression: Compression;
}

export interface RewriteResult {
  files: Array<{ bytes: Uint8Array; info: SstFileInfo }>;
  entriesIn: number;
  entriesOut: number;
}

function* runEntries(run: RunSource[]): Generator<Entry> {
  for (const src of run) {
    if (src.kind === 'packed') {
      yield* unpackEntries(src.bytes);
      continue;
    }
    const clip = src.clip;
    for (const e of readAllEntries(src.bytes, src.path)) {
      if (clip) {
        const kg = (e.key[0]! << 8) | e.key[1]!;
        if (kg < clip[0] || kg > clip[1]) continue;
      }
      yield e;
    }
  }
}

export function rewrite(task: RewriteTask): RewriteResult {
  const iters = task.runs.map((run) => runEntries(run));
  const heads: Array<Entry | undefined> = iters.map((it) => {
    const r = it.next();
    return r.done ? undefined : r.value;
  });
  const files: RewriteResult['files'] = [];
  let builder: SstBuilder | undefined;
  let entriesIn = 0;
  let entriesOut = 0;

  const emit = (e: Entry): void => {
    if (builder === undefined) builder = new SstBuilder({ blockBytes: task.blockBytes, compression: task.compression });
    builder.add(e);
    entriesOut++;
    if (builder.estimatedBytes() >= task.targetFileBytes) {
      files.push(builder.finish());
      builder = undefined;
    }
  };

  for (;;) {
    // The smallest key among run heads; ties resolved newest (lowest index) first.
    let min: Uint8Array | undefined;
    for (const h of heads) if (h !== undefined && (min === undefined || compareBytes(h.key, min) < 0)) min = h.key;
    if (min === undefined) break;
    let merged: Entry | undefined;
    for (let i = 0; i < heads.length; i++) {
      const h = heads[i];
      if (h === undefined || compareBytes(h.key, min) !== 0) continue;
      entriesIn++;
      merged = merged === undefined ? h : combine(merged, h);
      const r = iters[i]!.next();
      heads[i] = r.done ? undefined : r.value;
    }
    let out = merged!;
    if (task.bottommost) {
      if (out.kind === EntryKind.Delete) continue;
      if (out.kind === EntryKind.Merge) out = { ...out, kind: EntryKind.Put };
    }
    emit(out);
  }
  if (builder !== undefined && builder.entryCount > 0) files.push(builder.finish());
  return { files, entriesIn, entriesOut };
}
