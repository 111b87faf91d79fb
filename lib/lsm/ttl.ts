/**
 * State TTL (docs/architecture.md "State TTL"): which bytes of a value are alive at a given time.
 *
 * A value carries optional TTL metadata: flat triples `[length, expiresAt, ttlMs, ...]` that cover the value
 * bytes in order (one segment per write folded into the value: a put is one segment, each merge operand
 * appends one). `expiresAt` is an absolute time in ms of the store's clock, 0 for "never"; `ttlMs` is the
 * TTL the write asked for (what a refresh on read renews), 0 for none. No metadata means the whole value
 * never expires. So expiry composes with merge (list append) segment by segment, exactly as Flink's list
 * state expires each element on its own: an appended operand does not extend older elements, and an
 * expired element never comes back. The result does not depend on when compaction ran, because a
 * segment that expired is dead at every later time.
 */
import { FloeError } from '../errors.js';
import { EntryKind, type Entry } from '../sst/entry.js';

export type TtlSegments = number[];

/** Flink's StateTtlConfig.StateVisibility. */
export type TtlVisibility = 'NeverReturnExpired' | 'ReturnExpiredIfNotCleanedUp';
/** Flink's StateTtlConfig.UpdateType (OnCreateAndWrite: only writes set the expiry). */
export type TtlUpdate = 'OnCreateAndWrite' | 'OnReadAndWrite';

export interface TtlConfig {
  defaultTtlMs: number;
  visibility: TtlVisibility;
  update: TtlUpdate;
}

/** A read's TTL behaviour: the store's, with what the read overrides (validated). */
export function readTtl(o: { ttlVisibility?: unknown; ttlUpdate?: unknown } | undefined, store: TtlConfig): Pick<TtlConfig, 'visibility' | 'update'> {
  const visibility = o?.ttlVisibility ?? store.visibility;
  const update = o?.ttlUpdate ?? store.update;
  if (visibility !== 'NeverReturnExpired' && visibility !== 'ReturnExpiredIfNotCleanedUp') {
    throw new FloeError('INVALID_ARGUMENT', `ttlVisibility must be 'NeverReturnExpired' or 'ReturnExpiredIfNotCleanedUp', got ${JSON.stringify(visibility)}`);
  }
  if (update !== 'OnCreateAndWrite' && update !== 'OnReadAndWrite') {
    throw new FloeError('INVALID_ARGUMENT', `ttlUpdate must be 'OnCreateAndWrite' or 'OnReadAndWrite', got ${JSON.stringify(update)}`);
  }
  return { visibility, update };
}

/** Largest TTL a write may ask for: expiry times stay exact in a double and in a varint. */
export const MAX_TTL_MS = 2 ** 50;

/** The TTL metadata of one write of `length` bytes at `now`, or undefined when it never expires. */
export function writeTtl(length: number, ttlMs: number, now: number): TtlSegments | undefined {
  return ttlMs > 0 ? [length, now + ttlMs, ttlMs] : undefined;
}

/** Validates a per-write `ttlMs` option (0 = never expires) or the store's default. */
export function checkTtlMs(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > MAX_TTL_MS) {
    throw new FloeError('INVALID_ARGUMENT', `${where} must be an integer number of milliseconds in [0, 2^50] (0 = never expires), got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * TTL metadata of `older ++ newer` (merge append), given each side's metadata and byte length. Undefined
 * (never expires) only when neither side has any.
 */
export function appendTtl(older: TtlSegments | undefined, olderLength: number, newer: TtlSegments | undefined, newerLength: number): TtlSegments | undefined {
  if (older === undefined && newer === undefined) return undefined;
  const out = older === undefined ? [olderLength, 0, 0] : older.slice();
  if (newer === undefined) out.push(newerLength, 0, 0);
  else for (const n of newer) out.push(n);
  return out;
}

export function isLive(expiresAt: number, now: number): boolean {
  return expiresAt === 0 || expiresAt > now;
}

/** Whether any segment has expired at `now` (cheap check before filtering). */
export function anyExpired(ttl: TtlSegments | undefined, now: number): boolean {
  if (ttl === undefined) return false;
  for (let i = 1; i < ttl.length; i += 3) if (!isLive(ttl[i]!, now)) return true;
  return false;
}

/**
 * The live part of a value at `now`: its bytes and metadata without expired segments, or undefined when
 * every segment expired (the value is then absent). A value without metadata is returned as is.
 */
export function liveValue(value: Uint8Array, ttl: TtlSegments | undefined, now: number): { value: Uint8Array; ttl: TtlSegments | undefined } | undefined {
  if (ttl === undefined || !anyExpired(ttl, now)) return { value, ttl };
  const parts: Uint8Array[] = [];
  const kept: TtlSegments = [];
  let pos = 0;
  for (let i = 0; i < ttl.length; i += 3) {
    const len = ttl[i]!;
    if (isLive(ttl[i + 1]!, now)) {
      parts.push(value.subarray(pos, pos + len));
      kept.push(len, ttl[i + 1]!, ttl[i + 2]!);
    }
    pos += len;
  }
  if (kept.length === 0) return undefined;
  return { value: parts.length === 1 ? parts[0]! : Buffer.concat(parts), ttl: kept };
}

/** OnReadAndWrite: the metadata with every segment that has a TTL renewed from `now`; undefined if none has. */
export function refreshedTtl(ttl: TtlSegments | undefined, now: number): TtlSegments | undefined {
  if (ttl === undefined) return undefined;
  let any = false;
  const out = ttl.slice();
  for (let i = 0; i < out.length; i += 3) {
    if (out[i + 2]! > 0) {
      out[i + 1] = now + out[i + 2]!;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Sum of segment lengths (must equal the value's length). */
export function ttlLength(ttl: TtlSegments): number {
  let n = 0;
  for (let i = 0; i < ttl.length; i += 3) n += ttl[i]!;
  return n;
}

/**
 * The compaction filter: `e` without the bytes expired at `now`, or undefined when it can be dropped. A
 * Put whose bytes all expired still hides older versions, so above the bottom it becomes a Delete; a Merge
 * whose operands all expired appends nothing and is dropped.
 */
export function dropExpired(e: Entry, now: number, bottommost: boolean): Entry | undefined {
  if (e.ttl === undefined || !anyExpired(e.ttl, now)) return e;
  const live = liveValue(e.value, e.ttl, now);
  if (live !== undefined) return live.ttl === undefined ? { key: e.key, kind: e.kind, seq: e.seq, value: live.value } : { key: e.key, kind: e.kind, seq: e.seq, value: live.value, ttl: live.ttl };
  if (e.kind === EntryKind.Merge || bottommost) return undefined;
  return { key: e.key, kind: EntryKind.Delete, seq: e.seq, value: new Uint8Array(0) };
}
