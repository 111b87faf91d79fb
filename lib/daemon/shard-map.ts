/**
 * Key groups → shards. The key groups [0, maxKeyGroups) are split into `shards` contiguous ranges exactly
 * as Flink assigns key groups to the subtasks of an operator (KeyGroupRangeAssignment): shard i owns
 *
 *   [ ceil(i * max / n), ceil((i + 1) * max / n) - 1 ]
 *
 * so a Floe shard layout lines up with a Flink job of parallelism n, and a rescale moves whole key groups.
 * A key group's shard is found with one typed-array lookup (the table is built once).
 */
import { FloeError } from '../errors.js';

export type KeyGroupRange = [number, number];

/** The inclusive key-group range of shard `index` out of `shards`, Flink's formula. */
export function keyGroupRangeForShard(maxKeyGroups: number, shards: number, index: number): KeyGroupRange {
  checkShardCount(maxKeyGroups, shards);
  if (!Number.isInteger(index) || index < 0 || index >= shards) {
    throw new FloeError('INVALID_ARGUMENT', `shard index must be an integer in [0, ${shards}), got ${index}`);
  }
  // Integer arithmetic (max ≤ 32768, shards ≤ max): ceil(a / b) = floor((a + b - 1) / b), as Flink does.
  const start = Math.floor((index * maxKeyGroups + shards - 1) / shards);
  const end = Math.floor(((index + 1) * maxKeyGroups + shards - 1) / shards) - 1;
  return [start, end];
}

/** Every shard's range, in shard order. */
export function flinkRanges(maxKeyGroups: number, shards: number): KeyGroupRange[] {
  return Array.from({ length: shards }, (_, i) => keyGroupRangeForShard(maxKeyGroups, shards, i));
}

export function checkShardCount(maxKeyGroups: number, shards: number): void {
  if (!Number.isInteger(shards) || shards < 1 || shards > maxKeyGroups) {
    throw new FloeError(
      'CONFIG',
      `shards must be an integer in [1, maxKeyGroups = ${maxKeyGroups}] (each shard owns at least one key group), got ${JSON.stringify(shards)}`,
    );
  }
}

export class ShardMap {
  private readonly table: Uint16Array;

  /**
   * REQUIRES: `ranges` are contiguous, in order, and cover [0, maxKeyGroups) exactly (checked: CONFIG).
   */
  constructor(
    readonly maxKeyGroups: number,
    readonly ranges: readonly KeyGroupRange[],
  ) {
    let next = 0;
    for (const [i, r] of ranges.entries()) {
      if (!Array.isArray(r) || r[0] !== next || !Number.isInteger(r[1]) || r[1] < r[0]) {
        throw new FloeError('CONFIG', `shard ${i} has key-group range ${JSON.stringify(r)}; shard ranges must be contiguous from 0 and non-empty`);
      }
      next = r[1] + 1;
    }
    if (next !== maxKeyGroups || ranges.length === 0) {
      throw new FloeError('CONFIG', `shard ranges cover key groups [0, ${next}), but maxKeyGroups is ${maxKeyGroups}; they must cover all of them`);
    }
    this.table = new Uint16Array(maxKeyGroups);
    ranges.forEach(([lo, hi], shard) => {
      this.table.fill(shard, lo, hi + 1);
    });
  }

  static flink(maxKeyGroups: number, shards: number): ShardMap {
    return new ShardMap(maxKeyGroups, flinkRanges(maxKeyGroups, shards));
  }

  get shards(): number {
    return this.ranges.length;
  }

  /** REQUIRES: 0 <= keyGroup < maxKeyGroups (callers validate; out of range returns undefined). */
  shardOf(keyGroup: number): number {
    return this.table[keyGroup]!;
  }

  /** True when the ranges are exactly Flink's assignment for this shard count. */
  isFlinkLayout(): boolean {
    const expect = flinkRanges(this.maxKeyGroups, this.shards);
    return expect.every((r, i) => r[0] === this.ranges[i]![0] && r[1] === this.ranges[i]![1]);
  }
}
