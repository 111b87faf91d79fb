/**
 * The physical ranges of the public range-delete calls (deleteRange, deleteKeyGroups), validated against
 * the key groups a store owns. Each range becomes one range tombstone (range-tombstones.ts).
 */
import type { DeleteRangeOptions } from '../api.js';
import { FloeError } from '../errors.js';
import { checkKeyGroup, compareBytes, physicalKey, toBytes } from '../keys.js';
import { keyGroupsRange } from './range-tombstones.js';

export interface PhysicalRange {
  start: Uint8Array;
  end: Uint8Array;
}

/** What a store owns: its inclusive key-group range, and the key-group count of its data. */
export interface OwnedGroups {
  keyGroups: [number, number];
  maxKeyGroups: number;
}

/**
 * deleteRange({ keyGroup, gte, lt }): the user-key range [gte, lt) of `keyGroup`, or of every owned group
 * when it is absent (one range for all of them when the user-key range is unbounded). Empty when gte >= lt.
 */
export function deleteRangeRanges(options: DeleteRangeOptions, owned: OwnedGroups): PhysicalRange[] {
  if (options === null || typeof options !== 'object') {
    throw new FloeError('INVALID_ARGUMENT', 'deleteRange() takes an options object like { keyGroup: 3, gte: "a", lt: "b" }');
  }
  const gte = options.gte === undefined ? new Uint8Array(0) : toBytes(options.gte, 'deleteRange gte');
  const lt = options.lt === undefined ? undefined : toBytes(options.lt, 'deleteRange lt');
  if (lt !== undefined && compareBytes(gte, lt) >= 0) return []; // an empty range deletes nothing
  const [lo, hi] = owned.keyGroups;
  if (options.keyGroup === undefined && gte.length === 0 && lt === undefined) return [keyGroupsRange(lo, hi)];
  const groups: number[] = [];
  if (options.keyGroup !== undefined) groups.push(ownedGroup(checkKeyGroup(options.keyGroup, owned.maxKeyGroups), owned, 'deleteRange()'));
  else for (let g = lo; g <= hi; g++) groups.push(g);
  return groups.map((g) => ({ start: physicalKey(g, gte), end: lt === undefined ? keyGroupsRange(g, g).end : physicalKey(g, lt) }));
}

/** deleteKeyGroups([first, last]): one range over the owned key groups first..last. */
export function deleteKeyGroupsRange(range: [number, number], owned: OwnedGroups): PhysicalRange {
  if (!Array.isArray(range) || range.length !== 2) {
    throw new FloeError('INVALID_ARGUMENT', 'deleteKeyGroups() takes [first, last], an inclusive key-group range');
  }
  const first = ownedGroup(checkKeyGroup(range[0], owned.maxKeyGroups), owned, 'deleteKeyGroups()');
  const last = ownedGroup(checkKeyGroup(range[1], owned.maxKeyGroups), owned, 'deleteKeyGroups()');
  if (first > last) throw new FloeError('INVALID_ARGUMENT', `deleteKeyGroups([${first}, ${last}]): first must not exceed last`);
  return keyGroupsRange(first, last);
}

function ownedGroup(kg: number, owned: OwnedGroups, where: string): number {
  const [lo, hi] = owned.keyGroups;
  if (kg < lo || kg > hi) {
    throw new FloeError('INVALID_ARGUMENT', `${where}: key group ${kg} is outside this store's key-group range [${lo}, ${hi}]; send it to the store that owns it`);
  }
  return kg;
}
