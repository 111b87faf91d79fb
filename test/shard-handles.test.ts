/**
 * Shard-side read handles (lib/daemon/shard-handles.ts) on an embedded instance: a snapshot handle is
 * reference-counted by the iterator parts reading at it, so releasing the snapshot keeps those parts
 * readable; releasing everything leaves no handle; unknown handles are typed errors; seeks reposition.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { ShardHandles } from '../lib/daemon/shard-handles.js';
import { writeIteratorOptions, parseIteratorPage } from '../lib/protocol/protocol-v2.js';
import { Reader, Writer } from '../lib/protocol/wire.js';
import type { FloeError } from '../lib/errors.js';

const reader = (fill: (w: Writer) => void): Reader => {
  const w = new Writer(256);
  fill(w);
  const b = w.take();
  return new Reader(b, 0, b.length);
};

t.test('snapshot and iterator handles of one instance', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-shard-handles-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const lsm = await openLsmStore({ primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), maxKeyGroups: 4, compactionWorkers: 0 });
  t.teardown(() => lsm.close());
  const h = new ShardHandles(lsm);
  await lsm.put('a', '1', { keyGroup: 1 });
  h.snapshot(1);
  await lsm.put('b', '2', { keyGroup: 1 });
  h.openIterator(reader((w) => {
    w.u32(2);
    w.u32(1);
    writeIteratorOptions(w, { keyGroup: 1 });
  }));
  h.openIterator(reader((w) => {
    w.u32(3);
    w.u32(0);
    writeIteratorOptions(w, { keyGroup: 1, reverse: true });
  }));
  t.equal(h.size, 3);
  await h.release(1);
  t.throws(() => h.snapshotOf(1), { code: 'INVALID_ARGUMENT' }, 'a released snapshot handle is unknown');
  const page = async (handle: number, seek?: { kg: number; key: string }): Promise<{ done: boolean; keys: string[] }> => {
    const fill = await h.next(reader((w) => {
      w.u32(handle);
      w.u32(10);
      w.u32(1 << 20);
      w.u8(seek ? 1 : 0);
      if (seek) {
        w.u16(seek.kg);
        w.bytes32(seek.key);
      }
    }));
    const w = new Writer(256);
    fill(w);
    const p = parseIteratorPage(w.take(), true, true);
    return { done: p.done, keys: p.entries.map((e) => Buffer.from(e.key!).toString()) };
  };
  t.same(await page(2), { done: true, keys: ['a'] }, 'the iterator at the released snapshot still reads it (reference count)');
  t.same(await page(3), { done: true, keys: ['b', 'a'] }, 'an iterator with its own view, reverse');
  t.same(await page(3, { kg: 1, key: 'a' }), { done: true, keys: ['a'] }, 'a seek repositions (reverse: at or before)');
  const e = await h.next(reader((w) => {
    w.u32(9);
    w.u32(1);
    w.u32(1);
    w.u8(0);
  })).then(() => undefined, (x: unknown) => x as FloeError);
  t.equal(e?.code, 'INVALID_ARGUMENT', 'an unknown iterator handle');
  await h.release(2);
  await h.release(3);
  await h.release(3);
  t.equal(h.size, 0, 'everything released (a second release is a no-op)');
});
