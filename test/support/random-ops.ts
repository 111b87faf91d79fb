/**
 * Seeded model-based random operation runner, shared by the engine, remote-backend and daemon tests.
 * Applies random put/delete/merge/batch/get/multiGet/scan operations to a Store and to the Model, checks
 * every read against the model, and interleaves flushes, compactions and close/reopen; optionally state TTL
 * (random ttlMs, clock steps) and range deletes (deleteRange, deleteKeyGroups), and iterator steps. A failure names
 * the seed and the operation index, and replays exactly with FLOE_SEED=<seed>.
 */
import { Buffer } from 'node:buffer';
import type { EmbeddedStore, Store, WriteOp } from '../../lib/api.js';
import { defaultKeyGroup } from '../../lib/keys.js';
import { Random } from '../../lib/util/random.js';
import { Model, hex, type ModelTtl } from './model.js';
import { IteratorChecker } from './random-iterators.js';

export interface RandomOpsConfig {
  seed: number;
  ops: number;
  maxKeyGroups: number;
  /** Distinct user keys (small = many overwrites). */
  keySpace: number;
  maxValueBytes: number;
  open: () => Promise<Store>;
  /** Optional extra steps, each chosen with the given weight. */
  flush?: boolean;
  compact?: (store: Store) => Promise<void>;
  reopen?: boolean;
  /** Called with the model after each checkpoint-like hook; tests use it for snapshots. */
  onStep?: (store: Store, model: Model, step: number) => Promise<void>;
  /**
   * State TTL: writes get random `ttlMs` and steps advance `clock` (the store's clock). `defaultTtlMs` and
   * `update` must match the store's options.
   */
  ttl?: {
    clock: { now(): number; advance(ms: number): void };
    defaultTtlMs?: number;
    update?: 'OnCreateAndWrite' | 'OnReadAndWrite';
    /**
     * Awaited before each clock step (daemon tests): lets requests already sent but executed
     * asynchronously (an iterator's open, which judges expiry when it runs) run before time moves.
     */
    beforeAdvance?: (store: Store) => Promise<void>;
  };
  /** Range deletes (deleteRange, deleteKeyGroups); the store must own every key group. */
  rangeDeletes?: boolean;
  /** Also run iterator and snapshot steps (test/support/random-iterators.ts); the store must be embedded. */
  iterators?: boolean;
}

export class Mismatch extends Error {}

function keyOf(r: Random, keySpace: number): Uint8Array {
  const n = r.int(keySpace);
  // Shared prefixes and varied lengths exercise prefix compression and range bounds.
  const base = `k${(n % 7).toString()}/${n.toString(36)}`;
  return Buffer.from(r.bool(0.1) ? base + '/' + 'x'.repeat(r.int(40)) : base);
}

export async function runRandomOps(c: RandomOpsConfig): Promise<{ store: Store; model: Model; counts: Record<string, number> }> {
  const r = new Random(c.seed);
  const model = new Model();
  let store = await c.open();
  const counts: Record<string, number> = {};
  const count = (k: string): void => {
    counts[k] = (counts[k] ?? 0) + 1;
  };
  const fail = (i: number, what: string): never => {
    throw new Mismatch(`seed ${c.seed} op ${i}: ${what} (replay with FLOE_SEED=${c.seed})`);
  };
  const pickGroup = (key: Uint8Array): { kg: number; explicit: boolean } => {
    if (r.bool(0.5)) return { kg: r.int(c.maxKeyGroups), explicit: true };
    return { kg: defaultKeyGroup(key, c.maxKeyGroups), explicit: false };
  };
  const value = (): Uint8Array => r.bytes(r.int(c.maxValueBytes + 1));
  if (c.ttl) {
    model.now = c.ttl.clock.now();
    model.refreshOnRead = c.ttl.update === 'OnReadAndWrite';
  }
  /** A write's TTL option (none, explicit 0, or 1..3000 ms) and what the model records for it. */
  const ttlFor = (): { opt: { ttlMs?: number }; ttl: ModelTtl | undefined } => {
    if (!c.ttl) return { opt: {}, ttl: undefined };
    const pick = r.int(3);
    const ms = pick === 0 ? (c.ttl.defaultTtlMs ?? 0) : pick === 1 ? 0 : r.range(1, 3000);
    const ttl = ms > 0 ? { expiresAt: model.now + ms, ttlMs: ms } : undefined;
    return { opt: pick === 0 ? {} : { ttlMs: ms }, ttl };
  };
  let step = 0;
  const iters = c.iterators === true ? new IteratorChecker(r, c.maxKeyGroups, () => keyOf(r, c.keySpace), (what) => fail(step, what)) : undefined;
  for (let i = 0; i < c.ops; i++) {
    step = i;
    if (iters !== undefined && r.bool(0.08)) {
      count(await iters.step(store, model));
      continue;
    }
    if ((c.ttl || c.rangeDeletes) && r.bool(0.08)) {
      await extraOp();
      continue;
    }
    const p = r.next();
    const key = keyOf(r, c.keySpace);
    const { kg, explicit } = pickGroup(key);
    const opt = explicit ? { keyGroup: kg } : undefined;
    if (p < 0.3) {
      const v = value();
      const t = ttlFor();
      count('put');
      await store.put(key, v, { ...opt, ...t.opt });
      model.put(kg, key, v, t.ttl);
    } else if (p < 0.38) {
      count('delete');
      await store.delete(key, opt);
      model.delete(kg, key);
    } else if (p < 0.48) {
      const v = r.bytes(r.int(20));
      const t = ttlFor();
      count('merge');
      await store.merge(key, v, { ...opt, ...t.opt });
      model.merge(kg, key, v, t.ttl);
    } else if (p < 0.53) {
      count('batch');
      const ops: WriteOp[] = [];
      const apply: Array<() => void> = [];
      const n = r.range(1, 20);
      for (let j = 0; j < n; j++) {
        const k = keyOf(r, c.keySpace);
        const g = pickGroup(k);
        const kgOpt = g.explicit ? { keyGroup: g.kg } : {};
        const t = r.int(3);
        if (t === 0) {
          const v = value();
          const tt = ttlFor();
          ops.push({ type: 'put', key: k, value: v, ...kgOpt, ...tt.opt });
          apply.push(() => model.put(g.kg, k, v, tt.ttl));
        } else if (t === 1) {
          ops.push({ type: 'delete', key: k, ...kgOpt });
          apply.push(() => model.delete(g.kg, k));
        } else {
          const v = r.bytes(r.int(20));
          const tt = ttlFor();
          ops.push({ type: 'merge', key: k, value: v, ...kgOpt, ...tt.opt });
          apply.push(() => model.merge(g.kg, k, v, tt.ttl));
        }
      }
      await store.write(ops);
      for (const a of apply) a();
    } else if (p < 0.75) {
      count('get');
      const got = await store.get(key, opt);
      const want = model.get(kg, key);
      if (hex(got) !== hex(want)) fail(i, `get(${key}, kg ${kg}) = ${hex(got)}, model ${hex(want)}`);
    } else if (p < 0.8) {
      count('multiGet');
      const g = r.int(c.maxKeyGroups);
      const keys = Array.from({ length: r.range(1, 30) }, () => keyOf(r, c.keySpace));
      const got = await store.multiGet(keys, { keyGroup: g });
      keys.forEach((k, j) => {
        if (hex(got[j]) !== hex(model.get(g, k))) fail(i, `multiGet[${j}] ${k} kg ${g} = ${hex(got[j])}, model ${hex(model.get(g, k))}`);
      });
    } else if (p < 0.86) {
      count('scan');
      const o: { keyGroup?: number; gte?: Uint8Array; lt?: Uint8Array; prefix?: Uint8Array; limit?: number } = {};
      if (r.bool(0.7)) o.keyGroup = r.int(c.maxKeyGroups);
      const b = r.int(5);
      if (b === 1) o.gte = keyOf(r, c.keySpace);
      if (b === 2) o.lt = keyOf(r, c.keySpace);
      if (b === 3) {
        o.gte = keyOf(r, c.keySpace);
        o.lt = keyOf(r, c.keySpace);
      }
      if (b === 4) o.prefix = Buffer.from(`k${r.int(7)}`);
      if (r.bool(0.3)) o.limit = r.range(0, 50);
      const got: Array<{ keyGroup: number; key: Uint8Array; value: Uint8Array }> = [];
      for await (const e of store.scan(o)) got.push(e);
      const want = model.scan(o);
      if (got.length !== want.length) fail(i, `scan ${JSON.stringify(o)} returned ${got.length} entries, model ${want.length}`);
      got.forEach((e, j) => {
        const w = want[j]!;
        if (e.keyGroup !== w.keyGroup || hex(e.key) !== hex(w.key) || hex(e.value) !== hex(w.value)) {
          fail(i, `scan entry ${j}: (${e.keyGroup}, ${hex(e.key)}) = ${hex(e.value)}, model (${w.keyGroup}, ${hex(w.key)}) = ${hex(w.value)}`);
        }
      });
    } else if (p < 0.87 && c.flush !== false) {
      count('flush');
      await store.flush();
    } else if (p < 0.875 && c.compact) {
      count('compact');
      await c.compact(store);
    } else if (p < 0.878 && c.reopen) {
      count('reopen');
      iters?.beforeClose();
      await store.close();
      await iters?.afterClose();
      store = await c.open();
    } else if (p < 0.88 && c.onStep) {
      count('step');
      await c.onStep(store, model, i);
    } else {
      // Overwrite-heavy filler keeps the memtable turning over.
      const v = value();
      count('put');
      await store.put(key, v, opt);
      model.put(kg, key, v, c.ttl?.defaultTtlMs ? { expiresAt: model.now + c.ttl.defaultTtlMs, ttlMs: c.ttl.defaultTtlMs } : undefined);
    }
  }
  /** Time passing (TTL) and range deletes, drawn only when the config asks for them. */
  async function extraOp(): Promise<void> {
    const q = r.next();
    if (c.ttl && (q < 0.6 || !c.rangeDeletes)) {
      count('advance');
      await c.ttl.beforeAdvance?.(store);
      c.ttl.clock.advance(r.int(1500));
      model.now = c.ttl.clock.now();
    } else if (q < 0.97) {
      count('deleteRange');
      const gte = r.bool(0.8) ? keyOf(r, c.keySpace) : undefined;
      const lt = r.bool(0.8) ? keyOf(r, c.keySpace) : undefined;
      const all = r.bool(0.15);
      const kg = r.int(c.maxKeyGroups);
      await (store as EmbeddedStore).deleteRange({ ...(all ? {} : { keyGroup: kg }), ...(gte ? { gte } : {}), ...(lt ? { lt } : {}) });
      for (let g = 0; g < c.maxKeyGroups; g++) if (all || g === kg) model.deleteRange(g, gte, lt);
    } else {
      count('deleteKeyGroups');
      const first = r.int(c.maxKeyGroups);
      const last = Math.min(c.maxKeyGroups - 1, first + r.int(2));
      await (store as EmbeddedStore).deleteKeyGroups([first, last]);
      model.deleteKeyGroups(first, last);
    }
  }

  await iters?.finish();
  // Final full comparison.
  const all: Array<{ keyGroup: number; key: Uint8Array; value: Uint8Array }> = [];
  for await (const e of store.scan()) all.push(e);
  const want = model.scan({});
  if (all.length !== want.length) fail(c.ops, `final scan returned ${all.length} entries, model ${want.length}`);
  all.forEach((e, j) => {
    const w = want[j]!;
    if (e.keyGroup !== w.keyGroup || hex(e.key) !== hex(w.key) || hex(e.value) !== hex(w.value)) fail(c.ops, `final scan entry ${j} differs`);
  });
  return { store, model, counts };
}
