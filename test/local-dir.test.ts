/**
 * The local disk budget (issue 8, defect 6): one disk cache per localDir shared by every instance, keyed by
 * primary and file id; `diskCacheBytes` bounds everything under localDir across instances, restores,
 * rescales and restarts; a stable default localDir; the localDir lock between processes; tidying of what
 * earlier versions and shard counts left behind. Disk use is measured by walking the folder tree.
 */
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store, StoreOptions } from '../lib/api.js';
import type { ShardedStore } from '../lib/daemon/sharded-store.js';
import { LocalDirLock, encodeLock, type ProcessProbe } from '../lib/cache/local-dir.js';
import { openStore, restoreStore } from '../lib/index.js';
import { defaultLocalDir } from '../lib/options.js';
import { dropMemStore } from '../lib/store/mem.js';
import { nodeLocalFs } from '../lib/store/local-file.js';
import { localNames } from '../lib/store/paths.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { diskUse } from './support/disk-use.js';

const seed = seedFromEnv();
t.comment(`FLOE_SEED=${seed}`);

const KiB = 1024;
const MiB = 1024 * KiB;
const LIB = new URL('../lib/index.js', import.meta.url).href;

const small: Partial<StoreOptions> = {
  maxKeyGroups: 8,
  memtableBytes: 64 * KiB,
  targetFileBytes: 64 * KiB,
  levelBaseBytes: 256 * KiB,
  blockBytes: 4 * KiB,
  blockCacheBytes: 0, // every read goes to the disk cache or the primary
  compactionWorkers: 0,
};

function tempDir(t: { teardown(fn: () => void): void }, prefix = 'floe-localdir-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const keyOf = (i: number): string => `key-${String(i).padStart(6, '0')}`;

/** Writes `n` keys of `valueBytes` random bytes; returns the values by key index. */
async function fill(store: Store, n: number, valueBytes: number, random: Random): Promise<Uint8Array[]> {
  const values: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = random.bytes(valueBytes);
    values.push(v);
    await store.put(keyOf(i), v);
  }
  await store.flush();
  return values;
}

/** Reads every key in chunks, calling `sample` between chunks; returns how many values differed. */
async function readAll(store: Store, values: readonly Uint8Array[], sample: () => void = () => undefined): Promise<number> {
  let wrong = 0;
  for (let at = 0; at < values.length; at += 250) {
    const keys = values.slice(at, at + 250).map((_, j) => keyOf(at + j));
    const got = await store.multiGet(keys);
    got.forEach((v, j) => {
      if (v === undefined || Buffer.compare(Buffer.from(v), Buffer.from(values[at + j]!)) !== 0) wrong++;
    });
    sample();
  }
  return wrong;
}

/** Tracks the peak disk use of a folder over samples. */
function peakMeter(dir: string): { sample: () => void; peak: () => { size: number; allocated: number } } {
  let size = 0;
  let allocated = 0;
  const sample = (): void => {
    const u = diskUse(dir);
    size = Math.max(size, u.size);
    allocated = Math.max(allocated, u.allocated);
  };
  return { sample, peak: () => {
      sample();
      return { size, allocated };
    } };
}

t.test('restores into new instances on one localDir keep everything under it within diskCacheBytes', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const budget = 1 * MiB;
  const opts = (instanceId: string): StoreOptions => ({ primary: `file://${dir}/primary`, localDir, ...small, diskCacheBytes: budget, instanceId });
  const meter = peakMeter(localDir);
  const random = new Random(seed);
  const source = await openStore(opts('main'));
  const values = await fill(source, 3000, 600, random); // ~1.8 MB of values: more than the budget
  t.equal(await readAll(source, values, meter.sample), 0, 'source reads');
  const handle = await source.checkpoint();
  await source.close();
  meter.sample();
  for (let i = 0; i < 4; i++) {
    const restored = await restoreStore(opts(`restored-${i}`), [handle]);
    t.equal(await readAll(restored, values, meter.sample), 0, `restore ${i} reads the checkpointed values`);
    await restored.close();
    meter.sample();
  }
  const peak = meter.peak();
  t.ok(peak.size <= budget, `sum of file sizes under localDir peaked at ${peak.size} <= ${budget}`);
  t.ok(peak.allocated <= budget, `allocated blocks under localDir peaked at ${peak.allocated} <= ${budget}`);
  t.same(readdirSync(localDir).sort(), [localNames.diskCacheDir], 'one cache folder, no per-instance folders; the lock is gone after close');
  t.same(readdirSync(join(localDir, localNames.diskCacheDir)).sort(), [localNames.diskCacheIndex, localNames.diskCacheData]);
});

t.test('a restore into a new instance reuses the pages cached for the same files, open or closed', async (t) => {
  const dir = tempDir(t);
  const opts = (instanceId: string): StoreOptions => ({ primary: `file://${dir}/primary`, localDir: join(dir, 'local'), ...small, diskCacheBytes: 8 * MiB, instanceId });
  const random = new Random(seed ^ 0x51);
  const source = await openStore(opts('main'));
  const values = await fill(source, 1500, 300, random);
  t.equal(await readAll(source, values), 0);
  const handle = await source.checkpoint();

  // Both open: one shared cache.
  const twin = await restoreStore(opts('twin'), [handle]);
  let before = (await twin.stats()).diskCache.misses;
  t.equal(await readAll(twin, values), 0, 'twin reads');
  let stats = await twin.stats();
  // Every SST read goes through the disk cache, so no miss means no remote read of SST bytes (GC may still read records).
  t.equal(stats.diskCache.misses - before, 0, 'the twin reads its (shared) files from the cache of the source: no page fetched remotely');
  t.ok(stats.diskCache.hits > 0, `twin disk cache hits: ${stats.diskCache.hits}`);
  await source.close();
  t.equal(await readAll(twin, values), 0, 'closing one store leaves the shared cache working for the other');
  await twin.close();

  // After both closed: the persisted cache serves the next restore.
  const later = await restoreStore(opts('later'), [handle]);
  before = (await later.stats()).diskCache.misses;
  t.equal(await readAll(later, values), 0);
  stats = await later.stats();
  t.equal(stats.diskCache.misses - before, 0, 'a later restore reads from the persisted cache');
  await later.close();
});

t.test('folders of earlier versions and Floe leftovers are removed; foreign files are kept and counted', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const budget = 1 * MiB;
  // What an earlier version left: a per-instance cache folder, a shard folder, a stale takeover file.
  mkdirSync(join(localDir, localNames.diskCacheDir, 'main'), { recursive: true });
  writeFileSync(join(localDir, localNames.diskCacheDir, 'main', 'pages.dat'), Buffer.alloc(700 * KiB, 1));
  mkdirSync(join(localDir, 'shard-3', localNames.diskCacheDir), { recursive: true });
  writeFileSync(join(localDir, 'shard-3', localNames.diskCacheDir, 'pages.dat'), Buffer.alloc(300 * KiB, 2));
  writeFileSync(join(localDir, `${localNames.lockFile}.0123abcd`), 'floe-lock 1 1 x\n');
  writeFileSync(join(localDir, 'notes.txt'), Buffer.alloc(100 * KiB, 3)); // not Floe's: kept
  const meter = peakMeter(localDir);
  const store = await openStore({ primary: `file://${dir}/primary`, localDir, ...small, diskCacheBytes: budget });
  t.same(readdirSync(localDir).sort(), [localNames.diskCacheDir, localNames.lockFile, 'notes.txt'], 'leftovers removed');
  t.same(readdirSync(join(localDir, localNames.diskCacheDir)).sort(), [localNames.diskCacheData], 'old per-instance folder removed');
  const capacity = (await store.stats()).diskCache.capacity;
  t.ok(capacity <= budget - 100 * KiB - 8 * KiB, `the cache gets what the foreign file and the lock leave: ${capacity}`);
  const values = await fill(store, 3000, 600, new Random(seed ^ 0x77));
  t.equal(await readAll(store, values, meter.sample), 0);
  await store.close();
  const peak = meter.peak();
  t.ok(peak.size <= budget && peak.allocated <= budget, `localDir incl. the foreign file peaked at ${peak.size} B (${peak.allocated} allocated) <= ${budget}`);
  t.ok(existsSync(join(localDir, 'notes.txt')), 'the foreign file is still there');
});

t.test('a zero budget removes the caches earlier runs left, and nothing else', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const opts = (diskCacheBytes: number): StoreOptions => ({ primary: `file://${dir}/primary`, localDir, ...small, diskCacheBytes });
  const s1 = await openStore(opts(512 * KiB));
  await fill(s1, 500, 200, new Random(seed));
  await s1.close();
  writeFileSync(join(localDir, 'notes.txt'), 'mine');
  t.ok(diskUse(join(localDir, localNames.diskCacheDir)).size > 0, 'a cache was left');
  const s2 = await openStore(opts(0));
  t.same(readdirSync(localDir), ['notes.txt'], 'the cache is gone; the foreign file stays');
  await s2.close();
});

t.test('keys are (store, file id): two primaries on one localDir, and stores re-created at one URI, never see each other\'s pages', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const run = async (primary: string, valueSeed: number): Promise<number> => {
    const opts: StoreOptions = { primary, localDir, ...small, diskCacheBytes: 4 * MiB };
    const w = await openStore(opts);
    const values = await fill(w, 800, 200, new Random(valueSeed)); // same keys, sizes and file ids; other bytes
    await w.close();
    const r = await openStore(opts);
    const wrong = await readAll(r, values);
    await r.close();
    return wrong;
  };
  t.equal(await run(`file://${dir}/a`, seed), 0, 'primary a');
  t.equal(await run(`file://${dir}/b`, seed ^ 1), 0, 'primary b: same file ids as a, its own bytes');
  rmSync(join(dir, 'a'), { recursive: true, force: true }); // a's data deleted, a new store created at the same URI
  t.equal(await run(`file://${dir}/a`, seed ^ 4), 0, 'a store re-created at the URI of a: same file ids, other bytes');
  const name = `floe-localdir-${process.pid}`;
  t.teardown(() => dropMemStore(name));
  t.equal(await run(`mem://${name}`, seed ^ 2), 0, 'mem store');
  dropMemStore(name);
  t.equal(await run(`mem://${name}`, seed ^ 3), 0, 'the same mem name re-created: same file ids, other bytes');
});

/** Runs `body` (an async ESM snippet with `lib` = lib/index.js) in a child node process. */
function child(body: string): ChildProcess {
  const script = `const lib = await import(${JSON.stringify(LIB)});\n${body}`;
  return spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
}

function waitFor(c: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes(text)) resolve();
    });
    c.on('exit', (code) => reject(new Error(`child exited (${code}) before printing ${text}: ${out}`)));
  });
}

const exited = (c: ChildProcess): Promise<void> => new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve() : c.on('exit', () => resolve())));

t.test('a restart with the default localDir finds its disk cache', async (t) => {
  const dir = tempDir(t);
  const primary = `file://${dir}/primary`;
  const options: StoreOptions = { primary, ...small, diskCacheBytes: 4 * MiB };
  t.teardown(() => rmSync(defaultLocalDir(primary), { recursive: true, force: true }));
  const writer = child(`
    const s = await lib.openStore(${JSON.stringify(options)});
    for (let i = 0; i < 1000; i++) await s.put('key-' + String(i).padStart(6, '0'), 'value-' + i);
    await s.flush();
    await s.close();
    process.stdout.write('done\\n');`);
  await waitFor(writer, 'done');
  await exited(writer);
  // This process is the restart: another pid, the same default options.
  const store = await openStore(options);
  const before = await store.stats();
  const got = await store.multiGet(Array.from({ length: 1000 }, (_, i) => keyOf(i)));
  t.same(got.map((v) => Buffer.from(v!).toString()), Array.from({ length: 1000 }, (_, i) => `value-${i}`));
  const after = await store.stats();
  t.equal(after.diskCache.misses - before.diskCache.misses, 0, 'every SST page came from the cache the first process left');
  t.ok(after.diskCache.hits > 0, `disk cache hits after restart: ${after.diskCache.hits}`);
  await store.close();
  t.ok(defaultLocalDir(primary).startsWith(join(tmpdir(), 'floe-cache')), 'default localDir is under the temp folder');
  t.not(defaultLocalDir(primary), defaultLocalDir(`${primary}2`), 'one per primary');
});

t.test('a reopen with the default localDir and a mem:// primary finds its disk cache', async (t) => {
  const primary = `mem://floe-localdir-reopen-${process.pid}`;
  const options: StoreOptions = { primary, ...small, diskCacheBytes: 4 * MiB };
  t.teardown(() => {
    dropMemStore(primary.slice('mem://'.length));
    rmSync(defaultLocalDir(primary), { recursive: true, force: true });
  });
  const w = await openStore(options);
  const values = await fill(w, 1000, 100, new Random(seed ^ 0x33));
  await w.close();
  const r = await openStore(options);
  const before = await r.stats();
  t.equal(await readAll(r, values), 0);
  const after = await r.stats();
  t.equal(after.diskCache.misses - before.diskCache.misses, 0, 'no SST page fetched remotely after reopen');
  t.ok(after.diskCache.hits > 0, `disk cache hits after reopen: ${after.diskCache.hits}`);
  await r.close();
});

t.test('two processes: the second gets a CONFIG error naming localDir; a dead holder\'s lock is taken over', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const options: StoreOptions = { primary: `file://${dir}/primary`, localDir, ...small, diskCacheBytes: 1 * MiB };
  const holder = child(`
    const s = await lib.openStore(${JSON.stringify({ ...options, instanceId: 'holder' })});
    process.stdout.write('ready\\n');
    await new Promise(() => setInterval(() => {}, 1000));`);
  await waitFor(holder, 'ready');
  try {
    const error = await openStore(options).then(
      async (s) => {
        await s.close();
        return undefined;
      },
      (e: unknown) => e as { code?: string; message?: string },
    );
    t.equal(error?.code, 'CONFIG', 'the second process is refused with CONFIG');
    t.match(error?.message, localDir, 'the message names localDir');
    t.match(error?.message, `pid ${holder.pid}`, 'and the holder');
    t.match(error?.message, /own localDir/, 'and the fix');
  } finally {
    holder.kill('SIGKILL');
    await exited(holder);
  }
  t.ok(existsSync(join(localDir, localNames.lockFile)), 'the killed holder left its lock');
  const store = await openStore(options);
  t.pass('opened after taking over the stale lock');
  await store.close();
  t.notOk(existsSync(join(localDir, localNames.lockFile)), 'lock released on close');
});

t.test('in one process: stores share a localDir with one budget; other budgets and a sharded store are refused', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const base: StoreOptions = { primary: `file://${dir}/primary`, localDir, ...small, diskCacheBytes: 1 * MiB };
  const a = await openStore(base);
  const b = await openStore({ ...base, instanceId: 'other' });
  t.equal((await a.stats()).diskCache.capacity, (await b.stats()).diskCache.capacity, 'one cache');
  await t.rejects(openStore({ ...base, instanceId: 'third', diskCacheBytes: 2 * MiB }), { code: 'CONFIG', message: /diskCacheBytes 1048576/ });
  await t.rejects(openStore({ ...base, instanceId: 'sharded', shards: 2 }), { code: 'CONFIG', message: /already used by an embedded store/ });
  await a.close();
  t.ok(existsSync(join(localDir, localNames.lockFile)), 'still locked while b is open');
  await b.close();
  t.notOk(existsSync(join(localDir, localNames.lockFile)), 'the last close releases the folder');
  const s = await openStore({ ...base, instanceId: 'sharded', shards: 2 });
  await t.rejects(openStore(base), { code: 'CONFIG', message: /already used by a sharded store/ });
  await t.rejects(openStore({ ...base, instanceId: 'sharded', shards: 2 }), { code: 'CONFIG', message: /already used by another sharded store/ });
  await s.close();
});

t.test('a shard thread killed while holding its folder does not lock out the next open in this process', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const options: StoreOptions = { primary: `file://${dir}/primary`, localDir, ...small, diskCacheBytes: 1 * MiB, shards: 2 };
  const s = (await openStore(options)) as ShardedStore;
  await s.put('a', '1', { keyGroup: 0 });
  await s.routerForTesting().terminateShardForTesting(1);
  await t.rejects(s.close(), { code: 'IO' });
  t.ok(existsSync(join(localDir, 'shard-1', localNames.lockFile)), 'the killed thread left its shard lock');
  const again = await openStore(options);
  t.equal(Buffer.from((await again.get('a', { keyGroup: 0 }))!).toString(), '1', 'reopened');
  await again.close();
});

t.test('with the WAL, a crashed shard thread restarts in place on its cache folder (its own dead lock is cleared)', async (t) => {
  const dir = tempDir(t);
  const options: StoreOptions = { primary: `file://${dir}/primary`, localDir: join(dir, 'local'), ...small, diskCacheBytes: 1 * MiB, shards: 2, durability: 'wal' };
  const s = (await openStore(options)) as ShardedStore;
  for (let i = 0; i < 50; i++) await s.put(`k${i}`, `v${i}`, { keyGroup: i % 8 });
  await s.routerForTesting().terminateShardForTesting(1);
  let back = false;
  for (let i = 0; i < 100 && !back; i++) {
    back = await s.get('k5', { keyGroup: 5 }).then(
      (v) => v !== undefined && Buffer.from(v).toString() === 'v5',
      () => false,
    );
    if (!back) await new Promise((r) => setTimeout(r, 50));
  }
  t.ok(back, 'shard 1 restarted on its folder and serves again');
  await s.close();
});

t.test('sharded store: shards split the budget; folders of other shard counts go at start', async (t) => {
  const dir = tempDir(t);
  const localDir = join(dir, 'local');
  const budget = 2 * MiB;
  const opts = (shards: number): StoreOptions => ({ primary: `file://${dir}/primary`, localDir, ...small, blockCacheBytes: 0, diskCacheBytes: budget, shards });
  const meter = peakMeter(localDir);
  const four = await openStore(opts(4));
  const values = await fill(four, 4000, 600, new Random(seed ^ 0x99)); // 2.4 MB: more than the budget
  t.equal(await readAll(four, values, meter.sample), 0);
  const handle = await four.checkpoint();
  await four.close();
  t.same(readdirSync(localDir).filter((n) => n.startsWith('shard-')).sort(), ['shard-0', 'shard-1', 'shard-2', 'shard-3']);
  const two = await restoreStore(opts(2), [handle]);
  t.same(readdirSync(localDir).filter((n) => n.startsWith('shard-')).sort(), ['shard-0', 'shard-1'], 'folders of shards 2 and 3 removed');
  t.equal(await readAll(two, values, meter.sample), 0, 'two shards read the restored values');
  await two.close();
  const three = await restoreStore(opts(3), [handle]);
  t.equal(await readAll(three, values, meter.sample), 0, 'three shards');
  await three.close();
  const peak = meter.peak();
  t.ok(peak.size <= budget && peak.allocated <= budget, `localDir peaked at ${peak.size} B (${peak.allocated} allocated) <= ${budget} across 4, 2 and 3 shards`);
});

t.test('lock file: published whole, torn ones are stale, a live owner is busy, release keeps a foreign lock', async (t) => {
  const dir = tempDir(t);
  const lockPath = join(dir, localNames.lockFile);
  const me = { pid: 4242, start: 'ticks:7' };
  const other = { pid: 4343, start: 'ticks:9' };
  let otherAlive = true;
  const probe: ProcessProbe = { self: async () => me, alive: async (id) => id.pid === other.pid && id.start === other.start && otherAlive };

  writeFileSync(lockPath, encodeLock(other));
  await t.rejects(LocalDirLock.acquire(dir, nodeLocalFs, probe), { code: 'CONFIG', message: /another running process \(pid 4343\)/ });
  await t.rejects(LocalDirLock.acquire(dir, nodeLocalFs, { ...probe, self: async () => other }), { code: 'CONFIG', message: /another thread of this process/ });
  otherAlive = false;
  const lock = await LocalDirLock.acquire(dir, nodeLocalFs, probe);
  t.same(readdirSync(dir), [localNames.lockFile], 'no private or takeover files left');
  await lock.release();
  t.same(readdirSync(dir), [], 'released');

  writeFileSync(lockPath, 'floe-lock 1 43'); // torn by a crash: no complete lock is ever published
  const again = await LocalDirLock.acquire(dir, nodeLocalFs, probe);
  writeFileSync(lockPath, encodeLock(other)); // someone else's now (as after a forced takeover)
  await again.release();
  t.ok(existsSync(lockPath), 'release never deletes a lock it does not hold');
});
