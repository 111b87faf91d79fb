/** MemObjectStore: the contract suite, plus the registry, copy semantics, injected mtimes and close. */
import t from 'tap';
import { isFloeError } from '../lib/errors.js';
import { MemObjectStore, dropMemStore, openMemStore } from '../lib/store/mem.js';
import type { Clock } from '../lib/util/clock.js';
import { expectCode, runStoreContract, sameBytes } from './support/store-contract.js';

let counter = 0;
runStoreContract(t, 'mem', async () => {
  const name = `contract-${process.pid}-${++counter}`;
  const store = openMemStore(name);
  return {
    store,
    cleanup: async () => {
      dropMemStore(name);
    },
  };
});

t.test('mem: the same name opened twice shares objects; drop forgets it', async (t) => {
  const a = openMemStore('shared-name');
  const b = openMemStore('shared-name');
  await a.put('x/y', Uint8Array.from([1, 2, 3]));
  sameBytes(t, await b.get('x/y'), Uint8Array.from([1, 2, 3]), 'a second handle sees the first one’s object');
  t.equal(a.uri, 'mem://shared-name', 'uri names the store');
  await a.close();
  sameBytes(t, await b.get('x/y'), Uint8Array.from([1, 2, 3]), 'closing one handle does not drop the objects');
  const other = openMemStore('other-name');
  t.equal(await other.head('x/y'), undefined, 'another name is another store');
  t.equal(dropMemStore('shared-name'), true, 'drop reports a known name');
  t.equal(dropMemStore('shared-name'), false, 'drop of an unknown name reports false');
  const c = openMemStore('shared-name');
  t.equal(await c.head('x/y'), undefined, 'after drop the name starts empty');
  dropMemStore('other-name');
});

t.test('mem: stored bytes are copies, and returned bytes are plain Uint8Arrays', async (t) => {
  const store = new MemObjectStore('private');
  const source = Buffer.from([5, 6, 7, 8]);
  await store.put('p', source);
  source[0] = 99;
  const got = await store.get('p');
  t.equal(Object.getPrototypeOf(got), Uint8Array.prototype, 'get returns a plain Uint8Array, not a Buffer');
  sameBytes(t, got, Uint8Array.from([5, 6, 7, 8]), 'a Buffer source is copied in');
  const slice = got.slice(0, 2);
  slice[0] = 42;
  t.equal(got[0], 5, 'slice() of the result copies (Uint8Array semantics)');
  async function* reused(): AsyncGenerator<Uint8Array> {
    const buf = new Uint8Array(2);
    for (let i = 0; i < 3; i++) {
      buf.fill(i);
      yield buf; // the producer reuses its buffer
    }
  }
  await store.putStream('s', reused());
  sameBytes(t, await store.get('s'), Uint8Array.from([0, 0, 1, 1, 2, 2]), 'putStream copies each chunk as it arrives');
});

t.test('mem: mtimes come from the injected clock', async (t) => {
  let now = 1_000_000;
  const clock: Clock = { now: () => now, sleep: async () => undefined };
  const store = new MemObjectStore('clocked', new Map(), { clock });
  await store.put('a', new Uint8Array(1));
  now += 5000;
  await store.put('b', new Uint8Array(2));
  t.equal((await store.head('a'))?.mtimeMs, 1_000_000, 'mtime of the first put');
  t.same(
    (await store.list('')).map((i) => [i.path, i.mtimeMs]),
    [
      ['a', 1_000_000],
      ['b', 1_005_000],
    ],
    'list reports the injected mtimes',
  );
});

t.test('mem: operations after close fail with CLOSED; bad names are CONFIG', async (t) => {
  const store = new MemObjectStore('closing');
  await store.put('a', new Uint8Array(1));
  await store.close();
  await expectCode(t, store.get('a'), 'CLOSED', 'get after close');
  await expectCode(t, store.put('b', new Uint8Array(1)), 'CLOSED', 'put after close');
  await expectCode(t, store.list(''), 'CLOSED', 'list after close');
  for (const bad of ['', 'has/slash', 'sp ace', 'x'.repeat(129)]) {
    try {
      openMemStore(bad);
      t.fail(`openMemStore(${JSON.stringify(bad)}) should fail`);
    } catch (error) {
      t.ok(isFloeError(error, 'CONFIG'), `openMemStore(${JSON.stringify(bad.slice(0, 20))}) is a CONFIG error`);
    }
  }
});

t.test('mem: concurrent create-if-absent has exactly one winner even across handles', async (t) => {
  const handles = [openMemStore('race-handles'), openMemStore('race-handles'), openMemStore('race-handles')];
  const results = await Promise.allSettled(handles.map((h, i) => h.put('m', Uint8Array.from([i]), { ifNoneMatch: true })));
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one winner');
  dropMemStore('race-handles');
});
