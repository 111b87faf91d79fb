/**
 * Drives one workload: calls `op(i)` for i = 0, 1, 2, ... either one at a time (each awaited before the
 * next starts) or with a fixed number in flight, until the operation count OR the time limit is reached,
 * whichever comes first. Awaited runs also record per-operation latency in an HDR histogram.
 *
 * Both bounds matter: the count keeps a fast system from consuming more of a finite key range than the
 * workload has, the time limit keeps a slow one from stretching the whole run.
 */
import { performance } from 'node:perf_hooks';
import * as hdr from 'hdr-histogram-js';
import type { Measurement } from './report.js';

export interface Limits {
  /** Stop after this many operations. REQUIRES >= 0. */
  count: number;
  /** Stop issuing new operations after this many seconds. REQUIRES > 0. */
  seconds: number;
}

export type RunResult = Pick<Measurement, 'ops' | 'seconds' | 'opsPerSec' | 'stoppedBy' | 'latencyUs'>;

/** Each operation awaited before the next starts; records latency. */
export async function runAwaited(op: (i: number) => Promise<unknown>, limits: Limits): Promise<RunResult> {
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000_000, numberOfSignificantValueDigits: 3 });
  const start = performance.now();
  const deadline = start + limits.seconds * 1000;
  let done = 0;
  let stoppedBy: RunResult['stoppedBy'] = 'count';
  try {
    for (let i = 0; i < limits.count; i++) {
      const t0 = performance.now();
      if (t0 >= deadline) {
        stoppedBy = 'time';
        break;
      }
      await op(i);
      // Nanoseconds, so sub-microsecond memtable hits keep their resolution.
      histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1e6)));
      done++;
    }
    const seconds = (performance.now() - start) / 1000;
    const us = (p: number): number => Math.round(histogram.getValueAtPercentile(p) / 100) / 10;
    return {
      ops: done,
      seconds,
      opsPerSec: done / seconds,
      stoppedBy,
      ...(done > 0 ? { latencyUs: { p50: us(50), p99: us(99), p999: us(99.9), max: Math.round(histogram.maxValue / 100) / 10 } } : {}),
    };
  } finally {
    histogram.destroy();
  }
}

/**
 * `inflight` workers each take the next index and await its operation. The first failure stops the
 * others from starting new operations and is rethrown after they settle.
 */
export async function runInFlight(op: (i: number) => Promise<unknown>, limits: Limits, inflight: number): Promise<RunResult> {
  const start = performance.now();
  const deadline = start + limits.seconds * 1000;
  let next = 0;
  let done = 0;
  let stoppedBy: RunResult['stoppedBy'] = 'count';
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (failure === undefined && next < limits.count) {
      if (performance.now() >= deadline) {
        stoppedBy = 'time';
        return;
      }
      const i = next++;
      try {
        await op(i);
      } catch (error) {
        failure ??= { error };
        return;
      }
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inflight) }, worker));
  if (failure !== undefined) throw failure.error;
  const seconds = (performance.now() - start) / 1000;
  return { ops: done, seconds, opsPerSec: done / seconds, stoppedBy };
}
