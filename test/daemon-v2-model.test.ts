/**
 * Protocol version 2 against the model (test/support/model.ts), through a real daemon served on a Unix
 * socket from this process: seeded random mixes of writes with per-write TTLs (a manual clock injected into
 * the daemon's engines: its shards run inline in this process), range deletes, iterators and snapshots
 * (test/support/random-iterators.ts); the same without TTL on worker-thread shards; and the in-process
 * sharded store.
 * Replay a failure with FLOE_SEED=<seed>.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreOptions } from '../lib/api.js';
import { connect } from '../lib/client/client.js';
import { openShardedStore, type ShardedStore } from '../lib/daemon/sharded-store.js';
import { seedFromEnv } from '../lib/util/random.js';
import { startInProcessDaemon } from './support/inprocess-daemon.js';
import { TtlClock } from './support/manual-clock.js';
import { runRandomOps } from './support/random-ops.js';
import { SMALL_LSM } from './support/tiny-store.js';

t.setTimeout(300_000);

const small: Partial<StoreOptions> = { ...SMALL_LSM, maxKeyGroups: 8 };

t.test('daemon over its socket, 3 inline shards, manual clock: per-write TTL, range deletes, iterators, snapshots', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-v2-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new TtlClock();
  const daemon = await startInProcessDaemon(dir, { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 3, ...small, defaultTtlMs: 2000 }, { clock, inline: true });
  t.teardown(() => daemon.stop());
  const seed = seedFromEnv();
  const { store, counts } = await runRandomOps({
    seed,
    ops: 3000,
    maxKeyGroups: 8,
    keySpace: 300,
    maxValueBytes: 200,
    open: () => connect(daemon.socket),
    compact: () => daemon.router.compactUntilIdle(),
    reopen: true,
    // The clock is not in the daemon's request order: iterators opened (not yet used) before a step must
    // open at the time they were asked for, as embedded ones do. A one-entry scan of every shard is a
    // barrier: each shard runs it after the requests sent before it.
    ttl: { clock, defaultTtlMs: 2000, beforeAdvance: async (s) => void (await s.scan({ limit: 1 })[Symbol.asyncIterator]().next()) },
    rangeDeletes: true,
    iterators: true,
  });
  await store.close();
  t.ok(counts.advance! > 0 && counts.deleteRange! > 0 && counts.deleteKeyGroups! > 0, `TTL and range deletes: ${JSON.stringify(counts)}`);
  t.ok(counts.iterator! > 0 && counts.snapshot! > 0, `iterators and snapshots: ${JSON.stringify(counts)}`);
  t.pass(`seed ${seed}: daemon and model agree`);
});

t.test('daemon over its socket, 3 worker shards: iterators, snapshots, range deletes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-v2-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const daemon = await startInProcessDaemon(dir, { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 3, ...small });
  t.teardown(() => daemon.stop());
  const seed = seedFromEnv() + 2;
  const { store, counts } = await runRandomOps({
    seed,
    ops: 3000,
    maxKeyGroups: 8,
    keySpace: 300,
    maxValueBytes: 200,
    open: () => connect(daemon.socket),
    compact: () => daemon.router.compactUntilIdle(),
    reopen: true,
    rangeDeletes: true,
    iterators: true,
  });
  await store.close();
  t.ok(counts.iterator! > 0 && counts.snapshot! > 0 && (counts.snapshotGet ?? 0) + (counts.snapshotMultiGet ?? 0) > 0, `iterators and snapshots: ${JSON.stringify(counts)}`);
  t.pass(`seed ${seed}: daemon and model agree`);
});

t.test('in-process sharded store, 2 worker shards: range deletes, iterators, snapshots', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-v2-model-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seed = seedFromEnv() + 1;
  const options: StoreOptions = { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 2, ...small };
  const { store, counts } = await runRandomOps({
    seed,
    ops: 2000,
    maxKeyGroups: 8,
    keySpace: 300,
    maxValueBytes: 200,
    open: () => openShardedStore(options),
    compact: (s) => (s as ShardedStore).compactUntilIdle(),
    reopen: true,
    rangeDeletes: true,
    iterators: true,
  });
  await store.close();
  t.ok(counts.deleteRange! > 0 && counts.iterator! > 0, `exercised: ${JSON.stringify(counts)}`);
  t.pass(`seed ${seed}: sharded store and model agree`);
});
