/**
 * A per-write TTL through frames (protocol version 2: PUT_TTL, MERGE_TTL, WRITE op types 4 and 5): the
 * in-process sharded store and the daemon client carry `ttlMs` to the engines, which expire the value on
 * their clock (a manual clock here, injected into inline shards). `ttlMs: 0` means "never expires" and
 * overrides the store's `defaultTtlMs` (before version 2 the client sent it as a plain write, which took
 * the default). Worker-thread shards accept TTL writes too (their clock is the system clock).
 */
import t from 'tap';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { openStore } from '../lib/index.js';
import type { FloeError } from '../lib/errors.js';
import { Router } from '../lib/daemon/router.js';
import { ShardedStore } from '../lib/daemon/sharded-store.js';
import { TtlClock } from './support/manual-clock.js';

const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString());

t.test('ttlMs through a sharded store (inline shards on a manual clock) expires on time', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-ttl-frames-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new TtlClock();
  const options = { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 2, maxKeyGroups: 8, compactionWorkers: 0, defaultTtlMs: 10_000 };
  const router = await Router.open({ options, inline: true, clock });
  const store = new ShardedStore(router, router.openSession());
  t.teardown(() => store.close());
  await store.put('p', 'v', { ttlMs: 1000, keyGroup: 1 });
  await store.merge('m', 'a', { ttlMs: 1000, keyGroup: 6 });
  await store.write([
    { type: 'put', key: 'b1', value: 'x', ttlMs: 1000, keyGroup: 2 },
    { type: 'merge', key: 'b2', value: 'y', ttlMs: 3000, keyGroup: 7 },
    { type: 'put', key: 'b3', value: 'z', keyGroup: 5 },
    { type: 'delete', key: 'nothing', keyGroup: 0 },
  ]);
  await store.put('forever', 'f', { ttlMs: 0 });
  await store.put('default', 'd');
  t.equal(text(await store.get('p', { keyGroup: 1 })), 'v', 'live before its TTL');
  clock.advance(1000);
  t.equal(await store.get('p', { keyGroup: 1 }), undefined, 'put with ttlMs 1000 expired at +1000 ms');
  t.equal(await store.get('m', { keyGroup: 6 }), undefined, 'merge with ttlMs expired');
  t.equal(await store.get('b1', { keyGroup: 2 }), undefined, 'batch put with ttlMs expired');
  t.equal(text(await store.get('b2', { keyGroup: 7 })), 'y', 'batch merge with a longer TTL is live');
  clock.advance(2000);
  t.equal(await store.get('b2', { keyGroup: 7 }), undefined, 'and expires at its own TTL');
  t.equal(text(await store.get('b3', { keyGroup: 5 })), 'z', 'a batch op without ttlMs takes the default (10 s)');
  clock.advance(7000);
  t.equal(await store.get('b3', { keyGroup: 5 }), undefined, 'the default TTL applies');
  t.equal(await store.get('default'), undefined, 'a put without ttlMs took the store default');
  t.equal(text(await store.get('forever')), 'f', 'ttlMs 0 overrides the default: never expires');
  const refused = async (what: string, p: Promise<unknown>): Promise<void> => {
    const e = (await p.then(() => undefined, (x: unknown) => x)) as FloeError | undefined;
    t.equal(e?.code, 'INVALID_ARGUMENT', `${what}: INVALID_ARGUMENT (${e?.message})`);
  };
  await refused('negative ttlMs', store.put('k', 'v', { ttlMs: -1 }));
  await refused('fractional ttlMs', store.merge('k', 'v', { ttlMs: 1.5 }));
  await refused('ttlMs in a batch', store.write([{ type: 'put', key: 'k', value: 'v', ttlMs: Number.NaN }]));
});

t.test('worker-thread shards accept TTL writes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-ttl-frames-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore({ primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 2, maxKeyGroups: 8, compactionWorkers: 0 });
  t.teardown(() => store.close());
  await store.put('k', 'v', { ttlMs: 3_600_000 } as never);
  await store.write([{ type: 'merge', key: 'k', value: '+', ttlMs: 3_600_000 }]);
  t.equal(text(await store.get('k')), 'v+', 'written with a TTL of an hour, read back');
});
