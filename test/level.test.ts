/**
 * `floe/level` beyond the compliance suite: the same seeded random operations (put, del, batches, chained
 * batches, clear of ranges, sublevels, iterators with random bounds/reverse/limit/seek, explicit snapshots)
 * on FloeLevel and on classic-level (LevelDB) side by side, every read compared; persistence across
 * close/reopen on a folder path (file://); and where the adapter's keys live in the store (one key group,
 * tagged keys).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { FloeLevel, LEVEL_KEY_TAG } from '../lib/level/index.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

/** Both databases through one type (the same abstract-level API). */
type Db = FloeLevel<string, string>;

const storeOptions = { compactionWorkers: 0, maxKeyGroups: 8, blockBytes: 256, l0CompactionTrigger: 2 } as const;

t.test('random operations agree with classic-level', async (t) => {
  const seed = seedFromEnv();
  const dir = mkdtempSync(join(tmpdir(), 'floe-level-diff-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const floe = new FloeLevel<string, string>(join(dir, 'floe'), { store: { ...storeOptions, localDir: join(dir, 'cache') }, keyGroup: 3 });
  const classic = new ClassicLevel<string, string>(join(dir, 'classic'));
  await Promise.all([floe.open(), classic.open()]);
  // Sublevels are opened once (a chained batch on a sublevel that is still opening is refused).
  const subs = new Map<Db, Db>();
  for (const db of [floe, classic as unknown as Db]) {
    const sub = db.sublevel('sub');
    await sub.open();
    subs.set(db, sub as unknown as Db);
  }
  const r = new Random(seed);
  const key = (): string => `${['', 'a', 'b', 'ab', 'b~'][r.int(5)]}${r.int(60).toString(36)}`;
  const value = (): string => r.bytes(r.int(40)).toString();
  const both = async <T>(what: string, f: (db: Db) => Promise<T>): Promise<void> => {
    const [a, b] = await Promise.all([f(floe), f(classic as unknown as Db)]);
    if (JSON.stringify(a) !== JSON.stringify(b)) t.fail(`seed ${seed} ${what}: floe ${JSON.stringify(a)?.slice(0, 300)}, classic-level ${JSON.stringify(b)?.slice(0, 300)}`);
  };
  const counts: Record<string, number> = {};
  for (let i = 0; i < 1500; i++) {
    const p = r.next();
    const step = `op ${i}`;
    const inSub = r.bool(0.2);
    const target = (db: Db): Db => (inSub ? subs.get(db)! : db);
    let name: string;
    if (p < 0.3) {
      const [k, v] = [key(), value()];
      name = 'put';
      await both(step, (db) => target(db).put(k, v));
    } else if (p < 0.4) {
      const k = key();
      name = 'del';
      await both(step, (db) => target(db).del(k));
    } else if (p < 0.5) {
      const ops = Array.from({ length: r.range(1, 10) }, () => (r.bool(0.7) ? { type: 'put' as const, key: key(), value: value() } : { type: 'del' as const, key: key() }));
      name = r.bool(0.5) ? 'batch' : 'chainedBatch';
      await both(step, async (db) => {
        if (name === 'batch') return target(db).batch(ops);
        const b = target(db).batch();
        for (const op of ops) if (op.type === 'put') b.put(op.key, op.value); else b.del(op.key);
        return b.write();
      });
    } else if (p < 0.65) {
      const o: Record<string, unknown> = {};
      if (r.bool(0.4)) o[r.bool(0.5) ? 'gt' : 'gte'] = key();
      if (r.bool(0.4)) o[r.bool(0.5) ? 'lt' : 'lte'] = key();
      if (r.bool(0.5)) o.reverse = true;
      if (r.bool(0.3)) o.limit = r.int(20);
      const seekTo = r.bool(0.3) ? key() : undefined;
      name = 'iterator';
      await both(`${step} iterator ${JSON.stringify(o)} seek ${seekTo}`, async (db) => {
        const it = target(db).iterator(o);
        const first = await it.nextv(3);
        if (seekTo !== undefined) it.seek(seekTo);
        return [first, await it.all()];
      });
    } else if (p < 0.7) {
      const [a, b] = [key(), key()];
      name = 'getMany+has';
      await both(step, async (db) => [await target(db).getMany([a, b]), await target(db).has(a)]);
    } else if (p < 0.73) {
      const o = { gte: key(), ...(r.bool(0.5) ? { limit: r.int(10) } : {}), ...(r.bool(0.5) ? { reverse: true } : {}) };
      name = 'clear';
      await both(`${step} clear ${JSON.stringify(o)}`, (db) => target(db).clear(o));
    } else if (p < 0.76) {
      // A snapshot, writes after it, and reads at it.
      const [k, v] = [key(), value()];
      name = 'snapshot';
      await both(step, async (db) => {
        const snap = db.snapshot();
        await db.put(k, v);
        const out = [await db.get(k, { snapshot: snap }), await db.keys({ snapshot: snap, limit: 5, reverse: true }).all()];
        await snap.close();
        return out;
      });
    } else if (p < 0.78) {
      name = 'flush';
      await floe.store.flush();
    } else {
      const k = key();
      name = 'get';
      await both(step, (db) => target(db).get(k));
    }
    counts[name] = (counts[name] ?? 0) + 1;
  }
  await both('final contents', (db) => db.iterator().all());
  t.ok((await floe.store.stats()).lsm.levels.some((l) => l.files > 0), 'data reached SSTs');
  await Promise.all([floe.close(), classic.close()]);
  t.pass(`seed ${seed}: ${JSON.stringify(counts)}`);
});

t.test('a folder path persists across close and reopen; keys live tagged in one key group', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-level-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const open = (): FloeLevel<string, unknown> =>
    new FloeLevel<string, unknown>(join(dir, 'db'), { valueEncoding: 'json', keyGroup: 5, store: { ...storeOptions, localDir: join(dir, 'cache') } });
  const db = open();
  t.equal(db.primary, `file://${join(dir, 'db')}`, 'a folder path becomes a file:// primary');
  const users = db.sublevel<string, unknown>('users', { valueEncoding: 'json' });
  await users.put('alice', { n: 1 });
  await db.batch().put('', 'empty key').put('z', [1, 2]).write();
  await db.close();
  const again = open();
  await again.open();
  t.same(await again.sublevel<string, unknown>('users', { valueEncoding: 'json' }).get('alice'), { n: 1 }, 'sublevel value after reopen');
  t.same(await again.keys({ reverse: true }).all(), ['z', '!users!alice', ''], 'global reverse order after reopen, empty key included');
  const raw = [];
  for await (const e of again.store.scan()) raw.push([e.keyGroup, e.key[0]]);
  t.same(raw, [[5, LEVEL_KEY_TAG], [5, LEVEL_KEY_TAG], [5, LEVEL_KEY_TAG]], 'every key in key group 5 with the tag byte');
  await again.store.put('foreign', 'x', { keyGroup: 5 });
  t.same(await again.keys().all(), ['', '!users!alice', 'z'], 'keys the program writes into the group directly stay invisible');
  await again.close();
  t.throws(() => new FloeLevel(join(dir, 'db'), { keyGroup: 9, store: { maxKeyGroups: 8 } }), { code: 'INVALID_ARGUMENT' }, 'a key group outside maxKeyGroups');
});
