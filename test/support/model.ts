/**
 * The reference model for randomized tests: a plain sorted map from (keyGroup, key) to value with the
 * same merge semantics (list append), TTL semantics (every written piece expires on its own; optional
 * renewal on point reads) and range deletes, checked against any `Store`.
 */
import { Buffer } from 'node:buffer';

export interface ModelEntry {
  keyGroup: number;
  key: Uint8Array;
  value: Uint8Array;
}

/**
 * One written piece of a value: a put is one segment, each merge operand appends one. `expiresAt` 0 =
 * never; `ttlMs` is what a refresh on read renews (Flink's list-state TTL: every element expires alone).
 */
interface Segment {
  bytes: Uint8Array;
  expiresAt: number;
  ttlMs: number;
}

interface Stored {
  keyGroup: number;
  key: Uint8Array;
  segments: Segment[];
}

function id(keyGroup: number, key: Uint8Array): string {
  return keyGroup.toString(16).padStart(4, '0') + Buffer.from(key).toString('hex');
}

/** TTL of one write as the model needs it. */
export interface ModelTtl {
  expiresAt: number;
  ttlMs: number;
}

export class Model {
  private readonly map = new Map<string, Stored>();
  /**
   * Where `now` comes from when set (the simulator's TTL clock); shared by clones and copies, so a model kept
   * for a checkpoint is judged at the time it is compared, not the time it was taken.
   */
  timeSource: (() => number) | undefined;
  private fixedNow = 0;
  /** The store clock's time (tests with TTL keep it in step); values expired at `now` are absent. */
  get now(): number {
    return this.timeSource?.() ?? this.fixedNow;
  }

  set now(ms: number) {
    this.fixedNow = ms;
  }
  /** TTL update type: 'OnReadAndWrite' renews the TTL of what get and multiGet return. */
  refreshOnRead = false;

  put(keyGroup: number, key: Uint8Array, value: Uint8Array, ttl?: ModelTtl): void {
    this.map.set(id(keyGroup, key), { keyGroup, key: Uint8Array.from(key), segments: [segment(value, ttl)] });
  }

  delete(keyGroup: number, key: Uint8Array): void {
    this.map.delete(id(keyGroup, key));
  }

  merge(keyGroup: number, key: Uint8Array, operand: Uint8Array, ttl?: ModelTtl): void {
    const old = this.map.get(id(keyGroup, key));
    const segments = old ? [...old.segments, segment(operand, ttl)] : [segment(operand, ttl)];
    this.map.set(id(keyGroup, key), { keyGroup, key: Uint8Array.from(key), segments });
  }

  /** Deletes the keys of `keyGroup` in [gte, lt) (bounds optional). */
  deleteRange(keyGroup: number, gte: Uint8Array | undefined, lt: Uint8Array | undefined): void {
    for (const [k, e] of this.map) {
      if (e.keyGroup !== keyGroup) continue;
      if (gte !== undefined && Buffer.compare(e.key, gte) < 0) continue;
      if (lt !== undefined && Buffer.compare(e.key, lt) >= 0) continue;
      this.map.delete(k);
    }
  }

  /** Deletes every key of key groups first..last. */
  deleteKeyGroups(first: number, last: number): void {
    for (const [k, e] of this.map) if (e.keyGroup >= first && e.keyGroup <= last) this.map.delete(k);
  }

  /** The visible value (a point read: renews TTLs when `refreshOnRead`). */
  get(keyGroup: number, key: Uint8Array): Uint8Array | undefined {
    const e = this.map.get(id(keyGroup, key));
    if (e === undefined) return undefined;
    const live = e.segments.filter((s) => s.expiresAt === 0 || s.expiresAt > this.now);
    if (live.length === 0) return undefined;
    if (this.refreshOnRead && live.some((s) => s.ttlMs > 0)) {
      e.segments = live.map((s) => (s.ttlMs > 0 ? { ...s, expiresAt: this.now + s.ttlMs } : s));
    }
    return live.length === 1 ? live[0]!.bytes : Buffer.concat(live.map((s) => s.bytes));
  }

  /** The visible value without the side effects of a point read (scans do not renew TTLs). */
  peek(keyGroup: number, key: Uint8Array): Uint8Array | undefined {
    const e = this.map.get(id(keyGroup, key));
    return e === undefined ? undefined : this.visible(e)?.value;
  }

  private visible(e: Stored): ModelEntry | undefined {
    const live = e.segments.filter((s) => s.expiresAt === 0 || s.expiresAt > this.now);
    if (live.length === 0) return undefined;
    return { keyGroup: e.keyGroup, key: e.key, value: live.length === 1 ? live[0]!.bytes : Buffer.concat(live.map((s) => s.bytes)) };
  }

  /** Entries in (keyGroup, key bytes) order, filtered like Store.scan. */
  scan(o: { keyGroup?: number; gte?: Uint8Array; lt?: Uint8Array; prefix?: Uint8Array; limit?: number }): ModelEntry[] {
    const all = [...this.map.values()].sort((a, b) => a.keyGroup - b.keyGroup || Buffer.compare(a.key, b.key));
    const out: ModelEntry[] = [];
    for (const stored of all) {
      if (o.limit !== undefined && out.length >= o.limit) break;
      const e = this.visible(stored);
      if (e === undefined) continue;
      if (o.keyGroup !== undefined && e.keyGroup !== o.keyGroup) continue;
      if (o.gte !== undefined && Buffer.compare(e.key, o.gte) < 0) continue;
      if (o.lt !== undefined && Buffer.compare(e.key, o.lt) >= 0) continue;
      if (o.prefix !== undefined && !Buffer.from(e.key).subarray(0, o.prefix.length).equals(o.prefix)) continue;
      out.push(e);
    }
    return out;
  }

  /**
   * Entries an iterator yields (lib/lsm/iterator.ts): in (keyGroup, key) order, descending with `reverse`,
   * filtered by key group and user-key bounds, starting at `seek` (at or after it; at or before it with
   * `reverse`; nothing when it is outside the bounds). No limit: the caller counts (a limit spans seeks).
   */
  iterate(
    o: { keyGroup?: number; gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array; reverse?: boolean },
    seek?: { group: number; key: Uint8Array },
  ): ModelEntry[] {
    const order = (a: { keyGroup: number; key: Uint8Array }, b: { keyGroup: number; key: Uint8Array }): number =>
      a.keyGroup - b.keyGroup || Buffer.compare(a.key, b.key);
    // gte wins over gt, lte over lt (abstract-level's rule); a seek target outside the bounds ends iteration.
    const inBounds = (k: Uint8Array): boolean =>
      !(o.gte === undefined && o.gt !== undefined && Buffer.compare(k, o.gt) <= 0) &&
      !(o.gte !== undefined && Buffer.compare(k, o.gte) < 0) &&
      !(o.lte === undefined && o.lt !== undefined && Buffer.compare(k, o.lt) >= 0) &&
      !(o.lte !== undefined && Buffer.compare(k, o.lte) > 0);
    if (seek !== undefined && !inBounds(seek.key)) return [];
    const visible = [...this.map.values()].map((e) => this.visible(e)).filter((e): e is ModelEntry => e !== undefined);
    const all = visible.sort(order).filter((e) => {
      if (o.keyGroup !== undefined && e.keyGroup !== o.keyGroup) return false;
      if (!inBounds(e.key)) return false;
      if (seek !== undefined) {
        const c = order(e, { keyGroup: seek.group, key: seek.key });
        if (o.reverse === true ? c > 0 : c < 0) return false;
      }
      return true;
    });
    return o.reverse === true ? all.reverse() : all;
  }

  clone(): Model {
    return this.filtered(() => true);
  }

  /** A copy holding only the key groups `keep` accepts, TTLs and time source included. */
  filtered(keep: (keyGroup: number) => boolean): Model {
    const m = new Model();
    m.now = this.fixedNow;
    m.timeSource = this.timeSource;
    m.refreshOnRead = this.refreshOnRead;
    for (const [k, v] of this.map) if (keep(v.keyGroup)) m.map.set(k, { ...v, segments: v.segments.slice() });
    return m;
  }

  /** Adds every entry of `other` as stored, TTLs included. REQUIRES: their key groups are disjoint. */
  absorb(other: Model): void {
    for (const [k, v] of other.map) this.map.set(k, { ...v, segments: v.segments.slice() });
  }

  /** Keys with a visible value. */
  get size(): number {
    let n = 0;
    for (const e of this.map.values()) if (this.visible(e) !== undefined) n++;
    return n;
  }
}

function segment(bytes: Uint8Array, ttl: ModelTtl | undefined): Segment {
  return { bytes: Uint8Array.from(bytes), expiresAt: ttl?.expiresAt ?? 0, ttlMs: ttl?.ttlMs ?? 0 };
}

export function hex(b: Uint8Array | undefined): string {
  return b === undefined ? 'undefined' : Buffer.from(b).toString('hex');
}

/** Anything scanned in key order with key groups (a Store, a daemon client's store). */
export interface ScannableStore {
  scan(): AsyncIterable<{ keyGroup: number; key: Uint8Array; value: Uint8Array }>;
}

/** Every entry of `store` as `kg:key=value` (hex), in scan order. */
export async function scanLines(store: ScannableStore): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.scan()) out.push(`${e.keyGroup}:${hex(e.key)}=${hex(e.value)}`);
  return out;
}

/** What `scanLines` should return for `model`, limited to key groups `range` if given. */
export function modelLines(model: Model, range?: [number, number]): string[] {
  return model
    .scan({})
    .filter((e) => range === undefined || (e.keyGroup >= range[0] && e.keyGroup <= range[1]))
    .map((e) => `${e.keyGroup}:${hex(e.key)}=${hex(e.value)}`);
}
