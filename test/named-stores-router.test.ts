/**
 * Named stores at the router, in process (the daemon test drives them through a real daemon): a store on
 * a single inline shard (no worker threads), and a named store whose shard thread crashes — its bindings
 * fail with IO while the default store and other named stores keep serving, and opening it again brings
 * it back from primary storage.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Router, type RouterSession } from '../lib/daemon/router.js';
import { encodeCloseStore, encodeOpenStore, parseOpenStoreOk, type OpenStoreRequest } from '../lib/protocol/named-store.js';
import { decodeError, encodeKeyOnly, encodeKeyValue, ERROR_OP, Op, parseGetOk } from '../lib/protocol/protocol.js';
import { Writer } from '../lib/protocol/wire.js';
import { listInstanceSummaries } from '../lib/checkpoint/instances.js';
import { openObjectStore } from '../lib/store/open.js';

const MAX_KG = 8;

function dir(t: { teardown: (fn: () => void) => void }): string {
  const d = mkdtempSync(join(tmpdir(), 'floe-named-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** Dispatches one frame on `session`; resolves with the answer (a copy). */
function call(session: RouterSession, fill: (w: Writer) => void): Promise<{ op: number; payload: Buffer }> {
  const w = new Writer(256);
  fill(w);
  return new Promise((resolve) => session.dispatch(w.view(), (op, payload) => resolve({ op, payload: Buffer.from(payload) })));
}

async function ok(session: RouterSession, fill: (w: Writer) => void): Promise<Buffer> {
  const a = await call(session, fill);
  if (a.op === ERROR_OP) throw decodeError(a.payload);
  return a.payload;
}

const open = (r: OpenStoreRequest) => (w: Writer) => encodeOpenStore(w, 1, r);
const put = (key: string, value: string, keyGroup: number) => (w: Writer) => encodeKeyValue(w, Op.PUT, 1, key, value, { keyGroup });
const get = (key: string, keyGroup: number) => (w: Writer) => encodeKeyOnly(w, Op.GET, 1, key, { keyGroup });
const value = async (s: RouterSession, key: string, kg: number): Promise<string | undefined> => {
  const v = parseGetOk(await ok(s, get(key, kg)));
  return v === undefined ? undefined : Buffer.from(v).toString();
};

t.test('a named store on a single inline shard', async (t) => {
  const d = dir(t);
  const router = await Router.open({ options: { primary: `file://${join(d, 'data')}`, localDir: join(d, 'cache'), shards: 1, maxKeyGroups: MAX_KG, compactionWorkers: 0 } });
  t.teardown(() => router.close().catch(() => undefined));
  const s = router.openSession();
  const info = parseOpenStoreOk(await ok(s, open({ name: 'inline/s', maxKeyGroups: 4, keyGroups: [1, 2] })));
  t.same(info, { name: 'inline/s', shard: 0, maxKeyGroups: 4, keyGroups: [1, 2], restored: false, created: true });
  await ok(s, put('k', 'named', 2));
  t.equal(await value(s, 'k', 2), 'named');
  await ok(s, (w) => encodeCloseStore(w, 1));
  t.equal(await value(s, 'k', 2), undefined, 'the default store does not have it');
  await ok(s, open({ name: 'inline/s', maxKeyGroups: 4, keyGroups: [1, 2] }));
  t.equal(await value(s, 'k', 2), 'named', 'reopened by name (flushed at close)');
  s.close();
  await router.close();
});

t.test('a crashed shard thread fails its named stores with IO; opening again recovers', async (t) => {
  const d = dir(t);
  const router = await Router.open({
    options: { primary: `file://${join(d, 'data')}`, localDir: join(d, 'cache'), shards: 2, maxKeyGroups: MAX_KG, compactionWorkers: 0, durability: 'wal' },
  });
  t.teardown(() => router.close().catch(() => undefined));
  const a = router.openSession();
  const b = router.openSession();
  const dflt = router.openSession();
  // One part each (a store of several parts dies with any of its shards: named-store-parts.test.ts).
  const ia = parseOpenStoreOk(await ok(a, open({ name: 'crash/a', maxKeyGroups: MAX_KG, keyGroups: [0, 7], parts: 1 })));
  const ib = parseOpenStoreOk(await ok(b, open({ name: 'crash/b', maxKeyGroups: MAX_KG, keyGroups: [0, 7], parts: 1 })));
  t.not(ia.shard, ib.shard, 'one store per shard');
  await ok(a, put('x', 'flushed', 1));
  await ok(a, (w) => w.endFrame(w.beginFrame(Op.FLUSH, 1)));
  await ok(b, put('y', 'b', 1));
  await ok(dflt, put('z', 'default', 1));
  await router.terminateShardForTesting(ia.shard);
  const failed = await call(a, get('x', 1));
  t.equal(failed.op, ERROR_OP);
  t.match(decodeError(failed.payload), { code: 'IO', message: /open the store again|restart/ }, 'the named store on the dead shard fails with IO');
  t.equal(await value(b, 'y', 1), 'b', 'the named store on the other shard keeps serving');
  // The default store: its part on the crashed shard restarts in place (WAL); the other part serves.
  for (let i = 0; i < 100; i++) {
    const r = await call(dflt, get('z', 1));
    if (r.op !== ERROR_OP) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  t.equal(await value(dflt, 'z', 1), 'default', 'the default store is back after the restart');
  await ok(a, (w) => encodeCloseStore(w, 1));
  const again = parseOpenStoreOk(await ok(a, open({ name: 'crash/a', maxKeyGroups: MAX_KG, keyGroups: [0, 7] })));
  t.equal(again.created, false, 'reopened from primary storage');
  t.equal(await value(a, 'x', 1), 'flushed', 'what it had made durable is there');
  for (let i = 0; i < 200 && !router.describeShards().every((s) => s.alive); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(router.describeShards().every((s) => s.alive), 'the crashed shard restarted in place');
  for (const s of [a, b, dflt]) s.close();
  await router.close();
});

t.test('a stale binding of a lost store, released after the name was reopened, retires nothing of the reopened store', async (t) => {
  // Regression: the lost store's object kept its record; when its last (stale) binding went, an ephemeral
  // (or dropped) store was retired — the very instances the reopened store now serves — and its name
  // record marked dropped.
  const d = dir(t);
  const primary = `file://${join(d, 'data')}`;
  const router = await Router.open({ options: { primary, localDir: join(d, 'cache'), shards: 2, maxKeyGroups: MAX_KG, compactionWorkers: 0, durability: 'wal' } });
  t.teardown(() => router.close().catch(() => undefined));
  const { store: objects } = await openObjectStore(primary, { skipProbe: true });
  t.teardown(() => objects.close());
  for (const [name, ephemeral, drop] of [
    ['stale/ephemeral', true, false],
    ['stale/dropped', false, true],
  ] as const) {
    const stale = router.openSession();
    const fresh = router.openSession();
    const info = parseOpenStoreOk(await ok(stale, open({ name, maxKeyGroups: MAX_KG, keyGroups: [0, 7], parts: 1, ephemeral })));
    await ok(stale, put('x', 'flushed', 1));
    await ok(stale, (w) => w.endFrame(w.beginFrame(Op.FLUSH, 1)));
    await router.terminateShardForTesting(info.shard);
    t.equal((await call(stale, get('x', 1))).op, ERROR_OP, `${name}: the stale binding fails`);
    for (let i = 0; i < 200 && !router.describeShards().every((s) => s.alive); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    const again = parseOpenStoreOk(await ok(fresh, open({ name, maxKeyGroups: MAX_KG, keyGroups: [0, 7], parts: 1, ephemeral })));
    t.equal(again.created, false, `${name}: reopened from primary storage, same instance`);
    const ids = (await listInstanceSummaries(objects)).filter((x) => x.retired === undefined).map((x) => x.instanceId);
    await ok(stale, (w) => encodeCloseStore(w, 1, drop ? { drop: true } : {}));
    const after = await listInstanceSummaries(objects);
    t.same(
      ids.filter((id) => after.find((x) => x.instanceId === id)?.retired !== undefined),
      [],
      `${name}: the stale binding's close retired no instance the reopened store serves`,
    );
    t.equal(await value(fresh, 'x', 1), 'flushed', `${name}: the reopened store still reads its data`);
    if (!ephemeral) {
      // The name still points at its instance: a later open finds the data (a dropped record would start empty).
      await ok(fresh, (w) => encodeCloseStore(w, 1));
      const third = router.openSession();
      t.equal(parseOpenStoreOk(await ok(third, open({ name, maxKeyGroups: MAX_KG, keyGroups: [0, 7], parts: 1 }))).created, false, `${name}: not dropped`);
      t.equal(await value(third, 'x', 1), 'flushed', `${name}: its data is there after reopening`);
      third.close();
    }
    stale.close();
    fresh.close();
  }
  await router.close();
});
