/**
 * Who keeps files alive after a restore: in no-claim mode the checkpoint stays retained and the restored
 * instance's manifest references its files, and the original keeps working; in claim mode the checkpoint
 * record is dropped, the original instance is retired (its writer fenced), and the restored instance alone
 * keeps the files. Either way GC (zero grace) never deletes a file a live instance references.
 */
import t from 'tap';
import { tinyStore } from './support/tiny-store.js';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import type { StoreOptions } from '../lib/api.js';
import { openMemStore } from '../lib/store/mem.js';
import { Random } from '../lib/util/random.js';

const opts = (primary: string): StoreOptions => tinyStore(primary);

t.test('claim: the source instance is retired, its writer fenced, and the restored store keeps every file', async (t) => {
  const name = `own-claim-retire-${process.pid}`;
  const primary = `mem://${name}`;
  const mem = openMemStore(name);
  const r = new Random(12);
  const original = (await openLsmStore(opts(primary))) as LsmStore;
  for (let i = 0; i < 2000; i++) await original.put(`k${i % 400}`, r.bytes(120));
  const expected = await original.multiGet(Array.from({ length: 400 }, (_, i) => `k${i}`));
  const handle = await original.checkpoint();
  const restored = (await restoreStore({ ...opts(primary), instanceId: 'claimed' }, [handle], { mode: 'claim' })) as LsmStore;
  t.equal((await mem.list('checkpoints/')).length, 0, 'checkpoint record dropped');
  await original.put('late', 'write');
  const late = await original.flush().then(
    () => 'resolved',
    (e: { code?: string }) => e.code,
  );
  t.equal(late, 'FENCED', 'the retired source’s writer is fenced on its next durable write');
  await original.close().catch(() => undefined);
  await t.rejects(openLsmStore(opts(primary)), { code: 'CONFIG' }, 'a retired instance cannot be opened again');
  await restored.collectGarbage();
  const present = new Set((await mem.list('sst/')).map((o) => o.path));
  for (const f of restored.internals().state.version.allFiles()) t.ok(present.has(`sst/${f.fileId}.sst`), `restored instance's file ${f.fileId} kept`);
  const got = await restored.multiGet(Array.from({ length: 400 }, (_, i) => `k${i}`));
  t.same(got.map((v) => v && Buffer.from(v).toString('hex')), expected.map((v) => v && Buffer.from(v).toString('hex')), 'the restored store reads the checkpointed state');
  await restored.close();
});

for (const mode of ['no-claim'] as const) {
  t.test(`${mode}: both instances keep working, GC keeps shared files`, async (t) => {
    const name = `own-${mode}-${process.pid}`;
    const primary = `mem://${name}`;
    const mem = openMemStore(name);
    const r = new Random(11);
    const original = (await openLsmStore(opts(primary))) as LsmStore;
    for (let i = 0; i < 2000; i++) await original.put(`k${i % 400}`, r.bytes(120));
    const expected = await original.multiGet(Array.from({ length: 400 }, (_, i) => `k${i}`));
    const handle = await original.checkpoint();
    const restored = (await restoreStore({ ...opts(primary), instanceId: `restored-${mode}` }, [handle], { mode })) as LsmStore;
    const records = await mem.list('checkpoints/');
    t.equal(records.length, 1, 'no-claim: checkpoint record kept');
    // The original rewrites everything and drops its checkpoint; GC runs from both sides.
    for (let i = 0; i < 4000; i++) await original.put(`k${i % 400}`, r.bytes(120));
    await original.flush();
    await original.compactUntilIdle();
    await original.releaseCheckpoint(handle);
    await original.collectGarbage();
    await restored.collectGarbage();
    const present = new Set((await mem.list('sst/')).map((o) => o.path));
    for (const f of restored.internals().state.version.allFiles()) t.ok(present.has(`sst/${f.fileId}.sst`), `restored instance's file ${f.fileId} kept`);
    const got = await restored.multiGet(Array.from({ length: 400 }, (_, i) => `k${i}`));
    t.same(got.map((v) => v && Buffer.from(v).toString('hex')), expected.map((v) => v && Buffer.from(v).toString('hex')), 'restored store still reads the checkpointed state');
    await restored.put('new', 'value');
    await restored.flush();
    t.equal(Buffer.from((await restored.get('new'))!).toString(), 'value', 'restored store is writable');
    t.equal(await original.get('new'), undefined, 'the original does not see the restored store’s writes');
    await restored.close();
    await original.close();
  });
}
