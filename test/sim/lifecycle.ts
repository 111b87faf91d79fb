/**
 * Instances of the simulated logical store and everything that changes which processes hold them: start,
 * checkpoint and release, crash (at any await point) then reopen or restore, clean close and reopen,
 * rescale N→M by restore, retirement. Takeovers by a second writer and outages: ./takeover.ts.
 */
import type { CheckpointHandle, StoreOptions } from '../../lib/api.js';
import { readCheckpointRecord } from '../../lib/checkpoint/checkpoint-record.js';
import { restoreStore } from '../../lib/checkpoint/restore.js';
import { retireOn } from '../../lib/checkpoint/retire.js';
import { openObjectStore } from '../../lib/store/open.js';
import { emptyInstanceState, openLsmStore, type OpenInternals } from '../../lib/embedded.js';
import { type FloeError, isFloeError } from '../../lib/errors.js';
import type { LsmStore } from '../../lib/lsm/lsm-store.js';
import type { MemObjectStore } from '../../lib/store/mem.js';
import { checkpointPath } from '../../lib/store/paths.js';
import { Random } from '../../lib/util/random.js';
import { Model } from '../support/model.js';
import { SimDisk } from './disk.js';
import type { CrashDuring } from './ops.js';
import { Violation } from './violation.js';
import { TtlClock } from '../support/manual-clock.js';
import { Tracked, clipModel, describeDiff, fingerprint, modelFingerprint, unionModels, type Apply } from './tracked.js';
import { Proc, type Scheduler, Stuck, type FaultConfig } from './world.js';

export interface Inst {
  instanceId: string;
  range: [number, number];
  proc: Proc;
  store: LsmStore;
  t: Tracked;
  /** A durable operation failed (sticky background error): writes may fail until reopened. */
  broken: boolean;
  /** Local folder of the machine its writer runs on (disk cache). */
  localDir: string;
}

/** A writer that another writer took over: fenced, but it does not know yet. */
export interface Zombie {
  zombie: true;
  instanceId: string;
  proc: Proc;
  store: LsmStore;
  model: Model;
  /** Writes it acknowledged that the new owner does not have: it must never report them durable. */
  unsafe: number;
}

export interface Retained {
  handles: CheckpointHandle[];
  model: Model;
  files: string[];
}

export class Lifecycle {
  live: Inst[] = [];
  zombies: Zombie[] = [];
  retained: Retained[] = [];
  /** The local disk of every simulated machine (machines differ by localDir). */
  readonly disk = new SimDisk();
  /** Instances created so far in this world (names them). */
  private instances = 0;
  /** Machines (localDirs) handed out so far; machine-0 is the default. */
  machines = 0;
  /** Instances replaced by a rescale or restore: no process uses them; they may be retired. */
  replaced: string[] = [];
  readonly maxKg: number;
  /**
   * State-TTL time: moves only with 'advance' ops, so expiry is exact between ops (the world's clock also
   * moves inside ops, in retries and timeouts, which would leave a write's expiry unknown to the model).
   */
  readonly ttlClock = new TtlClock(1_000_000);

  constructor(
    readonly sched: Scheduler,
    readonly random: Random,
    readonly base: StoreOptions,
    private readonly faults: FaultConfig,
    readonly raw: MemObjectStore,
  ) {
    this.maxKg = base.maxKeyGroups!;
  }

  /** Runs the world until `p` settles (helpers below are shared with ./takeover.ts). */
  drive<T>(p: Promise<T>, what: string): Promise<T> {
    return this.sched.drive(p, what);
  }

  /** Durability 'wal': every acknowledged write is durable. */
  get wal(): boolean {
    return this.base.durability === 'wal';
  }

  /** An empty model judged at the TTL clock's time. */
  newModel(): Model {
    const m = new Model();
    m.timeSource = () => this.ttlClock.now();
    return m;
  }

  internals(proc: Proc): OpenInternals {
    return { clock: this.sched.clock, ttlClock: this.ttlClock, random: new Random(this.random.nextU32()), inject: (b) => proc.wrap(b), localFs: this.disk.viewFor(() => !proc.crashed) };
  }

  private readonly procs: Proc[] = [];

  newProc(label: string): Proc {
    const proc = new Proc(this.sched, label, this.random.fork(), this.faults);
    this.procs.push(proc);
    return proc;
  }

  /** Registers a store its process opened (so a crash can drop its thread-wide registrations). */
  owned<T extends LsmStore>(proc: Proc, store: T): T {
    proc.stores.push(store as unknown as { unregisterPins?: () => void });
    return store;
  }

  /** End of run: every process's memory goes (stores that were never closed included). */
  forgetAll(): void {
    for (const p of this.procs) p.forgetMemory();
  }

  pick(i: number): Inst {
    return this.live[i % this.live.length]!;
  }

  owner(kg: number): Inst {
    const inst = this.live.find((x) => kg >= x.range[0] && kg <= x.range[1]);
    if (inst === undefined) throw new Violation('sim-error', `no instance owns key group ${kg}`);
    return inst;
  }

  zombie(i: number): Zombie | undefined {
    return this.zombies.length === 0 ? undefined : this.zombies[i % this.zombies.length];
  }

  /** Splits [0, maxKg) into m contiguous ranges. */
  ranges(m: number): Array<[number, number]> {
    const n = Math.min(m, this.maxKg);
    return Array.from({ length: n }, (_, i) => [Math.floor((i * this.maxKg) / n), Math.floor(((i + 1) * this.maxKg) / n) - 1] as [number, number]);
  }

  async start(shards: number): Promise<void> {
    for (const range of this.ranges(shards)) {
      const instanceId = `s${++this.instances}`;
      let proc = this.newProc(instanceId);
      let store: LsmStore | undefined;
      for (let attempt = 0; store === undefined; attempt++) {
        try {
          store = this.owned(
            proc,
            await this.drive(
              openLsmStore({ ...this.base, instanceId }, { ...this.internals(proc), initialState: (o) => emptyInstanceState(o, range) }),
              `open ${instanceId}`,
            ),
          );
        } catch (e) {
          if (attempt >= 3 || !isFloeError(e, 'IO')) this.expectable(e, undefined, 'background');
          if (attempt >= 3) throw new Violation('reopen-failed', `open of ${instanceId} failed 4 times: ${(e as Error).message}`);
          proc = this.newProc(instanceId);
        }
      }
      this.live.push({ instanceId, range, proc, store, t: new Tracked(this.newModel(), this.wal), broken: false, localDir: this.base.localDir! });
    }
  }

  /**
   * Accepts the errors a correct engine may give (IO from faults, outages and crashes; the sticky error
   * they leave) and turns any other into a Violation.
   */
  expectable(e: unknown, inst: Inst | undefined, kind: 'write' | 'read' | 'durable' | 'background'): void {
    if (e instanceof Violation || e instanceof Stuck) throw e;
    if (!isFloeError(e)) throw new Violation('engine-error', `${kind} failed with a non-Floe error: ${(e as Error).stack ?? String(e)}`);
    if (e.code === 'IO') {
      if (inst !== undefined && kind !== 'read') inst.broken = true;
      return;
    }
    if (e.code === 'NOT_FOUND') throw new Violation('missing-file', `${kind} on ${inst?.instanceId ?? '?'} hit a deleted file: ${e.message}${this.whoDeleted(e)}`);
    if (e.code === 'CORRUPTION') throw new Violation('corruption', `${kind} on ${inst?.instanceId ?? '?'}: ${e.message}${this.whoDeleted(e)}`);
    if (e.code === 'FENCED') throw new Violation('unexpected-fenced', `${kind} on ${inst?.instanceId ?? '?'} (process ${inst?.proc.name ?? '?'}; no other writer owns it): ${e.message}${this.whoWrote(e)}`);
    throw new Violation('engine-error', `${kind} on ${inst?.instanceId ?? '?'} failed with ${e.code}: ${e.message}`);
  }

  /** ' (… was written by …)' for an error that names an object (e.g. the manifest that fenced a writer). */
  whoWrote(e: FloeError): string {
    const id = /instance ([A-Za-z0-9_-]+)/.exec(e.message)?.[1];
    if (id === undefined) return '';
    const mine = [...this.sched.writers].filter(([p]) => p.startsWith(`instances/${id}/`)).map(([p, w]) => `${p.slice(`instances/${id}/`.length)} ${w}`);
    return mine.length === 0 ? '' : ` [objects of ${id}: ${mine.join('; ')}]`;
  }

  /** ' (deleted by …)' for an error about an object the world saw deleted. */
  whoDeleted(e: FloeError): string {
    const path = e.path ?? /\b(sst\/[^\s]+\.sst|checkpoints\/[^\s]+\.json|instances\/[^\s]+)/.exec(e.message)?.[1];
    const who = path === undefined ? undefined : this.sched.deletions.get(path);
    return who === undefined ? '' : ` (${path} was ${who})`;
  }

  /**
   * An error of an open scan: a file it needs may only be gone if the scan is older than the GC grace
   * period and the reader lives in another process than the collector (the grace period is what protects
   * readers of replaced versions there).
   */
  expectableScan(e: unknown, owner: Inst | Zombie, openedAt: number, desc: string): void {
    const age = this.sched.clock.now() - openedAt;
    if (isFloeError(e) && (e.code === 'NOT_FOUND' || e.code === 'CORRUPTION') && age >= this.base.gcGraceMs!) return;
    if (isFloeError(e) && (e.code === 'NOT_FOUND' || e.code === 'CORRUPTION')) {
      throw new Violation('reader-file-deleted', `${desc}, open for ${age} ms (grace ${this.base.gcGraceMs} ms), failed: ${e.message}${this.whoDeleted(e)}`);
    }
    this.expectable(e, 'zombie' in owner ? undefined : owner, 'read');
  }

  /** Full contents of a store, read through its own scan (again after a transient IO failure). */
  async dump(store: LsmStore, what: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      try {
        const it = store.scan()[Symbol.asyncIterator]();
        const entries = [];
        for (;;) {
          const n = await this.drive(it.next(), `${what}: full scan`);
          if (n.done) break;
          entries.push(n.value);
        }
        return fingerprint(entries);
      } catch (e) {
        this.expectable(e, undefined, 'read');
        if (attempt >= 3) throw new Violation('read-failed', `${what}: full scan failed 4 times: ${(e as Error).message}`);
      }
    }
  }

  // ------------------------------------------------------------------ checkpoints

  /** Checkpoints every instance; retains the set if all succeed. */
  async checkpointAll(): Promise<Retained | undefined> {
    const handles: CheckpointHandle[] = [];
    const models: Model[] = [];
    for (const inst of this.live) {
      const before = inst.t.since.length;
      try {
        handles.push(await this.drive(inst.store.checkpoint(), `checkpoint of ${inst.instanceId}`));
      } catch (e) {
        this.expectable(e, inst, 'durable');
        return undefined;
      }
      if (before === inst.t.since.length) inst.t.markDurable();
      models.push(inst.t.model.clone());
    }
    const files: string[] = [];
    for (const h of handles) files.push(...(await readCheckpointRecord(this.raw, checkpointPath(h.checkpointId))).files);
    const ck: Retained = { handles, model: unionModels(this.newModel(), models), files };
    this.retained.push(ck);
    return ck;
  }

  async release(which: number): Promise<void> {
    if (this.retained.length === 0) return;
    const [ck] = this.retained.splice(which % this.retained.length, 1);
    for (const h of ck!.handles) {
      try {
        await this.drive(this.live[0]!.store.releaseCheckpoint(h), 'releaseCheckpoint');
      } catch (e) {
        this.expectable(e, undefined, 'background');
      }
    }
  }

  // ------------------------------------------------------------------ crash, close, reopen

  /** Starts `during`, lets the world run `steps` steps, then crashes the targets and brings them back. */
  async crash(op: { inst: number | 'all'; during: CrashDuring; steps: number; restore: number | undefined; m: number }): Promise<void> {
    const targets = op.inst === 'all' ? [...this.live] : [this.pick(op.inst)];
    const first = targets[0]!;
    let crashed = false;
    const before = first.t.since.length;
    const hadError = (first.store as unknown as { backgroundError?: unknown }).backgroundError !== undefined;
    let resolvedDurable = false;
    let ackedBeforeCrash = false;
    const started = this.startDuring(first, op.during);
    started.p.then(
      () => {
        if (crashed) return;
        ackedBeforeCrash = true;
        if (started.ack) first.t.ack(started.ack);
        else if (started.durable && before === first.t.since.length) {
          first.t.markDurable();
          resolvedDurable = true;
        }
      },
      () => undefined,
    );
    await this.sched.run(op.steps);
    crashed = true;
    // A write still in flight may have reached the write-ahead log.
    if (started.ack && !ackedBeforeCrash) first.t.maybe(started.ack);
    for (const t of targets) {
      t.proc.crashed = true;
      this.sched.crash(t.proc, this.random);
      t.proc.forgetMemory();
    }
    await this.sched.run(0);
    if (op.inst === 'all' && op.restore !== undefined && this.retained.length > 0) {
      this.replaced.push(...this.live.map((i) => i.instanceId));
      this.live = [];
      await this.restoreInto(this.retained[op.restore % this.retained.length]!, op.m, false);
      return;
    }
    for (const t of targets) {
      const ctx = t === first && resolvedDurable ? `after ${op.during}() resolved${hadError ? ' despite a sticky background error' : ''} and a crash` : 'after a crash';
      await this.reopen(t, ctx);
    }
  }

  private startDuring(inst: Inst, during: CrashDuring): { p: Promise<unknown>; durable: boolean; ack?: Apply } {
    const s = inst.store;
    const kg = inst.range[0];
    const key = new TextEncoder().encode('k0/crash');
    const value = new TextEncoder().encode(`v${this.sched.steps}`);
    const guard = (f: () => Promise<unknown>): Promise<unknown> => {
      try {
        return f();
      } catch (e) {
        return Promise.reject(e);
      }
    };
    switch (during) {
      case 'idle':
        return { p: Promise.resolve(), durable: false };
      case 'flush':
        return { p: guard(() => s.flush()), durable: true };
      case 'checkpoint':
        return { p: guard(() => s.checkpoint()), durable: true };
      case 'close':
        return { p: guard(() => s.close()), durable: true };
      case 'compact':
        return { p: guard(() => s.compactUntilIdle()), durable: false };
      case 'gc':
        return { p: guard(() => s.collectGarbage()), durable: false };
      case 'write':
        return { p: guard(() => s.put(key, value, { keyGroup: kg })), durable: false, ack: (m) => m.put(kg, key, value) };
    }
  }

  /**
   * Opens `inst` again in a new process; its state must be the durable state plus a prefix of the rest.
   * Returns the length of that prefix.
   */
  async reopen(inst: Inst, context: string): Promise<number> {
    const proc = this.newProc(inst.instanceId);
    let store: LsmStore | undefined;
    for (let attempt = 0; store === undefined; attempt++) {
      try {
        store = this.owned(proc, await this.drive(openLsmStore({ ...this.base, localDir: inst.localDir, instanceId: inst.instanceId }, this.internals(proc)), `reopen ${inst.instanceId}`));
      } catch (e) {
        if (attempt >= 3 || !isFloeError(e, 'IO')) this.expectable(e, undefined, 'background');
        if (attempt >= 3) throw new Violation('reopen-failed', `reopen of ${inst.instanceId} failed 4 times: ${(e as Error).message}`);
      }
    }
    const observed = await this.dump(store, `reopen ${inst.instanceId}`);
    const j = inst.t.matchPrefix(observed);
    if (j === undefined) {
      throw new Violation(
        context.includes('despite') ? 'close-after-error-resolved' : context.includes('resolved') ? 'lost-after-close' : 'lost-durable',
        `${inst.instanceId} reopened ${context} does not hold a prefix of its acknowledged writes that includes every durable one ` +
          `(${inst.t.since.length} writes since the last durable point): ${describeDiff(observed, modelFingerprint(inst.t.durable))}`,
      );
    }
    inst.t.adoptPrefix(j);
    inst.proc = proc;
    inst.store = store;
    inst.broken = false;
    return j;
  }

  /** Clean close: if close() resolves, everything acknowledged must be there after reopen. */
  async closeAndReopen(inst: Inst): Promise<void> {
    const before = inst.t.since.length;
    const hadError = (inst.store as unknown as { backgroundError?: unknown }).backgroundError !== undefined;
    let resolved = false;
    try {
      await this.drive(inst.store.close(), `close ${inst.instanceId}`);
      resolved = true;
    } catch (e) {
      this.expectable(e, inst, 'durable');
    }
    if (resolved && before === inst.t.since.length) inst.t.markDurable();
    await this.reopen(inst, resolved ? (hadError ? 'after close() resolved despite a sticky background error' : 'after close() resolved') : 'after close() failed');
  }

  // ------------------------------------------------------------------ restore and rescale

  /** Restores checkpoint `ck` into m new instances; each must equal the checkpoint's model, clipped. */
  async restoreInto(ck: Retained, m: number, claim: boolean): Promise<void> {
    const mode = claim && m === 1 ? 'claim' : 'no-claim';
    for (const range of this.ranges(m)) {
      let store: LsmStore | undefined;
      let instanceId = '';
      let proc: Proc | undefined;
      for (let attempt = 0; store === undefined; attempt++) {
        instanceId = `r${++this.instances}`;
        proc = this.newProc(instanceId);
        try {
          store = this.owned(proc, await this.drive(restoreStore({ ...this.base, instanceId }, ck.handles, { keyGroups: range, mode }, this.internals(proc)), `restore ${instanceId}`));
        } catch (e) {
          if (attempt >= 3 || !isFloeError(e, 'IO')) this.expectable(e, undefined, 'background');
          if (attempt >= 3) throw new Violation('restore-failed', `restore of ${instanceId} failed 4 times: ${(e as Error).message}`);
        }
      }
      const observed = await this.dump(store, `restored ${instanceId}`);
      const want = modelFingerprint(ck.model, range);
      if (observed !== want) {
        throw new Violation('restore-mismatch', `${instanceId} restored [${range}] from ${ck.handles.length} handle(s) differs from the checkpoint: ${describeDiff(observed, want)}`);
      }
      this.live.push({ instanceId, range, proc: proc!, store, t: new Tracked(clipModel(ck.model, range), this.wal), broken: false, localDir: this.base.localDir! });
    }
    if (mode === 'claim') this.retained = this.retained.filter((x) => x !== ck);
  }

  /** Closes every instance and restores a checkpoint (a new one of the current state, or a retained one) into m. */
  async rescale(m: number, which: number | undefined, claim: boolean): Promise<void> {
    const ck = which === undefined ? await this.checkpointAll() : this.retained[which % Math.max(1, this.retained.length)];
    if (ck === undefined) return;
    for (const inst of this.live) {
      try {
        await this.drive(inst.store.close(), `close ${inst.instanceId} for rescale`);
      } catch (e) {
        this.expectable(e, inst, 'durable');
      }
    }
    this.replaced.push(...this.live.map((i) => i.instanceId));
    this.live = [];
    await this.restoreInto(ck, m, claim && this.faultsOff());
  }

  private faultsOff(): boolean {
    return Object.values(this.faults).every((v) => v === 0);
  }

  /**
   * Retires an instance that a rescale or restore replaced. Its files stay wherever a live instance or a
   * retained checkpoint still references them (the file check after every step verifies that).
   */
  async retire(which: number): Promise<void> {
    if (this.replaced.length === 0) return;
    const [instanceId] = this.replaced.splice(which % this.replaced.length, 1);
    const proc = this.newProc(`retire-${instanceId}`);
    const { store } = await openObjectStore(this.base.primary, { clock: this.sched.clock, random: this.random.fork(), inject: (b) => proc.wrap(b) });
    try {
      await this.drive(retireOn(store, instanceId!, this.sched.clock, this.random.fork()), `retire ${instanceId}`);
    } catch (e) {
      // Claiming restores retire their sources themselves; an instance GC removed entirely is gone.
      if (!isFloeError(e, 'INVALID_ARGUMENT')) this.expectable(e, undefined, 'background');
    } finally {
      await store.close();
    }
  }

  // ------------------------------------------------------------------ end of run

  /** Every instance equals its model, closes (durably, unless broken), and reopens equal. */
  async finalCheck(): Promise<void> {
    for (const inst of this.live) {
      const observed = await this.dump(inst.store, `final scan of ${inst.instanceId}`);
      const want = modelFingerprint(inst.t.model);
      if (observed !== want) throw new Violation('wrong-read', `final scan of ${inst.instanceId}: ${describeDiff(observed, want)}`);
      await this.closeAndReopen(inst);
      await this.drive(inst.store.close(), `final close of ${inst.instanceId}`);
    }
  }
}

