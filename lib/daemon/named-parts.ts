/**
 * How a named store is split into parts (docs/protocol.md, "Named stores", Parts): part i owns a contiguous
 * sub-range of the store's key groups and is an LSM instance in a slot of some shard thread, so one busy
 * store uses several threads. The default store does the same across its shards (layout.ts).
 *
 * - Count: the request's `parts`, else one per live shard; never more than the store's key groups.
 * - Ranges: Flink's formula (shard-map.ts) applied to the store's range: part sizes differ by at most one.
 * - Placement: the parts go to distinct shards while there are enough, least loaded first (open slots;
 *   ties broken by a hash of the name so stores spread), wrapping around when there are more parts than
 *   live shards (two parts on one thread still work, they just do not run in parallel).
 */
import { FloeError } from '../errors.js';
import { nameKey, type NamedPart } from './named-registry.js';
import type { Shard } from './shard-bus.js';
import { keyGroupRangeForShard, type KeyGroupRange } from './shard-map.js';

/** The part count of a new store of `keyGroups`: `wanted` if given, else one per live shard, at most one per key group. */
export function partCount(keyGroups: KeyGroupRange, liveShards: number, wanted: number | undefined): number {
  const groups = keyGroups[1] - keyGroups[0] + 1;
  return Math.max(1, Math.min(wanted ?? liveShards, groups));
}

/** `keyGroups` split into `n` contiguous ranges in order. REQUIRES: 1 <= n <= the number of key groups. */
export function splitRange(keyGroups: KeyGroupRange, n: number): KeyGroupRange[] {
  const [lo, hi] = keyGroups;
  return Array.from({ length: n }, (_, i) => {
    const [a, b] = keyGroupRangeForShard(hi - lo + 1, n, i);
    return [lo + a, lo + b] as KeyGroupRange;
  });
}

/** The parts of a new record: instance `base` for one part, `base-p<i>` for each of several. */
export function newParts(base: string, keyGroups: KeyGroupRange, n: number): NamedPart[] {
  if (n === 1) return [{ instanceId: base, keyGroups }];
  return splitRange(keyGroups, n).map((range, i) => ({ instanceId: `${base}-p${i}`, keyGroups: range }));
}

/** The shard of each of `n` parts of store `name` (see the file comment). Throws IO when no shard is alive. */
export function placeParts(shards: readonly Shard[], n: number, name: string): Shard[] {
  const alive = shards.filter((s) => s.dead === undefined);
  if (alive.length === 0) throw new FloeError('IO', 'every shard of this daemon is down; restart the daemon', { retryable: true });
  const offset = Number.parseInt(nameKey(name).slice(0, 8), 16) % alive.length;
  const order = alive
    .map((s, i) => ({ s, load: s.targets.size, turn: (i - offset + alive.length) % alive.length }))
    .sort((a, b) => a.load - b.load || a.turn - b.turn)
    .map((x) => x.s);
  return Array.from({ length: n }, (_, i) => order[i % order.length]!);
}

/**
 * The memtable budget of each part: the store's budget (`memtableBytes`, per store as before parts) split
 * evenly, so a store of two parts does not hold twice the memory; at least the engine's minimum (64 KiB).
 */
export function partMemtableBytes(memtableBytes: number, parts: number): number {
  return Math.max(64 * 1024, Math.floor(memtableBytes / parts));
}
