/**
 * LocalObjectStore: the contract suite, plus what is specific to files — atomic visibility through temp
 * files, temp cleanup, fsync, path conflicts, and errno → FloeError mapping.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isFloeError } from '../lib/errors.js';
import { LOCAL_TEMP_DIR, LocalObjectStore, mapFsError, SYNC_READ_LIMIT } from '../lib/store/local.js';
import { FaultInjectingObjectStore } from '../lib/store/faults.js';
import { MetricsObjectStore } from '../lib/store/metrics.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { RetryingObjectStore } from '../lib/store/retry.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import type { Clock } from '../lib/util/clock.js';
import { expectCode, runStoreContract, sameBytes } from './support/store-contract.js';

function freshDir(): string {
  return mkdtempSync(join(tmpdir(), 'floe-store-local-'));
}

runStoreContract(t, 'local', async () => {
  const dir = freshDir();
  const store = await LocalObjectStore.open(join(dir, 'root'));
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

runStoreContract(t, 'local (durable: false)', async () => {
  const dir = freshDir();
  const store = await LocalObjectStore.open(dir, { durable: false });
  return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

t.test('local: objects are files at their paths; a second store on the root sees them', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await LocalObjectStore.open(dir);
  t.equal(store.uri, `file://${dir}`, 'uri is the file URI of the root');
  await store.put('sst/f-1.sst', Uint8Array.from([1, 2, 3]));
  t.same([...readFileSync(join(dir, 'sst', 'f-1.sst'))], [1, 2, 3], 'the object is a plain file');
  const again = await LocalObjectStore.open(dir);
  sameBytes(t, await again.get('sst/f-1.sst'), Uint8Array.from([1, 2, 3]), 'another store on the same root reads it');
  const got = await again.get('sst/f-1.sst', { offset: 1, length: 2 });
  t.equal(Object.getPrototypeOf(got), Uint8Array.prototype, 'get returns a plain Uint8Array');
  t.equal(got.byteOffset, 0, 'the result owns its ArrayBuffer (not a pooled slab)');
  await store.close();
  await expectCode(t, store.get('sst/f-1.sst'), 'CLOSED', 'get after close');
  await expectCode(t, store.put('x', new Uint8Array(1)), 'CLOSED', 'put after close');
});

t.test('local: ranged reads either side of the synchronous-read limit match the file, short past its end', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seed = seedFromEnv();
  t.comment(`seed ${seed} (FLOE_SEED=${seed} to replay)`);
  const rnd = new Random(seed);
  const store = await LocalObjectStore.open(dir);
  const size = 3 * SYNC_READ_LIMIT + rnd.int(SYNC_READ_LIMIT);
  let model = rnd.bytes(size);
  await store.put('sst/big.sst', model);
  const lengths = [1, SYNC_READ_LIMIT - 1, SYNC_READ_LIMIT, SYNC_READ_LIMIT + 1, 2 * SYNC_READ_LIMIT];
  let short = 0;
  for (let i = 0; i < 200; i++) {
    if (i === 100) {
      // An overwrite by this store drops the cached handle: later reads see the new bytes.
      model = rnd.bytes(size);
      await store.put('sst/big.sst', model);
    }
    const length = rnd.bool(0.6) ? rnd.pick(lengths) : 1 + rnd.int(2 * SYNC_READ_LIMIT);
    const offset = rnd.bool(0.3) ? Math.max(0, size - rnd.int(length + 16)) : rnd.int(size);
    const got = await store.get('sst/big.sst', { offset, length });
    const want = model.subarray(offset, Math.min(size, offset + length));
    if (want.length < length) short++;
    if (got.length !== want.length || Buffer.compare(got, want) !== 0) {
      t.fail(`read ${i} at ${offset} + ${length}: got ${got.length} bytes, want ${want.length} (seed ${seed})`);
      return;
    }
  }
  t.ok(short > 0, `some reads ran past the end and came back short (${short})`);
  // Errors keep their codes on both paths: a missing object, a folder, a deleted object.
  for (const length of [16, SYNC_READ_LIMIT + 1]) {
    await expectCode(t, store.get('sst/absent.sst', { offset: 0, length }), 'NOT_FOUND', `missing object, length ${length}`);
    await expectCode(t, store.get('sst', { offset: 0, length }), 'NOT_FOUND', `a folder, length ${length}`);
  }
  await store.delete('sst/big.sst');
  await expectCode(t, store.get('sst/big.sst', { offset: 0, length: 16 }), 'NOT_FOUND', 'a deleted object');
  await store.close();
});

t.test('local: readIntoSync serves block reads into the caller buffer once the handle is open; retry and metrics pass it on', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const seed = seedFromEnv();
  const rnd = new Random(seed);
  const local = await LocalObjectStore.open(dir);
  const metrics = new MetricsObjectStore(new RetryingObjectStore(local));
  const size = 2 * SYNC_READ_LIMIT + rnd.int(1000);
  let model = rnd.bytes(size);
  await metrics.put('sst/a.sst', model);
  const dest = new Uint8Array(SYNC_READ_LIMIT + 8);
  t.equal(metrics.readIntoSync!('sst/a.sst', 0, 16, dest), -1, 'not served before the file has an open handle');
  await metrics.get('sst/a.sst', { offset: 0, length: 16 }); // opens and caches the handle
  const before = metrics.snapshot();
  for (let i = 0; i < 100; i++) {
    const length = 1 + rnd.int(SYNC_READ_LIMIT);
    const offset = rnd.int(size);
    dest.fill(0xee);
    const n = metrics.readIntoSync!('sst/a.sst', offset, length, dest);
    const want = model.subarray(offset, Math.min(size, offset + length));
    if (n !== want.length || Buffer.compare(dest.subarray(0, n), want) !== 0 || (n < dest.length && dest[n] !== 0xee)) {
      t.fail(`sync read ${i} at ${offset} + ${length}: got ${n} bytes, want ${want.length} (seed ${seed})`);
      return;
    }
  }
  const counted = metrics.since(before);
  t.equal(counted.gets, 100, 'each served sync read counts as a get');
  t.ok(counted.bytesRead > 0 && counted.latency.get.count === 100, 'with its bytes and latency');
  t.equal(metrics.readIntoSync!('sst/a.sst', 0, SYNC_READ_LIMIT + 1, new Uint8Array(SYNC_READ_LIMIT + 1)), -1, 'over SYNC_READ_LIMIT: not served');
  t.equal(metrics.readIntoSync!('sst/a.sst', 0, 32, new Uint8Array(16)), -1, 'a destination too small: not served');
  t.equal(metrics.readIntoSync!('../etc/passwd', 0, 16, dest), -1, 'an invalid path: not served (get reports it)');
  t.equal(metrics.readIntoSync!('sst/other.sst', 0, 16, dest), -1, 'a file never opened: not served');
  // An overwrite by this store drops the handle; the next sync read is not served until get reopens it.
  model = rnd.bytes(size);
  await metrics.put('sst/a.sst', model);
  t.equal(metrics.readIntoSync!('sst/a.sst', 0, 16, dest), -1, 'after an overwrite: not served');
  await metrics.get('sst/a.sst', { offset: 0, length: 16 });
  t.equal(metrics.readIntoSync!('sst/a.sst', 100, 16, dest), 16, 'served again after get reopened it');
  t.same([...dest.subarray(0, 16)], [...model.subarray(100, 116)], 'new bytes');
  await metrics.delete('sst/a.sst');
  t.equal(metrics.readIntoSync!('sst/a.sst', 0, 16, dest), -1, 'after a delete: not served');
  await metrics.close();
  t.equal(local.readIntoSync('sst/a.sst', 0, 16, dest), -1, 'after close: not served');
  t.equal((new FaultInjectingObjectStore(local) as ObjectStore).readIntoSync, undefined, 'fault injection has no sync reads (its faults stay on the async path)');
});

t.test('local: a put is invisible until complete, and an overwrite shows old bytes until then', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await LocalObjectStore.open(dir);
  await store.put('vis/existing', Uint8Array.from([1, 1, 1]));
  const observed: string[] = [];
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let reachedMiddle: () => void = () => undefined;
  const middle = new Promise<void>((resolve) => (reachedMiddle = resolve));
  async function* slow(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(100_000).fill(2);
    reachedMiddle();
    await gate;
    yield new Uint8Array(100_000).fill(3);
  }
  async function* slowOverwrite(): AsyncGenerator<Uint8Array> {
    yield Uint8Array.from([9, 9]);
    await gate;
    yield Uint8Array.from([9]);
  }
  const writing = store.putStream('vis/new', slow());
  const overwriting = store.putStream('vis/existing', slowOverwrite());
  await middle;
  observed.push(`head=${String((await store.head('vis/new'))?.size)}`);
  observed.push(`list=${(await store.list('vis/')).map((i) => `${i.path}:${i.size}`).join(',')}`);
  const old = await store.get('vis/existing');
  observed.push(`existing=${[...old].join('')}`);
  t.ok(readdirSync(join(dir, LOCAL_TEMP_DIR)).length >= 1, 'the partial data sits in a temp file');
  release();
  await writing;
  await overwriting;
  t.same(observed, ['head=undefined', 'list=vis/existing:3', 'existing=111'], 'mid-write: the new object is invisible and the old one intact');
  t.equal((await store.head('vis/new'))?.size, 200_000, 'after completion the whole object is visible');
  sameBytes(t, await store.get('vis/existing'), Uint8Array.from([9, 9, 9]), 'after completion the overwrite is visible');
  t.same(readdirSync(join(dir, LOCAL_TEMP_DIR)), [], 'no temp files remain');
});

t.test('local: failed writes leave no temp files; temp files are never listed', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await LocalObjectStore.open(dir);
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield new Uint8Array(10);
    throw new Error('producer broke');
  }
  await t.rejects(store.putStream('f/x', failing()), { message: 'producer broke' }, "the producer's error passes through");
  const aborted = new AbortController();
  aborted.abort(new Error('stop'));
  await t.rejects(store.put('f/y', new Uint8Array(5), { signal: aborted.signal }), { message: 'stop' }, 'an aborted put rejects with the reason');
  t.same(readdirSync(join(dir, LOCAL_TEMP_DIR)), [], 'the temp folder is empty after failures');
  writeFileSync(join(dir, LOCAL_TEMP_DIR, 'stray'), 'partial');
  t.same(
    (await store.list('')).map((i) => i.path),
    [],
    'a stray temp file is not listed',
  );
  await expectCode(t, store.get(`${LOCAL_TEMP_DIR}/stray`), 'INVALID_ARGUMENT', 'the temp folder is not addressable as objects');
});

t.test('local: stale temp files are removed on open, fresh ones kept', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await LocalObjectStore.open(dir);
  const temp = join(dir, LOCAL_TEMP_DIR);
  writeFileSync(join(temp, 'old-crash-leftover'), 'x');
  writeFileSync(join(temp, 'in-flight-elsewhere'), 'y');
  const hourAgo = new Date(Date.now() - 3600_000);
  utimesSync(join(temp, 'old-crash-leftover'), hourAgo, hourAgo);
  await LocalObjectStore.open(dir);
  t.same(readdirSync(temp), ['in-flight-elsewhere'], 'a temp file older than 15 minutes is removed; a fresh one kept');
  const future: Clock = { now: () => Date.now() + 3600_000, sleep: async () => undefined };
  await LocalObjectStore.open(dir, { clock: future, staleTempMs: 60_000 });
  t.same(readdirSync(temp), [], 'the age is judged by the injected clock and staleTempMs');
});

t.test('local: durable puts fsync the file and the folders that gained names', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const durable = await LocalObjectStore.open(join(dir, 'd'));
  t.same(durable.syncs, { files: 0, dirs: 1 }, 'creating the root fsyncs its parent');
  await durable.put('a/b/c/obj', Uint8Array.from([1]));
  t.equal(durable.syncs.files, 1, 'one file fsync per put');
  // Created a, a/b, a/b/c: fsync root, a, a/b (new names) and a/b/c (the object's name).
  t.equal(durable.syncs.dirs, 1 + 4, 'fsync of each folder that gained a name');
  await durable.put('a/b/c/obj2', Uint8Array.from([2]), { ifNoneMatch: true });
  t.equal(durable.syncs.files, 2, 'create-if-absent fsyncs the file too');
  t.equal(durable.syncs.dirs, 1 + 5, 'and only the object folder when no folder is new');
  await durable.putStream('a/s', [Uint8Array.from([1]), Uint8Array.from([2])]);
  t.equal(durable.syncs.files, 3, 'putStream fsyncs the file');
  const fast = await LocalObjectStore.open(join(dir, 'f'), { durable: false });
  await fast.put('a/b/obj', Uint8Array.from([1]));
  t.same(fast.syncs, { files: 0, dirs: 0 }, 'durable: false skips fsync');
  sameBytes(t, await fast.get('a/b/obj'), Uint8Array.from([1]), 'and still stores the object');
});

t.test('local: a path cannot be both an object and a folder', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await LocalObjectStore.open(dir);
  await store.put('c/file', new Uint8Array(1));
  await expectCode(t, store.put('c/file/under', new Uint8Array(1)), 'INVALID_ARGUMENT', 'a put under an object');
  await store.put('c/folder/x', new Uint8Array(1));
  await expectCode(t, store.put('c/folder', new Uint8Array(1)), 'INVALID_ARGUMENT', 'a put onto a folder');
  await expectCode(t, store.put('c/folder', new Uint8Array(1), { ifNoneMatch: true }), 'INVALID_ARGUMENT', 'a create onto a folder');
  await store.delete('c/folder');
  t.ok(existsSync(join(dir, 'c', 'folder', 'x')), 'delete of a folder path removes nothing');
  t.same(readdirSync(join(dir, LOCAL_TEMP_DIR)), [], 'failed publishes remove their temp files');
});

t.test('local: bad roots are CONFIG errors that say what to do', async (t) => {
  const dir = freshDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await expectCode(t, LocalObjectStore.open('relative/dir'), 'CONFIG', 'a relative root');
  writeFileSync(join(dir, 'a-file'), 'x');
  await expectCode(t, LocalObjectStore.open(join(dir, 'a-file')), 'CONFIG', 'a root that is a file');
  await expectCode(t, LocalObjectStore.open(join(dir, 'a-file', 'below')), 'CONFIG', 'a root below a file');
  await expectCode(t, LocalObjectStore.open(join(dir, 'missing'), { create: false }), 'CONFIG', 'a missing root with create: false');
  try {
    await LocalObjectStore.open(join(dir, 'missing'), { create: false });
  } catch (error) {
    t.match((error as Error).message, /does not exist; create it/, 'the message says what to do');
  }
  if (process.getuid?.() === 0) {
    t.comment('running as root: permission bits do not stop root, so the real EACCES case is covered by mapFsError below');
  } else {
    const locked = join(dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    t.teardown(() => chmodSync(locked, 0o700));
    await expectCode(t, LocalObjectStore.open(join(locked, 'store')), 'CONFIG', 'a root Floe may not create');
  }
});

t.test('local: errno values map to FloeError codes', async (t) => {
  const ctx = { uri: 'file:///data', root: '/data', path: 'sst/x.sst', file: '/data/sst/x.sst', what: 'read' };
  const errno = (code: string): Error => Object.assign(new Error(`${code}: simulated`), { code });
  const cases: Array<[string, string, boolean]> = [
    ['ENOENT', 'NOT_FOUND', false],
    ['EEXIST', 'ALREADY_EXISTS', false],
    ['EACCES', 'CONFIG', false],
    ['EPERM', 'CONFIG', false],
    ['EROFS', 'CONFIG', false],
    ['ENAMETOOLONG', 'INVALID_ARGUMENT', false],
    ['ENOSPC', 'IO', false],
    ['EDQUOT', 'IO', false],
    ['EIO', 'IO', true],
    ['EMFILE', 'IO', true],
    ['ENFILE', 'IO', true],
    ['EAGAIN', 'IO', true],
    ['EBUSY', 'IO', true],
    ['ESTALE', 'IO', true],
    ['EXDEV', 'IO', false],
  ];
  for (const [code, floeCode, retryable] of cases) {
    const mapped = mapFsError(errno(code), ctx);
    t.ok(isFloeError(mapped) && mapped.code === floeCode && mapped.retryable === retryable, `${code} → ${floeCode}${retryable ? ' (retryable)' : ''}`);
    t.equal(mapped.cause instanceof Error && (mapped.cause as Error & { code: string }).code, code, `${code} is kept as the cause`);
  }
  const denied = mapFsError(errno('EACCES'), ctx);
  t.match(denied.message, /\/data\/sst\/x\.sst/, 'EACCES names the file');
  t.match(denied.message, /read and write access to \/data/, 'EACCES says what to fix');
  t.match(mapFsError(errno('ENOSPC'), ctx).message, /free space/, 'ENOSPC says what to fix');
});
