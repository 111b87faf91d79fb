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

t.test('a memtable keeps replaced carved bytes charged, and releases replaced own bytes', async (t) => {
  const arena = new ValueArena();
  const key = Buffer.from('k');
  const carved = new Memtable();
  carved.apply(key, EntryKind.Put, arena.copy(new Uint8Array(1000)), 1);
  const before = carved.approximateBytes;
  carved.apply(key, EntryKind.Put, arena.copy(new Uint8Array(10)), 2);
  t.equal(carved.approximateBytes, before + 10, 'the replaced 1,000 carved bytes stay charged');
  carved.apply(key, EntryKind.Delete, new Uint8Array(0), 3);
  t.equal(carved.approximateBytes, before + 10, 'a delete keeps them charged too');

  const own = new Memtable();
  own.apply(key, EntryKind.Put, new Uint8Array(1000), 1);
  const ownBefore = own.approximateBytes;
  own.apply(key, EntryKind.Put, new Uint8Array(10), 2);
  t.equal(own.approximateBytes, ownBefore - 990, 'a replaced value with its own buffer is released');
});
