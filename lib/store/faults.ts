/**
 * `FaultInjectingObjectStore`: a seeded wrapper for tests, simulations and benchmarks that adds latency and
 * failures to any object store.
 *
 * - Latency per operation: fixed, uniform in a range, or log-normal given by its median and p99. It waits on
 *   the injected Clock's `sleep`, so it costs no CPU and concurrent calls overlap: C calls in flight against a
 *   10 ms store finish in about 10 ms, which is how benchmarks model a remote store.
 * - Random faults by rate: `error` (fail before reaching the store), `timeout` (hang, then fail; not applied),
 *   `lost-response` (applied, then fail: the ambiguous outcome a retry layer must handle), `torn-put` (a put
 *   consumes part of its data and fails; nothing becomes visible, because objects stay atomic), `short-read`
 *   (a get returns a prefix of the bytes asked for).
 * - Rules, checked in order before the random rates: match by operation and path RegExp, fire on the nth
 *   matching call, a limited number of times, or with a probability; throw a chosen error instead of the
 *   default retryable IO.
 * - `setDown(true)` fails every call (retryable IO) until `setDown(false)`.
 *
 * Determinism: every call draws the same number of values from the seeded Random, in call order, whatever
 * happens to it; the same seed and the same sequence of calls give the same latencies and faults.
 * Injected failures are `FloeError('IO', …, { retryable: true })` unless a rule says otherwise.
 */
import { FloeError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { Random, seedFromEnv } from '../util/random.js';
import type { GetOptions, GetRange, ObjectInfo, ObjectStore, PutOptions } from './object-store.js';
import { throwIfAborted } from './validate.js';

export type FaultOp = 'get' | 'put' | 'putStream' | 'head' | 'list' | 'delete';

/** Milliseconds: a number (fixed), a uniform range, or a log-normal distribution. */
export type LatencySpec = number | { minMs: number; maxMs: number } | { medianMs: number; p99Ms: number };

export type FaultEffect = 'error' | 'timeout' | 'lost-response' | 'torn-put' | 'short-read';

export interface FaultRule {
  /** Operations the rule applies to (default: all). */
  ops?: readonly FaultOp[];
  /** Paths (or list prefixes) the rule applies to (default: all). */
  path?: RegExp;
  /** Fire on the nth matching call only (1-based). */
  nth?: number;
  /** Fire at most this many times (default: unlimited). */
  times?: number;
  /** Probability that a matching call fires (default 1). */
  probability?: number;
  /** What happens (default 'error'). 'torn-put' on a non-put and 'short-read' on a non-get act as 'error'. */
  effect?: FaultEffect;
  /** Error to throw instead of the default retryable IO (for 'error', 'timeout', 'lost-response'). */
  error?: () => Error;
}

export interface FaultOptions {
  /** Seed of the fault and latency decisions (default FLOE_SEED or the clock). Ignored when `random` is given. */
  seed?: number;
  random?: Random;
  clock?: Clock;
  /** Latency of every operation (default none). */
  latency?: LatencySpec;
  /** Per-operation latency, overriding `latency`. */
  opLatency?: Partial<Record<FaultOp, LatencySpec>>;
  /** Probability of each random fault per call (defaults 0). */
  errorRate?: number;
  timeoutRate?: number;
  lostResponseRate?: number;
  tornPutRate?: number;
  shortReadRate?: number;
  /** How long a timeout hangs before failing (default 1000 ms). */
  timeoutMs?: number;
  /** Operations subject to the random rates (default all). Rules have their own `ops`. */
  faultOps?: readonly FaultOp[];
  rules?: readonly FaultRule[];
}

/** How many faults were injected, by kind. */
export interface InjectedCounts {
  error: number;
  timeout: number;
  'lost-response': number;
  'torn-put': number;
  'short-read': number;
  down: number;
}

const Z_99 = 2.3263478740408408; // standard normal quantile of 0.99

/** Draws one latency from `spec` using two uniforms in [0, 1). */
export function sampleLatency(spec: LatencySpec, u1: number, u2: number): number {
  if (typeof spec === 'number') return spec;
  if ('minMs' in spec) return spec.minMs + u1 * (spec.maxMs - spec.minMs);
  // Log-normal: ln(X) ~ N(mu, sigma) with median e^mu and p99 e^(mu + Z_99·sigma). Box-Muller for the normal.
  const mu = Math.log(spec.medianMs);
  const sigma = Math.log(spec.p99Ms / spec.medianMs) / Z_99;
  const z = Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
  return Math.exp(mu + sigma * z);
}

function checkLatency(spec: LatencySpec | undefined, what: string): void {
  if (spec === undefined) return;
  const ok =
    typeof spec === 'number'
      ? spec >= 0
      : 'minMs' in spec
        ? spec.minMs >= 0 && spec.maxMs >= spec.minMs
        : spec.medianMs > 0 && spec.p99Ms >= spec.medianMs;
  if (!ok) {
    throw new FloeError(
      'CONFIG',
      `${what} ${JSON.stringify(spec)} is not valid: use ms >= 0, {minMs <= maxMs}, or {medianMs > 0, p99Ms >= medianMs}`,
    );
  }
}

interface RuleState {
  rule: FaultRule;
  matched: number;
  fired: number;
  /** The rule's own stream for `probability`, so rules do not shift the per-call draws. */
  random: Random;
}

/** The uniforms drawn for one call, always all of them, so decisions do not shift with outcomes. */
interface Draws {
  latency1: number;
  latency2: number;
  fault: number;
  extent: number;
}

export class FaultInjectingObjectStore implements ObjectStore {
  readonly uri: string;
  readonly seed: number;
  private readonly inner: ObjectStore;
  private readonly random: Random;
  private readonly clock: Clock;
  private readonly options: FaultOptions;
  private readonly timeoutMs: number;
  private readonly faultOps: ReadonlySet<FaultOp>;
  private rules: RuleState[];
  private down = false;
  private readonly counts: InjectedCounts = { error: 0, timeout: 0, 'lost-response': 0, 'torn-put': 0, 'short-read': 0, down: 0 };

  constructor(inner: ObjectStore, options: FaultOptions = {}) {
    this.inner = inner;
    this.uri = inner.uri;
    this.random = options.random ?? new Random(options.seed ?? seedFromEnv());
    this.seed = this.random.seed;
    this.clock = options.clock ?? systemClock;
    this.options = options;
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.faultOps = new Set(options.faultOps ?? ['get', 'put', 'putStream', 'head', 'list', 'delete']);
    checkLatency(options.latency, 'latency');
    for (const [op, spec] of Object.entries(options.opLatency ?? {})) checkLatency(spec, `latency of ${op}`);
    for (const [name, rate] of Object.entries({
      errorRate: options.errorRate,
      timeoutRate: options.timeoutRate,
      lostResponseRate: options.lostResponseRate,
      tornPutRate: options.tornPutRate,
      shortReadRate: options.shortReadRate,
    })) {
      if (rate !== undefined && !(rate >= 0 && rate <= 1)) throw new FloeError('CONFIG', `${name} must be in [0, 1], got ${rate}`);
    }
    this.rules = (options.rules ?? []).map((rule) => this.ruleState(rule));
  }

  /** While down, every call fails with a retryable IO error (after its latency). */
  setDown(down: boolean): void {
    this.down = down;
  }

  get isDown(): boolean {
    return this.down;
  }

  /** Adds a rule after the existing ones; returns a function that removes it. */
  addRule(rule: FaultRule): () => void {
    const state = this.ruleState(rule);
    this.rules.push(state);
    return () => {
      this.rules = this.rules.filter((s) => s !== state);
    };
  }

  private ruleState(rule: FaultRule): RuleState {
    if (rule.nth !== undefined && !(Number.isInteger(rule.nth) && rule.nth >= 1)) {
      throw new FloeError('CONFIG', `fault rule nth must be an integer >= 1, got ${rule.nth}`);
    }
    return { rule, matched: 0, fired: 0, random: this.random.fork() };
  }

  clearRules(): void {
    this.rules = [];
  }

  /** Faults injected so far, by kind (a copy). */
  injected(): InjectedCounts {
    return { ...this.counts };
  }

  async get(path: string, range?: GetRange, options?: GetOptions): Promise<Uint8Array> {
    const { effect, draws, error } = await this.prepare('get', path, options?.signal);
    if (effect === 'short-read') {
      const bytes = await this.inner.get(path, range, options);
      this.counts['short-read']++;
      return bytes.length === 0 ? bytes : bytes.subarray(0, Math.floor(draws.extent * bytes.length));
    }
    return this.finish('get', path, effect, error, options?.signal, () => this.inner.get(path, range, options));
  }

  async put(path: string, bytes: Uint8Array, options?: PutOptions): Promise<void> {
    const { effect, error } = await this.prepare('put', path, options?.signal);
    if (effect === 'torn-put') {
      // The upload broke off part-way; objects are atomic, so nothing reaches the store.
      this.counts['torn-put']++;
      throw this.injectedError('torn upload', 'put', path);
    }
    return this.finish('put', path, effect, error, options?.signal, () => this.inner.put(path, bytes, options));
  }

  async putStream(path: string, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: PutOptions): Promise<void> {
    const { effect, draws, error } = await this.prepare('putStream', path, options?.signal);
    if (effect === 'torn-put') {
      // Consume a part of the caller's chunks, as an upload that broke off would, then fail; nothing visible.
      const chunkLimit = Math.floor(draws.extent * 8);
      let taken = 0;
      for await (const _chunk of chunks) {
        if (++taken > chunkLimit) break;
      }
      this.counts['torn-put']++;
      throw this.injectedError('torn upload', 'putStream', path);
    }
    return this.finish('putStream', path, effect, error, options?.signal, () => this.inner.putStream(path, chunks, options));
  }

  async head(path: string): Promise<ObjectInfo | undefined> {
    const { effect, error } = await this.prepare('head', path, undefined);
    return this.finish('head', path, effect, error, undefined, () => this.inner.head(path));
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const { effect, error } = await this.prepare('list', prefix, undefined);
    return this.finish('list', prefix, effect, error, undefined, () => this.inner.list(prefix));
  }

  async delete(path: string): Promise<void> {
    const { effect, error } = await this.prepare('delete', path, undefined);
    return this.finish('delete', path, effect, error, undefined, () => this.inner.delete(path));
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** Draws this call's randomness, picks its fault, waits its latency, and fails it if the store is down. */
  private async prepare(
    op: FaultOp,
    path: string,
    signal: AbortSignal | undefined,
  ): Promise<{ effect: FaultEffect | undefined; draws: Draws; error: (() => Error) | undefined }> {
    throwIfAborted(signal);
    const r = this.random;
    const draws: Draws = { latency1: r.next(), latency2: r.next(), fault: r.next(), extent: r.next() };
    const { effect, error } = this.pickFault(op, path, draws.fault);
    const spec = this.options.opLatency?.[op] ?? this.options.latency;
    if (spec !== undefined) {
      const ms = sampleLatency(spec, draws.latency1, draws.latency2);
      if (ms > 0) await this.clock.sleep(ms, signal);
    }
    if (this.down) {
      this.counts.down++;
      throw this.injectedError('store is down', op, path);
    }
    return { effect, draws, error };
  }

  private pickFault(op: FaultOp, path: string, u: number): { effect: FaultEffect | undefined; error: (() => Error) | undefined } {
    for (const state of this.rules) {
      const { rule } = state;
      if (rule.ops !== undefined && !rule.ops.includes(op)) continue;
      if (rule.path !== undefined && !rule.path.test(path)) continue;
      state.matched++;
      if (rule.nth !== undefined && state.matched !== rule.nth) continue;
      if (rule.times !== undefined && state.fired >= rule.times) continue;
      if (rule.probability !== undefined && !(state.random.next() < rule.probability)) continue;
      state.fired++;
      return { effect: applicable(rule.effect ?? 'error', op), error: rule.error };
    }
    if (!this.faultOps.has(op)) return { effect: undefined, error: undefined };
    const o = this.options;
    const candidates: Array<[FaultEffect, number | undefined]> = [
      ['error', o.errorRate],
      ['timeout', o.timeoutRate],
      ['lost-response', o.lostResponseRate],
      ['torn-put', op === 'put' || op === 'putStream' ? o.tornPutRate : 0],
      ['short-read', op === 'get' ? o.shortReadRate : 0],
    ];
    let threshold = 0;
    for (const [effect, rate] of candidates) {
      threshold += rate ?? 0;
      if (u < threshold) return { effect, error: undefined };
    }
    return { effect: undefined, error: undefined };
  }

  /** Runs the call under `effect` ('error', 'timeout', 'lost-response' or none). */
  private async finish<T>(
    op: FaultOp,
    path: string,
    effect: FaultEffect | undefined,
    error: (() => Error) | undefined,
    signal: AbortSignal | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    switch (effect) {
      case undefined:
        return call();
      case 'timeout':
        await this.clock.sleep(this.timeoutMs, signal);
        this.counts.timeout++;
        throw error?.() ?? this.injectedError(`timed out after ${this.timeoutMs} ms`, op, path);
      case 'lost-response':
        await call();
        this.counts['lost-response']++;
        throw error?.() ?? this.injectedError('response lost (the operation was applied)', op, path);
      default:
        this.counts.error++;
        throw error?.() ?? this.injectedError('error', op, path);
    }
  }

  private injectedError(what: string, op: FaultOp, path: string): FloeError {
    return new FloeError('IO', `injected fault: ${what} on ${op} ${path} in ${this.uri} (fault injection, seed ${this.seed})`, {
      retryable: true,
      path,
    });
  }
}

/** 'torn-put' only applies to puts and 'short-read' only to gets; elsewhere they act as 'error'. */
function applicable(effect: FaultEffect, op: FaultOp): FaultEffect {
  if (effect === 'torn-put' && op !== 'put' && op !== 'putStream') return 'error';
  if (effect === 'short-read' && op !== 'get') return 'error';
  return effect;
}
