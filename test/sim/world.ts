/**
 * The deterministic world of one simulation seed: a virtual clock, a scheduler that decides when every
 * object-store call completes, and "processes" whose store wrappers can crash.
 *
 * Determinism: the engine runs on the event loop with no real timers (the Clock is injected), no worker
 * threads (compactionWorkers: 0) and no real I/O (mem:// primary, no disk cache). Every object-store call of
 * every process is parked in one queue; the scheduler completes one parked call at a time, chosen by the
 * seeded Random, after letting all microtasks settle (one setImmediate turn drains the whole microtask
 * queue). So the interleaving of foreground operations with background flush, compaction and GC is a pure
 * function of the seed.
 */
import { FloeError } from '../../lib/errors.js';
import type { Clock } from '../../lib/util/clock.js';
import type { Random } from '../../lib/util/random.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from '../../lib/store/object-store.js';
import { FaultInjectingObjectStore, type FaultRule } from '../../lib/store/faults.js';

/** Virtual time: moves only when the scheduler advances it (idle) or the workload says so. */
export class SimClock implements Clock {
  private nowMs: number;
  private timers: Array<{ at: number; order: number; resolve: () => void }> = [];
  private order = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = { at: this.nowMs + Math.max(0, ms), order: this.order++, resolve };
      this.timers.push(timer);
      signal?.addEventListener(
        'abort',
        () => {
          this.timers = this.timers.filter((t) => t !== timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  get hasTimers(): boolean {
    return this.timers.length > 0;
  }

  /** Advances to the earliest timer and wakes it (and any due at the same time). */
  fireNext(): void {
    if (this.timers.length === 0) return;
    this.timers.sort((a, b) => a.at - b.at || a.order - b.order);
    this.advance(Math.max(0, this.timers[0]!.at - this.nowMs));
  }

  /** Moves time forward and wakes every sleeper whose deadline has come, earliest first. */
  advance(ms: number): void {
    this.nowMs += ms;
    const due = this.timers.filter((t) => t.at <= this.nowMs).sort((a, b) => a.at - b.at || a.order - b.order);
    this.timers = this.timers.filter((t) => t.at > this.nowMs);
    for (const t of due) t.resolve();
  }
}

/** One parked object-store call. */
interface Parked {
  proc: Proc;
  /** Runs the call against the store below and settles the caller's promise. */
  go: () => void;
  /** The process crashed while the call was parked: `land` says whether a mutation still takes effect. */
  crash: (land: boolean) => void;
  mutation: boolean;
}

/** Thrown when an operation can never complete (nothing parked, no timer, still pending). */
export class Stuck extends Error {}

/** Lets every pending promise callback run: one macrotask turn drains the microtask queue. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class Scheduler {
  readonly clock = new SimClock();
  private parked: Parked[] = [];
  /** Completed scheduler steps (for the step budget and stats). */
  steps = 0;
  /** Processes started in this world (their names are numbered per world, so a replay names them alike). */
  procs = 0;
  /** Who deleted each object (process, virtual time): failure messages say who removed a needed file. */
  readonly deletions = new Map<string, string>();
  /** Which process wrote each manifest, epoch record and WAL segment that landed (for fencing messages). */
  readonly writers = new Map<string, string>();

  constructor(private readonly random: Random) {}

  park(p: Parked): void {
    this.parked.push(p);
  }

  get parkedCount(): number {
    return this.parked.length;
  }

  /**
   * One step: completes one parked call chosen by the seed, or, with nothing parked, fires the earliest
   * timer. Returns false when there is nothing left to do.
   */
  step(): boolean {
    if (this.parked.length > 0) {
      const i = this.random.int(this.parked.length);
      const [p] = this.parked.splice(i, 1);
      this.steps++;
      p!.go();
      return true;
    }
    if (this.clock.hasTimers) {
      this.steps++;
      this.clock.fireNext();
      return true;
    }
    return false;
  }

  /**
   * Runs the world until `p` settles. Throws Stuck if it cannot (nothing parked and no timers while `p` is
   * pending: a hang), or after `maxSteps` steps (a livelock).
   */
  async drive<T>(p: Promise<T>, what: string, maxSteps = 20_000): Promise<T> {
    let done = false;
    const watched = p.then(
      (v) => {
        done = true;
        return v;
      },
      (e: unknown) => {
        done = true;
        throw e;
      },
    );
    watched.catch(() => undefined);
    for (let n = 0; ; n++) {
      await settle();
      if (done) return watched;
      if (n >= maxSteps) throw new Stuck(`${what} did not complete within ${maxSteps} scheduler steps (livelock?)`);
      if (!this.step()) {
        await settle();
        if (done) return watched;
        throw new Stuck(`${what} never completes: nothing is in flight and no timer is set (a hang)`);
      }
    }
  }

  /** Lets background work run for up to `steps` scheduler steps. */
  async run(steps: number): Promise<void> {
    for (let i = 0; i < steps; i++) {
      await settle();
      if (!this.step()) break;
    }
    await settle();
  }

  /** Crash of `proc`: its parked calls fail now; parked mutations land first when the seed says so. */
  crash(proc: Proc, random: Random): void {
    const mine = this.parked.filter((p) => p.proc === proc);
    this.parked = this.parked.filter((p) => p.proc !== proc);
    for (const p of mine) p.crash(p.mutation && random.bool(0.5));
  }
}

/** A simulated process: every store wrapper it made fails every call once it crashed. */
export class Proc {
  readonly name: string;
  crashed = false;
  private readonly faultStores: FaultInjectingObjectStore[] = [];

  constructor(
    readonly sched: Scheduler,
    label: string,
    private readonly random: Random,
    private readonly faults: FaultConfig,
  ) {
    this.name = `${label}#${++sched.procs}`;
  }

  /** An outage of this process's view of the store: every call fails (retryably) while down. */
  setDown(down: boolean): void {
    for (const f of this.faultStores) f.setDown(down);
  }

  /** Stores this process opened: dropped without close when it crashes. */
  readonly stores: Array<{ unregisterPins?: () => void }> = [];

  /**
   * The process's memory is gone: its stores' registrations in module-level (thread-wide) state go too,
   * as they would with the process.
   */
  forgetMemory(): void {
    for (const s of this.stores.splice(0)) s.unregisterPins?.();
  }

  crashError(op: string, path: string): FloeError {
    return new FloeError('IO', `simulated crash of process ${this.name} (${op} ${path})`, { retryable: false, path });
  }

  /** Wraps a backend so its calls are scheduled by the world and die with this process. */
  wrap(inner: ObjectStore): ObjectStore {
    const { shortReadRate, metadataShortReads, plantedLostUploads, ...rates } = this.faults;
    // Short reads as rules: of SSTs at the seed's rate; of metadata (manifests, records, WAL segments) at a
    // quarter of it, or not at all (known-bugs.ts). Metadata readers re-read a short body a few times and
    // then report CORRUPTION, so at the highest rates a run of short reads would be a false alarm: 2% makes
    // four in a row a 1.6e-7 event per read.
    const short = (path: RegExp, probability: number): FaultRule => ({ ops: ['get'], path, probability, effect: 'short-read' });
    const rules: FaultRule[] = [];
    if (shortReadRate > 0) rules.push(short(/^sst\//, shortReadRate));
    if (shortReadRate > 0 && metadataShortReads) rules.push(short(/^(?!sst\/)/, shortReadRate / 4));
    const faulty = new FaultInjectingObjectStore(inner, { random: this.random.fork(), clock: this.sched.clock, timeoutMs: 500, rules, ...rates });
    this.faultStores.push(faulty);
    return new SimStore(this, faulty, plantedLostUploads ?? 0, this.random.fork());
  }
}

/** The per-process store wrapper: parks each call until the scheduler completes it. */
class SimStore implements ObjectStore {
  readonly uri: string;

  constructor(
    private readonly proc: Proc,
    private readonly inner: ObjectStore,
    private readonly lostUploads: number,
    private readonly plant: Random,
  ) {
    // One URI per process: the engine keys its thread-wide state (GC pins) by store URI, and the processes
    // of the simulation share one thread; separate processes share no memory.
    this.uri = `${inner.uri}/~${proc.name}`;
  }

  private call<T>(op: string, path: string, mutation: boolean, run: () => Promise<T>): Promise<T> {
    if (this.proc.crashed) return Promise.reject(this.proc.crashError(op, path));
    return new Promise<T>((resolve, reject) => {
      this.proc.sched.park({
        proc: this.proc,
        mutation,
        go: () => {
          if (this.proc.crashed) return reject(this.proc.crashError(op, path));
          run().then(resolve, reject);
        },
        crash: (land) => {
          // "Succeeds but reports failure": the write reaches the store, the process never learns it.
          if (land) run().catch(() => undefined);
          reject(this.proc.crashError(op, path));
        },
      });
    });
  }

  get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    return this.call('get', path, false, () => this.inner.get(path, range, options));
  }

  put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    if (this.lostUploads > 0 && path.startsWith('sst/') && this.plant.next() < this.lostUploads) {
      return this.call('put', path, true, async () => undefined);
    }
    return this.call('put', path, true, async () => {
      await this.inner.put(path, bytes, options);
      if (!path.startsWith('sst/')) this.proc.sched.writers.set(path, `written by process ${this.proc.name} at t=${this.proc.sched.clock.now()}`);
    });
  }

  putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    if (this.lostUploads > 0 && path.startsWith('sst/') && this.plant.next() < this.lostUploads) {
      return this.call('putStream', path, true, async () => {
        for await (const _chunk of chunks); // consumed, as an upload would, then dropped
      });
    }
    return this.call('putStream', path, true, () => this.inner.putStream(path, chunks, options));
  }

  head(path: string): Promise<ObjectInfo | undefined> {
    return this.call('head', path, false, () => this.inner.head(path));
  }

  list(prefix: string): Promise<ObjectInfo[]> {
    return this.call('list', prefix, false, () => this.inner.list(prefix));
  }

  delete(path: string): Promise<void> {
    return this.call('delete', path, true, () => {
      this.proc.sched.deletions.set(path, `deleted by process ${this.proc.name} at t=${this.proc.sched.clock.now()}`);
      return this.inner.delete(path);
    });
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/** Faults of one seed (rates per call; retried by the engine's retry layer above the injection). */
export interface FaultConfig {
  errorRate: number;
  timeoutRate: number;
  lostResponseRate: number;
  tornPutRate: number;
  shortReadRate: number;
  /** Short reads of manifests and checkpoint records too (else of SSTs only). */
  metadataShortReads: boolean;
  /**
   * A planted store bug, for testing the simulator itself: this share of SST uploads reports success but
   * stores nothing. A correct checker must then report lost data or missing files.
   */
  plantedLostUploads?: number;
}

export const NO_FAULTS: FaultConfig = { errorRate: 0, timeoutRate: 0, lostResponseRate: 0, tornPutRate: 0, shortReadRate: 0, metadataShortReads: false };

export function randomFaults(r: Random, metadataShortReads: boolean): FaultConfig {
  if (r.bool(0.5)) return NO_FAULTS;
  const rate = (): number => (r.bool(0.5) ? 0 : r.pick([0.01, 0.03, 0.08]));
  return { errorRate: rate(), timeoutRate: rate() / 4, lostResponseRate: rate(), tornPutRate: rate(), shortReadRate: rate(), metadataShortReads };
}
