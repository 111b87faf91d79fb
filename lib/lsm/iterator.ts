/**
 * Positioned iterators of the embedded store (`store.iterator()`): bounds (gt/gte/lt/lte), reverse,
 * limit, keys/values, seek, next/nextv/all/close, async iteration, and reads at an explicit snapshot.
 *
 * An iterator pins one read view when it is created (lib/lsm/scan-iterator.ts explains pins) and reads
 * from it until `close()`, so `seek()` after the end still works. The view is released by close(), by the
 * store closing (later calls reject with CLOSED), or, for an abandoned iterator, after garbage collection.
 *
 * Key order is (keyGroup, key): physical keys (lib/keys.ts). With `keyGroup`, or without user-key bounds,
 * the iterator is one physical range, read by one merging scan (lib/lsm/scan.ts forward,
 * lib/lsm/reverse-scan.ts backward). With bounds and no key group, the bounds apply within each group: the
 * walk visits one range per group holding a key in the bounds, as bounded scans do (lib/lsm/scan-groups.ts):
 * the next (previous) key of any source beyond the point comes from the memtables, the files' key ranges,
 * and, for a file straddling the point, its first (last) entry there (one block, the one the group's range
 * scan then reads). So the work follows the data, not `maxKeyGroups`.
 */
import type { FloeIterator, IteratorEntry, IteratorOptions, KeyGroupOption } from '../api.js';
import { FloeError } from '../errors.js';
import { checkKeyGroup, compareBytes, defaultKeyGroup, keyGroupOf, keyGroupStart, physicalKey, toBytes, type Bytes } from '../keys.js';
import { prevKeyBefore, reverseEntries } from './reverse-scan.js';
import { scanEntries, type ScanRange, type ScanView } from './scan.js';
import { nextKeyAtOrAfter } from './scan-groups.js';
import type { PinnedView } from './scan-iterator.js';
import { IteratorCalls } from '../iterator-calls.js';

type RawEntry = { key: Uint8Array; value: Uint8Array };

/** User-key bounds, normalised to an inclusive lower and an exclusive upper bound (either may be absent). */
interface UserBounds {
  lower: Uint8Array | undefined;
  upper: Uint8Array | undefined;
}

/** Validated iterator options. */
export interface IteratorPlan {
  maxKeyGroups: number;
  keyGroup: number | undefined;
  bounds: UserBounds;
  reverse: boolean;
  limit: number;
  keys: boolean;
  values: boolean;
  /** Called once per physical range a merging scan is started on (a work counter for tests). */
  onRange: () => void;
}

/** The smallest key greater than `k` (k ++ 0x00). */
function successor(k: Uint8Array): Uint8Array {
  const out = new Uint8Array(k.length + 1);
  out.set(k);
  return out;
}

function maxKey(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) >= 0 ? a : b;
}

function minKey(a: Uint8Array | undefined, b: Uint8Array | undefined): Uint8Array | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return compareBytes(a, b) <= 0 ? a : b;
}

/**
 * Validates `options` (INVALID_ARGUMENT naming the option). As in abstract-level, gte takes precedence over
 * gt and lte over lt when both are given.
 */
export function planIterator(options: IteratorOptions | undefined, maxKeyGroups: number, onRange: () => void = () => {}): IteratorPlan {
  const o = options ?? {};
  if (o === null || typeof o !== 'object') throw new FloeError('INVALID_ARGUMENT', 'iterator() takes an options object');
  const bound = (name: 'gt' | 'gte' | 'lt' | 'lte'): Uint8Array | undefined => (o[name] === undefined ? undefined : toBytes(o[name], `iterator ${name}`));
  const gt = bound('gt');
  const lte = bound('lte');
  const lower = bound('gte') ?? (gt === undefined ? undefined : successor(gt));
  const upper = lte === undefined ? bound('lt') : successor(lte);
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  if (typeof limit !== 'number' || Number.isNaN(limit) || limit < 0) {
    throw new FloeError('INVALID_ARGUMENT', `iterator(): limit must be a non-negative number, got ${JSON.stringify(o.limit)}`);
  }
  for (const name of ['reverse', 'keys', 'values'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'boolean') throw new FloeError('INVALID_ARGUMENT', `iterator(): ${name} must be a boolean`);
  }
  return {
    maxKeyGroups,
    keyGroup: o.keyGroup === undefined ? undefined : checkKeyGroup(o.keyGroup, maxKeyGroups),
    bounds: { lower, upper },
    reverse: o.reverse === true,
    limit,
    keys: o.keys !== false,
    values: o.values !== false,
    onRange,
  };
}

function outside(key: Uint8Array, b: UserBounds): boolean {
  return (b.lower !== undefined && compareBytes(key, b.lower) < 0) || (b.upper !== undefined && compareBytes(key, b.upper) >= 0);
}

/** A seek position: a physical key in a group. */
interface Position {
  group: number;
  key: Uint8Array;
}

/**
 * The physical range of group `g` under the bounds, narrowed by a seek position in that group (forward:
 * at or after it; reverse: at or before it). Undefined when empty.
 */
function groupRangeOf(g: number, bounds: UserBounds, seek: Position | undefined, reverse: boolean): ScanRange | undefined {
  let lo = bounds.lower === undefined ? keyGroupStart(g) : physicalKey(g, bounds.lower);
  let hi: Uint8Array | undefined = bounds.upper === undefined ? (g + 1 <= 0xffff ? keyGroupStart(g + 1) : undefined) : physicalKey(g, bounds.upper);
  if (seek !== undefined && seek.group === g) {
    const at = physicalKey(g, seek.key);
    if (reverse) hi = minKey(hi, successor(at));
    else lo = maxKey(lo, at)!;
  }
  if (hi !== undefined && compareBytes(lo, hi) >= 0) return undefined;
  return hi === undefined ? { gte: lo } : { gte: lo, lt: hi };
}

const NOTHING: AsyncGenerator<RawEntry> = (async function* () {})();

/**
 * Resolved entries of the plan from `seek` on (the start of the range when undefined), in iteration order.
 * A single range is the merging scan's own generator (no extra layer per entry on the hot path).
 */
export function iterateRaw(view: ScanView, plan: IteratorPlan, seek: Position | undefined): AsyncGenerator<RawEntry> {
  // A seek target outside the bounds ends the iterator (abstract-level's rule), in either direction.
  if (seek !== undefined && outside(seek.key, plan.bounds)) return NOTHING;
  const scan = (range: ScanRange): AsyncGenerator<RawEntry> => {
    plan.onRange();
    return plan.reverse ? reverseEntries(view, range, Number.POSITIVE_INFINITY) : scanEntries(view, range, Number.POSITIVE_INFINITY);
  };
  if (plan.keyGroup !== undefined) {
    if (seek !== undefined && seek.group !== plan.keyGroup) return NOTHING;
    const range = groupRangeOf(plan.keyGroup, plan.bounds, seek, plan.reverse);
    return range === undefined ? NOTHING : scan(range);
  }
  const last = plan.maxKeyGroups - 1;
  if (plan.bounds.lower === undefined && plan.bounds.upper === undefined) {
    // One contiguous physical range over every group, narrowed by the seek position.
    const range: ScanRange = { gte: keyGroupStart(0), ...(last + 1 <= 0xffff ? { lt: keyGroupStart(last + 1) } : {}) };
    if (seek !== undefined) {
      const at = physicalKey(seek.group, seek.key);
      if (plan.reverse) range.lt = minKey(range.lt, successor(at));
      else range.gte = maxKey(range.gte, at);
    }
    return scan(range);
  }
  return plan.reverse ? walkBackward(view, plan, seek, scan) : walkForward(view, plan, seek, scan);
}

/** Forward over the groups from the seek group on: one range per group holding a key in the bounds. */
async function* walkForward(view: ScanView, plan: IteratorPlan, seek: Position | undefined, scan: (r: ScanRange) => AsyncGenerator<RawEntry>): AsyncGenerator<RawEntry> {
  let g = seek?.group ?? 0;
  while (g < plan.maxKeyGroups) {
    const range = groupRangeOf(g, plan.bounds, seek, false);
    if (range === undefined) {
      // Only the seek position can empty one group; bounds that empty a group empty them all.
      if (seek?.group !== g) return;
      g++;
      continue;
    }
    const next = await nextKeyAtOrAfter(view, range.gte!, range.lt);
    if (next === undefined) return;
    const ng = keyGroupOf(next);
    if (ng > g) {
      g = ng; // nothing in between: jump
      continue;
    }
    if (range.lt === undefined || compareBytes(next, range.lt) < 0) yield* scan(range);
    g++;
  }
}

/** Backward over the groups from the seek group down: one range per group holding a key in the bounds. */
async function* walkBackward(view: ScanView, plan: IteratorPlan, seek: Position | undefined, scan: (r: ScanRange) => AsyncGenerator<RawEntry>): AsyncGenerator<RawEntry> {
  let g = seek?.group ?? plan.maxKeyGroups - 1;
  while (g >= 0) {
    const range = groupRangeOf(g, plan.bounds, seek, true);
    if (range === undefined) {
      if (seek?.group !== g) return;
      g--;
      continue;
    }
    const prev = await prevKeyBefore(view, range.lt ?? keyGroupStart(g + 1), range.gte);
    if (prev === undefined) return;
    // A 2-byte key is a group start: as an upper bound it stands for the group before it.
    const pg = keyGroupOf(prev) - (prev.length <= 2 ? 1 : 0);
    if (pg < g) {
      g = pg; // nothing in between: jump
      continue;
    }
    if (compareBytes(prev, range.gte!) >= 0) yield* scan(range);
    g--;
  }
}

const abandoned = new FinalizationRegistry<PinnedView>((pinned) => pinned.release());

/** The iterator object. REQUIRES: `pinned` is this iterator's own pin (released on close). */
export class StoreIterator<E = IteratorEntry> extends IteratorCalls<E> implements FloeIterator<E> {
  private gen: AsyncGenerator<RawEntry> | undefined;
  private position: Position | undefined;

  constructor(
    private readonly pinned: PinnedView,
    private readonly plan: IteratorPlan,
  ) {
    super(plan.limit);
    abandoned.register(this, pinned, this);
  }

  seek(target: Bytes, options?: KeyGroupOption): void {
    this.checkSeekCall();
    const key = toBytes(target, 'seek target');
    this.checkSeekGroup(options, this.plan.keyGroup);
    const kgOption = options?.keyGroup ?? this.plan.keyGroup;
    const group = kgOption === undefined ? defaultKeyGroup(key, this.plan.maxKeyGroups) : checkKeyGroup(kgOption, this.plan.maxKeyGroups);
    this.dropGenerator();
    this.position = { group, key };
  }

  protected async readOne(): Promise<E | undefined> {
    this.gen ??= iterateRaw(this.pinned.view, this.plan, this.position);
    const r = await this.gen.next();
    return r.done === true ? undefined : this.shape(r.value);
  }

  protected async readMany(room: number): Promise<E[]> {
    const out: E[] = [];
    this.gen ??= iterateRaw(this.pinned.view, this.plan, this.position);
    while (out.length < room) {
      const r = await this.gen.next();
      if (r.done === true) break;
      out.push(this.shape(r.value));
    }
    return out;
  }

  protected checkSource(): void {
    if (this.pinned.revoked) throw closedError();
  }

  /** A read that failed because the store closed under it says so. */
  protected override readError(e: unknown): unknown {
    return this.pinned.revoked ? closedError(e) : e;
  }

  protected async release(): Promise<void> {
    this.dropGenerator();
    abandoned.unregister(this);
    this.pinned.release();
  }

  private shape(e: RawEntry): E {
    const out: { keyGroup: number; key?: Uint8Array; value?: Uint8Array } = { keyGroup: keyGroupOf(e.key) };
    if (this.plan.keys) out.key = e.key.subarray(2);
    if (this.plan.values) out.value = e.value;
    return out as E;
  }

  private dropGenerator(): void {
    const gen = this.gen;
    this.gen = undefined;
    if (gen !== undefined && gen !== NOTHING) gen.return(undefined).catch(() => undefined);
  }
}

function closedError(cause?: unknown): FloeError {
  return new FloeError('CLOSED', 'the store was closed while this iterator was open; open the store again and create a new iterator', cause === undefined ? {} : { cause });
}
