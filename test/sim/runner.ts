/**
 * Runs one simulation: an op list against a logical store (one or more instances over disjoint key-group
 * ranges on one mem:// primary) in a deterministic world, checking every step against the model.
 * Lifecycle operations (open, crash, restore, rescale, retire) live in ./lifecycle.ts, takeovers and
 * outages in ./takeover.ts, the file checks that follow every step in ./checks.ts.
 */
import { Buffer } from 'node:buffer';
import type { ScanEntry, ScanOptions, WriteOp } from '../../lib/api.js';
import type { LsmStore } from '../../lib/lsm/lsm-store.js';
import { defaultKeyGroup } from '../../lib/keys.js';
import { dropMemStore, openMemStore } from '../../lib/store/mem.js';
import { Random } from '../../lib/util/random.js';
import { hex } from '../support/model.js';
import { checkFiles } from './checks.js';
import { Lifecycle, type Inst, type Zombie } from './lifecycle.js';
import { fence, outage, zombieAct } from './takeover.js';
import { itemTtl, itemValue, type Op, type WriteItem } from './ops.js';
import type { SimOptions } from './options.js';
import { fingerprint, keyBytes, type Apply } from './tracked.js';
import { Violation } from './violation.js';
import { Scheduler, Stuck, type FaultConfig } from './world.js';

export interface RunConfig {
  seed: number;
  ops: Op[];
  /** Original index of each op (for messages after shrinking). */
  indices: number[];
  options: SimOptions;
  faults: FaultConfig;
  /** Names the mem store and localDir of the run (runs in a process are sequential; each drops its store). */
  runId: string;
  /** Part of a metamorphic comparison: read results must not depend on the options. */
  metamorphic: boolean;
}

export interface RunResult {
  violation: { kind: string; message: string; opIndex: number; op: string } | undefined;
  /** Every read result, in order (metamorphic runs compare these). */
  reads: string[];
  counts: Record<string, number>;
  steps: number;
}

/** An open scan kept across steps: one iterator per instance it spans, all opened at the same moment. */
interface Held {
  /** `store` is the store the iterator came from (after a takeover, the fenced writer's). */
  parts: Array<{ owner: Inst | Zombie; store: LsmStore; it: AsyncIterator<ScanEntry> }>;
  idx: number;
  want: string[];
  limit: number;
  pos: number;
  openedAt: number;
  desc: string;
}

export async function runSim(c: RunConfig): Promise<RunResult> {
  const primary = `mem://sim-${c.runId}`;
  const storeName = primary.slice('mem://'.length);
  const sched = new Scheduler(new Random(c.seed ^ 0x5c4ed));
  const raw = openMemStore(storeName, { clock: sched.clock });
  const life = new Lifecycle(sched, new Random(c.seed ^ 0x11fe), { ...c.options.store, primary, localDir: `/sim/${c.runId}/machine-0` }, c.faults, raw);
  const r = new Sim(c, sched, life);
  try {
    return await r.run();
  } finally {
    life.forgetAll();
    dropMemStore(storeName);
  }
}

class Sim {
  private readonly reads: string[] = [];
  private readonly counts: Record<string, number> = {};
  private held: Held[] = [];
  private readonly maxKg: number;
  private opIndex = -1;

  constructor(
    private readonly c: RunConfig,
    private readonly sched: Scheduler,
    private readonly life: Lifecycle,
  ) {
    this.maxKg = c.options.store.maxKeyGroups!;
  }

  async run(): Promise<RunResult> {
    const result = (violation: RunResult['violation']): RunResult => ({
      violation,
      reads: this.reads,
      counts: this.counts,
      steps: this.sched.steps,
    });
    try {
      await this.life.start(this.c.options.shards);
      for (let i = 0; i < this.c.ops.length; i++) {
        this.opIndex = i;
        const op = this.c.ops[i]!;
        this.counts[op.k] = (this.counts[op.k] ?? 0) + 1;
        await this.step(op);
        await checkFiles(this.life);
      }
      this.opIndex = this.c.ops.length;
      await this.finish();
      return result(undefined);
    } catch (e) {
      const v = e instanceof Violation ? e : e instanceof Stuck ? new Violation('hang', e.message) : new Violation('sim-error', `${(e as Error).stack ?? String(e)}`);
      const op = this.c.ops[this.opIndex];
      return result({
        kind: v.kind,
        message: v.message,
        opIndex: this.c.indices[this.opIndex] ?? this.opIndex,
        op: op !== undefined ? JSON.stringify(op) : this.opIndex < 0 ? '(opening the instances)' : '(final check)',
      });
    }
  }

  private drive<T>(p: Promise<T>, what: string): Promise<T> {
    return this.sched.drive(p, what);
  }

  private async step(op: Op): Promise<void> {
    switch (op.k) {
      case 'write':
        return this.write([op.item]);
      case 'batch':
        return this.write(op.items);
      case 'get':
        return this.get(op.ref.key, op.ref.kg);
      case 'deleteRange':
        return this.deleteRange(op);
      case 'multiGet':
        return this.multiGet(op.kg % this.maxKg, op.keys);
      case 'scan':
        return this.scan(op);
      case 'scanMore':
        return this.scanMore(op.which, op.n);
      case 'flush':
        return this.durableOp(this.life.pick(op.inst), 'flush');
      case 'compact':
        return this.durableOp(this.life.pick(op.inst), 'compact');
      case 'gc':
        return this.durableOp(this.life.pick(op.inst), 'gc');
      case 'checkpoint':
        await this.life.checkpointAll();
        return;
      case 'release':
        await this.life.release(op.which);
        return;
      case 'crash':
        this.dropHeld(this.c.metamorphic || op.inst === 'all' ? this.life.live.map((i) => i.store) : [this.life.pick(op.inst).store]);
        await this.life.crash({ ...op, restore: undefined, m: 0 });
        return;
      case 'crashRestore':
        this.dropHeld(this.life.live.map((i) => i.store));
        await this.life.crash({ inst: 'all', during: op.during, steps: op.steps, restore: op.which, m: op.m });
        return;
      case 'reopen':
        // Metamorphic runs drop every held scan: which instance a number names depends on the shard count.
        this.dropHeld(this.c.metamorphic ? this.life.live.map((i) => i.store) : [this.life.pick(op.inst).store]);
        await this.life.closeAndReopen(this.life.pick(op.inst));
        return;
      case 'rescale':
        this.dropHeld(this.life.live.map((i) => i.store));
        await this.life.rescale(op.m, op.which, op.claim);
        return;
      case 'fence':
        await fence(this.life, this.life.pick(op.inst));
        return;
      case 'retire':
        await this.life.retire(op.which);
        return;
      case 'zombie':
        return this.zombieOp(op);
      case 'outage':
        await outage(this.life, this.life.pick(op.inst), op.during, op.steps);
        return;
      case 'advance':
        this.sched.clock.advance(op.ms);
        this.life.ttlClock.advance(op.ms);
        return;
      case 'background':
        await this.sched.run(op.steps);
        return;
    }
  }

  // ------------------------------------------------------------------ writes and reads

  private kgOf(key: string, kg: number | undefined): number {
    return kg === undefined ? defaultKeyGroup(keyBytes(key), this.maxKg) : kg % this.maxKg;
  }

  private prepare(items: WriteItem[]): { ops: WriteOp[]; applies: Array<{ kg: number; apply: Apply }> } {
    const ops: WriteOp[] = [];
    const applies: Array<{ kg: number; apply: Apply }> = [];
    for (const item of items) {
      const kg = this.kgOf(item.key, item.kg);
      const key = keyBytes(item.key);
      const value = itemValue(item);
      const kgOpt = item.kg === undefined ? {} : { keyGroup: kg };
      const ttlMs = itemTtl(item);
      const ttlOpt = ttlMs === undefined ? {} : { ttlMs };
      // The expiry is fixed now: an apply may run much later, on a copy, when replaying a crash's survivors.
      const ttl = ttlMs === undefined ? undefined : { expiresAt: this.life.ttlClock.now() + ttlMs, ttlMs };
      if (item.type === 'put') ops.push({ type: 'put', key, value, ...kgOpt, ...ttlOpt });
      else if (item.type === 'delete') ops.push({ type: 'delete', key, ...kgOpt });
      else ops.push({ type: 'merge', key, value, ...kgOpt, ...ttlOpt });
      applies.push({
        kg,
        apply: (m) => (item.type === 'put' ? m.put(kg, key, value, ttl) : item.type === 'delete' ? m.delete(kg, key) : m.merge(kg, key, value, ttl)),
      });
    }
    return { ops, applies };
  }

  /** A write or batch, split by owning instance (a batch is atomic per instance, as in the sharded store). */
  private async write(items: WriteItem[]): Promise<void> {
    const { ops, applies } = this.prepare(items);
    const byInst = new Map<Inst, { ops: WriteOp[]; applies: Apply[] }>();
    ops.forEach((o, i) => {
      const inst = this.life.owner(applies[i]!.kg);
      const g = byInst.get(inst) ?? { ops: [], applies: [] };
      g.ops.push(o);
      g.applies.push(applies[i]!.apply);
      byInst.set(inst, g);
    });
    for (const [inst, g] of byInst) {
      const hadError = (inst.store as unknown as { backgroundError?: unknown }).backgroundError !== undefined;
      const single = g.ops.length === 1 && items.length === 1;
      const o = g.ops[0]!;
      const kgOpt = o.keyGroup === undefined ? {} : { keyGroup: o.keyGroup };
      const ttlOpt = o.type !== 'delete' && o.ttlMs !== undefined ? { ttlMs: o.ttlMs } : {};
      const p = single
        ? o.type === 'put'
          ? inst.store.put(o.key, o.value, { ...kgOpt, ...ttlOpt })
          : o.type === 'delete'
            ? inst.store.delete(o.key, o.keyGroup === undefined ? undefined : { keyGroup: o.keyGroup })
            : inst.store.merge(o.key, o.value, { ...kgOpt, ...ttlOpt })
        : inst.store.write(g.ops);
      try {
        await this.drive(p, `write on ${inst.instanceId}`);
      } catch (e) {
        if (e instanceof Stuck) {
          const levels = inst.store.stats().lsm.levels;
          throw new Violation('hang', `${e.message}; L0 has ${levels[0]!.files} files (l0StopWritesTrigger ${this.c.options.store.l0StopWritesTrigger}), levels ${JSON.stringify(levels.map((l) => l.files))}`);
        }
        this.life.expectable(e, inst, 'write');
        // With the WAL, a write that failed in its log upload may still be replayed after a reopen.
        if (!hadError) {
          inst.t.maybe((m) => {
            for (const a of g.applies) a(m);
          });
        }
        continue;
      }
      // One atomic step: a batch is all or nothing after a crash too.
      inst.t.ack((m) => {
        for (const a of g.applies) a(m);
      });
    }
  }

  /**
   * A range delete in one key group, or a drop of key groups kg..kg+groups-1 (up to the last group): one
   * atomic write on each instance owning part of it, so the outcome does not depend on the shard layout.
   */
  private async deleteRange(op: Extract<Op, { k: 'deleteRange' }>): Promise<void> {
    const kg = op.kg % this.maxKg;
    const parts: Array<{ inst: Inst; run: () => Promise<void>; apply: Apply }> = [];
    if (op.groups > 0) {
      const end = Math.min(kg + op.groups - 1, this.maxKg - 1);
      for (let g = kg; g <= end; ) {
        const inst = this.life.owner(g);
        const first = g;
        const last = Math.min(end, inst.range[1]);
        parts.push({ inst, run: () => inst.store.deleteKeyGroups([first, last]), apply: (m) => m.deleteKeyGroups(first, last) });
        g = last + 1;
      }
    } else {
      const inst = this.life.owner(kg);
      const gte = op.gte === undefined ? undefined : keyBytes(op.gte);
      const lt = op.lt === undefined ? undefined : keyBytes(op.lt);
      parts.push({ inst, run: () => inst.store.deleteRange({ keyGroup: kg, ...(gte ? { gte } : {}), ...(lt ? { lt } : {}) }), apply: (m) => m.deleteRange(kg, gte, lt) });
    }
    for (const { inst, run, apply } of parts) {
      const hadError = (inst.store as unknown as { backgroundError?: unknown }).backgroundError !== undefined;
      try {
        await this.drive(run(), `deleteRange on ${inst.instanceId}`);
      } catch (e) {
        if (e instanceof Stuck) throw new Violation('hang', e.message);
        this.life.expectable(e, inst, 'write');
        if (!hadError) inst.t.maybe(apply);
        continue;
      }
      inst.t.ack(apply);
    }
  }

  private async get(key: string, kgRaw: number | undefined): Promise<void> {
    const kg = this.kgOf(key, kgRaw);
    const inst = this.life.owner(kg);
    let got: Uint8Array | undefined;
    try {
      got = await this.drive(inst.store.get(key, kgRaw === undefined ? undefined : { keyGroup: kg }), 'get');
    } catch (e) {
      this.life.expectable(e, inst, 'read');
      this.reads.push('get:error');
      return;
    }
    const want = inst.t.model.get(kg, keyBytes(key));
    if (hex(got) !== hex(want)) throw new Violation('wrong-read', `get(${key}, kg ${kg}) on ${inst.instanceId} = ${hex(got)}, model ${hex(want)}`);
    this.reads.push(`get:${hex(got)}`);
  }

  private async multiGet(kg: number, keys: string[]): Promise<void> {
    const inst = this.life.owner(kg);
    let got: Array<Uint8Array | undefined>;
    try {
      got = await this.drive(inst.store.multiGet(keys, { keyGroup: kg }), 'multiGet');
    } catch (e) {
      this.life.expectable(e, inst, 'read');
      this.reads.push('multiGet:error');
      return;
    }
    keys.forEach((k, j) => {
      const want = inst.t.model.get(kg, keyBytes(k));
      if (hex(got[j]) !== hex(want)) throw new Violation('wrong-read', `multiGet[${j}] ${k} kg ${kg} = ${hex(got[j])}, model ${hex(want)}`);
    });
    this.reads.push(`multiGet:${got.map(hex).join(',')}`);
  }

  private scanOptions(op: Extract<Op, { k: 'scan' }>): ScanOptions & { gte?: Uint8Array; lt?: Uint8Array; prefix?: Uint8Array } {
    const o: ScanOptions & { gte?: Uint8Array; lt?: Uint8Array; prefix?: Uint8Array } = {};
    if (op.kg !== undefined) o.keyGroup = op.kg % this.maxKg;
    if (op.gte !== undefined) o.gte = keyBytes(op.gte);
    if (op.lt !== undefined) o.lt = keyBytes(op.lt);
    if (op.prefix !== undefined) o.prefix = keyBytes(op.prefix);
    if (op.limit !== undefined) o.limit = op.limit;
    return o;
  }

  /**
   * A scan of the logical store (the owner of one key group, or every instance in key-group order); held
   * scans stay open, partly read, across later steps while flushes, compactions and GC replace their files.
   */
  private async scan(op: Extract<Op, { k: 'scan' }>): Promise<void> {
    const o = this.scanOptions(op);
    const insts = o.keyGroup !== undefined ? [this.life.owner(o.keyGroup)] : [...this.life.live].sort((a, b) => a.range[0] - b.range[0]);
    const want = insts.flatMap((inst) => inst.t.model.scan(o).filter((e) => e.keyGroup >= inst.range[0] && e.keyGroup <= inst.range[1]));
    const limit = o.limit ?? Number.POSITIVE_INFINITY;
    const parts: Held['parts'] = [];
    for (const inst of insts) {
      try {
        parts.push({ owner: inst, store: inst.store, it: inst.store.scan(o)[Symbol.asyncIterator]() });
      } catch (e) {
        this.life.expectable(e, inst, 'read');
        return;
      }
    }
    const h: Held = {
      parts,
      idx: 0,
      want: [...fingerprintLines(want.slice(0, limit))],
      limit,
      pos: 0,
      openedAt: this.sched.clock.now(),
      desc: `scan ${JSON.stringify(op)} of ${insts.map((i) => i.instanceId).join('+')}`,
    };
    if (op.hold >= 0) {
      await this.advanceHeld(h, op.hold);
      if (h.pos >= 0) this.held.push(h);
    } else {
      await this.advanceHeld(h, Number.POSITIVE_INFINITY);
    }
  }

  private async scanMore(which: number, n: number): Promise<void> {
    if (this.held.length === 0) return;
    const h = this.held[which % this.held.length]!;
    await this.advanceHeld(h, n);
    if (h.pos < 0) this.held = this.held.filter((x) => x !== h);
  }

  /** Reads up to n more entries of a held scan and checks them; pos = -1 once finished or failed. */
  private async advanceHeld(h: Held, n: number): Promise<void> {
    const finish = (): void => {
      if (h.pos !== h.want.length) throw new Violation('wrong-read', `${h.desc} ended after ${h.pos} entries, model has ${h.want.length}`);
      this.reads.push(`scan:end@${h.pos}`);
      for (const p of h.parts.slice(h.idx)) void p.it.return?.(undefined)?.catch(() => undefined);
      h.pos = -1;
    };
    for (let i = 0; i < n; ) {
      if (h.idx >= h.parts.length || h.pos >= h.limit) return finish();
      const part = h.parts[h.idx]!;
      let next: IteratorResult<ScanEntry>;
      try {
        next = await this.drive(part.it.next(), 'scan next');
      } catch (e) {
        this.life.expectableScan(e, part.owner, h.openedAt, h.desc);
        this.reads.push(`scan:error@${h.pos}`);
        h.pos = -1;
        return;
      }
      if (next.done) {
        h.idx++;
        continue;
      }
      const line = fingerprint([next.value]);
      if (line !== h.want[h.pos]) throw new Violation('wrong-read', `${h.desc} entry ${h.pos} = ${line}, model ${h.want[h.pos] ?? '(end)'}`);
      this.reads.push(`scan:${line}`);
      h.pos++;
      i++;
    }
  }

  /** Drops held scans (their process is going away); they are closed so they release pins. */
  private dropHeld(stores: LsmStore[]): void {
    const affected = (h: Held): boolean => h.parts.some((p) => stores.includes(p.store));
    const gone = this.held.filter(affected);
    this.held = this.held.filter((h) => !affected(h));
    for (const h of gone) for (const p of h.parts) void p.it.return?.(undefined)?.catch(() => undefined);
  }

  // ------------------------------------------------------------------ background work on request

  private async durableOp(inst: Inst, what: 'flush' | 'compact' | 'gc'): Promise<void> {
    const p = what === 'flush' ? inst.store.flush() : what === 'compact' ? inst.store.compactUntilIdle() : inst.store.collectGarbage();
    const snapshot = inst.t.since.length;
    try {
      await this.drive(p, `${what} of ${inst.instanceId}`);
    } catch (e) {
      this.life.expectable(e, inst, what === 'flush' ? 'durable' : 'background');
      return;
    }
    if (what === 'flush' && snapshot === inst.t.since.length) inst.t.markDurable();
  }

  private async zombieOp(op: Extract<Op, { k: 'zombie' }>): Promise<void> {
    const z = this.life.zombie(op.which);
    if (z === undefined) return;
    await zombieAct(this.life, z, op.action, this.prepare([op.item]), this.reads);
    if (op.action === 'close') this.dropHeld([z.store]);
  }

  // ------------------------------------------------------------------ final checks

  /** Every held scan runs to its end; every instance equals its model, closes, and reopens equal. */
  private async finish(): Promise<void> {
    for (const h of this.held) await this.advanceHeld(h, Number.POSITIVE_INFINITY);
    this.held = [];
    await this.life.finalCheck();
    const none = { ops: [{ type: 'delete' as const, key: new Uint8Array([1]) }], applies: [{ kg: 0, apply: (): void => undefined }] };
    for (const z of [...this.life.zombies]) await zombieAct(this.life, z, 'close', none, []);
  }
}

function* fingerprintLines(entries: Array<{ keyGroup: number; key: Uint8Array; value: Uint8Array }>): Generator<string> {
  for (const e of entries) yield `${e.keyGroup}/${Buffer.from(e.key).toString('hex')}=${Buffer.from(e.value).toString('hex')}`;
}
