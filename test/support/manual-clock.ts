/**
 * Test clocks. `ManualClock`: time moves only when the test calls `advance`, and sleepers wake in deadline
 * order — for checking that waits overlap and for timeouts. `AutoClock`: every sleep advances time by its
 * length and returns at once — for sequential tests that want exact latency sums without waiting.
 */
import { systemClock, type Clock } from '../../lib/util/clock.js';

interface Sleeper {
  at: number;
  resolve: () => void;
}

export class ManualClock implements Clock {
  private nowMs: number;
  private sleepers: Sleeper[] = [];
  /** The most sleepers that were waiting at the same time. */
  maxSleeping = 0;
  /** Every sleep requested, in order. */
  readonly sleeps: number[] = [];

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  get sleeping(): number {
    return this.sleepers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = { at: this.nowMs + ms, resolve };
      this.sleepers.push(sleeper);
      this.maxSleeping = Math.max(this.maxSleeping, this.sleepers.length);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Moves time forward and wakes every sleeper whose deadline has come, earliest first. */
  advance(ms: number): void {
    this.nowMs += ms;
    const due = this.sleepers.filter((s) => s.at <= this.nowMs).sort((a, b) => a.at - b.at);
    this.sleepers = this.sleepers.filter((s) => s.at > this.nowMs);
    for (const s of due) s.resolve();
  }
}

export class AutoClock implements Clock {
  private nowMs: number;
  readonly sleeps: number[] = [];

  constructor(startMs = 0) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.nowMs += ms;
  }
}

/** Lets pending promise callbacks run (several turns of the microtask queue and one macrotask). */
export function settleMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * For state-TTL tests: `now()` moves only when the test calls `advance` (so expiry is exact and the model
 * can follow it), while `sleep` waits in real time (retries, leases and polling keep working unattended).
 */
export class TtlClock implements Clock {
  private nowMs: number;

  constructor(startMs = 1_000_000) {
    this.nowMs = startMs;
  }

  now(): number {
    return this.nowMs;
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return systemClock.sleep(ms, signal);
  }
}
