/**
 * Scans with user-key bounds (gte, lt, prefix) but no key group. The bounds apply within each key group,
 * so the scan is one physical range per key group, in (keyGroup, key) order. Visiting all `maxKeyGroups`
 * groups would make the cost follow the configuration instead of the data, so the next group to visit is
 * found from the data: the memtables' next key, the key ranges of the files of the version (clip-aware),
 * and, for a file whose range straddles the point sought, its first entry at or after it (one block, the
 * one the group's range scan reads first, so it is usually in the block cache for that scan).
 */
import { compareBytes, keyGroupOf, keyGroupStart, physicalKey } from '../keys.js';
import { effectiveLargest, effectiveSmallest, inClip, type FileMeta } from './file-meta.js';
import { scanEntries, type ScanRange, type ScanView } from './scan.js';

export interface KeyBounds {
  gte: Uint8Array | undefined;
  lt: Uint8Array | undefined;
  prefix: Uint8Array | undefined;
}

/**
 * Resolved entries of every key group in [0, groups) within `bounds`, in (keyGroup, key) order, at most
 * `limit`. `onRange` is called once per group range actually scanned (a work counter for tests).
 * PROMISES: the groups scanned are those whose range holds a key of some source (or begins a file's clip
 * range), so the work is proportional to the groups with data, not to `groups`.
 */
export async function* scanBoundedGroups(
  view: ScanView,
  bounds: KeyBounds,
  groups: number,
  limit: number,
  onRange: () => void,
): AsyncGenerator<{ key: Uint8Array; value: Uint8Array }> {
  let remaining = limit;
  let g = 0;
  while (g < groups && remaining > 0) {
    const range = groupRange(g, g, bounds);
    // The same user-key bounds apply in every group: one empty group range means they all are.
    if (range === undefined) return;
    const next = await nextKeyAtOrAfter(view, range.gte, range.lt);
    if (next === undefined) return;
    const ng = keyGroupOf(next);
    if (ng > g) {
      g = ng; // nothing in between: jump
      continue;
    }
    if (range.lt === undefined || compareBytes(next, range.lt) < 0) {
      onRange();
      for await (const e of scanEntries(view, range, remaining)) {
        yield e;
        remaining--;
      }
    }
    g++;
  }
}

/**
 * A lower bound of the smallest key at or after `target` in any source of the view (undefined: there is
 * none). Exact for memtables (keys of any version, visible or not) and for files straddling `target`;
 * a file starting after `target` contributes its effective smallest key without I/O. When a bound below
 * `enough` is known without I/O it is returned as is (the caller scans that group either way).
 */
export async function nextKeyAtOrAfter(view: ScanView, target: Uint8Array, enough: Uint8Array | undefined): Promise<Uint8Array | undefined> {
  let best: Uint8Array | undefined;
  const offer = (k: Uint8Array | undefined): void => {
    if (k !== undefined && (best === undefined || compareBytes(k, best) < 0)) best = k;
  };
  for (const m of view.memtables) offer(m.firstKeyAtOrAfter(target));
  const straddling: FileMeta[] = [];
  const consider = (f: FileMeta): void => {
    const smallest = effectiveSmallest(f);
    if (compareBytes(smallest, target) >= 0) offer(smallest);
    else if (compareBytes(effectiveLargest(f), target) >= 0) straddling.push(f);
  };
  for (const f of view.version.levels[0]!) consider(f);
  for (let level = 1; level < view.version.levels.length; level++) {
    const files = view.version.levels[level]!;
    // Sorted by effective smallest key and non-overlapping: only the file before the first one starting
    // at or after `target` can straddle it.
    const i = firstStartingAtOrAfter(files, target);
    if (i < files.length) consider(files[i]!);
    if (i > 0) consider(files[i - 1]!);
  }
  if (best !== undefined && enough !== undefined && compareBytes(best, enough) < 0) return best;
  const found = await Promise.all(straddling.map((f) => firstEntryAtOrAfter(view, f, target)));
  for (const k of found) offer(k);
  return best;
}

function firstStartingAtOrAfter(files: ReadonlyArray<FileMeta>, target: Uint8Array): number {
  let lo = 0;
  let hi = files.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareBytes(effectiveSmallest(files[mid]!), target) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The first key at or after `target` visible through reference `f` (inside its clip range), if any. */
async function firstEntryAtOrAfter(view: ScanView, f: FileMeta, target: Uint8Array): Promise<Uint8Array | undefined> {
  const reader = await view.tables.get(f);
  const blocks = reader.blocks({ gte: target, prefetch: 0 });
  try {
    const first = await blocks.next();
    if (first.done === true) return undefined;
    const e = first.value[0]!;
    // Entries before the clip start sort before `target` (it is past the effective smallest key); an entry
    // past the clip end means the reference holds nothing at or after `target`.
    return inClip(f, e.key) ? e.key : undefined;
  } finally {
    await blocks.return(undefined);
  }
}

/**
 * Physical range for key groups [from, to]: the whole groups when from < to, else group `from` narrowed by
 * the user-key bounds. Undefined when the bounds leave it empty.
 */
export function groupRange(from: number, to: number, bounds: KeyBounds): (ScanRange & { gte: Uint8Array }) | undefined {
  const { gte, lt, prefix } = bounds;
  if (from !== to) return { gte: keyGroupStart(from), ...(to + 1 <= 0xffff ? { lt: keyGroupStart(to + 1) } : {}) };
  let lo = keyGroupStart(from);
  let hi: Uint8Array = keyGroupStart(from + 1);
  if (gte !== undefined) lo = maxBytes(lo, physicalKey(from, gte));
  if (lt !== undefined) hi = physicalKey(from, lt);
  if (prefix !== undefined) {
    lo = maxBytes(lo, physicalKey(from, prefix));
    const end = prefixEnd(physicalKey(from, prefix));
    if (end !== undefined && compareBytes(end, hi) < 0) hi = end;
  }
  if (compareBytes(lo, hi) >= 0) return undefined;
  return { gte: lo, lt: hi };
}

function maxBytes(a: Uint8Array, b: Uint8Array): Uint8Array {
  return compareBytes(a, b) >= 0 ? a : b;
}

/** The smallest key greater than every key with this prefix, or undefined if none exists. */
function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const out = Uint8Array.from(prefix);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i]! < 0xff) {
      out[i]!++;
      return out.subarray(0, i + 1);
    }
  }
  return undefined;
}
