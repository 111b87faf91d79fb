import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskCacheFolder, type DiskCacheOptions } from '../lib/cache/disk-cache.js';
import { DATA_FILE, INDEX_FILE, SLOT_HEADER_BYTES, diskCacheGeometry, diskUsageBound } from '../lib/cache/disk-cache-layout.js';
import type { ByteSource } from '../lib/cache/byte-source.js';
import { FloeError } from '../lib/errors.js';
import { nodeLocalFs, remainingParts, writeParts, type LocalFile, type LocalFs } from '../lib/store/local-file.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { diskUse } from './support/disk-use.js';

const seed = seedFromEnv();
t.comment(`FLOE_SEED=${seed}`);

const KiB = 1024;

/** The "remote": a file held in memory; counts reads; optionally waits on a gate before answering. */
class FakeRemote implements ByteSource {
  readonly calls: { offset: number; length: number }[] = [];
  gate: Promise<void> | undefined;
  fail: Error | undefined;
  constructor(readonly bytes: Uint8Array) {}
  async read(offset: number, length: number): Promise<Uint8Array> {
    this.calls.push({ offset, length });
    if (this.gate) await this.gate;
    if (this.fail) throw this.fail;
    return this.bytes.slice(offset, offset + length); // short past the end, like a truncated object
  }
}

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'floe-disk-cache-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'cache');
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.length), Buffer.from(b.buffer, b.byteOffset, b.length)) === 0;
}

/** Flips one byte in every slot's data area of the data file. */
function corruptEverySlot(dir: string, slotBytes: number, at = 100): number {
  const path = join(dir, DATA_FILE);
  const size = statSync(path).size;
  const fd = openSync(path, 'r+');
  let n = 0;
  try {
    for (let pos = SLOT_HEADER_BYTES + at; pos < size; pos += slotBytes) {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, pos);
      b[0] = b[0]! ^ 0x5a;
      writeSync(fd, b, 0, 1, pos);
      n++;
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

const open = (o: DiskCacheOptions): Promise<DiskCacheFolder> => DiskCacheFolder.open(o);

t.test('seeded model: reads return the remote bytes, one remote read at most, budget holds across restarts', async (t) => {
  const random = new Random(seed);
  const dir = tempDir(t);
  const pageBytes = random.pick([4 * KiB, 8 * KiB]);
  const capacity = random.pick([64 * KiB, 160 * KiB, 400 * KiB]);
  const ctx = `seed ${seed} page ${pageBytes} capacity ${capacity}`;
  const files = Array.from({ length: 6 }, (_, i) => {
    const size = random.bool(0.2) ? random.int(pageBytes) + 1 : random.range(pageBytes, 12 * pageBytes + 777);
    return { id: `model-file-${i}`, remote: new FakeRemote(random.bytes(size)) };
  });
  let cache = await open({ dir, capacityBytes: capacity, pageBytes, persistEveryPages: 20 });
  let failures = 0;
  let maxUse = 0;
  let pagesRequested = 0;
  let statsBase = 0;
  for (let op = 0; op < 600 && failures < 5; op++) {
    const f = files[random.int(files.length)]!;
    const size = f.remote.bytes.length;
    const roll = random.next();
    if (roll < 0.75) {
      const offset = random.int(size);
      const length = random.int(Math.min(size - offset, 3 * pageBytes) + 1);
      const fillCache = random.bool(0.8);
      const before = f.remote.calls.length;
      const got = await cache.source(f.id, size, f.remote).read(offset, length, { fillCache });
      if (!same(got, f.remote.bytes.subarray(offset, offset + length))) {
        failures++;
        t.fail(`${ctx} op ${op}: wrong bytes for ${f.id} [${offset}, +${length})`);
      }
      if (f.remote.calls.length - before > 1) {
        failures++;
        t.fail(`${ctx} op ${op}: ${f.remote.calls.length - before} remote reads for one request`);
      }
      if (length > 0) pagesRequested += Math.floor((offset + length - 1) / pageBytes) - Math.floor(offset / pageBytes) + 1;
    } else if (roll < 0.85) {
      const from = random.int(size);
      await cache.admit(f.id, f.remote.bytes.subarray(from), from);
    } else if (roll < 0.9) {
      await cache.forget(f.id);
    } else {
      // Restart: everything cached must still be correct, the counters start again.
      await cache.close();
      cache = await open({ dir, capacityBytes: capacity, pageBytes, persistEveryPages: 20 });
      statsBase = pagesRequested;
    }
    const use = diskUse(dir);
    maxUse = Math.max(maxUse, use.size, use.allocated);
    const stats = cache.stats();
    if (stats.bytes > capacity || stats.hits + stats.misses !== pagesRequested - statsBase) {
      failures++;
      t.fail(`${ctx} op ${op}: stats ${JSON.stringify(stats)}, ${pagesRequested - statsBase} pages requested`);
    }
  }
  await cache.close();
  t.equal(failures, 0, ctx);
  t.ok(maxUse <= capacity, `${ctx}: disk use peaked at ${maxUse}`);
});

t.test('hard budget: 10x the budget flowing through never exceeds it on disk', async (t) => {
  const dir = tempDir(t);
  const capacity = 1024 * KiB;
  const pageBytes = 16 * KiB;
  const random = new Random(seed ^ 0x1234);
  const cache = await open({ dir, capacityBytes: capacity, pageBytes });
  let flowed = 0;
  let maxSize = 0;
  let maxAllocated = 0;
  let wrong = 0;
  let i = 0;
  while (flowed < 10 * capacity) {
    const bytes = random.bytes(random.range(100 * KiB, 300 * KiB));
    const remote = new FakeRemote(bytes);
    const src = cache.source(`flow-${i}`, bytes.length, remote);
    if (i % 3 === 0) {
      await cache.admit(`flow-${i}`, bytes);
    } else {
      for (let off = 0; off < bytes.length; ) {
        const len = Math.min(bytes.length - off, random.range(1, 40 * KiB));
        if (!same(await src.read(off, len), bytes.subarray(off, off + len))) wrong++;
        off += len;
      }
    }
    // Background admissions are writing now; measure while they do and after.
    for (let k = 0; k < 3; k++) {
      const use = diskUse(dir);
      maxSize = Math.max(maxSize, use.size);
      maxAllocated = Math.max(maxAllocated, use.allocated);
      await new Promise((r) => setTimeout(r, 1));
    }
    flowed += bytes.length;
    i++;
    if (cache.stats().bytes > capacity) t.fail(`cached bytes ${cache.stats().bytes} over the capacity`);
  }
  t.equal(wrong, 0, 'every read returned the remote bytes');
  await cache.close();
  const use = diskUse(dir);
  maxSize = Math.max(maxSize, use.size);
  maxAllocated = Math.max(maxAllocated, use.allocated);
  t.ok(maxSize <= capacity, `sum of file sizes peaked at ${maxSize} <= ${capacity}`);
  t.ok(maxAllocated <= capacity, `allocated blocks peaked at ${maxAllocated} <= ${capacity}`);
  const g = diskCacheGeometry(capacity, pageBytes);
  t.ok(diskUsageBound(g) <= capacity && g.slotCount > 0.9 * (capacity / pageBytes), `${g.slotCount} slots use the budget well`);
  t.ok(cache.stats().bytes > 0.8 * capacity, 'the cache filled up');
});

t.test('warm after restart; last page short; stats count pages', async (t) => {
  const dir = tempDir(t);
  const bytes = new Random(seed).bytes(5 * 4096 + 123);
  const remote = new FakeRemote(bytes);
  const c1 = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  t.ok(same(await c1.source('warm', bytes.length, remote).read(0, bytes.length), bytes));
  t.equal(remote.calls.length, 1, 'one remote read for the whole file');
  t.same(remote.calls[0], { offset: 0, length: bytes.length });
  await c1.close();
  t.ok(statSync(join(dir, INDEX_FILE)).size > 0, 'index persisted');

  const c2 = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  t.ok(c2.isCached('warm', 0, bytes.length), 'index loaded');
  const src = c2.source('warm', bytes.length, remote);
  t.ok(same(await src.read(5 * 4096, 123), bytes.subarray(5 * 4096)), 'short last page');
  t.ok(same(await src.read(4000, 9000), bytes.subarray(4000, 13000)), 'across pages');
  t.equal(remote.calls.length, 1, 'no remote reads after restart');
  t.same(c2.stats(), { capacity: 256 * KiB, bytes: bytes.length, hits: 5, misses: 0, missedReads: 0 });
  await c2.close();
});

t.test('a corrupted page is dropped and re-read from remote, never returned', async (t) => {
  const dir = tempDir(t);
  const bytes = new Random(seed + 1).bytes(8 * 4096);
  const remote = new FakeRemote(bytes);
  const options = { dir, capacityBytes: 256 * KiB, pageBytes: 4096 };
  const c1 = await open(options);
  await c1.admit('c', bytes);
  await c1.close();
  const g = diskCacheGeometry(options.capacityBytes, 4096);
  t.equal(corruptEverySlot(dir, g.slotBytes), 8, 'flipped a byte in each of 8 slots');

  const c2 = await open(options);
  const src = c2.source('c', bytes.length, remote);
  t.ok(same(await src.read(0, bytes.length), bytes), 'correct bytes');
  t.equal(remote.calls.length, 1, 'one remote read for all the bad pages');
  t.equal(c2.stats().misses, 8);
  // Re-admitted: now served from disk.
  await c2.close();
  const c3 = await open(options);
  t.ok(same(await c3.source('c', bytes.length, remote).read(0, bytes.length), bytes));
  t.equal(remote.calls.length, 1, 'repaired pages are hits');

  // Corruption while open, in one page: only that page goes remote.
  corruptEverySlot(dir, g.slotBytes, 3000);
  const src3 = c3.source('c', bytes.length, remote);
  t.ok(same(await src3.read(100, 50), bytes.subarray(100, 150)));
  t.same(remote.calls[1], { offset: 0, length: 4096 }, 'the page, page-aligned');
  await c3.close();
});

t.test('a stale index (crash between index writes) never yields another page', async (t) => {
  const dir = tempDir(t);
  const options = { dir, capacityBytes: 128 * KiB, pageBytes: 4096 };
  const a = new FakeRemote(new Random(seed + 2).bytes(20 * 4096));
  const b = new FakeRemote(new Random(seed + 3).bytes(40 * 4096));
  const c1 = await open(options);
  await c1.source('a', a.bytes.length, a).read(0, a.bytes.length);
  await c1.close();
  const oldIndex = readFileSync(join(dir, INDEX_FILE));
  // Overwrite every slot with pages of b, then "crash" back to the old index.
  const c2 = await open(options);
  await c2.admit('b', b.bytes);
  await c2.close();
  writeFileSync(join(dir, INDEX_FILE), oldIndex);
  const c3 = await open(options);
  t.ok(c3.isCached('a', 0, 4096), 'the stale index claims pages of a');
  const before = a.calls.length;
  t.ok(same(await c3.source('a', a.bytes.length, a).read(0, a.bytes.length), a.bytes), 'a is correct');
  t.equal(a.calls.length, before + 1, 'read from remote once');
  t.ok(same(await c3.source('b', b.bytes.length, b).read(0, b.bytes.length), b.bytes), 'b is correct');
  await c3.close();
});

t.test('corrupt, truncated or deleted index and deleted folder: start empty, stay correct', async (t) => {
  const dir = tempDir(t);
  const options = { dir, capacityBytes: 128 * KiB, pageBytes: 4096 };
  const bytes = new Random(seed + 4).bytes(10 * 4096 + 5);
  const remote = new FakeRemote(bytes);
  const fill = async (): Promise<void> => {
    const c = await open(options);
    await c.source('f', bytes.length, remote).read(0, bytes.length);
    await c.close();
  };
  const check = async (what: string, expectEmpty: boolean): Promise<void> => {
    const c = await open(options);
    if (expectEmpty) t.equal(c.stats().bytes, 0, `${what}: starts empty`);
    const random = new Random(seed + 5);
    for (let i = 0; i < 20; i++) {
      const off = random.int(bytes.length);
      const len = random.int(bytes.length - off + 1);
      if (!same(await c.source('f', bytes.length, remote).read(off, len), bytes.subarray(off, off + len))) t.fail(`${what}: wrong bytes`);
    }
    await c.close();
  };
  await fill();
  const index = readFileSync(join(dir, INDEX_FILE));
  const garbage = Buffer.from(index);
  garbage[40] = garbage[40]! ^ 1;
  writeFileSync(join(dir, INDEX_FILE), garbage);
  await check('bit flip in index', true);
  await fill();
  writeFileSync(join(dir, INDEX_FILE), index.subarray(0, index.length - 9));
  await check('truncated index', true);
  await fill();
  rmSync(join(dir, INDEX_FILE));
  await check('deleted index', true);
  await fill();
  rmSync(dir, { recursive: true });
  await check('deleted folder', true);
  await fill();
  rmSync(dir, { recursive: true });
  writeFileSync(dir, 'not a folder');
  await check('folder replaced by a file', true);
  await fill();
  writeFileSync(join(dir, DATA_FILE), new Random(seed).bytes(50_000));
  await check('garbage data file under a valid index', false);
  t.pass('all correct');
});

t.test('one remote read covers the missing span; cached pages inside it are re-read', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  const bytes = new Random(seed + 6).bytes(10 * 4096);
  const remote = new FakeRemote(bytes);
  await cache.admit('s', bytes.subarray(3 * 4096, 5 * 4096), 3 * 4096); // pages 3, 4
  await cache.admit('s', bytes.subarray(7 * 4096, 8 * 4096), 7 * 4096); // page 7
  const got = await cache.source('s', bytes.length, remote).read(2 * 4096 + 10, 7 * 4096);
  t.ok(same(got, bytes.subarray(2 * 4096 + 10, 9 * 4096 + 10)));
  t.same(remote.calls, [{ offset: 2 * 4096, length: 8 * 4096 }], 'pages 2..9 in one read');
  await cache.close(); // waits for the admissions
  t.same(cache.stats(), { capacity: 256 * KiB, bytes: 8 * 4096, hits: 3, misses: 5, missedReads: 1 });
});

t.test('concurrent identical misses are coalesced; overlapping ones fetch only what is not in flight', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  const bytes = new Random(seed + 7).bytes(6 * 4096);
  const remote = new FakeRemote(bytes);
  let open_: () => void = () => {};
  remote.gate = new Promise<void>((r) => (open_ = r));
  const src = cache.source('co', bytes.length, remote);
  const same5 = Array.from({ length: 5 }, () => src.read(100, 5000));
  const overlapping = src.read(4096 + 5, 2 * 4096); // pages 1 (in flight), 2 and 3 (not)
  await new Promise((r) => setImmediate(r));
  open_();
  for (const p of same5) t.ok(same(await p, bytes.subarray(100, 5100)));
  t.ok(same(await overlapping, bytes.subarray(4101, 4101 + 8192)));
  t.same(remote.calls, [
    { offset: 0, length: 8192 },
    { offset: 8192, length: 8192 },
  ]);
  // Results are the callers' own: changing one does not change another or the cache.
  const [x, y] = await Promise.all([src.read(0, 10), src.read(0, 10)]);
  x!.fill(0);
  t.ok(same(y!, bytes.subarray(0, 10)));
  t.ok(same(await src.read(0, 10), bytes.subarray(0, 10)));
  t.equal(remote.calls.length, 2);
  await cache.close();
});

t.test('fillCache:false serves cached pages but admits nothing', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  const bytes = new Random(seed + 8).bytes(4 * 4096);
  const remote = new FakeRemote(bytes);
  const src = cache.source('nf', bytes.length, remote);
  t.ok(same(await src.read(10, 3 * 4096, { fillCache: false }), bytes.subarray(10, 10 + 3 * 4096)));
  t.same(remote.calls, [{ offset: 10, length: 3 * 4096 }], 'only the requested bytes');
  t.equal(cache.stats().bytes, 0);
  t.notOk(cache.isCached('nf', 0, 1));
  await cache.admit('nf', bytes.subarray(0, 4096));
  t.ok(same(await src.read(0, 4096 + 10, { fillCache: false }), bytes.subarray(0, 4106)));
  t.same(remote.calls[1], { offset: 4096, length: 10 }, 'cached page from disk, the rest from remote');
  t.ok(same(await src.read(5, 50, { fillCache: false }), bytes.subarray(5, 55)));
  t.equal(remote.calls.length, 2, 'a cached page needs no remote read');
  await cache.close(); // waits for any background admission: there must be none
  t.equal(cache.stats().bytes, 4096, 'only the explicitly admitted page');
});

t.test('admitOnSecondAccess: a first miss reads only the requested bytes and admits nothing; the second admits', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 16 * KiB, admitOnSecondAccess: true });
  const bytes = new Random(seed + 12).bytes(8 * 16 * KiB);
  const remote = new FakeRemote(bytes);
  const src = cache.source('sa', bytes.length, remote);
  // First miss: exactly the block, one GET, nothing written.
  t.ok(same(await src.read(16 * KiB + 100, 4096), bytes.subarray(16 * KiB + 100, 16 * KiB + 100 + 4096)));
  t.same(remote.calls, [{ offset: 16 * KiB + 100, length: 4096 }], 'only the requested bytes');
  await cache.settle();
  t.equal(cache.stats().bytes, 0, 'nothing admitted on the first miss');
  // Second miss of the same page: the whole page in one GET, admitted.
  t.ok(same(await src.read(16 * KiB + 5000, 100), bytes.subarray(16 * KiB + 5000, 16 * KiB + 5100)));
  t.same(remote.calls[1], { offset: 16 * KiB, length: 16 * KiB }, 'the page');
  await cache.settle();
  t.ok(cache.isCached('sa', 16 * KiB, 16 * KiB), 'admitted on the second miss');
  t.ok(same(await src.read(16 * KiB, 50), bytes.subarray(16 * KiB, 16 * KiB + 50)));
  t.equal(remote.calls.length, 2, 'then served from disk');
  // A read spanning a remembered page and a new one is a second access: both pages fetched and admitted.
  await src.read(3 * 16 * KiB, 10); // page 3 remembered
  t.ok(same(await src.read(3 * 16 * KiB + 10, 16 * KiB), bytes.subarray(3 * 16 * KiB + 10, 4 * 16 * KiB + 10)));
  t.same(remote.calls.slice(2), [{ offset: 3 * 16 * KiB, length: 10 }, { offset: 3 * 16 * KiB, length: 2 * 16 * KiB }], 'page 3 alone, then pages 3 and 4 in one read');
  await cache.settle();
  t.ok(cache.isCached('sa', 3 * 16 * KiB, 2 * 16 * KiB));
  // A read ending at the end of the file (a table open's footer + index + filter) is admitted at once.
  await src.read(bytes.length - 5000, 5000);
  await cache.settle();
  t.ok(cache.isCached('sa', bytes.length - 5000, 5000), 'the tail is admitted on its first miss');
  // The ghost list is bounded (by default a quarter of the slot count): a page remembered long ago is a first miss again.
  const slots = diskCacheGeometry(256 * KiB, 16 * KiB).slotCount;
  const big = new Random(seed + 13).bytes((slots + 4) * 16 * KiB);
  const bigRemote = new FakeRemote(big);
  const bs = cache.source('big', big.length, bigRemote);
  for (let p = 0; p < slots + 2; p++) await bs.read(p * 16 * KiB, 10);
  await bs.read(0, 10);
  t.same(bigRemote.calls[bigRemote.calls.length - 1], { offset: 0, length: 10 }, 'forgotten ghost: first miss again');
  await cache.close();
  t.equal(cache.stats().bytes, 4 * 16 * KiB);
});

t.test('admit: partial trailing page is replaced by the full page; forget drops a file', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  const bytes = new Random(seed + 9).bytes(3 * 4096);
  const remote = new FakeRemote(bytes);
  await cache.admit('p', bytes.subarray(100, 4096 + 1000), 100); // page 0 is partial at the front: skipped; page 1 prefix kept
  t.notOk(cache.isCached('p', 0, 1));
  t.ok(cache.isCached('p', 4096, 1000));
  t.notOk(cache.isCached('p', 4096, 1001));
  const src = cache.source('p', bytes.length, remote);
  t.ok(same(await src.read(4096, 4096), bytes.subarray(4096, 8192)), 'a prefix is not a page: fetched');
  t.equal(remote.calls.length, 1);
  await cache.close(); // waits for the admission
  const c2 = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  t.ok(c2.isCached('p', 4096, 4096), 'full page replaced the prefix');
  t.equal(c2.stats().bytes, 4096);
  await c2.forget('p');
  t.notOk(c2.isCached('p', 4096, 1));
  t.equal(c2.stats().bytes, 0);
  await c2.close();
});

t.test('capacity 0 or below one page disables the cache and leaves no files', async (t) => {
  for (const capacityBytes of [0, 8 * KiB]) {
    const dir = tempDir(t);
    const warm = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
    await warm.admit('z', new Uint8Array(8192));
    await warm.close();
    const cache = await open({ dir, capacityBytes, pageBytes: 4096 });
    const bytes = new Random(seed).bytes(9000);
    const remote = new FakeRemote(bytes);
    t.ok(same(await cache.source('z', bytes.length, remote).read(10, 8000), bytes.subarray(10, 8010)));
    t.equal(remote.calls.length, 1);
    await cache.admit('z', bytes);
    t.same(cache.stats(), { capacity: capacityBytes, bytes: 0, hits: 0, misses: 2, missedReads: 1 });
    t.ok(diskUse(dir).allocated <= capacityBytes, `no files left (${diskUse(dir).allocated} bytes)`);
    await cache.close();
  }
});

t.test('errors: bad ranges, closed cache, failing remote, aborted reads, bad options', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  const bytes = new Random(seed).bytes(10_000);
  const remote = new FakeRemote(bytes);
  const src = cache.source('e', bytes.length, remote);
  await t.rejects(src.read(9000, 1001), { code: 'INVALID_ARGUMENT' });
  await t.rejects(src.read(-1, 10), { code: 'INVALID_ARGUMENT' });
  t.same(await src.read(10_000, 0), new Uint8Array(0));

  remote.fail = new FloeError('IO', 'remote down', { retryable: true });
  await t.rejects(src.read(0, 100), { code: 'IO', message: 'remote down' });
  remote.fail = undefined;
  t.ok(same(await src.read(0, 100), bytes.subarray(0, 100)), 'a failed fetch is retried by the next read');

  // An aborted reader stops waiting; a coalesced reader of the same page still gets its bytes.
  let release: () => void = () => {};
  remote.gate = new Promise<void>((r) => (release = r));
  const ac = new AbortController();
  const aborted = src.read(5000, 100, { signal: ac.signal });
  const other = src.read(5000, 100);
  ac.abort(new Error('stop'));
  await t.rejects(aborted, { message: 'stop' });
  release();
  t.ok(same(await other, bytes.subarray(5000, 5100)));
  remote.gate = undefined;

  const short = new FakeRemote(bytes.subarray(0, 5000));
  await t.rejects(cache.source('short', 10_000, short).read(0, 10_000), { code: 'IO' });

  await cache.close();
  await cache.close();
  await t.rejects(src.read(0, 10), { code: 'CLOSED' });
  await t.rejects(DiskCacheFolder.open({ dir, capacityBytes: -1 }), { code: 'CONFIG' });
  await t.rejects(DiskCacheFolder.open({ dir, capacityBytes: 1e6, pageBytes: 5000 }), { code: 'CONFIG' });
});

/** A LocalFs that tears every Nth slot write (writes half, reports success) and fails others with EIO. */
function faultyFs(random: Random): LocalFs & { torn: number; failed: number } {
  const fs = {
    ...nodeLocalFs,
    torn: 0,
    failed: 0,
    async open(path: string, mode: 'readwrite' | 'truncate'): Promise<LocalFile> {
      const inner = await nodeLocalFs.open(path, mode);
      if (!path.endsWith(DATA_FILE)) return inner;
      return {
        path: inner.path,
        read: (p, l) => inner.read(p, l),
        sync: () => inner.sync(),
        truncate: (s) => inner.truncate(s),
        size: () => inner.size(),
        close: () => inner.close(),
        async write(position: number, bytes: Uint8Array): Promise<void> {
          const r = random.next();
          if (r < 0.15) {
            fs.torn++;
            await inner.write(position, bytes.subarray(0, bytes.length >> 1));
            return;
          }
          if (r < 0.25) {
            fs.failed++;
            throw new FloeError('IO', 'injected EIO');
          }
          await inner.write(position, bytes);
        },
      };
    },
  };
  return fs;
}

t.test('injected torn and failing local writes never produce wrong bytes', async (t) => {
  const dir = tempDir(t);
  const random = new Random(seed ^ 0xfa17);
  const fs = faultyFs(random);
  const files = Array.from({ length: 4 }, (_, i) => ({ id: `fault-${i}`, remote: new FakeRemote(random.bytes(random.range(20_000, 90_000))) }));
  let cache = await open({ dir, capacityBytes: 200 * KiB, pageBytes: 4096, fs });
  let wrong = 0;
  let ioErrors = 0;
  for (let op = 0; op < 400; op++) {
    if (op % 100 === 99) {
      await cache.close();
      ioErrors += cache.ioErrors;
      cache = await open({ dir, capacityBytes: 200 * KiB, pageBytes: 4096, fs });
    }
    const f = files[random.int(files.length)]!;
    const size = f.remote.bytes.length;
    const offset = random.int(size);
    const length = random.int(Math.min(size - offset, 12_000) + 1);
    const got = await cache.source(f.id, size, f.remote).read(offset, length);
    if (!same(got, f.remote.bytes.subarray(offset, offset + length))) wrong++;
  }
  await cache.close();
  ioErrors += cache.ioErrors;
  t.equal(wrong, 0, `seed ${seed}: no wrong bytes`);
  t.ok(fs.torn > 0 && fs.failed > 0, `faults were injected (${fs.torn} torn, ${fs.failed} failed)`);
  t.equal(ioErrors, fs.failed, 'every failed write counted');
});

t.test('page-count persists are at most one per persistMinIntervalMs (each persist fsyncs the data file)', async (t) => {
  const dir = tempDir(t);
  let now = 1_000_000;
  const clock = { now: () => now, sleep: () => Promise.resolve() };
  let renames = 0;
  const fs: LocalFs = {
    ...nodeLocalFs,
    async rename(from, to) {
      renames++;
      await nodeLocalFs.rename(from, to);
    },
  };
  const pageBytes = 4096;
  const bytes = new Random(seed ^ 0x9e75).bytes(64 * pageBytes);
  const cache = await open({ dir, capacityBytes: 1024 * KiB, pageBytes, persistEveryPages: 4, persistMinIntervalMs: 1000, clock, fs });
  for (let p = 0; p < 32; p++) await cache.admit('busy', bytes.subarray(p * pageBytes, (p + 1) * pageBytes), p * pageBytes);
  await cache.settle();
  t.equal(renames, 0, '32 admissions within the interval: no index write yet (8 page-count triggers)');
  now += 1000;
  await cache.admit('busy', bytes.subarray(32 * pageBytes, 33 * pageBytes), 32 * pageBytes);
  await cache.settle();
  t.equal(renames, 1, 'the next trigger after the interval persists once');
  for (let p = 33; p < 40; p++) await cache.admit('busy', bytes.subarray(p * pageBytes, (p + 1) * pageBytes), p * pageBytes);
  await cache.settle();
  t.equal(renames, 1, 'and the interval starts again');
  await cache.close();
  t.equal(renames, 2, 'close persists what is left');
  const again = await open({ dir, capacityBytes: 1024 * KiB, pageBytes, clock });
  t.ok(again.isCached('busy', 0, 40 * pageBytes), 'all 40 pages in the index after close');
  await again.close();
});

t.test('writev (pwritev of header + page) writes what write of the concatenation writes; short writes resume', async (t) => {
  const dir = tempDir(t);
  await nodeLocalFs.mkdirp(dir);
  const random = new Random(seed ^ 0x3177);
  const a = await nodeLocalFs.open(join(dir, 'a'), 'truncate');
  const b = await nodeLocalFs.open(join(dir, 'b'), 'truncate');
  t.ok(a.writev !== undefined, 'the node file has writev');
  for (let i = 0; i < 20; i++) {
    const parts = Array.from({ length: random.range(1, 4) }, () => random.bytes(random.int(70_000)));
    const at = random.int(200_000);
    await writeParts(a, at, parts);
    // Fallback: a file without writev gets one write of the concatenation.
    await writeParts({ ...b, path: b.path, read: b.read.bind(b), write: b.write.bind(b), sync: b.sync.bind(b), truncate: b.truncate.bind(b), size: b.size.bind(b), close: b.close.bind(b), writev: undefined }, at, parts);
  }
  const size = await a.size();
  t.equal(size, await b.size(), 'same length');
  t.ok(same(await a.read(0, size), await b.read(0, size)), 'same bytes');
  await a.close();
  await b.close();
  const parts = [Uint8Array.of(1, 2, 3), Uint8Array.of(), Uint8Array.of(4, 5), Uint8Array.of(6)];
  const flat = (ps: Uint8Array[]): number[] => ps.flatMap((p) => [...p]);
  for (let skip = 0; skip <= 6; skip++) t.same(flat(remainingParts(parts, skip)), [1, 2, 3, 4, 5, 6].slice(skip), `resume after ${skip} bytes`);
});

t.test('a hit reads only the chunks it needs; a chunk corrupted on disk while open is caught and re-read from remote', async (t) => {
  const dir = tempDir(t);
  const pageBytes = 16 * KiB;
  const bytes = new Random(seed ^ 0xc4c).bytes(4 * pageBytes + 999);
  const remote = new FakeRemote(bytes);
  const cache = await open({ dir, capacityBytes: 512 * KiB, pageBytes });
  await cache.admit('chunks', bytes);
  const src = cache.source('chunks', bytes.length, remote);
  const check = async (offset: number, length: number, what: string): Promise<void> => {
    t.ok(same(await src.read(offset, length), bytes.subarray(offset, offset + length)), what);
  };
  await check(5000, 1000, 'chunk 1 of page 0');
  await check(4 * pageBytes + 10, 900, 'the short last page');
  await check(pageBytes - 100, 200, 'across two pages');
  t.equal(remote.calls.length, 0, 'all served from disk');
  const g = diskCacheGeometry(512 * KiB, pageBytes);
  t.equal(corruptEverySlot(dir, g.slotBytes, 100), 5, 'flipped byte 100 (chunk 0) of every slot');
  await check(5000, 1000, 'chunk 1 of page 0 after the flip');
  t.equal(remote.calls.length, 0, 'an intact chunk is still served from disk');
  await check(50, 100, 'chunk 0 of page 0');
  t.equal(remote.calls.length, 1, 'the corrupted chunk failed its checksum: read from remote');
  await check(2 * pageBytes + 64, 64, 'chunk 0 of page 2');
  t.equal(remote.calls.length, 2, 'and again for another corrupted page');
  await cache.close();
});

t.test('readIntoSync serves reads whose pages are all cached (verified, counted as hits); anything else is left to read', async (t) => {
  const dir = tempDir(t);
  const pageBytes = 16 * KiB;
  const rng = new Random(seed ^ 0x5c);
  const bytes = rng.bytes(4 * pageBytes + 777);
  const remote = new FakeRemote(bytes);
  const cache = await open({ dir, capacityBytes: 512 * KiB, pageBytes });
  const counters = { hits: 0, misses: 0, missedReads: 0 };
  const src = cache.source('sync', bytes.length, remote, counters);
  const dest = new Uint8Array(2 * pageBytes);
  t.equal(src.readIntoSync!(100, 1000, dest), false, 'nothing cached yet: not served');
  await cache.admit('sync', bytes.subarray(0, 3 * pageBytes)); // pages 0-2
  for (let i = 0; i < 200; i++) {
    const offset = rng.int(3 * pageBytes - 1);
    const length = 1 + rng.int(Math.min(pageBytes + 1, 3 * pageBytes - offset));
    dest.fill(0xab);
    if (!src.readIntoSync!(offset, length, dest) || !same(dest.subarray(0, length), bytes.subarray(offset, offset + length))) {
      t.fail(`sync read ${i} at ${offset} + ${length} wrong or not served (seed ${seed})`);
      return;
    }
  }
  t.ok(counters.hits >= 200 && counters.misses === 0, `counted as hits (${counters.hits})`);
  t.equal(remote.calls.length, 0, 'no remote read');
  t.equal(src.readIntoSync!(3 * pageBytes - 10, 20, dest), false, 'a read that needs a missing page: not served');
  t.equal(src.readIntoSync!(bytes.length - 5, 10, dest), false, 'past the end of the file: not served');
  const g = diskCacheGeometry(512 * KiB, pageBytes);
  corruptEverySlot(dir, g.slotBytes, 100); // chunk 0 of every page
  t.equal(src.readIntoSync!(50, 100, dest), false, 'a chunk failing its checksum: not served');
  t.ok(same(await src.read(50, 100), bytes.subarray(50, 150)), 'the async read then serves it from remote');
  const at = pageBytes + 5000; // page 1 (page 0's slot was just dropped); its chunk 1 is intact
  t.ok(src.readIntoSync!(at, 1000, dest) && same(dest.subarray(0, 1000), bytes.subarray(at, at + 1000)), 'an intact chunk still is');
  await cache.close();
  t.equal(src.readIntoSync!(at, 1000, dest), false, 'closed: not served');
});

t.test('missedReads counts the reads that found a page missing: one each, however many pages, GET or shared fetch', async (t) => {
  const dir = tempDir(t);
  const cache = await open({ dir, capacityBytes: 256 * KiB, pageBytes: 4096 });
  const bytes = new Random(seed + 21).bytes(8 * 4096);
  const remote = new FakeRemote(bytes);
  const counters = { hits: 0, misses: 0, missedReads: 0 };
  const src = cache.source('mr', bytes.length, remote, counters);
  await src.read(100, 3 * 4096); // pages 0..3 missing: one read, one remote read
  t.equal(counters.missedReads, 1);
  t.equal(counters.misses, 4, 'four pages missed');
  await cache.settle();
  await src.read(0, 4096); // a hit
  t.equal(counters.missedReads, 1, 'a read served from disk is not a missed read');
  // Two concurrent reads of the same missing page: two missed reads, one remote read between them.
  let open1: () => void = () => {};
  remote.gate = new Promise((r) => {
    open1 = r;
  });
  const a = src.read(6 * 4096, 10);
  const b = src.read(6 * 4096 + 20, 10);
  await new Promise((r) => setTimeout(r, 10));
  open1();
  remote.gate = undefined;
  await Promise.all([a, b]);
  t.equal(counters.missedReads, 3);
  t.equal(remote.calls.length, 2, 'the second read waited for the first one\'s fetch');
  t.equal(cache.stats().missedReads, 3, 'the folder counts them too');
  // A partly cached read: cached page 1 plus missing page 5 is one missed read.
  await src.read(4096, 5 * 4096);
  t.equal(counters.missedReads, 4);
  await cache.close();
  // A disabled cache: every read is a missed read.
  const off = await open({ dir: tempDir(t), capacityBytes: 0 });
  const c2 = { hits: 0, misses: 0, missedReads: 0 };
  await off.source('x', bytes.length, remote, c2).read(0, 3 * 4096);
  t.equal(c2.missedReads, 1);
  await off.close();
});

t.test('admitOnSecondAccess remembers a quarter of the slot count (ghostPages to change it)', async (t) => {
  const dir = tempDir(t);
  const slots = diskCacheGeometry(512 * KiB, 16 * KiB).slotCount;
  const ghosts = Math.ceil(slots / 4);
  t.ok(ghosts >= 2 && ghosts < slots, `${slots} slots, ${ghosts} ghosts`);
  const cache = await open({ dir, capacityBytes: 512 * KiB, pageBytes: 16 * KiB, admitOnSecondAccess: true });
  const bytes = new Random(seed + 31).bytes((slots + 4) * 16 * KiB);
  const remote = new FakeRemote(bytes);
  const src = cache.source('q', bytes.length, remote);
  for (let p = 0; p <= ghosts; p++) await src.read(p * 16 * KiB, 10); // ghosts + 1 first misses: page 0 is forgotten
  await src.read(0, 10);
  t.same(remote.calls[remote.calls.length - 1], { offset: 0, length: 10 }, 'page 0 fell out of the ghost list: a first miss again');
  await src.read(ghosts * 16 * KiB, 10);
  t.same(remote.calls[remote.calls.length - 1], { offset: ghosts * 16 * KiB, length: 16 * KiB }, 'a recent ghost: fetched whole and admitted');
  await cache.close();
  // ghostPages sets the window explicitly.
  const wide = await open({ dir: tempDir(t), capacityBytes: 512 * KiB, pageBytes: 16 * KiB, admitOnSecondAccess: true, ghostPages: slots });
  const r2 = new FakeRemote(bytes);
  const s2 = wide.source('q', bytes.length, r2);
  for (let p = 0; p <= ghosts; p++) await s2.read(p * 16 * KiB, 10);
  await s2.read(0, 10);
  t.same(r2.calls[r2.calls.length - 1], { offset: 0, length: 16 * KiB }, 'still remembered with ghostPages = slots');
  await wide.close();
});

t.test('LocalFile.readSync reads what read reads (also into a given buffer), short at the end of the file, and refuses a closed file', async (t) => {
  const dir = tempDir(t);
  await nodeLocalFs.mkdirp(dir);
  const f = await nodeLocalFs.open(join(dir, 'sync.bin'), 'truncate');
  const bytes = new Random(seed + 41).bytes(20_000);
  await f.write(0, bytes);
  t.ok(f.readSync, 'the node file provides readSync');
  for (const [at, len] of [[0, 4096], [4096, 8192], [19_000, 4096], [25_000, 10]] as const) {
    t.ok(same(f.readSync!(at, len), await f.read(at, len)), `readSync(${at}, ${len}) equals read`);
  }
  t.equal(f.readSync!(19_000, 4096).length, 1000, 'short at the end');
  const into = new Uint8Array(8192).fill(0xcc);
  const got = f.readSync!(100, 5000, into);
  t.ok(got.buffer === into.buffer && got.byteOffset === 0 && same(got, bytes.subarray(100, 5100)), 'into a given buffer: a view of it');
  t.equal(into[5000], 0xcc, 'nothing written past the bytes read');
  t.throws(() => f.readSync!(0, 9000, into), { code: 'INVALID_ARGUMENT' }, 'a buffer too small is refused');
  await f.close();
  t.throws(() => f.readSync!(0, 10), FloeError, 'closed');
});
