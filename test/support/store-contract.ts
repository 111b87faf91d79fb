/**
 * The object-store contract suite: the behaviour every backend (local, mem, S3, WebHDFS) must show. A new
 * backend is done when it passes this. See docs/object-store.md.
 *
 *   runStoreContract(t, 'local', async () => ({ store, cleanup }), { conditionalPut: true, mtime: true });
 *
 * `open()` is called once per subtest and must return a store with no objects (or at least none under the
 * folders the suite uses); `cleanup()` runs after the subtest and must remove what it wrote without relying on
 * the store being open (one subtest closes it); the suite then calls `store.close()` (close is idempotent).
 * No path the suite writes is also a folder of another path (local and HDFS stores cannot hold both). Randomized parts are seeded from FLOE_SEED (printed).
 * Sized for a remote backend at ~5 ms per request: a few hundred sequential requests, the rest concurrent.
 */
import type { Test } from 'tap';
import { isFloeError, type FloeErrorCode } from '../../lib/errors.js';
import type { ObjectInfo, ObjectStore } from '../../lib/store/object-store.js';
import { Random, seedFromEnv } from '../../lib/util/random.js';

export interface StoreCaps {
  /** The backend enforces create-if-absent (default true). s3rver, for one, does not. */
  conditionalPut?: boolean;
  /** head/list report mtimeMs in ms since the epoch (default true). */
  mtime?: boolean;
}

export type OpenStore = () => Promise<{ store: ObjectStore; cleanup(): Promise<void> }>;

type Body = (t: Test, store: ObjectStore) => Promise<void>;

/** Registers the contract as subtests of `t`, under a subtest named after the backend. */
export function runStoreContract(t: Test, name: string, open: OpenStore, caps: StoreCaps = {}): void {
  const conditionalPut = caps.conditionalPut ?? true;
  const mtime = caps.mtime ?? true;
  const seed = seedFromEnv();

  void t.test(`${name}: object-store contract`, async (t) => {
    t.comment(`${name} contract seed ${seed} (replay with FLOE_SEED=${seed})`);
    const use = (title: string, body: Body): void => {
      void t.test(title, async (t) => {
        const { store, cleanup } = await open();
        try {
          await body(t, store);
        } finally {
          await cleanup();
          await store.close();
        }
      });
    };

    use('put/get round trip: empty, small, binary, 1 MiB+', async (t, store) => {
      const rand = new Random(seed ^ 0x1001);
      const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
      const cases: Array<[string, Uint8Array]> = [
        ['rt/empty', new Uint8Array(0)],
        ['rt/small', new TextEncoder().encode('hello, floe')],
        ['rt/binary', allBytes],
        ['rt/large.sst', randomBytes(rand, 2 ** 20 + 13)],
      ];
      for (const [path, bytes] of cases) await store.put(path, bytes);
      for (const [path, bytes] of cases) {
        sameBytes(t, await store.get(path), bytes, `get ${path} returns the bytes put`);
        const info = await store.head(path);
        t.equal(info?.size, bytes.length, `head ${path} reports size ${bytes.length}`);
        t.equal(info?.path, path, `head ${path} reports its path`);
      }
      // Buffers given to put and returned by get are the caller's: changing them changes nothing stored.
      const mine = Uint8Array.from([1, 2, 3, 4]);
      await store.put('rt/owned', mine);
      mine.fill(9);
      const got = await store.get('rt/owned');
      sameBytes(t, got, Uint8Array.from([1, 2, 3, 4]), 'mutating the put buffer afterwards does not change the object');
      got.fill(7);
      sameBytes(t, await store.get('rt/owned'), Uint8Array.from([1, 2, 3, 4]), 'mutating a returned buffer does not change the object');
      // A Buffer (a Uint8Array subclass) and a view into a larger buffer are accepted and stored exactly.
      const backing = Buffer.from('xxpayloadxx');
      await store.put('rt/view', backing.subarray(2, 9));
      sameBytes(t, await store.get('rt/view'), new TextEncoder().encode('payload'), 'a view is stored as just its bytes');
      // A plain put of the same bytes again (a retry) succeeds and keeps the object.
      await store.put('rt/small', new TextEncoder().encode('hello, floe'));
      sameBytes(t, await store.get('rt/small'), new TextEncoder().encode('hello, floe'), 're-putting identical bytes succeeds');
    });

    use('ranged gets are clipped to the object', async (t, store) => {
      const bytes = randomBytes(new Random(seed ^ 0x2002), 1000);
      await store.put('range/obj', bytes);
      const cases: Array<[number, number | undefined, number, number]> = [
        // offset, length, expected start, expected end
        [0, 10, 0, 10],
        [500, 100, 500, 600],
        [990, 10, 990, 1000],
        [995, 100, 995, 1000],
        [999, 1, 999, 1000],
        [1000, 5, 1000, 1000],
        [2000, 5, 1000, 1000],
        [0, 0, 0, 0],
        [123, 0, 123, 123],
        [100, undefined, 100, 1000],
        [0, undefined, 0, 1000],
        [1000, undefined, 1000, 1000],
        [0, 1000, 0, 1000],
        [0, 5000, 0, 1000],
      ];
      for (const [offset, length, start, end] of cases) {
        const range = length === undefined ? { offset } : { offset, length };
        sameBytes(t, await store.get('range/obj', range), bytes.subarray(start, end), `get range ${JSON.stringify(range)}`);
      }
      await store.put('range/empty', new Uint8Array(0));
      t.equal((await store.get('range/empty', { offset: 0, length: 10 })).length, 0, 'a range of an empty object is empty');
      await expectCode(t, store.get('range/missing', { offset: 0, length: 10 }), 'NOT_FOUND', 'a ranged get of a missing object');
    });

    use('head and get of missing objects', async (t, store) => {
      await store.put('miss/dir/child', Uint8Array.from([1]));
      t.equal(await store.head('miss/nothing'), undefined, 'head of a missing object is undefined');
      t.equal(await store.head('miss/dir'), undefined, 'head of a folder-like prefix is undefined');
      t.equal(await store.head('miss/nothing/deeper/still'), undefined, 'head under a missing folder is undefined');
      await expectCode(t, store.get('miss/nothing'), 'NOT_FOUND', 'get of a missing object');
      await expectCode(t, store.get('miss/dir'), 'NOT_FOUND', 'get of a folder-like prefix');
      await expectCode(t, store.get('miss/nothing/deeper/still'), 'NOT_FOUND', 'get under a missing folder');
      const info = await store.head('miss/dir/child');
      t.equal(info?.size, 1, 'head of a present object');
      if (mtime) {
        const ms = info?.mtimeMs;
        t.ok(typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms - Date.now()) < 24 * 3600_000, `mtimeMs ${ms} is a recent time in ms`);
      }
    });

    use('list by prefix: recursive, sorted, exact prefixes', async (t, store) => {
      // No path is also a folder of another: local and HDFS stores cannot hold both 'a' and 'a/b'.
      const paths = ['l/a.c', 'l/ab', 'l/a/x', 'l/a/y/z', 'l/b/c/d', 'l/b/c/e', 'l/b/cx', 'l/c', 'l/b-dash', 'l/b.dot', 'l/b_under'];
      const sizes = new Map(paths.map((p, i) => [p, i * 3]));
      await Promise.all(paths.map((p) => store.put(p, new Uint8Array(sizes.get(p)!))));
      const expect = (prefix: string): string[] => paths.filter((p) => p.startsWith(prefix)).sort(compareStrings);
      for (const prefix of ['l/', 'l/a', 'l/a/', 'l/b', 'l/b/', 'l/b/c', 'l/b/c/', 'l/b/c/d', 'l/c', 'l/zzz', 'l/b/c/e/', 'none/', 'none']) {
        const listed = await store.list(prefix);
        t.same(
          listed.map((i) => i.path),
          expect(prefix),
          `list(${JSON.stringify(prefix)}) gives exactly the paths with that prefix, sorted`,
        );
        t.ok(
          listed.every((i) => i.size === sizes.get(i.path)),
          `list(${JSON.stringify(prefix)}) reports sizes`,
        );
        if (mtime) t.ok(listed.every((i) => typeof i.mtimeMs === 'number'), `list(${JSON.stringify(prefix)}) reports mtimes`);
      }
      const everything = (await store.list('')).map((i) => i.path);
      t.ok(isSorted(everything), "list('') is sorted");
      t.ok(
        paths.every((p) => everything.includes(p)),
        "list('') includes every object",
      );
    });

    use('delete is idempotent', async (t, store) => {
      await store.put('del/a', Uint8Array.from([1, 2]));
      await store.put('del/b', Uint8Array.from([3]));
      await store.delete('del/a');
      t.equal(await store.head('del/a'), undefined, 'a deleted object is gone from head');
      await expectCode(t, store.get('del/a'), 'NOT_FOUND', 'get of a deleted object');
      t.same(
        (await store.list('del/')).map((i) => i.path),
        ['del/b'],
        'a deleted object is gone from list; its sibling stays',
      );
      await store.delete('del/a');
      t.pass('deleting it again succeeds');
      await store.delete('del/never/existed');
      t.pass('deleting a never-existing object succeeds');
      await store.put('del/a', Uint8Array.from([4, 5, 6]));
      sameBytes(t, await store.get('del/a'), Uint8Array.from([4, 5, 6]), 'a deleted path can be written again');
    });

    if (conditionalPut) {
      use('create-if-absent: second create fails, first bytes intact', async (t, store) => {
        const first = Uint8Array.from([1, 1, 1]);
        await store.put('cia/m', first, { ifNoneMatch: true });
        t.pass('the first create succeeds');
        await expectCode(t, store.put('cia/m', Uint8Array.from([2, 2]), { ifNoneMatch: true }), 'ALREADY_EXISTS', 'the second create');
        await expectCode(t, store.put('cia/m', first, { ifNoneMatch: true }), 'ALREADY_EXISTS', 'a second create with identical bytes');
        sameBytes(t, await store.get('cia/m'), first, "the first create's bytes are intact");
        await expectCode(
          t,
          store.putStream('cia/m', [Uint8Array.from([3]), Uint8Array.from([4])], { ifNoneMatch: true }),
          'ALREADY_EXISTS',
          'a streamed create of an existing object',
        );
        sameBytes(t, await store.get('cia/m'), first, "the first create's bytes are still intact");
        await store.putStream('cia/s', [Uint8Array.from([5]), Uint8Array.from([6])], { ifNoneMatch: true });
        sameBytes(t, await store.get('cia/s'), Uint8Array.from([5, 6]), 'a streamed create of a new object succeeds');
        await store.delete('cia/m');
        await store.put('cia/m', Uint8Array.from([7]), { ifNoneMatch: true });
        sameBytes(t, await store.get('cia/m'), Uint8Array.from([7]), 'create succeeds again after a delete');
      });

      use('create-if-absent: concurrent creates, exactly one wins', async (t, store) => {
        const contenders = 8;
        for (let round = 0; round < 3; round++) {
          const path = `race/${round}/manifest`;
          const payloads = Array.from({ length: contenders }, (_, i) => new TextEncoder().encode(`writer ${i} of round ${round}`));
          const results = await Promise.allSettled(payloads.map((p) => store.put(path, p, { ifNoneMatch: true })));
          const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
          const losersOk = results.every((r) => r.status === 'fulfilled' || isFloeError(r.reason, 'ALREADY_EXISTS'));
          t.equal(winners.length, 1, `round ${round}: exactly one of ${contenders} concurrent creates succeeds`);
          t.ok(losersOk, `round ${round}: every other create fails with ALREADY_EXISTS`);
          if (winners.length === 1) sameBytes(t, await store.get(path), payloads[winners[0]!]!, `round ${round}: the object holds the winner's bytes`);
        }
      });
    }

    use('putStream: many chunks, byte-exact; failures leave nothing', async (t, store) => {
      const rand = new Random(seed ^ 0x3003);
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < 200; i++) chunks.push(randomBytes(rand, i % 17 === 0 ? 0 : rand.range(1, 64 * 1024)));
      const whole = concat(chunks);
      async function* produce(): AsyncGenerator<Uint8Array> {
        for (const chunk of chunks) yield chunk;
      }
      await store.putStream('ps/async', produce());
      const got = await store.get('ps/async');
      sameBytes(t, got, whole, `an async stream of ${chunks.length} chunks (${whole.length} bytes) round-trips`);
      t.equal((await store.head('ps/async'))?.size, whole.length, 'head reports the streamed size');
      const mid = Math.floor(whole.length / 2);
      sameBytes(t, await store.get('ps/async', { offset: mid - 1000, length: 70_000 }), whole.subarray(mid - 1000, mid + 69_000), 'a range across chunk boundaries');
      await store.putStream('ps/sync', chunks.slice(0, 10));
      sameBytes(t, await store.get('ps/sync'), concat(chunks.slice(0, 10)), 'a sync iterable of chunks round-trips');
      await store.putStream('ps/empty', []);
      t.equal((await store.get('ps/empty')).length, 0, 'an empty stream makes an empty object');
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield randomBytes(rand, 1000);
        yield randomBytes(rand, 1000);
        throw new Error('the producer failed');
      }
      let rejected = false;
      try {
        await store.putStream('ps/failed', failing());
      } catch {
        rejected = true;
      }
      t.ok(rejected, 'putStream rejects when its source fails');
      t.equal(await store.head('ps/failed'), undefined, 'nothing is visible after a failed putStream');
      t.same(
        (await store.list('ps/')).map((i) => i.path),
        ['ps/async', 'ps/empty', 'ps/sync'],
        'list shows only the completed streams',
      );
    });

    use('nested folders and path characters', async (t, store) => {
      const paths = ['n/a/b/c/d/e/f/g.sst', 'n/a/b/other', 'n/x_y-z.0/file.json', 'n/UPPER/lower/00000000000000000042'];
      for (const [i, p] of paths.entries()) await store.put(p, Uint8Array.from([i, i, i]));
      for (const [i, p] of paths.entries()) sameBytes(t, await store.get(p), Uint8Array.from([i, i, i]), `get ${p}`);
      t.same(
        (await store.list('n/a/')).map((i) => i.path),
        ['n/a/b/c/d/e/f/g.sst', 'n/a/b/other'],
        'list of a nested prefix',
      );
      await store.delete('n/a/b/c/d/e/f/g.sst');
      t.same(
        (await store.list('n/a/')).map((i) => i.path),
        ['n/a/b/other'],
        'deleting the only object of a deep folder removes it from list',
      );
      t.same((await store.list('n/a/b/c')).length, 0, 'no phantom entries for emptied folders');
    });

    use('rejects malformed paths and ranges', async (t, store) => {
      for (const bad of ['', '/abs', 'a//b', 'a/./b', 'a/../b', '..', 'trailing/']) {
        await expectCode(t, store.get(bad), 'INVALID_ARGUMENT', `get(${JSON.stringify(bad)})`);
        await expectCode(t, store.put(bad, new Uint8Array(1)), 'INVALID_ARGUMENT', `put(${JSON.stringify(bad)})`);
      }
      await store.put('bad/obj', new Uint8Array(10));
      await expectCode(t, store.get('bad/obj', { offset: -1, length: 2 }), 'INVALID_ARGUMENT', 'a negative offset');
      await expectCode(t, store.get('bad/obj', { offset: 0, length: -2 }), 'INVALID_ARGUMENT', 'a negative length');
      await expectCode(t, store.get('bad/obj', { offset: 1.5 }), 'INVALID_ARGUMENT', 'a fractional offset');
      await expectCode(t, store.list('/abs'), 'INVALID_ARGUMENT', 'a list prefix with a leading /');
      const aborted = new AbortController();
      aborted.abort(new Error('cancelled by the test'));
      let rejected = false;
      try {
        await store.get('bad/obj', undefined, { signal: aborted.signal });
      } catch {
        rejected = true;
      }
      t.ok(rejected, 'a get with an aborted signal rejects');
    });

    use('concurrency: many parallel puts, gets, heads, deletes', async (t, store) => {
      const rand = new Random(seed ^ 0x4004);
      const n = 48;
      const objects = Array.from({ length: n }, (_, i) => ({ path: `conc/${i % 4}/obj-${String(i).padStart(3, '0')}`, bytes: randomBytes(rand, rand.range(1, 20_000)) }));
      await Promise.all(objects.map((o) => store.put(o.path, o.bytes)));
      const gets = await Promise.all(objects.map((o) => store.get(o.path)));
      t.ok(
        gets.every((g, i) => equalBytes(g, objects[i]!.bytes)),
        `${n} parallel gets return the right objects`,
      );
      const ranges = objects.map((o) => {
        const offset = rand.int(o.bytes.length);
        return { offset, length: rand.int(o.bytes.length - offset + 1) };
      });
      const ranged = await Promise.all(objects.map((o, i) => store.get(o.path, ranges[i])));
      t.ok(
        ranged.every((g, i) => equalBytes(g, objects[i]!.bytes.subarray(ranges[i]!.offset, ranges[i]!.offset + ranges[i]!.length))),
        `${n} parallel ranged gets return the right bytes`,
      );
      const heads = await Promise.all(objects.map((o) => store.head(o.path)));
      t.ok(
        heads.every((h, i) => h?.size === objects[i]!.bytes.length),
        `${n} parallel heads report the right sizes`,
      );
      t.equal((await store.list('conc/')).length, n, 'list sees every object');
      await Promise.all(objects.map((o) => store.delete(o.path)));
      t.same(await store.list('conc/'), [], 'all deleted in parallel');
    });

    use(`seeded random operations against a model (seed ${seed})`, async (t, store) => {
      await randomOpsAgainstModel(t, store, seed, conditionalPut);
    });

    use('close is idempotent', async (t, store) => {
      await store.put('close/x', Uint8Array.from([1]));
      await store.close();
      await store.close();
      t.pass('closing twice succeeds');
    });
  });
}

async function randomOpsAgainstModel(t: Test, store: ObjectStore, seed: number, conditionalPut: boolean): Promise<void> {
  const rand = new Random(seed ^ 0x5005);
  const model = new Map<string, Uint8Array>();
  const paths = ['model/a', 'model/b', 'model/c/1', 'model/c/2', 'model/c/3/deep', 'model/d-1', 'model/d_2', 'model/e/f/g', 'model/h', 'model/i/j'];
  const steps = 250;
  let failure: string | undefined;
  const check = (ok: boolean, what: string): void => {
    if (!ok && failure === undefined) failure = what;
  };
  for (let step = 0; step < steps && failure === undefined; step++) {
    const path = rand.pick(paths);
    const roll = rand.int(100);
    const at = `seed ${seed}, step ${step}`;
    if (roll < 25) {
      const bytes = randomBytes(rand, rand.int(4000));
      await store.put(path, bytes);
      model.set(path, bytes);
    } else if (roll < 33) {
      const bytes = randomBytes(rand, rand.int(9000));
      const cuts = [0, rand.int(bytes.length + 1), rand.int(bytes.length + 1), bytes.length].sort((a, b) => a - b);
      await store.putStream(path, cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end)));
      model.set(path, bytes);
    } else if (roll < 43) {
      if (!conditionalPut) continue;
      const bytes = randomBytes(rand, rand.int(500));
      const outcome = await settle(store.put(path, bytes, { ifNoneMatch: true }));
      if (model.has(path)) check(outcome === 'ALREADY_EXISTS', `${at}: create-if-absent of existing ${path} gave ${outcome}`);
      else {
        check(outcome === 'ok', `${at}: create-if-absent of missing ${path} gave ${outcome}`);
        if (outcome === 'ok') model.set(path, bytes);
      }
    } else if (roll < 58) {
      const expected = model.get(path);
      try {
        const got = await store.get(path);
        check(expected !== undefined && equalBytes(got, expected), `${at}: get ${path} returned ${got.length} bytes, model has ${expected?.length}`);
      } catch (error) {
        check(expected === undefined && isFloeError(error, 'NOT_FOUND'), `${at}: get ${path} threw ${String(error)}, model has ${expected?.length}`);
      }
    } else if (roll < 73) {
      const expected = model.get(path);
      const size = expected?.length ?? 100;
      const offset = rand.int(size + 20);
      const length = rand.bool(0.2) ? undefined : rand.int(size + 20);
      const range = length === undefined ? { offset } : { offset, length };
      try {
        const got = await store.get(path, range);
        const want = expected?.subarray(Math.min(offset, size), length === undefined ? size : Math.min(size, offset + length));
        check(want !== undefined && equalBytes(got, want), `${at}: get ${path} ${JSON.stringify(range)} returned ${got.length} bytes, wanted ${want?.length}`);
      } catch (error) {
        check(expected === undefined && isFloeError(error, 'NOT_FOUND'), `${at}: ranged get ${path} threw ${String(error)}`);
      }
    } else if (roll < 81) {
      const info = await store.head(path);
      check(info?.size === model.get(path)?.length, `${at}: head ${path} gave size ${info?.size}, model ${model.get(path)?.length}`);
    } else if (roll < 93) {
      await store.delete(path);
      model.delete(path);
    } else {
      const prefix = rand.pick(['model/', 'model/c', 'model/c/', 'model/d', 'model/e/f/', 'model/zz']);
      const listed = await store.list(prefix);
      const want = [...model.entries()].filter(([p]) => p.startsWith(prefix)).sort(([a], [b]) => compareStrings(a, b));
      check(sameListing(listed, want), `${at}: list ${prefix} gave ${describeListing(listed)}, model ${want.map(([p, b]) => `${p}:${b.length}`).join(',')}`);
    }
  }
  if (failure === undefined) {
    const listed = await store.list('model/');
    const want = [...model.entries()].sort(([a], [b]) => compareStrings(a, b));
    check(sameListing(listed, want), `seed ${seed}, end: final list gave ${describeListing(listed)}`);
    for (const [path, bytes] of want) {
      const got = await store.get(path);
      check(equalBytes(got, bytes), `seed ${seed}, end: final get ${path} differs from the model`);
    }
  }
  if (failure !== undefined) t.fail(`${failure} (replay with FLOE_SEED=${seed})`);
  else t.pass(`${steps} random operations agree with the model (seed ${seed})`);
}

function sameListing(listed: ObjectInfo[], want: Array<[string, Uint8Array]>): boolean {
  return listed.length === want.length && listed.every((info, i) => info.path === want[i]![0] && info.size === want[i]![1].length);
}

function describeListing(listed: ObjectInfo[]): string {
  return listed.map((i) => `${i.path}:${i.size}`).join(',');
}

async function settle(promise: Promise<unknown>): Promise<'ok' | FloeErrorCode | 'other'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return isFloeError(error) ? error.code : 'other';
  }
}

/** Asserts that `promise` rejects with a FloeError of `code`. */
export async function expectCode(t: Test, promise: Promise<unknown>, code: FloeErrorCode, what: string): Promise<void> {
  try {
    await promise;
    t.fail(`${what}: expected FloeError ${code}, but it succeeded`);
  } catch (error) {
    if (isFloeError(error, code)) t.pass(`${what} fails with ${code}`);
    else t.fail(`${what}: expected FloeError ${code}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
}

/** Asserts byte equality with a short diagnosis instead of a megabyte diff. */
export function sameBytes(t: Test, actual: Uint8Array, expected: Uint8Array, what: string): void {
  if (equalBytes(actual, expected)) {
    t.pass(what);
    return;
  }
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  t.fail(`${what}: got ${actual.length} bytes, wanted ${expected.length}; first difference at byte ${i}`);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** Seeded bytes, four per draw. */
export function randomBytes(rand: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = rand.nextU32();
    out[i] = v;
    out[i + 1] = v >>> 8;
    out[i + 2] = v >>> 16;
    out[i + 3] = v >>> 24;
  }
  for (; i < n; i++) out[i] = rand.nextU32();
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isSorted(paths: readonly string[]): boolean {
  return paths.every((p, i) => i === 0 || compareStrings(paths[i - 1]!, p) < 0);
}

/** The seed the contract suite uses in this process (FLOE_SEED or the clock). */
export { seedFromEnv };
