/**
 * Random iterator and snapshot steps for the model test (test/support/random-ops.ts, option `iterators`).
 * Each step drives `store.iterator()` with random bounds, direction, limit, keys/values, and a random mix of
 * next / nextv / seek / all against Model.iterate, or takes, reads at and releases explicit snapshots
 * against a clone of the model taken with them. Some iterators stay open across later operations
 * (flushes, compactions, writes) and are finished later against the model of their creation; iterators
 * open when the store closes must then reject with CLOSED.
 */
import { Buffer } from 'node:buffer';
import type { EmbeddedStore, FloeIterator, IteratorOptions, Snapshot, Store } from '../../lib/api.js';
import { isFloeError } from '../../lib/errors.js';
import { defaultKeyGroup } from '../../lib/keys.js';
import type { Random } from '../../lib/util/random.js';
import { hex, type Model, type ModelEntry } from './model.js';

type Entry = { keyGroup: number; key?: Uint8Array; value?: Uint8Array };

interface Driven {
  it: FloeIterator<Entry>;
  options: IteratorOptions & { gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array };
  model: Model;
  expected: ModelEntry[];
  at: number;
  yielded: number;
  limit: number;
  done: boolean;
}

export class IteratorChecker {
  private readonly snaps: Array<{ snap: Snapshot; model: Model }> = [];
  private readonly pending: Driven[] = [];

  constructor(
    private readonly r: Random,
    private readonly maxKeyGroups: number,
    private readonly key: () => Uint8Array,
    private readonly fail: (what: string) => never,
  ) {}

  /** One random step; returns its name (for the operation counts). */
  async step(store: Store, model: Model): Promise<string> {
    const s = store as EmbeddedStore;
    const p = this.r.next();
    if (p < 0.15 && this.snaps.length < 3) {
      this.snaps.push({ snap: s.snapshot(), model: model.clone() });
      return 'snapshot';
    }
    if (p < 0.35 && this.snaps.length > 0) return this.readSnapshot(s, model.now);
    if (p < 0.42 && this.snaps.length > 0) {
      this.snaps.splice(this.r.int(this.snaps.length), 1)[0]!.snap.release();
      return 'snapshotRelease';
    }
    if (p < 0.55 && this.pending.length > 0) {
      const d = this.pending.splice(this.r.int(this.pending.length), 1)[0]!;
      await this.drive(d, Number.POSITIVE_INFINITY);
      return 'iteratorResume';
    }
    const d = this.open(s, model, undefined);
    // Some iterators stay open while the store keeps changing, and finish later.
    if (this.r.bool(0.3) && this.pending.length < 4) {
      await this.drive(d, this.r.int(4));
      if (!d.done) this.pending.push(d);
    } else {
      await this.drive(d, Number.POSITIVE_INFINITY);
    }
    return 'iterator';
  }

  /** Releases snapshots (before the store closes); open iterators are kept for afterClose. */
  beforeClose(): void {
    for (const s of this.snaps.splice(0)) s.snap.release();
  }

  /** Iterators still open when the store closed must reject with CLOSED; then they close cleanly. */
  async afterClose(): Promise<void> {
    for (const d of this.pending.splice(0)) {
      const outcome = await d.it.next().then(
        () => 'resolved',
        (e: unknown) => (isFloeError(e, 'CLOSED') ? 'CLOSED' : String(e)),
      );
      if (outcome !== 'CLOSED') this.fail(`next() on an iterator open across close: ${outcome}, expected CLOSED`);
      await d.it.close();
    }
  }

  /** Finishes open iterators and releases snapshots (end of a run, store still open). */
  async finish(): Promise<void> {
    for (const d of this.pending.splice(0)) await this.drive(d, Number.POSITIVE_INFINITY);
    this.beforeClose();
  }

  private async readSnapshot(s: EmbeddedStore, now: number): Promise<string> {
    const { snap, model } = this.snaps[this.r.int(this.snaps.length)]!;
    // State TTL: a read at a snapshot judges expiry at the time of the read (an iterator: when it is created).
    model.now = now;
    const t = this.r.int(4);
    if (t === 0) {
      const k = this.key();
      const g = this.r.int(this.maxKeyGroups);
      const got = await s.get(k, { keyGroup: g, snapshot: snap });
      if (hex(got) !== hex(model.get(g, k))) this.fail(`get at snapshot ${snap.sequence}: ${hex(got)}, model ${hex(model.get(g, k))}`);
      return 'snapshotGet';
    }
    if (t === 1) {
      const keys = Array.from({ length: this.r.range(1, 10) }, () => this.key());
      const got = await s.multiGet(keys, { snapshot: snap });
      keys.forEach((k, j) => {
        const g = defaultKeyGroup(k, this.maxKeyGroups);
        if (hex(got[j]) !== hex(model.get(g, k))) this.fail(`multiGet[${j}] at snapshot: ${hex(got[j])}, model ${hex(model.get(g, k))}`);
      });
      return 'snapshotMultiGet';
    }
    if (t === 2) {
      const g = this.r.int(this.maxKeyGroups);
      const got: string[] = [];
      for await (const e of s.scan({ keyGroup: g, snapshot: snap })) got.push(`${hex(e.key)}=${hex(e.value)}`);
      const want = model.scan({ keyGroup: g }).map((e) => `${hex(e.key)}=${hex(e.value)}`);
      if (got.join() !== want.join()) this.fail(`scan of group ${g} at snapshot: ${got.length} entries, model ${want.length}`);
      return 'snapshotScan';
    }
    await this.drive(this.open(s, model, snap), Number.POSITIVE_INFINITY);
    return 'snapshotIterator';
  }

  private open(s: EmbeddedStore, model: Model, snapshot: Snapshot | undefined): Driven {
    const r = this.r;
    const o: Driven['options'] = {};
    if (r.bool(0.5)) o.keyGroup = r.int(this.maxKeyGroups);
    if (r.bool(0.4)) o[r.bool(0.5) ? 'gt' : 'gte'] = this.key();
    if (r.bool(0.4)) o[r.bool(0.5) ? 'lt' : 'lte'] = this.key();
    if (r.bool(0.5)) o.reverse = true;
    if (r.bool(0.25)) o.limit = r.int(30);
    if (r.bool(0.1)) o.keys = false;
    if (r.bool(0.1)) o.values = false;
    const it = s.iterator({ ...o, ...(snapshot ? { snapshot } : {}) }) as FloeIterator<Entry>;
    return { it, options: o, model: model.clone(), expected: model.iterate(o), at: 0, yielded: 0, limit: o.limit ?? Number.POSITIVE_INFINITY, done: false };
  }

  /** Runs up to `steps` random calls on the iterator (all of them until it ends when Infinity). */
  private async drive(d: Driven, steps: number): Promise<void> {
    for (let n = 0; n < steps && !d.done; n++) {
      const p = this.r.next();
      if (p < 0.15) {
        const target = this.key();
        const explicit = d.options.keyGroup === undefined && this.r.bool(0.5);
        const group = d.options.keyGroup ?? (explicit ? this.r.int(this.maxKeyGroups) : defaultKeyGroup(target, this.maxKeyGroups));
        d.it.seek(target, explicit ? { keyGroup: group } : undefined);
        d.expected = d.model.iterate(d.options, { group, key: target });
        d.at = 0;
      } else if (p < 0.2) {
        const got = await d.it.all();
        this.compare(d, got, Number.POSITIVE_INFINITY, 'all');
        d.done = true;
      } else if (p < 0.6) {
        const e = await d.it.next();
        this.compare(d, e === undefined ? [] : [e], 1, 'next');
      } else {
        const size = this.r.range(1, 25);
        this.compare(d, await d.it.nextv(size), size, `nextv(${size})`);
      }
    }
    if (steps === Number.POSITIVE_INFINITY && !d.done) {
      this.compare(d, await d.it.all(), Number.POSITIVE_INFINITY, 'all');
      d.done = true;
    }
    if (d.done) await d.it.close();
  }

  private compare(d: Driven, got: Entry[], asked: number, call: string): void {
    const n = Math.min(asked, d.expected.length - d.at, d.limit - d.yielded);
    const where = `${call} on iterator ${JSON.stringify(describe(d.options))}`;
    if (got.length !== n) this.fail(`${where} returned ${got.length} entries, model ${n}`);
    got.forEach((e, j) => {
      const w = d.expected[d.at + j]!;
      const keyOk = d.options.keys === false ? e.key === undefined : hex(e.key) === hex(w.key);
      const valueOk = d.options.values === false ? e.value === undefined : hex(e.value) === hex(w.value);
      if (e.keyGroup !== w.keyGroup || !keyOk || !valueOk) {
        this.fail(`${where} entry ${d.at + j}: (${e.keyGroup}, ${hex(e.key)}) = ${hex(e.value)}, model (${w.keyGroup}, ${hex(w.key)}) = ${hex(w.value)}`);
      }
    });
    d.at += got.length;
    d.yielded += got.length;
  }
}

function describe(o: Driven['options']): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) out[k] = v instanceof Uint8Array ? Buffer.from(v).toString() : v;
  return out;
}
