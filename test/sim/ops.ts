/**
 * The operation list of a simulation seed. It is generated up front from the seed alone (never from
 * outcomes), so a run is `(seed, op list)`; shrinking removes ops from the list and replays the rest.
 * Ops name instances, checkpoints and held iterators by small numbers that the runner takes modulo what
 * exists at that moment, so every sub-list of a valid list is valid too.
 */
import { Random } from '../../lib/util/random.js';

export interface KeyRef {
  key: string;
  /** Explicit key group (taken modulo maxKeyGroups), or undefined for the default hash routing. */
  kg: number | undefined;
}

export type WriteKind = 'put' | 'delete' | 'merge';
export interface WriteItem extends KeyRef {
  type: WriteKind;
  /** Value or merge operand: `len` bytes of the pattern `fill` (generated, not stored, to keep lists small). */
  len: number;
  fill: number;
}

/** What runs while a crash happens (started, then the world runs `steps` steps, then the crash). */
export type CrashDuring = 'idle' | 'flush' | 'checkpoint' | 'compact' | 'gc' | 'write' | 'close';

export type Op =
  | { k: 'write'; item: WriteItem }
  | { k: 'batch'; items: WriteItem[] }
  | { k: 'get'; ref: KeyRef }
  | { k: 'multiGet'; kg: number; keys: string[] }
  | { k: 'scan'; kg: number | undefined; gte?: string; lt?: string; prefix?: string; limit?: number; hold: number }
  | { k: 'scanMore'; which: number; n: number }
  | { k: 'flush'; inst: number }
  | { k: 'compact'; inst: number }
  | { k: 'checkpoint' }
  | { k: 'release'; which: number }
  | { k: 'gc'; inst: number }
  | { k: 'crash'; inst: number | 'all'; during: CrashDuring; steps: number }
  | { k: 'crashRestore'; during: CrashDuring; steps: number; which: number; m: number }
  | { k: 'reopen'; inst: number }
  | { k: 'rescale'; m: number; which: number | undefined; claim: boolean }
  | { k: 'fence'; inst: number }
  | { k: 'retire'; which: number }
  | { k: 'zombie'; which: number; action: 'write' | 'get' | 'flush' | 'close'; item: WriteItem }
  | { k: 'outage'; inst: number; during: 'flush' | 'write' | 'compact'; steps: number }
  | { k: 'advance'; ms: number }
  /** deleteRange in key group `kg` (modulo maxKeyGroups), or with `groups` > 0 deleteKeyGroups from `kg`. */
  | { k: 'deleteRange'; kg: number; gte?: string; lt?: string; groups: number }
  | { k: 'background'; steps: number };

export type OpKind = Op['k'];

export interface GenConfig {
  keySpace: number;
  /** Metamorphic runs leave out what makes outcomes depend on options (crashes, fencing, outages). */
  metamorphic: boolean;
}

function keyRef(r: Random, c: GenConfig): KeyRef {
  const n = r.int(c.keySpace);
  // Shared prefixes and varied lengths exercise prefix compression and range bounds.
  const key = r.bool(0.1) ? `k${n % 5}/${n.toString(36)}/${'x'.repeat(r.int(30))}` : `k${n % 5}/${n.toString(36)}`;
  return { key, kg: r.bool(0.5) ? r.int(1 << 16) : undefined };
}

function writeItem(r: Random, c: GenConfig, big = false): WriteItem {
  const t = r.next();
  const type: WriteKind = t < 0.6 ? 'put' : t < 0.75 ? 'delete' : 'merge';
  const len = big ? r.range(2000, 4000) : type === 'merge' ? r.int(12) : r.bool(0.05) ? r.range(500, 3000) : r.int(120);
  return { ...keyRef(r, c), type, len, fill: r.nextU32() };
}

const WEIGHTS: Array<[OpKind | 'bulk', number, boolean]> = [
  // kind, weight, allowed in metamorphic runs
  ['write', 30, true],
  ['batch', 5, true],
  ['bulk', 2, true],
  ['get', 14, true],
  ['multiGet', 4, true],
  ['scan', 6, true],
  ['scanMore', 3, true],
  ['flush', 5, true],
  ['compact', 2, true],
  ['checkpoint', 3, true],
  ['release', 1.5, true],
  ['gc', 2, true],
  ['crash', 2, false],
  ['crashRestore', 1, false],
  ['reopen', 1.5, true],
  ['rescale', 3, true],
  ['fence', 1, false],
  ['retire', 1.5, true],
  ['zombie', 3, false],
  ['outage', 1, false],
  ['advance', 3, true],
  ['background', 5, true],
  ['deleteRange', 2, true],
];

/** `n` ops from `seed`. REQUIRES: same (seed, n, config) → same list. */
export function generateOps(seed: number, n: number, c: GenConfig): Op[] {
  const r = new Random(seed ^ 0x5eed0b5);
  const table = WEIGHTS.filter(([, , meta]) => !c.metamorphic || meta);
  const total = table.reduce((s, [, w]) => s + w, 0);
  const ops: Op[] = [];
  for (let i = 0; i < n; i++) {
    let x = r.next() * total;
    let kind: OpKind | 'bulk' = 'write';
    for (const [k, w] of table) {
      if ((x -= w) < 0) {
        kind = k;
        break;
      }
    }
    ops.push(makeOp(kind, r, c));
  }
  return ops;
}

function makeOp(kind: OpKind | 'bulk', r: Random, c: GenConfig): Op {
  switch (kind) {
    case 'write':
      return { k: 'write', item: writeItem(r, c) };
    case 'batch':
      return { k: 'batch', items: Array.from({ length: r.range(1, 12) }, () => writeItem(r, c)) };
    case 'bulk':
      // Enough bytes to fill a 64 KiB memtable: the write path freezes and flushes on its own.
      return { k: 'batch', items: Array.from({ length: 24 }, () => ({ ...writeItem(r, c, true), type: 'put' as const })) };
    case 'get':
      return { k: 'get', ref: keyRef(r, c) };
    case 'multiGet':
      return { k: 'multiGet', kg: r.int(1 << 16), keys: Array.from({ length: r.range(1, 10) }, () => keyRef(r, c).key) };
    case 'scan': {
      const b = r.int(5);
      const op: Extract<Op, { k: 'scan' }> = { k: 'scan', kg: r.bool(0.6) ? r.int(1 << 16) : undefined, hold: r.bool(0.4) ? r.range(0, 5) : -1 };
      if (b === 1 || b === 3) op.gte = keyRef(r, c).key;
      if (b === 2 || b === 3) op.lt = keyRef(r, c).key;
      if (b === 4) op.prefix = `k${r.int(5)}`;
      if (r.bool(0.3)) op.limit = r.range(0, 30);
      return op;
    }
    case 'scanMore':
      return { k: 'scanMore', which: r.int(8), n: r.bool(0.5) ? r.range(1, 5) : 1 << 30 };
    case 'flush':
    case 'compact':
    case 'gc':
    case 'reopen':
    case 'fence':
      return { k: kind, inst: r.int(8) };
    case 'checkpoint':
      return { k: 'checkpoint' };
    case 'release':
      return { k: 'release', which: r.int(8) };
    case 'retire':
      return { k: 'retire', which: r.int(8) };
    case 'crash':
      return { k: 'crash', inst: r.bool(0.3) ? 'all' : r.int(8), during: crashDuring(r), steps: r.int(12) };
    case 'crashRestore':
      return { k: 'crashRestore', during: crashDuring(r), steps: r.int(12), which: r.int(8), m: r.range(1, 3) };
    case 'rescale':
      return { k: 'rescale', m: r.range(1, 4), which: r.bool(0.3) ? r.int(8) : undefined, claim: r.bool(0.2) };
    case 'zombie':
      return { k: 'zombie', which: r.int(8), action: r.pick(['write', 'write', 'get', 'flush', 'flush', 'close'] as const), item: writeItem(r, c) };
    case 'outage':
      return { k: 'outage', inst: r.int(8), during: r.pick(['flush', 'write', 'compact'] as const), steps: r.range(1, 40) };
    case 'advance':
      return { k: 'advance', ms: r.pick([10, 500, 5_000, 30_000, 120_000]) };
    case 'background':
      return { k: 'background', steps: r.range(1, 20) };
    case 'deleteRange': {
      const op: Extract<Op, { k: 'deleteRange' }> = { k: 'deleteRange', kg: r.int(1 << 16), groups: r.bool(0.2) ? r.range(1, 3) : 0 };
      if (r.bool(0.7)) op.gte = keyRef(r, c).key;
      if (r.bool(0.7)) op.lt = keyRef(r, c).key;
      return op;
    }
  }
}

function crashDuring(r: Random): CrashDuring {
  return r.pick(['idle', 'flush', 'checkpoint', 'compact', 'gc', 'write', 'close'] as const);
}

/**
 * The state TTL of a write item in ms (undefined: none), derived from the item so that op lists stay what
 * they were before TTLs existed: about one put or merge in five expires, after 0.2 s to 2 min of TTL time
 * (which only 'advance' ops move).
 */
export function itemTtl(item: WriteItem): number | undefined {
  if (item.type === 'delete' || item.fill % 5 !== 0) return undefined;
  return TTL_CHOICES[(item.fill >>> 3) % TTL_CHOICES.length];
}

const TTL_CHOICES = [200, 1_000, 5_000, 30_000, 120_000];

/** Value bytes of a write item (deterministic from the item). */
export function itemValue(item: WriteItem): Uint8Array {
  const out = new Uint8Array(item.len);
  let x = item.fill | 1;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Parses "0,3,5-9" into indices. */
export function parseKeep(s: string): number[] {
  const out: number[] = [];
  for (const part of s.split(',').filter((p) => p !== '')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`--keep takes indices and ranges like 0,3,5-9, got ${JSON.stringify(part)}`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

/** Formats sorted indices compactly ("0,3,5-9"). */
export function formatKeep(indices: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < indices.length; ) {
    let j = i;
    while (j + 1 < indices.length && indices[j + 1] === indices[j]! + 1) j++;
    parts.push(i === j ? `${indices[i]}` : `${indices[i]}-${indices[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
