/**
 * Retiring instances (issue 8 defect 5): a retired instance fences its writer, cannot be reopened, and stops
 * keeping files alive, while checkpoints taken from it stay restorable. And the measure that matters: after
 * 50 checkpoint / restore / rescale cycles of a fixed-size state, primary storage holds at most 3x the live
 * state (before retirement it grew without bound).
 */
import t from 'tap';
import { tinyStore } from './support/tiny-store.js';
import type { StoreOptions } from '../lib/api.js';
import { listInstanceSummaries } from '../lib/checkpoint/instances.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import { retireInstance } from '../lib/checkpoint/retire.js';
import { openLsmStore } from '../lib/embedded.js';
import { defaultKeyGroup } from '../lib/keys.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { openMemStore } from '../lib/store/mem.js';
import { Random } from '../lib/util/random.js';
import { FENCE_RETENTION_MS } from '../lib/wal/log.js';
import { ManualClock } from './support/manual-clock.js';

const MAX_KG = 16;
const opts = (name: string): StoreOptions => tinyStore(`mem://${name}`, { maxKeyGroups: MAX_KG });

t.test('retireInstance fences the writer, blocks reopening, releases its files, keeps its checkpoints', async (t) => {
  const name = `retire-basic-${process.pid}`;
  const mem = openMemStore(name);
  const store = (await openLsmStore({ ...opts(name), instanceId: 'old' })) as LsmStore;
  for (let i = 0; i < 500; i++) await store.put(`k${i}`, `v${i}`);
  const handle = await store.checkpoint();
  for (let i = 0; i < 500; i++) await store.put(`k${i}`, `w${i}`); // files only the live version uses
  await store.flush();
  await store.compactUntilIdle();
  const onlyLive = store.internals().state.version.allFiles().map((f) => f.fileId);
  const result = await retireInstance(opts(name), 'old');
  t.same(result, { instanceId: 'old', retiredNow: true, releasedReferences: onlyLive.length }, 'retired, naming what it released');
  t.same(await retireInstance(opts(name), 'old'), { instanceId: 'old', retiredNow: false, releasedReferences: 0 }, 'retiring again is a no-op');
  await t.rejects(
    store.put('late', 'x').then(() => store.flush()),
    { code: 'FENCED' },
    'the writer still using it is fenced',
  );
  await store.close().catch(() => undefined);
  await t.rejects(openLsmStore({ ...opts(name), instanceId: 'old' }), { code: 'CONFIG', message: /retired/ }, 'it cannot be reopened');
  await t.rejects(retireInstance(opts(name), 'nope'), { code: 'INVALID_ARGUMENT' }, 'an unknown instance is an error');
  const [summary] = await listInstanceSummaries(mem);
  t.match(summary, { instanceId: 'old', references: 0 }, 'listed as retired with an empty version');
  t.ok(summary?.retired, 'listed as retired');

  const restored = (await restoreStore({ ...opts(name), instanceId: 'new' }, [handle])) as LsmStore;
  await restored.collectGarbage();
  t.equal(Buffer.from((await restored.get('k7'))!).toString(), 'v7', 'the checkpoint taken before retirement restores');
  const kept = new Set(restored.internals().state.version.allFiles().map((f) => f.fileId));
  const present = new Set((await mem.list('sst/')).map((o) => o.path.slice(4, -4)));
  for (const id of onlyLive) if (!kept.has(id)) t.notOk(present.has(id), `file ${id}, used only by the retired instance, is collected`);
  for (const id of kept) t.ok(present.has(id), `file ${id}, still referenced, is kept`);
  await restored.close();
});

t.test('50 checkpoint / restore / rescale cycles keep primary storage within 3x of the live state', async (t) => {
  const name = `retire-cycles-${process.pid}`;
  const mem = openMemStore(name);
  const r = new Random(5);
  const KEYS = 1500;
  const model = new Map<string, string>();
  const ranges = (n: number): Array<[number, number]> =>
    Array.from({ length: n }, (_, i) => [Math.floor((i * MAX_KG) / n), Math.floor(((i + 1) * MAX_KG) / n) - 1] as [number, number]);
  const ownerOf = (stores: Array<{ range: [number, number]; store: LsmStore }>, key: string): LsmStore => {
    const kg = defaultKeyGroup(Buffer.from(key), MAX_KG);
    return stores.find((s) => kg >= s.range[0] && kg <= s.range[1])!.store;
  };
  let stores = [{ range: [0, MAX_KG - 1] as [number, number], store: (await openLsmStore({ ...opts(name), instanceId: 'c0' })) as LsmStore }];
  const shardCounts = [1, 2, 3, 4, 2];
  let worst = 0;
  for (let cycle = 1; cycle <= 50; cycle++) {
    for (let i = 0; i < KEYS / 5; i++) {
      const key = `key${r.int(KEYS)}`;
      const value = Buffer.from(r.bytes(60)).toString('hex');
      model.set(key, value);
      await ownerOf(stores, key).put(key, value);
    }
    const handles = [];
    for (const s of stores) handles.push(await s.store.checkpoint());
    const n = shardCounts[cycle % shardCounts.length]!;
    const next = [];
    // Every target but the last references the checkpoints; the last claims them, which drops the records
    // and retires the source instances once it is durable.
    for (const [i, range] of ranges(n).entries()) {
      const mode = i === n - 1 ? 'claim' : 'no-claim';
      const store = (await restoreStore({ ...opts(name), instanceId: `c${cycle}s${i}` }, handles, { keyGroups: range, mode })) as LsmStore;
      next.push({ range, store });
    }
    for (const s of stores) await s.store.close().catch(() => undefined); // retired by the claim: fenced
    stores = next;
    for (const s of stores) {
      await s.store.compactUntilIdle();
      await s.store.collectGarbage();
    }
    const live = new Map<string, number>();
    for (const s of stores) for (const f of s.store.internals().state.version.allFiles()) live.set(f.fileId, f.size);
    const liveBytes = [...live.values()].reduce((a, b) => a + b, 0);
    const primaryBytes = (await mem.list('')).reduce((a, o) => a + o.size, 0);
    worst = Math.max(worst, primaryBytes / liveBytes);
    if (cycle % 10 === 0) t.comment(`cycle ${cycle}: ${n} store(s), primary ${primaryBytes} bytes, live ${liveBytes} bytes, ratio ${(primaryBytes / liveBytes).toFixed(2)}`);
  }
  t.ok(worst <= 3, `primary bytes stay within 3x of the live state at every cycle (worst ${worst.toFixed(2)}x)`);
  const wrong: string[] = [];
  for (const [key, value] of model) {
    const got = await ownerOf(stores, key).get(key);
    if (got === undefined || Buffer.from(got).toString() !== value) wrong.push(key);
  }
  t.equal(wrong.length, 0, `every key reads its last value after 50 cycles (${wrong.length} wrong)`);
  for (const s of stores) await s.store.close();
});

t.test('retiring an instance that logs to a WAL fences its writer at once; GC later drops the log', async (t) => {
  const name = `retire-wal-${process.pid}`;
  const mem = openMemStore(name);
  const clock = new ManualClock(Date.now());
  const writer = (await openLsmStore({ ...opts(name), instanceId: 'logged', durability: 'wal' }, { clock })) as LsmStore;
  await writer.put('a', '1');
  await retireInstance(opts(name), 'logged');
  await t.rejects(writer.put('b', '2'), { code: 'FENCED' }, 'the next logged write fails: its segment number is plugged');
  await writer.close().catch(() => undefined);
  t.ok((await mem.list('wal/logged/')).length > 0, 'the log is still there right after');
  const other = (await openLsmStore({ ...opts(name), instanceId: 'other' }, { clock })) as LsmStore;
  clock.advance(FENCE_RETENTION_MS + 60_000);
  await other.collectGarbage();
  t.equal((await mem.list('wal/logged/')).length, 0, 'GC deletes a retired log once no stale lease can be valid');
  await other.close();
});
