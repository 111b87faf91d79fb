/**
 * Compaction picking (policy only): which files to merge next, by leveled scores.
 *   L0 score = L0 file count / l0CompactionTrigger
 *   Ln score = level bytes / (levelBaseBytes * levelMultiplier^(n-1))
 * The highest score >= 1 wins. L0 compacts all its files (they overlap) into L1; Ln compacts one file,
 * chosen round robin by a per-level compaction pointer, with the overlapping files of L(n+1). A file with
 * no overlap below and no clip range moves down by metadata only (tombstones it holds at the bottom are
 * kept until the file is next rewritten: correct, merely not yet reclaimed).
 */
import { compareBytes } from '../keys.js';
import { effectiveLargest, effectiveSmallest, type FileMeta } from './file-meta.js';
import { keyRangeOf, NUM_LEVELS, type Version } from './version.js';

export interface PickOptions {
  l0CompactionTrigger: number;
  levelBaseBytes: number;
  levelMultiplier: number;
}

export interface CompactionJob {
  level: number;
  outputLevel: number;
  /** Files of `level` (L0: newest first). */
  inputs: FileMeta[];
  /** Overlapping files of `outputLevel`, in key order. */
  overlapping: FileMeta[];
  /** No level below outputLevel holds keys in the job's range: tombstones can be dropped. */
  bottommost: boolean;
  /** Move `inputs[0]` down without rewriting. */
  trivialMove: boolean;
  /** Hex of the largest key compacted from `level` (next round-robin start). */
  nextPointer: string;
}

export function levelTargetBytes(level: number, o: PickOptions): number {
  return o.levelBaseBytes * o.levelMultiplier ** Math.max(0, level - 1);
}

export function compactionScores(v: Version, o: PickOptions): number[] {
  const scores: number[] = [v.levels[0]!.length / o.l0CompactionTrigger];
  for (let level = 1; level < NUM_LEVELS - 1; level++) scores.push(v.levelBytes(level) / levelTargetBytes(level, o));
  return scores;
}

/** Bytes above the level targets: a measure of compaction debt (stats().lsm.pendingCompactionBytes). */
export function pendingCompactionBytes(v: Version, o: PickOptions): number {
  let debt = v.levels[0]!.length >= o.l0CompactionTrigger ? v.levelBytes(0) : 0;
  for (let level = 1; level < NUM_LEVELS - 1; level++) debt += Math.max(0, v.levelBytes(level) - levelTargetBytes(level, o));
  return debt;
}

export function pickCompaction(v: Version, o: PickOptions, pointers: ReadonlyArray<string | undefined>): CompactionJob | undefined {
  const scores = compactionScores(v, o);
  let best = -1;
  for (let i = 0; i < scores.length; i++) if (scores[i]! >= 1 && (best < 0 || scores[i]! > scores[best]!)) best = i;
  if (best < 0) return undefined;
  const level = best;
  let inputs: FileMeta[];
  if (level === 0) {
    inputs = v.levels[0]!.slice();
  } else {
    const files = v.levels[level]!;
    const ptr = pointers[level];
    const start = ptr === undefined ? undefined : Buffer.from(ptr, 'hex');
    const chosen = (start === undefined ? undefined : files.find((f) => compareBytes(effectiveSmallest(f), start) > 0)) ?? files[0]!;
    inputs = [chosen];
  }
  const range = keyRangeOf(inputs);
  const outputLevel = level + 1;
  const overlapping = v.overlapping(outputLevel, range.smallest, range.largest);
  const all = [...inputs, ...overlapping];
  const full = keyRangeOf(all);
  let bottommost = true;
  for (let deeper = outputLevel + 1; deeper < NUM_LEVELS; deeper++) {
    if (v.overlapping(deeper, full.smallest, full.largest).length > 0) bottommost = false;
  }
  const trivialMove = level > 0 && overlapping.length === 0 && inputs.length === 1 && inputs[0]!.clip === undefined;
  return {
    level,
    outputLevel,
    inputs,
    overlapping,
    bottommost,
    trivialMove,
    nextPointer: Buffer.from(effectiveLargest(inputs[inputs.length - 1]!)).toString('hex'),
  };
}
