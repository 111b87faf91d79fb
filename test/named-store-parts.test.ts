/**
 * Named stores split into parts (docs/protocol.md, "Named stores", Parts): one store's key groups spread
 * over several shard threads. Through a daemon served from this process (test/support/inprocess-daemon.ts):
 * seeded model runs of every request across parts (batches, scans, range deletes, TTL, iterators,
 * snapshots, close/reopen); checkpoint at 2 parts → restore at 1 and 3 parts and into a sub-range; batches
 * across parts never torn (reads nor checkpoints); the memtable budget split over the parts; a part's shard
 * thread dying fails the whole store until it is opened again; the registry (one-part records stay version
 * 1, as older daemons wrote and read them) and a restart reopening every store with its parts; every part
 * retiring with an ephemeral or dropped store.
 * Replay a failure with FLOE_SEED=<seed>.
 */
import t, { type Test } from 'tap';
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckpointHandle, StoreOptions, StoreStats } from '../lib/api.js';
import { listInstanceSummaries } from '../lib/checkpoint/instances.js';
import { connect, type FloeClient } from '../lib/client/client.js';
import { nameKey } from '../lib/daemon/named-registry.js';
import { defaultKeyGroup } from '../lib/keys.js';
import type { OpenStoreRequest } from '../lib/protocol/named-store.js';
import { openObjectStore } from '../lib/store/open.js';
import { namedStorePath, namedStorePrefix } from '../lib/store/paths.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { startInProcessDaemon, type InProcessDaemon } from './support/inprocess-daemon.js';
import { TtlClock } from './support/manual-clock.js';
import { hex, Model, modelLines, scanLines } from './support/model.js';
import { SMALL_LSM } from './support/tiny-store.js';
import { runRandomOps } from './support/random-ops.js';

t.setTimeout(300_000);

const small: Partial<StoreOptions> = SMALL_LSM;

async function daemon(t: Test, options: Partial<StoreOptions>, extra: Parameters<typeof startInProcessDaemon>[2] = {}): Promise<{ dir: string; d: InProcessDaemon; options: StoreOptions }> {
  const dir = mkdtempSync(join(tmpdir(), 'floe-parts-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const all: StoreOptions = { primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), ...small, ...options };
  const d = await startInProcessDaemon(dir, all, extra);
  t.teardown(() => d.stop().catch(() => undefined));
  return { dir, d, options: all };
}

const req = (name: string, maxKeyGroups: number, keyGroups: [number, number], extra: Partial<OpenStoreRequest> = {}): OpenStoreRequest => ({ name, maxKeyGroups, keyGroups, ...extra });


t.test('model: a store of 3 parts on 3 inline shards (TTL on a manual clock, range deletes, iterators, snapshots, reopen)', async (t) => {
  const clock = new TtlClock();
  const { d } = await daemon(t, { shards: 3, maxKeyGroups: 8, defaultTtlMs: 2000 }, { clock, inline: true });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const seed = seedFromEnv();
  let parts: unknown;
  const { store, counts } = await runRandomOps({
    seed,
    ops: 2500,
    maxKeyGroups: 8,
    keySpace: 300,
    maxValueBytes: 200,
    open: async () => {
      const s = await main.openStore(req('model/ttl', 8, [0, 7]));
      parts = s.info.parts;
      return s;
    },
    reopen: true,
    // A one-entry scan without key group reaches every part: a barrier in each part's order (as for shards).
    ttl: { clock, defaultTtlMs: 2000, beforeAdvance: async (s) => void (await s.scan({ limit: 1 })[Symbol.asyncIterator]().next()) },
    rangeDeletes: true,
    iterators: true,
  });
  await store.close();
  const placed = parts as Array<{ shard: number; keyGroups: [number, number] }>;
  t.same(
    placed.map((p) => p.keyGroups),
    [
      [0, 2],
      [3, 5],
      [6, 7],
    ],
    'three parts (one per shard), Flink ranges of [0, 7]',
  );
  t.equal(new Set(placed.map((p) => p.shard)).size, 3, 'each part on its own shard');
  t.ok(counts.batch! > 0 && counts.deleteRange! > 0 && counts.deleteKeyGroups! > 0 && counts.iterator! > 0 && counts.snapshot! > 0 && counts.advance! > 0, `exercised: ${JSON.stringify(counts)}`);
  t.pass(`seed ${seed}: a store of 3 parts and the model agree`);
});

t.test('model: 3 parts on 2 worker shards (two parts share a thread)', async (t) => {
  const { d } = await daemon(t, { shards: 2, maxKeyGroups: 8 });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const seed = seedFromEnv() + 1;
  const { store, counts } = await runRandomOps({
    seed,
    ops: 2000,
    maxKeyGroups: 8,
    keySpace: 300,
    maxValueBytes: 200,
    open: () => main.openStore(req('model/wrap', 8, [0, 7], { parts: 3 })),
    flush: true,
    reopen: true,
    rangeDeletes: true,
    iterators: true,
  });
  await store.close();
  t.ok(counts.batch! > 0 && counts.iterator! > 0, `exercised: ${JSON.stringify(counts)}`);
  t.pass(`seed ${seed}: agree`);
});

/** Seeded puts over `range` (explicit key groups), some flushed, recorded in `model`. */
async function fill(store: FloeClient, model: Model, r: Random, range: [number, number], n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const g = range[0] + r.int(range[1] - range[0] + 1);
    const key = Buffer.from(`w${r.int(80)}`);
    const v = r.bytes(r.int(40));
    await store.put(key, v, { keyGroup: g });
    model.put(g, key, v);
    if (i === Math.floor(n / 2)) await store.flush(); // part in SSTs, part in memtables at the checkpoint
  }
}

t.test('checkpoint at 2 parts → restore at 1 and 3 parts, and into a sub-range, with exact contents', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const { d } = await daemon(t, { shards: 2, maxKeyGroups: 16 });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const model = new Model();
  const two = await main.openStore(req('rescale/p2', 16, [0, 15]));
  t.equal(two.info.parts?.length, 2, 'two parts by default on a daemon of two shards');
  await fill(two, model, r, [0, 15], 400);
  await two.deleteRange({ keyGroup: 12, gte: Buffer.from('w1'), lt: Buffer.from('w5') });
  model.deleteRange(12, Buffer.from('w1'), Buffer.from('w5'));
  const h = await two.checkpoint();
  t.same(
    h.instances.map((i) => i.keyGroups),
    [
      [0, 7],
      [8, 15],
    ],
    'ONE handle listing both parts',
  );
  const atCheckpoint = model.clone();
  await fill(two, model, r, [0, 15], 50); // after the checkpoint: in no restore
  await two.close();

  for (const [name, range, parts] of [
    ['rescale/p1', [0, 15], 1],
    ['rescale/p3', [0, 15], 3],
    ['rescale/sub', [5, 12], 3],
  ] as Array<[string, [number, number], number]>) {
    const s = await main.openStore(req(name, 16, range, { restore: [h], parts }));
    t.equal(s.info.parts?.length ?? 1, parts, `${name}: ${parts} part(s)`);
    t.same(await scanLines(s), modelLines(atCheckpoint, range), `${name}: exactly the checkpoint's key groups [${range[0]}, ${range[1]}]`);
    // Point reads in every key group (so in every part) agree too.
    const groups = Array.from({ length: range[1] - range[0] + 1 }, (_, i) => range[0] + i);
    const gets = await Promise.all(groups.map(async (g) => hex(await s.get(Buffer.from('w1'), { keyGroup: g }))));
    t.same(gets, groups.map((g) => hex(atCheckpoint.get(g, Buffer.from('w1')))), `${name}: a get in every key group`);
    const h2 = await s.checkpoint();
    t.equal(h2.instances.length, parts, `${name}: its checkpoint lists its ${parts} part(s)`);
    await s.close();
    // And back: the 3-part checkpoint restores into one part.
    const back = await main.openStore(req(`${name}/back`, 16, range, { restore: [h2], parts: 1 }));
    t.same(await scanLines(back), modelLines(atCheckpoint, range), `${name}: restored again from its own checkpoint`);
    await back.close();
    await main.releaseCheckpoint(h2);
  }
  await main.releaseCheckpoint(h);
});

/** Keys whose default key group (of 16) falls in [0, 7] (part 0) and [8, 15] (part 1). */
function keysInParts(n: number): { low: string[]; high: string[] } {
  const low: string[] = [];
  const high: string[] = [];
  for (let i = 0; low.length < n || high.length < n; i++) {
    const k = `pair-${i}`;
    const g = defaultKeyGroup(Buffer.from(k), 16);
    if (g <= 7 && low.length < n) low.push(k);
    else if (g >= 8 && high.length < n) high.push(k);
  }
  return { low, high };
}

t.test('batches across parts are never torn: not by multiGets across parts, not by checkpoints', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const { d } = await daemon(t, { shards: 2, maxKeyGroups: 16, memtableBytes: 256 * 1024 });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const { low, high } = keysInParts(8);
  const writer = await main.openStore(req('torn/s', 16, [0, 15]));
  const reader = await main.openStore(req('torn/s', 16, [0, 15]));
  t.equal(writer.info.parts?.length, 2);
  // Each batch writes one value to a key of each part; every pair must always read equal.
  let stop = false;
  let batches = 0;
  const writing = (async () => {
    for (let v = 1; !stop; v++) {
      const i = r.int(low.length);
      // Not awaited one by one: several batches in flight, so checkpoints land between their parts' frames.
      await Promise.all(
        [0, 1, 2].map((j) =>
          writer.write([
            { type: 'put', key: low[(i + j) % low.length]!, value: `${v}.${j}` },
            { type: 'put', key: high[(i + j) % high.length]!, value: `${v}.${j}` },
          ]),
        ),
      );
      batches += 3;
    }
  })();
  const torn: string[] = [];
  const handles: CheckpointHandle[] = [];
  for (let round = 0; round < 30; round++) {
    const i = r.int(low.length);
    const got = (await reader.multiGet([low[i]!, high[i]!])).map((x) => (x === undefined ? undefined : Buffer.from(x).toString()));
    if (got[0] !== got[1]) torn.push(`read: ${low[i]}=${got[0]} but ${high[i]}=${got[1]}`);
    if (round % 3 === 0) handles.push(await reader.checkpoint());
  }
  stop = true;
  await writing;
  t.ok(batches > 20, `${batches} batches across parts ran during the reads and ${handles.length} checkpoints`);
  t.same(torn, [], `seed ${seed}: every multiGet saw each batch entirely or not at all`);
  for (const [n, h] of handles.entries()) {
    const s = await main.openStore(req(`torn/restored-${n}`, 16, [0, 15], { restore: [h], parts: 1 }));
    for (let i = 0; i < low.length; i++) {
      const [a, b] = (await s.multiGet([low[i]!, high[i]!])).map((x) => (x === undefined ? undefined : Buffer.from(x).toString()));
      if (a !== b) torn.push(`checkpoint ${n}: ${low[i]}=${a} but ${high[i]}=${b}`);
    }
    await s.close({ drop: true });
    await main.releaseCheckpoint(h);
  }
  t.same(torn, [], `seed ${seed}: every checkpoint holds each batch entirely or not at all`);
  await writer.close();
  await reader.close();
});

/** Total SST files of a store, from STATS. */
const files = (s: StoreStats): number => s.lsm.levels.reduce((n, l) => n + l.files, 0);

t.test('the memtable budget is split over the parts: a 2-part store holds no more than a 1-part one', async (t) => {
  // memtableBytes 8 MiB: each of 2 parts gets 4 MiB. 5.5 MiB into one part must flush it; the same into a
  // one-part store (the whole 8 MiB) must not. Large budgets: slab granularity (<= 1 MiB) cannot decide it.
  const { d } = await daemon(t, { shards: 2, maxKeyGroups: 16, memtableBytes: 8 * 2 ** 20 });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const split = await main.openStore(req('budget/two', 16, [0, 15]));
  const whole = await main.openStore(req('budget/one', 16, [0, 15], { parts: 1 }));
  t.equal(split.info.parts?.length, 2);
  const value = Buffer.alloc(16 * 1024, 7);
  for (let i = 0; i < 352; i++) await Promise.all([split.put(`a${i}`, value, { keyGroup: 3 }), whole.put(`a${i}`, value, { keyGroup: 3 })]);
  let stats = await split.stats();
  for (let i = 0; i < 100 && files(stats) === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    stats = await split.stats();
  }
  t.ok(files(stats) >= 1, `the part flushed on its half of the budget (${files(stats)} SSTs)`);
  const one = await whole.stats();
  t.equal(files(one), 0, `the same bytes stay in a one-part store's memtable (${one.lsm.memtableBytes} bytes)`);
  await split.close({ drop: true });
  await whole.close({ drop: true });
});

t.test("a part's shard thread dying fails the whole store with IO; opening it again recovers every part", async (t) => {
  const { d } = await daemon(t, { shards: 2, maxKeyGroups: 16, durability: 'wal' });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const s = await main.openStore(req('crash/s', 16, [0, 15]));
  const parts = s.info.parts!;
  await s.put('low', 'l', { keyGroup: 2 });
  await s.put('high', 'h', { keyGroup: 13 });
  await d.router.terminateShardForTesting(parts[1]!.shard);
  await t.rejects(s.get('high', { keyGroup: 13 }), { code: 'IO' }, 'the dead part fails');
  await t.rejects(s.get('low', { keyGroup: 2 }), { code: 'IO' }, 'so does the surviving part: the store lives and dies whole');
  await t.rejects(s.put('low', 'x', { keyGroup: 2 }), { code: 'IO' }, 'no write lands in half a store');
  for (let i = 0; i < 200 && !d.router.describeShards().every((x) => x.alive); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  // Opened again while the stale binding still holds the lost store: its surviving part is closed first,
  // so each instance has one writer (open slots: the shards' own two and the new store's two parts).
  const again = await main.openStore(req('crash/s', 16, [0, 15]));
  t.equal(again.info.created, false, 'reopened from primary storage');
  t.equal(again.info.parts?.length, 2);
  const slots = (): number => d.router.bus.shards.reduce((n, x) => n + x.targets.size, 0);
  t.equal(slots(), 4, 'the lost store left no part open');
  await t.rejects(s.get('low', { keyGroup: 2 }), { code: 'IO' }, 'the stale binding still fails');
  await s.close().catch(() => undefined);
  t.same([Buffer.from((await again.get('low', { keyGroup: 2 }))!).toString(), Buffer.from((await again.get('high', { keyGroup: 13 }))!).toString()], ['l', 'h'], 'every acknowledged write is back (WAL)');
  await again.put('low', 'l2', { keyGroup: 2 });
  await again.close();
  const third = await main.openStore(req('crash/s', 16, [0, 15]));
  t.equal(Buffer.from((await third.get('low', { keyGroup: 2 }))!).toString(), 'l2', 'the reopened part took writes (no stale instance fenced it)');
  await third.close();
  t.equal(slots(), 2, 'closed: only the shards own instances are open');
});

t.test('registry: one-part stores keep the version-1 record; a restart reopens every store with its parts', async (t) => {
  const { dir, d, options } = await daemon(t, { shards: 2, maxKeyGroups: 16 });
  let main = await connect(d.socket);
  const one = await main.openStore(req('reg/one', 16, [4, 11], { parts: 1 }));
  const two = await main.openStore(req('reg/two', 16, [4, 11]));
  t.equal(one.info.parts, undefined, 'a one-part store answers as before parts existed');
  t.same(two.info.parts?.map((p) => p.keyGroups), [
    [4, 7],
    [8, 11],
  ]);
  await t.rejects(main.openStore(req('reg/two', 16, [4, 11], { parts: 1 })), { code: 'INVALID_ARGUMENT', message: /exists with 2 part\(s\), but the request asks for 1/ }, 'another part count');
  await t.rejects(main.openStore(req('reg/x', 16, [4, 5], { parts: 3 })), { code: 'INVALID_ARGUMENT', message: /parts must be an integer in \[1, 2\]/ }, 'more parts than key groups');
  for (const [s, v] of [
    [one, 'one'],
    [two, 'two'],
  ] as const) {
    for (let g = 4; g <= 11; g++) await s.put(`k${g}`, `${v}${g}`, { keyGroup: g });
    await s.close();
  }
  await main.close();

  const { store: objects } = await openObjectStore(options.primary!, { skipProbe: true });
  t.teardown(() => objects.close());
  const record = async (name: string): Promise<Record<string, unknown>> => {
    const seqs = (await objects.list(namedStorePrefix('main', nameKey(name)))).length;
    return JSON.parse(Buffer.from(await objects.get(namedStorePath('main', nameKey(name), seqs))).toString()) as Record<string, unknown>;
  };
  const r1 = await record('reg/one');
  t.same([r1.formatVersion, r1.parts], [1, undefined], 'one part: a version-1 record, as older daemons write and read');
  const r2 = await record('reg/two');
  t.same([r2.formatVersion, (r2.parts as unknown[]).length], [2, 2], 'two parts: version 2 (an older daemon refuses it instead of opening one part)');
  // A record exactly as the one-part code wrote it, naming the same instance under a new seq.
  const oldStyle = { format: 'floe-named-store', formatVersion: 1, name: 'reg/one', seq: (r1.seq as number) + 1, maxKeyGroups: 16, keyGroups: [4, 11], instanceId: r1.instanceId, ephemeral: false, createdAt: new Date().toISOString() };
  await objects.put(namedStorePath('main', nameKey('reg/one'), oldStyle.seq), Buffer.from(JSON.stringify(oldStyle, null, 1)));

  await d.stop();
  const d2 = await startInProcessDaemon(dir, options);
  t.teardown(() => d2.stop().catch(() => undefined));
  main = await connect(d2.socket);
  const one2 = await main.openStore(req('reg/one', 16, [4, 11]));
  const two2 = await main.openStore(req('reg/two', 16, [4, 11]));
  t.same([one2.info.created, one2.info.parts], [false, undefined], 'the old-style record reopens as one part');
  t.same([two2.info.created, two2.info.parts?.length], [false, 2], 'the 2-part store reopens with its 2 parts');
  for (const [s, v] of [
    [one2, 'one'],
    [two2, 'two'],
  ] as const) {
    const got = await scanLines(s);
    t.same(
      got.map((e) => e.split('=')[1]),
      Array.from({ length: 8 }, (_, i) => hex(Buffer.from(`${v}${i + 4}`))),
      `${v}: every key group's value after the restart`,
    );
  }
  await one2.close();
  await two2.close();
  await main.close();
  await d2.stop();
});

t.test('every part retires: an ephemeral store when its last connection goes, a persistent one when dropped', async (t) => {
  const { d, options } = await daemon(t, { shards: 2, maxKeyGroups: 16 });
  const main = await connect(d.socket);
  t.teardown(() => main.close().catch(() => undefined));
  const { store: objects } = await openObjectStore(options.primary!, { skipProbe: true });
  t.teardown(() => objects.close());
  const retired = async (ids: string[]): Promise<boolean[]> => {
    const all = await listInstanceSummaries(objects);
    return ids.map((id) => all.find((x) => x.instanceId === id)?.retired !== undefined);
  };
  for (const [name, extra, close] of [
    ['retire/ephemeral', { ephemeral: true }, {}],
    ['retire/dropped', {}, { drop: true }],
  ] as const) {
    const s = await main.openStore(req(name, 16, [0, 15], { ...extra, parts: 3 }));
    for (let g = 0; g < 16; g++) await s.put(`k${g}`, 'v', { keyGroup: g });
    const h = await s.checkpoint();
    const ids = h.instances.map((i) => i.instanceId);
    t.equal(ids.length, 3);
    t.same(await retired(ids), [false, false, false], `${name}: live while open`);
    await s.close(close);
    t.same(await retired(ids), [true, true, true], `${name}: every part retired`);
    await main.releaseCheckpoint(h);
  }
});
