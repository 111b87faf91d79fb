/**
 * Value copies carved from shared slabs (lib/lsm/value-arena.ts): copies are independent of their source
 * and of each other, large values get a buffer of their own, and a memtable keeps the bytes of a carved
 * value charged to its budget after a later write replaces it (the slab still holds them).
 */
import t from 'tap';
import { isShared, ValueArena } from '../lib/lsm/value-arena.js';
import { Memtable } from '../lib/lsm/memtable.js';
import { EntryKind } from '../lib/sst/entry.js';

t.test('copies are independent and small ones share slabs', async (t) => {
  const arena = new ValueArena();
  const src = Buffer.from('abcdefgh');
  const a = arena.copy(src);
  src.fill(0x30);
  const b = arena.copy(src);
  t.equal(Buffer.from(a).toString(), 'abcdefgh', 'a copy does not follow its source');
  t.equal(Buffer.from(b).toString(), '00000000');
  t.equal(a.buffer, b.buffer, 'small copies share a slab');
  t.ok(isShared(a), 'a carved copy is shared');
  const big = arena.copy(new Uint8Array(64 * 1024));
  t.notOk(isShared(big), 'a large value gets its own buffer');
  t.notOk(isShared(arena.copy(new Uint8Array(0))), 'an empty value gets its own (empty) buffer');
});

t.test('a memtable keeps replaced inline bytes charged, and releases replaced large own buffers', async (t) => {
  const arena = new ValueArena();
  const key = Buffer.from('k');
  // Small values are copied into the memtable's own slabs (memtable-entries.ts), which are never reused.
  const inline = new Memtable();
  inline.apply(key, EntryKind.Put, arena.copy(new Uint8Array(1000)), 1);
  const before = inline.approximateBytes;
  t.ok(before >= 1 + 1000, `the key and value are charged (${before} bytes)`);
  inline.apply(key, EntryKind.Put, arena.copy(new Uint8Array(10)), 2);
  t.ok(inline.approximateBytes >= before, 'the replaced 1,000 bytes stay charged');
  inline.apply(key, EntryKind.Delete, new Uint8Array(0), 3);
  t.ok(inline.approximateBytes >= before, 'a delete keeps them charged too');

  // A value above the inline limit keeps its own buffer: replacing it releases it.
  const own = new Memtable();
  own.apply(key, EntryKind.Put, new Uint8Array(8192), 1);
  const ownBefore = own.approximateBytes;
  own.apply(key, EntryKind.Put, new Uint8Array(10000), 2);
  t.equal(own.approximateBytes, ownBefore + 10000 - 8192, 'a replaced large value with its own buffer is released');
  // A carved large copy (a view of a shared slab) stays charged when replaced.
  const carved = new Memtable();
  const shared = new Uint8Array(new ArrayBuffer(20000), 0, 8192);
  carved.apply(key, EntryKind.Put, shared, 1);
  const carvedBefore = carved.approximateBytes;
  carved.apply(key, EntryKind.Put, new Uint8Array(10000), 2);
  t.equal(carved.approximateBytes, carvedBefore + 10000, 'replaced bytes of a shared buffer stay charged');
});
