/**
 * The workload of `floe load`: the operation mix, the key chooser (uniform or Zipf over a fixed key space)
 * and the bytes written. Deterministic in the seed: the same flags issue the same sequence of operations
 * (their interleaving over connections depends on timing).
 */
import { FloeError } from '../errors.js';
import type { Random } from '../util/random.js';

export const LOAD_OPS = ['get', 'put', 'del', 'merge', 'scan'] as const;
export type LoadOp = (typeof LOAD_OPS)[number];

/** Cumulative weights of a mix such as `get:80,put:20`. */
export interface Mix {
  ops: LoadOp[];
  cumulative: number[];
  total: number;
}

/** Parses `op:weight,...` (weights are non-negative integers, at least one positive). */
export function parseMix(text: string): Mix {
  const ops: LoadOp[] = [];
  const cumulative: number[] = [];
  let total = 0;
  for (const part of text.split(',')) {
    const m = /^\s*([a-z]+)\s*[:=]\s*(\d+)\s*$/.exec(part);
    if (!m || !(LOAD_OPS as readonly string[]).includes(m[1]!)) {
      throw new FloeError('INVALID_ARGUMENT', `--mix ${JSON.stringify(text)}: each part must be OP:WEIGHT with OP one of ${LOAD_OPS.join(', ')}, e.g. get:80,put:20`);
    }
    const op = m[1] as LoadOp;
    if (ops.includes(op)) throw new FloeError('INVALID_ARGUMENT', `--mix ${JSON.stringify(text)} names ${op} twice`);
    const w = Number(m[2]);
    if (w === 0) continue;
    total += w;
    ops.push(op);
    cumulative.push(total);
  }
  if (total === 0) throw new FloeError('INVALID_ARGUMENT', `--mix ${JSON.stringify(text)} has no positive weight`);
  return { ops, cumulative, total };
}

export function pickOp(mix: Mix, random: Random): LoadOp {
  const x = random.int(mix.total);
  for (let i = 0; i < mix.ops.length; i++) if (x < mix.cumulative[i]!) return mix.ops[i]!;
  return mix.ops[mix.ops.length - 1]!;
}

export type KeyDistribution = 'uniform' | 'zipf';

/** Largest key space a Zipf chooser accepts: its table is 8 bytes per key. */
export const MAX_ZIPF_KEYS = 10_000_000;

/**
 * Key indices in [0, n): uniform, or Zipf(s) ranks (P(rank k) ∝ 1/(k+1)^s, by inverting the cumulative
 * distribution with a binary search) spread over the key space by a fixed permutation, so the hot keys are
 * not neighbours (they would share blocks and key groups otherwise).
 */
export class KeyChooser {
  private readonly cdf: Float64Array | undefined;
  private readonly stride: number;

  constructor(
    readonly n: number,
    kind: KeyDistribution,
    s: number,
    private readonly random: Random,
  ) {
    if (kind === 'zipf') {
      if (n > MAX_ZIPF_KEYS) throw new FloeError('INVALID_ARGUMENT', `--dist zipf supports at most ${MAX_ZIPF_KEYS} keys, got ${n}; use fewer --keys or --dist uniform`);
      const cdf = new Float64Array(n);
      let sum = 0;
      for (let k = 0; k < n; k++) {
        sum += 1 / (k + 1) ** s;
        cdf[k] = sum;
      }
      for (let k = 0; k < n; k++) cdf[k]! /= sum;
      this.cdf = cdf;
    }
    // A stride coprime with n makes rank -> (rank * stride) mod n a permutation of [0, n).
    let stride = Math.max(1, Math.floor(n * 0.6180339887) | 1);
    while (gcd(stride, n) !== 1) stride++;
    this.stride = stride;
  }

  next(): number {
    const cdf = this.cdf;
    if (cdf === undefined) return this.random.int(this.n);
    const u = this.random.next();
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! <= u) lo = mid + 1;
      else hi = mid;
    }
    return (lo * this.stride) % this.n; // < 2^53: exact
  }
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** The key of index i: fixed width, so keys sort by index. */
export function loadKey(i: number): string {
  return `key-${i.toString().padStart(10, '0')}`;
}

/** A value of `bytes` bytes, different per (key index, version) so overwrites change the data. */
export function loadValue(bytes: number, i: number, version: number): Uint8Array {
  const v = Buffer.alloc(bytes);
  const stamp = `${i}.${version}.`;
  for (let at = 0; at < bytes; at += stamp.length) v.write(stamp, at, 'latin1');
  return v;
}
