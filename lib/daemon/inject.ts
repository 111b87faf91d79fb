/**
 * FLOE_INJECT_LATENCY_MS — FOR TESTS AND BENCHMARKS ONLY. When set to a whole number of milliseconds, every
 * shard's primary storage is wrapped (below the retry layer) in a FaultInjectingObjectStore that delays
 * each operation by that much: how test/daemon-overload.test.ts gives a real daemon a slow primary, so
 * writers outrun it and must stall. Never set it in production: it only slows the daemon down. The daemon
 * logs a `latency_injection` warning at start whenever it is set. The rewrite pool threads delay their own
 * requests by the same amount (StoreSpec.latencyMs), so flushes and compactions run on the pool, as they do
 * on a remote primary, and pay the latency there.
 */
import { FloeError } from '../errors.js';
import { FaultInjectingObjectStore } from '../store/faults.js';
import type { ObjectStore } from '../store/object-store.js';

export const INJECT_LATENCY_ENV = 'FLOE_INJECT_LATENCY_MS';

/** The injected latency in ms, or undefined when the variable is unset or empty. Throws CONFIG if malformed. */
export function injectedLatencyMs(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env[INJECT_LATENCY_ENV];
  if (text === undefined || text.trim() === '') return undefined;
  const ms = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || ms > 60_000) {
    throw new FloeError('CONFIG', `environment variable ${INJECT_LATENCY_ENV} (tests and benchmarks only) must be a whole number of milliseconds in [0, 60000], got ${JSON.stringify(text)}; unset it in production`);
  }
  return ms;
}

/** The `inject` hook for openLsmStore/restoreStore, or undefined when no latency is injected. */
export function injectFromEnv(env: NodeJS.ProcessEnv = process.env): ((backend: ObjectStore) => ObjectStore) | undefined {
  const ms = injectedLatencyMs(env);
  if (ms === undefined) return undefined;
  return (backend) => new FaultInjectingObjectStore(backend, { latency: ms, seed: 1 });
}
