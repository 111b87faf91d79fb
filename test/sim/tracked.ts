/**
 * The model of one instance with durability points.
 *
 * - `model`: every acknowledged write, in order; reads of a live store must equal it exactly.
 * - `durable`: the model at the last durability point (a flush(), checkpoint() or close() that resolved
 *   after those writes were acknowledged).
 * - `since`: the writes acknowledged after that point, in order.
 *
 * After a crash the reopened instance must equal `durable` plus some prefix of `since` (memtables flush in
 * order, and a batch is atomic, so the surviving state is always such a prefix): nothing acknowledged as
 * durable is lost, and nothing appears that was never written.
 */
import { Buffer } from 'node:buffer';
import { type Model, hex } from '../support/model.js';

export type Apply = (m: Model) => void;

/** Canonical text of a set of entries, one `kg/key=value` line each, in scan order. */
export function fingerprint(entries: Iterable<{ keyGroup: number; key: Uint8Array; value: Uint8Array }>): string {
  const lines: string[] = [];
  for (const e of entries) lines.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
  return lines.join('\n');
}

export function modelFingerprint(m: Model, range?: [number, number]): string {
  return fingerprint(m.scan({}).filter((e) => range === undefined || (e.keyGroup >= range[0] && e.keyGroup <= range[1])));
}

/** A copy of `m` holding only key groups in `range` (TTLs kept: they expire in the copy too). */
export function clipModel(m: Model, range: [number, number]): Model {
  return m.filtered((kg) => kg >= range[0] && kg <= range[1]);
}

/** Merges disjoint models into `into` (TTLs kept); returns it. */
export function unionModels(into: Model, parts: Model[]): Model {
  for (const m of parts) into.absorb(m);
  return into;
}

export class Tracked {
  model: Model;
  durable: Model;
  since: Apply[] = [];
  /**
   * With durability 'wal' every acknowledged write is durable: the first `mandatory` entries of `since`
   * must survive. (They stay in `since` rather than in `durable` so a takeover can tell them apart.)
   */
  private mandatory = 0;
  /**
   * Writes that failed after they may have reached the write-ahead log (an ambiguous upload): not in the
   * model, but a reopen may replay them. A failed WAL append is sticky, so these are always the tail.
   */
  private maybes: Apply[] = [];

  constructor(
    initial: Model,
    readonly wal = false,
  ) {
    this.model = initial;
    this.durable = initial.clone();
  }

  ack(apply: Apply): void {
    apply(this.model);
    this.since.push(apply);
    if (this.wal) this.mandatory = this.since.length;
  }

  /** A write that failed but may be durable (durability 'wal' only; see `maybes`). */
  maybe(apply: Apply): void {
    if (this.wal) this.maybes.push(apply);
  }

  /** Everything acknowledged so far is durable. */
  markDurable(): void {
    this.durable = this.model.clone();
    this.since = [];
    this.mandatory = 0;
  }

  /**
   * The j such that `durable` + since[0..j) (+ maybes[0..j-since.length) past the end) equals `observed`,
   * or undefined if none does. j is at least the mandatory count. Prefers the longest match.
   */
  matchPrefix(observed: string): number | undefined {
    const m = this.durable.clone();
    const all = [...this.since, ...this.maybes];
    let found: number | undefined;
    for (let j = 0; j <= all.length; j++) {
      if (j > 0) all[j - 1]!(m);
      if (j >= this.mandatory && modelFingerprint(m) === observed) found = j;
    }
    return found;
  }

  /** Resets to the state of prefix j (after a crash or takeover): that state is now durable. */
  adoptPrefix(j: number): void {
    const m = this.durable.clone();
    const all = [...this.since, ...this.maybes];
    for (let i = 0; i < j; i++) all[i]!(m);
    this.model = m;
    this.maybes = [];
    this.markDurable();
  }
}

/** A short description of how `observed` differs from `want` (first differing lines). */
export function describeDiff(observed: string, want: string): string {
  const a = new Set(observed === '' ? [] : observed.split('\n'));
  const b = new Set(want === '' ? [] : want.split('\n'));
  const missing = [...b].filter((l) => !a.has(l));
  const extra = [...a].filter((l) => !b.has(l));
  const cut = (ls: string[]): string => ls.slice(0, 3).map((l) => (l.length > 120 ? l.slice(0, 117) + '...' : l)).join('; ') + (ls.length > 3 ? ` (+${ls.length - 3} more)` : '');
  return `store has ${a.size} entries, expected ${b.size}; missing or different: ${cut(missing) || 'none'}; unexpected: ${cut(extra) || 'none'}`;
}

export const keyBytes = (s: string): Uint8Array => Buffer.from(s);
