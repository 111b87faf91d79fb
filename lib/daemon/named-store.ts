/**
 * One open named store (docs/protocol.md, "Named stores"): its parts (one Target each, in key-group order:
 * named-parts.ts), the route every keyed request takes to its part (route-keyed.ts, route-scan.ts,
 * route-handles.ts: the same code as the default store's shards, so batches, scans, snapshots, iterators
 * and range deletes across parts behave exactly as across the default store's shards), and the
 * whole-store requests (FLUSH, CHECKPOINT, STATS) over every part.
 */
import type { CheckpointHandle, StoreStats } from '../api.js';
import { decodeCheckpointRecord } from '../checkpoint/checkpoint-record.js';
import { FloeError } from '../errors.js';
import { InternalOp, Op, parseJson } from '../protocol/protocol.js';
import type { ObjectStore } from '../store/object-store.js';
import type { Clock } from '../util/clock.js';
import type { Random } from '../util/random.js';
import { combinedCheckpoint } from './checkpoint-combine.js';
import type { NamedRecord } from './named-registry.js';
import type { StoreRoute } from './route-keyed.js';
import type { LogFn, ShardBus, Target } from './shard-bus.js';
import { sumStats } from './stats-sum.js';

/** What a named store's whole-store requests need of the daemon. */
export interface NamedStoreContext {
  bus: ShardBus;
  store: ObjectStore;
  primary: string;
  clock: Clock;
  random: Random;
  log: LogFn;
}

export class NamedStore {
  /** The sessions (connections) bound to it. */
  readonly refs = new Set<object>();
  /** Set when a restore took the name over: every request of a binding to this store fails with it. */
  fenced: FloeError | undefined;
  /** CLOSE_STORE asked to drop it: retire when the last binding goes. */
  dropped = false;
  /**
   * Set when the store was lost (a part's thread died) and an open of its name has since replaced it: the
   * name's instances now belong to that open (reopened in place, or retired by a restore), so the last of
   * this store's stale bindings closes nothing and retires nothing.
   */
  superseded = false;
  readonly route: StoreRoute;
  /** Checkpoints of this store run one at a time (each holds the writes to every part while it is cut). */
  private checkpointChain: Promise<unknown> = Promise.resolve();

  constructor(
    readonly record: NamedRecord,
    /** One per part, in key-group order. */
    readonly targets: readonly Target[],
    /** Retire when unreferenced (the opener that started this instance decided). */
    readonly ephemeral: boolean,
  ) {
    const [lo, hi] = record.keyGroups;
    const describe = `named store ${JSON.stringify(record.name)}`;
    // Key group → part: one typed-array lookup (the hot path), like the default store's ShardMap.
    const partOf = new Uint16Array(hi - lo + 1);
    for (const [i, t] of targets.entries()) partOf.fill(i, t.keyGroups[0] - lo, t.keyGroups[1] - lo + 1);
    this.route = {
      maxKeyGroups: record.maxKeyGroups,
      targets,
      targetOf(kg: number, where = ''): number {
        if (kg < lo || kg > hi) {
          throw new FloeError('INVALID_ARGUMENT', `${where}key group ${kg} is outside the key groups [${lo}, ${hi}] of ${describe}; send only key groups this store owns`);
        }
        return partOf[kg - lo]!;
      },
    };
  }

  get name(): string {
    return this.record.name;
  }

  /**
   * Why the store can no longer serve, if it cannot: fenced, closed, or a part lost with its shard thread
   * (the parts live and die together: a store missing a part must be opened again, which reopens every part).
   */
  get failure(): FloeError | undefined {
    if (this.fenced !== undefined) return this.fenced;
    for (const t of this.targets) {
      const f = t.gone ?? t.shard.dead;
      if (f !== undefined) return f;
    }
    return undefined;
  }

  /** Closed, fenced, or a part's shard thread died. */
  get lost(): boolean {
    return this.failure !== undefined;
  }

  /** FLUSH of every part (each after the writes sent to it before). */
  async flush(bus: ShardBus): Promise<void> {
    await Promise.all(this.targets.map((t) => bus.call(t, Op.FLUSH)));
  }

  /** Every part's stats summed (the block cache is the daemon's one cache: counted once). */
  async stats(bus: ShardBus): Promise<StoreStats> {
    const all = (await Promise.all(this.targets.map((t) => bus.call(t, InternalOp.SHARD_STATS)))).map((p) => parseJson<StoreStats>(p, 'store stats'));
    return all.length === 1 ? all[0]! : sumStats(all, all[0]!.blockCache);
  }

  /**
   * CHECKPOINT: one handle. One part: the instance's own checkpoint (as before parts existed). Several: a
   * combined checkpoint of every part at one cut, exactly as the default store's (checkpoint-combine.ts).
   */
  checkpoint(ctx: NamedStoreContext): Promise<CheckpointHandle> {
    const run = this.checkpointChain.then(() => this.checkpointOnce(ctx));
    this.checkpointChain = run.catch(() => undefined);
    return run;
  }

  private async checkpointOnce(ctx: NamedStoreContext): Promise<CheckpointHandle> {
    const failure = this.failure;
    if (failure !== undefined) throw failure;
    if (this.targets.length === 1) {
      const rec = await ctx.bus.call(this.targets[0]!, InternalOp.SHARD_CHECKPOINT);
      return decodeCheckpointRecord(rec, `checkpoint record of ${this.name}`).handle;
    }
    const now = ctx.clock.now();
    const suffix = ctx.random.nextU32().toString(16).padStart(8, '0');
    const handle = await combinedCheckpoint({
      bus: ctx.bus,
      store: ctx.store,
      targets: this.targets,
      checkpointId: `${this.record.instanceId}-c${now.toString(36)}-${suffix}`,
      primary: ctx.primary,
      maxKeyGroups: this.record.maxKeyGroups,
      now,
      what: `part of named store ${JSON.stringify(this.name)}`,
      log: ctx.log,
    });
    ctx.log('info', 'named_store_checkpoint', { name: this.name, checkpointId: handle.checkpointId, parts: handle.instances.length });
    return handle;
  }
}
