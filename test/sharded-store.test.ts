/**
 * The in-process sharded store (`openStore({ shards })`) against the reference model, plus what only a
 * sharded store has: batches and scans spanning shards, one checkpoint of all shards restored with another
 * shard count (and into an embedded store), the persistent shard layout, and a crashed shard thread.
 */
import t from 'tap';
import { listInstanceSummaries } from '../lib/checkpoint/instances.js';
import { openObjectStore } from '../lib/store/open.js';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoreOptions, WriteOp } from '../lib/api.js';
import { openStore, restoreStore } from '../lib/index.js';
import { ShardedStore } from '../lib/daemon/sharded-store.js';
import { defaultKeyGroup } from '../lib/keys.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { Model, hex } from './support/model.js';
import { runRandomOps } from './support/random-ops.js';
import { SMALL_LSM } from './support/tiny-store.js';
import { MAX_CURSORS } from '../lib/protocol/protocol.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MAX_KG = 8;
const small: Partial<StoreOptions> = { ...SMALL_LSM, maxKeyGroups: MAX_KG, l0StopWritesTrigger: 8, blockCacheBytes: 512 * 1024 };

function setup(t: { teardown: (fn: () => void) => void }): { primary: string; localDir: string; options: (extra?: Partial<StoreOptions>) => StoreOptions } {
  const dir = mkdtempSync(join(tmpdir(), 'floe-sharded-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const primary = `file://${join(dir, 'data')}`;
  const localDir = join(dir, 'local');
  return { primary, localDir, options: (extra = {}) => ({ primary, localDir, ...small, shards: 2, ...extra }) };
}

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

t.test('sharded store (2 shards) agrees with the model through flushes, compactions and reopens', async (t) => {
  const seed = seedFromEnv();
  const { options } = setup(t);
  try {
    const { store, counts } = await runRandomOps({
      seed,
      ops: 1200,
      maxKeyGroups: MAX_KG,
      keySpace: 300,
      maxValueBytes: 300,
      open: () => openStore(options()),
      compact: (s) => (s as ShardedStore).compactUntilIdle(),
      reopen: true,
    });
    const stats = await store.stats();
    t.ok(stats.lsm.levels[0]!.files + stats.lsm.levels.slice(1).reduce((n, l) => n + l.files, 0) > 0, 'data reached SSTs');
    t.equal(stats.blockCache.capacity, small.blockCacheBytes, 'one shared block cache, counted once');
    await store.close();
    t.pass(`seed ${seed}: model and sharded store agree (${JSON.stringify(counts)})`);
  } catch (e) {
    t.fail(`seed ${seed}: ${(e as Error).message}`);
    throw e;
  }
});

t.test('one shard runs on the caller\'s thread and behaves the same (model, checkpoint, restore to 2)', async (t) => {
  const seed = seedFromEnv();
  const { options } = setup(t);
  try {
    const { store } = await runRandomOps({
      seed,
      ops: 500,
      maxKeyGroups: MAX_KG,
      keySpace: 200,
      maxValueBytes: 200,
      open: () => openStore(options({ shards: 1 })),
      compact: (s) => (s as ShardedStore).compactUntilIdle(),
    });
    const handle = await store.checkpoint();
    t.same(handle.instances.map((i) => i.keyGroups), [[0, MAX_KG - 1]]);
    const before: string[] = [];
    for await (const e of store.scan()) before.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
    await store.close();
    const two = (await restoreStore(options({ shards: 2 }), [handle])) as ShardedStore;
    const after: string[] = [];
    for await (const e of two.scan()) after.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
    t.same(after, before, `seed ${seed}: 1 shard → 2 shards`);
    // The replaced layout's instance is retired (GC may reclaim what only it kept); the new ones are live.
    const { store: primaryStore } = await openObjectStore(options({}).primary, { skipProbe: true });
    const summaries = await listInstanceSummaries(primaryStore);
    await primaryStore.close();
    const oldIds = new Set(handle.instances.map((i) => i.instanceId));
    const newIds = new Set(two.layout.shards.map((x) => x.instanceId));
    t.ok(summaries.filter((x) => oldIds.has(x.instanceId)).every((x) => x.retired !== undefined), 'the old layout’s instance is retired');
    t.ok(summaries.filter((x) => newIds.has(x.instanceId)).every((x) => x.retired === undefined), 'the new layout’s instances are live');
    await two.close();
  } catch (e) {
    t.fail(`seed ${seed}: ${(e as Error).message}`);
  }
});

t.test('batches spanning shards: applied on every shard; validated as a whole', async (t) => {
  const { options } = setup(t);
  const s = (await openStore(options())) as ShardedStore;
  t.same(s.layout.shards.map((x) => x.keyGroups), [
    [0, 3],
    [4, 7],
  ]);
  await s.write([
    { type: 'put', key: 'left', value: 'L', keyGroup: 1 },
    { type: 'put', key: 'right', value: 'R', keyGroup: 6 },
    { type: 'merge', key: 'right', value: '+', keyGroup: 6 },
    { type: 'put', key: 'gone', value: 'x', keyGroup: 2 },
    { type: 'delete', key: 'gone', keyGroup: 2 },
  ]);
  t.equal(text(await s.get('left', { keyGroup: 1 })), 'L');
  t.equal(text(await s.get('right', { keyGroup: 6 })), 'R+');
  t.equal(await s.get('gone', { keyGroup: 2 }), undefined);
  // An invalid op anywhere rejects the whole batch before any shard applies anything.
  const bad: WriteOp[] = [
    { type: 'put', key: 'a', value: '1', keyGroup: 0 },
    { type: 'put', key: 'b', value: '2', keyGroup: 7 },
    { type: 'put', key: '', value: '3', keyGroup: 5 },
  ];
  await t.rejects(s.write(bad), { code: 'INVALID_ARGUMENT', message: /operation 2: key must not be empty/ });
  await t.rejects(s.write([{ type: 'put', key: 'a', value: '1', keyGroup: 0 }, { type: 'put', key: 'b', value: '1', keyGroup: 8 }]), { code: 'INVALID_ARGUMENT', message: /operation 1/ });
  t.same([text(await s.get('a', { keyGroup: 0 })), text(await s.get('b', { keyGroup: 7 }))], [undefined, undefined], 'nothing of the rejected batches applied');
  // A batch racing a scan: the scan sees all of it or none of it.
  const scans: Array<Promise<string[]>> = [];
  for (let i = 0; i < 20; i++) {
    void s.write([
      { type: 'put', key: `race${i}`, value: 'v', keyGroup: 0 },
      { type: 'put', key: `race${i}`, value: 'v', keyGroup: 7 },
    ]);
    scans.push((async () => {
      const seen: string[] = [];
      for await (const e of s.scan({ prefix: 'race' })) seen.push(`${e.keyGroup}:${text(e.key)}`);
      return seen;
    })());
  }
  for (const [i, p] of (await Promise.all(scans)).entries()) {
    const left = p.filter((x) => x.startsWith('0:')).length;
    const right = p.filter((x) => x.startsWith('7:')).length;
    t.equal(left, right, `scan ${i} saw whole batches only (${left} / ${right})`);
    t.equal(left, i + 1, `scan ${i} saw every batch submitted before it`);
  }
  await s.close();
});

t.test('scans across shards: (keyGroup, key) order, limits and bounds across the shard boundary', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const { options } = setup(t);
  const s = await openStore(options());
  const model = new Model();
  for (let i = 0; i < 400; i++) {
    const key = Buffer.from(`k${r.int(5)}/${r.int(1000)}`);
    const kg = r.bool() ? r.int(MAX_KG) : defaultKeyGroup(key, MAX_KG);
    const v = r.bytes(r.int(50));
    await s.put(key, v, { keyGroup: kg });
    model.put(kg, key, v);
  }
  await s.flush();
  const cases = [{}, { limit: 1 }, { limit: 150 }, { prefix: Buffer.from('k3') }, { gte: Buffer.from('k2'), lt: Buffer.from('k4'), limit: 90 }, { keyGroup: 5 }, { limit: 0 }];
  for (const o of cases) {
    const got: string[] = [];
    for await (const e of s.scan(o)) got.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
    const want = model.scan(o).map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
    t.same(got, want, `seed ${seed}: scan ${JSON.stringify(o)} (${want.length} entries)`);
  }
  // Breaking out early closes the cursors; many scans in a row must not exhaust the per-store cursor budget.
  for (let i = 0; i < 100; i++) {
    for await (const _ of s.scan()) break;
  }
  t.pass('100 abandoned scans did not exhaust cursors');
  await s.close();
});

/** Lets FinalizationRegistry callbacks run: collect, then give the event loop a few turns. */
async function collectUnreachable(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

t.test('scans ended before their first next(), or dropped, release their cursors', async (t) => {
  const { options } = setup(t);
  const s = await openStore(options());
  for (let kg = 0; kg < MAX_KG; kg++) await s.put(`k${kg}`, 'v', { keyGroup: kg });
  for (let i = 0; i < 2 * MAX_CURSORS; i++) await s.scan()[Symbol.asyncIterator]().return!();
  for (let i = 0; i < 2 * MAX_CURSORS; i++) {
    await t.rejects(s.scan({ prefix: 'k' })[Symbol.asyncIterator]().throw!(new Error('stop')), { message: 'stop' });
  }
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < MAX_CURSORS / 2; i++) {
      const it = s.scan()[Symbol.asyncIterator]();
      t.equal((await it.next()).done, false);
    }
    await collectUnreachable();
  }
  let n = 0;
  for await (const _ of s.scan()) n++;
  t.equal(n, MAX_KG, `${4 * MAX_CURSORS + 3 * (MAX_CURSORS / 2)} ended or dropped scans did not exhaust the cursor budget`);
  await s.close();
});

t.test('closing a scan releases the snapshot of every shard it spans, started or not', async (t) => {
  const { options } = setup(t);
  const s = await openStore(options({ memtableBytes: 8 * 2 ** 20 }));
  const big = 'x'.repeat(200_000);
  const bytes = async (): Promise<number> => (await s.stats()).lsm.memtableBytes;
  // Shard 0 holds more than the first page and the page read ahead (each entry fills a page), so the
  // scan never reaches shard 1 before it is closed.
  for (let i = 0; i < 5; i++) await s.put(`a${i}`, 'y'.repeat(100_000), { keyGroup: 0 });
  await s.put('big', big, { keyGroup: MAX_KG - 1 }); // shard 1: its cursor is opened but never read
  const one = await bytes();
  const it = s.scan()[Symbol.asyncIterator]();
  t.equal((await it.next()).done, false);
  await s.put('big', big, { keyGroup: MAX_KG - 1 });
  t.ok((await bytes()) > one + 0.8 * big.length, 'the open scan keeps the version its snapshot sees on shard 1');
  await it.return!();
  await s.put('big', big, { keyGroup: MAX_KG - 1 });
  t.ok((await bytes()) < one + 0.2 * big.length, `closed: shard 1 dropped the old version (${await bytes()} bytes, ${one} before)`);
  await s.close();
});

t.test('a closed connection releases the shard snapshots of its open scans', async (t) => {
  const { options } = setup(t);
  const s = await openStore(options({ memtableBytes: 8 * 2 ** 20 }));
  const router = (s as ShardedStore).routerForTesting();
  const big = 'x'.repeat(200_000);
  const bytes = async (): Promise<number> => (await s.stats()).lsm.memtableBytes;
  for (let i = 0; i < 5; i++) await s.put(`a${i}`, 'y'.repeat(100_000), { keyGroup: 0 });
  await s.put('big', big, { keyGroup: MAX_KG - 1 });
  const one = await bytes();
  // A second connection (what the daemon's socket server makes per client) with a scan half read.
  const session = router.openSession();
  const client = new ShardedStore(router, session);
  const it = client.scan()[Symbol.asyncIterator]();
  t.equal((await it.next()).done, false);
  await s.put('big', big, { keyGroup: MAX_KG - 1 });
  t.ok((await bytes()) > one + 0.8 * big.length, 'the open scan keeps the version its snapshot sees on shard 1');
  session.close(); // the connection went away (server.ts calls this when the socket closes)
  await s.put('big', big, { keyGroup: MAX_KG - 1 });
  t.ok((await bytes()) < one + 0.2 * big.length, `connection closed: shard 1 dropped the old version (${await bytes()} bytes, ${one} before)`);
  await s.close();
});

t.test('checkpoint of all shards → restore with 3 shards, and into an embedded store', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const { options, primary, localDir } = setup(t);
  const s = await openStore(options());
  const model = new Model();
  const writeSome = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i++) {
      const key = Buffer.from(`key-${r.int(300)}`);
      const kg = r.int(MAX_KG);
      if (r.bool(0.1)) {
        await s.delete(key, { keyGroup: kg });
        model.delete(kg, key);
      } else {
        const v = r.bytes(r.int(100));
        await s.put(key, v, { keyGroup: kg });
        model.put(kg, key, v);
      }
    }
  };
  await writeSome(600);
  await s.flush();
  await writeSome(300); // some of the state only in memtables at checkpoint time
  const pending = Array.from({ length: 50 }, (_, i) => s.put(`inflight-${i}`, 'x', { keyGroup: i % MAX_KG }));
  for (let i = 0; i < 50; i++) model.put(i % MAX_KG, Buffer.from(`inflight-${i}`), Buffer.from('x'));
  const checkpointing = s.checkpoint(); // issued after the puts: they must be in it
  const atCheckpoint = model.clone();
  // Issued after the checkpoint: held by the router until it is taken, so none of them may be in it.
  const late = Array.from({ length: 50 }, (_, i) => s.put(`late-${i}`, 'x', { keyGroup: (i * 3) % MAX_KG }));
  for (let i = 0; i < 50; i++) model.put((i * 3) % MAX_KG, Buffer.from(`late-${i}`), Buffer.from('x'));
  const handle = await checkpointing;
  await Promise.all([...pending, ...late]);
  t.equal(handle.instances.length, 2, 'one handle lists every shard instance');
  t.same(handle.instances.map((i) => i.keyGroups), [
    [0, 3],
    [4, 7],
  ]);
  t.same(JSON.parse(JSON.stringify(handle)), handle, 'JSON-serialisable');
  await writeSome(200); // after the checkpoint: not in it
  await s.close();

  const scanAll = async (st: { scan: (o?: object) => AsyncIterable<{ keyGroup: number; key: Uint8Array; value: Uint8Array }> }, o = {}): Promise<string[]> => {
    const out: string[] = [];
    for await (const e of st.scan(o)) out.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
    return out;
  };
  const want = (o = {}): string[] => atCheckpoint.scan(o).map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);

  const r3 = (await restoreStore(options({ shards: 3 }), [handle])) as ShardedStore;
  t.same(r3.layout.shards.map((x) => x.keyGroups), [
    [0, 2],
    [3, 5],
    [6, 7],
  ]);
  t.same(await scanAll(r3), want(), `seed ${seed}: 3-shard restore equals the checkpoint`);
  await r3.put('after-restore', 'yes', { keyGroup: 4 });
  await r3.close();

  // The restored layout is now the store's layout: reopening finds its 3 shards and the new write.
  const again = (await openStore(options({ shards: 3 }))) as ShardedStore;
  t.equal(again.layout.seq, 2, 'the restore wrote layout #2');
  t.equal(text(await again.get('after-restore', { keyGroup: 4 })), 'yes');
  await again.close();
  await t.rejects(openStore(options({ shards: 2 })), { code: 'CONFIG', message: /has 3 shards, but 2 were asked for/ });

  // The multi-instance handle restores into an embedded store, clipped to a range across both old shards.
  const e = await restoreStore({ primary, localDir: join(localDir, 'embedded'), ...small, instanceId: 'clip' }, [handle], { keyGroups: [2, 5] });
  t.same(await scanAll(e), want().filter((x) => {
    const kg = Number(x.split('/')[0]);
    return kg >= 2 && kg <= 5;
  }), 'embedded restore of key groups [2, 5]');
  await e.close();
  await t.rejects(restoreStore(options({ shards: 2 }), [handle], { keyGroups: [0, 3] }), { code: 'INVALID_ARGUMENT' });
});

t.test('a crashed shard fails its requests with IO naming the shard; the others keep working', async (t) => {
  const { options } = setup(t);
  const s = (await openStore(options())) as ShardedStore;
  await s.put('a', '1', { keyGroup: 0 });
  await s.put('b', '2', { keyGroup: 7 });
  const inflight = Array.from({ length: 20 }, (_, i) => s.get(`b${i}`, { keyGroup: 6 }).then(() => 'ok', (e: { code: string; message: string }) => e));
  await s.routerForTesting().terminateShardForTesting(1);
  for (const r of await Promise.all(inflight)) {
    if (r !== 'ok') t.match(r, { code: 'IO', message: /shard 1 \(instance shard-1, key groups \[4, 7\]\) crashed/ });
  }
  await t.rejects(s.put('c', '3', { keyGroup: 5 }), { code: 'IO', message: /shard 1/ });
  await t.rejects(s.write([{ type: 'put', key: 'x', value: 'y', keyGroup: 1 }, { type: 'put', key: 'x', value: 'y', keyGroup: 5 }]), { message: /partially applied: shard\(s\) 0 applied/ });
  t.equal(text(await s.get('a', { keyGroup: 0 })), '1', 'shard 0 still serves');
  await t.rejects(s.flush(), { code: 'IO' });
  await t.rejects(s.close(), { code: 'IO', message: /shard 1/ }, 'close reports the lost shard, and does not hang');
});

t.test('configuration errors', async (t) => {
  await t.rejects(openStore({ primary: 'mem://sharded-nope', shards: 2 }), { code: 'CONFIG', message: /mem:\/\// });
  const { options } = setup(t);
  await t.rejects(openStore(options({ shards: 9 })), { code: 'CONFIG', message: /shards/ });
});

t.test('with the WAL, a crashed shard restarts in place: no acknowledged write lost, the others serve throughout', async (t) => {
  const { options } = setup(t);
  const s = (await openStore(options({ durability: 'wal' }))) as ShardedStore;
  const acked = new Map<string, string>();
  for (let i = 0; i < 200; i++) {
    await s.put(`k${i}`, `v${i}`, { keyGroup: i % MAX_KG });
    acked.set(`k${i}`, `v${i}`);
  }
  await s.routerForTesting().terminateShardForTesting(1);
  t.equal(text(await s.get('k0', { keyGroup: 0 })), 'v0', 'shard 0 serves while shard 1 restarts');
  let back = false;
  for (let i = 0; i < 200 && !back; i++) {
    back = await s.get('k1', { keyGroup: 5 }).then(
      () => true,
      (e: { code: string; retryable?: boolean }) => {
        t.equal(e.code, 'IO');
        return false;
      },
    );
    if (!back) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(back, 'shard 1 answers again');
  const lost: string[] = [];
  for (const [k, v] of acked) {
    const i = Number(k.slice(1));
    if (text(await s.get(k, { keyGroup: i % MAX_KG })) !== v) lost.push(k);
  }
  t.same(lost, [], 'every acknowledged write is there after the restart (none was flushed)');
  await s.put('after', 'restart', { keyGroup: 6 });
  t.equal(text(await s.get('after', { keyGroup: 6 })), 'restart', 'the restarted shard takes writes');
  await s.close();
  const again = (await openStore(options({ durability: 'wal' }))) as ShardedStore;
  t.equal(text(await again.get('k199', { keyGroup: 199 % MAX_KG })), 'v199', 'and everything is there after a clean reopen');
  await again.close();
});
