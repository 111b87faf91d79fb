/**
 * Shard layouts: which LSM instances make up a sharded store (the daemon, or `openStore({ shards })`), and
 * which key groups each owns. Stored on primary storage as immutable numbered objects
 * `layouts/<name>/<seq>.json` (create-if-absent; the highest seq is current), so a restart — or a restart
 * after a restore that rescaled to another shard count — finds its instances without any local state.
 *
 * Instance ids: a fresh layout of the default name `main` uses `shard-<i>` (`<name>-shard-<i>` for other
 * names); a layout made by a restore uses `<that>-g<seq>-<8 hex>` so it never collides with the instances of
 * the layout it replaces (which may still be running elsewhere) nor with a half-finished earlier restore.
 *
 * Format (JSON): { format: 'floe-shard-layout', formatVersion: 1, name, seq, maxKeyGroups, createdAt,
 *                  restoredFrom?: checkpointId[], shards: [{ instanceId, keyGroups: [start, end] }] }
 */
import { readVerified } from '../store/read-verified.js';
import { FloeError, isFloeError } from '../errors.js';
import type { ObjectStore } from '../store/object-store.js';
import { layoutPath, layoutPrefix, parseLayoutPath } from '../store/paths.js';
import type { Random } from '../util/random.js';
import { flinkRanges, ShardMap, type KeyGroupRange } from './shard-map.js';

export const LAYOUT_FORMAT_VERSION = 1;

export interface ShardLayout {
  name: string;
  seq: number;
  maxKeyGroups: number;
  createdAt: string;
  restoredFrom?: string[];
  shards: Array<{ instanceId: string; keyGroups: KeyGroupRange }>;
}

interface LayoutJson extends ShardLayout {
  format: 'floe-shard-layout';
  formatVersion: number;
}

export function shardInstanceId(name: string, index: number): string {
  return name === 'main' ? `shard-${index}` : `${name}-shard-${index}`;
}

/** The first layout of a store: Flink ranges, ids `shard-<i>`. */
export function freshLayout(name: string, maxKeyGroups: number, shards: number, now: number): ShardLayout {
  return {
    name,
    seq: 1,
    maxKeyGroups,
    createdAt: new Date(now).toISOString(),
    shards: flinkRanges(maxKeyGroups, shards).map((keyGroups, i) => ({ instanceId: shardInstanceId(name, i), keyGroups })),
  };
}

/** The layout a restore writes after `previous` (if any): Flink ranges for `shards`, fresh unique ids. */
export function restoredLayout(
  previous: ShardLayout | undefined,
  name: string,
  maxKeyGroups: number,
  shards: number,
  now: number,
  random: Random,
  checkpointIds: string[],
): ShardLayout {
  const seq = (previous?.seq ?? 0) + 1;
  const tag = random.nextU32().toString(16).padStart(8, '0');
  return {
    name,
    seq,
    maxKeyGroups,
    createdAt: new Date(now).toISOString(),
    restoredFrom: checkpointIds,
    shards: flinkRanges(maxKeyGroups, shards).map((keyGroups, i) => ({ instanceId: `${shardInstanceId(name, i)}-g${seq}-${tag}`, keyGroups })),
  };
}

export function encodeLayout(l: ShardLayout): Uint8Array {
  const json: LayoutJson = { format: 'floe-shard-layout', formatVersion: LAYOUT_FORMAT_VERSION, ...l };
  return Buffer.from(JSON.stringify(json, null, 1), 'utf8');
}

export function decodeLayout(bytes: Uint8Array, path: string): ShardLayout {
  let json: LayoutJson;
  try {
    json = JSON.parse(Buffer.from(bytes).toString('utf8')) as LayoutJson;
  } catch (cause) {
    throw new FloeError('CORRUPTION', `corrupt shard layout ${path}: not valid JSON`, { path, cause });
  }
  if (json?.format !== 'floe-shard-layout' || !Array.isArray(json.shards) || typeof json.name !== 'string' || !Number.isInteger(json.seq)) {
    throw new FloeError('CORRUPTION', `corrupt shard layout ${path}: not a Floe shard layout`, { path });
  }
  if (json.formatVersion !== LAYOUT_FORMAT_VERSION) {
    throw new FloeError('VERSION', `shard layout ${path} has format version ${json.formatVersion}; this Floe reads ${LAYOUT_FORMAT_VERSION}. Upgrade Floe.`, { path });
  }
  try {
    new ShardMap(json.maxKeyGroups, json.shards.map((s) => s.keyGroups));
  } catch (e) {
    throw new FloeError('CORRUPTION', `corrupt shard layout ${path}: ${(e as Error).message}`, { path, cause: e });
  }
  const { format: _f, formatVersion: _v, ...layout } = json;
  return layout;
}

export async function readLatestLayout(store: ObjectStore, name: string): Promise<ShardLayout | undefined> {
  const seqs = (await store.list(layoutPrefix(name)))
    .map((o) => parseLayoutPath(o.path))
    .filter((p): p is { name: string; seq: number } => p !== undefined && p.name === name)
    .map((p) => p.seq)
    .sort((a, b) => a - b);
  if (seqs.length === 0) return undefined;
  const path = layoutPath(name, seqs[seqs.length - 1]!);
  return readVerified(store, path, (bytes) => decodeLayout(bytes, path));
}

/**
 * Writes `layout` create-if-absent. PROMISES: resolves only if this call created it; a concurrent writer
 * of the same seq makes it fail with BUSY (another process is changing this store's layout).
 */
export async function writeLayout(store: ObjectStore, layout: ShardLayout): Promise<void> {
  const path = layoutPath(layout.name, layout.seq);
  try {
    await store.put(path, encodeLayout(layout), { ifNoneMatch: true });
  } catch (e) {
    if (isFloeError(e, 'ALREADY_EXISTS')) {
      throw new FloeError('BUSY', `another process wrote shard layout ${path} at the same time; make sure one daemon (or store) owns layout ${JSON.stringify(layout.name)} and retry`, { path, cause: e });
    }
    throw e;
  }
}

/** Same shard count, ranges and instances? */
export function sameLayout(a: ShardLayout, b: ShardLayout): boolean {
  return (
    a.maxKeyGroups === b.maxKeyGroups &&
    a.shards.length === b.shards.length &&
    a.shards.every((s, i) => s.instanceId === b.shards[i]!.instanceId && s.keyGroups[0] === b.shards[i]!.keyGroups[0] && s.keyGroups[1] === b.shards[i]!.keyGroups[1])
  );
}
