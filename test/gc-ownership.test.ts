/**
 * GC across stores, threads and processes (issue 8 defect 3): a file that another writer is uploading,
 * that a reader elsewhere loaded just before it was dropped, or that an open scan still reads, is never
 * deleted. "Another process" is a direct GC pass (lib/checkpoint/gc.ts) that sees none of this thread's pins.
 */
import t from 'tap';
import { tinyStore } from './support/tiny-store.js';
import type { StoreOptions } from '../lib/api.js';
import { collectGarbage } from '../lib/checkpoint/gc.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import { openLsmStore } from '../lib/embedded.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { openMemStore } from '../lib/store/mem.js';
import type { ObjectStore } from '../lib/store/object-store.js';
import { LEASES_PREFIX, sstPath } from '../lib/store/paths.js';
import { systemClock } from '../lib/util/clock.js';
import { ManualClock } from './support/manual-clock.js';
import { overrideStore } from './support/override-store.js';

const opts = (name: string, extra: Partial<StoreOptions> = {}): StoreOptions => tinyStore(`mem://${name}`, extra);

/** Wraps a backend so SST uploads land but do not report back until `release()`. */
function gatedUploads(): { inject: (b: ObjectStore) => ObjectStore; landed: Promise<void>; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let landed!: () => void;
  const landedP = new Promise<void>((r) => (landed = r));
  const afterLanding = async (path: string): Promise<void> => {
    if (!path.startsWith('sst/')) return;
    landed();
    await gate;
  };
  // SSTs are streamed (putStream) by flush and compaction; manifests use put.
  const inject = (backend: ObjectStore): ObjectStore =>
    overrideStore(backend, {
      put: async (path, ...rest) => {
        await backend.put(path, ...rest);
        await afterLanding(path);
      },
      putStream: async (path, ...rest) => {
        await backend.putStream(path, ...rest);
        await afterLanding(path);
      },
    });
  return { inject, landed: landedP, release };
}

t.test('another process’s GC pass never deletes a writer’s upload that is not committed yet', async (t) => {
  const name = `gc-upload-${process.pid}`;
  const mem = openMemStore(name);
  const other = (await openLsmStore({ ...opts(name), instanceId: 'other' })) as LsmStore;
  const gated = gatedUploads();
  const writer = (await openLsmStore({ ...opts(name), instanceId: 'writer' }, { inject: gated.inject })) as LsmStore;
  await writer.put('k', 'v');
  const flushed = writer.flush();
  await gated.landed;
  const uploads = (await mem.list('sst/writer-')).map((o) => o.path);
  t.equal(uploads.length, 1, 'the upload landed, no manifest names it yet');
  const { state } = other.internals();
  const pass = await collectGarbage(mem, { clock: systemClock, graceMs: 0, collector: { instanceId: state.instanceId, epoch: state.epoch } });
  t.same(pass.deletedFiles, [], 'the other instance’s pass deletes nothing it does not own');
  t.ok(await mem.head(uploads[0]!), 'the upload is still there');
  gated.release();
  await flushed;
  await writer.close();
  const reopened = (await openLsmStore({ ...opts(name), instanceId: 'writer' })) as LsmStore;
  t.equal(Buffer.from((await reopened.get('k'))!).toString(), 'v', 'the acknowledged write survives');
  await reopened.close();
  await other.close();
});

t.test('the grace period counts from when a file stopped being referenced, not from its upload', async (t) => {
  const name = `gc-grace-${process.pid}`;
  const mem = openMemStore(name);
  const clock = new ManualClock(Date.now());
  const graceMs = 10 * 60_000;
  const store = (await openLsmStore(opts(name, { gcGraceMs: graceMs }), { clock })) as LsmStore;
  await store.put('k', 'v1');
  await store.flush();
  const [old] = store.internals().state.version.allFiles().map((f) => f.fileId);
  clock.advance(20 * 60_000); // the file is 20 minutes old, and referenced all along
  await store.put('k', 'v2');
  await store.flush();
  await store.compactUntilIdle();
  t.notOk(store.internals().state.version.allFiles().some((f) => f.fileId === old), 'compaction dropped the old file just now');
  await store.collectGarbage();
  t.ok(await mem.head(sstPath(old!)), 'a file unreferenced for less than the grace period is kept, however old it is');
  clock.advance(graceMs + 1000);
  await store.collectGarbage();
  t.equal(await mem.head(sstPath(old!)), undefined, 'after the grace period it is collected');
  await store.close();
});

t.test('a file an open scan of another store still reads survives every GC pass, in this thread and elsewhere', async (t) => {
  const name = `gc-scan-${process.pid}`;
  const mem = openMemStore(name);
  const source = (await openLsmStore({ ...opts(name), instanceId: 'source' })) as LsmStore;
  for (let i = 0; i < 300; i++) await source.put(`k${String(i).padStart(4, '0')}`, `v${i}`);
  const handle = await source.checkpoint();
  const reader = (await restoreStore({ ...opts(name), instanceId: 'reader' }, [handle])) as LsmStore;
  await source.releaseCheckpoint(handle);
  const shared = reader.internals().state.version.allFiles().map((f) => f.fileId);
  // The source rewrites everything, so only the reader references the checkpointed files.
  for (let i = 0; i < 300; i++) await source.put(`k${String(i).padStart(4, '0')}`, 'x');
  await source.flush();
  await source.compactUntilIdle();

  const scan = reader.scan()[Symbol.asyncIterator]();
  const first = await scan.next();
  t.notOk(first.done, 'the scan started');
  // The reader rewrites its data while its scan is open: its version drops the shared files.
  for (let i = 0; i < 300; i++) await reader.put(`k${String(i).padStart(4, '0')}`, 'y');
  await reader.flush();
  await reader.compactUntilIdle();
  t.notOk(reader.internals().state.version.allFiles().some((f) => shared.includes(f.fileId)), 'the reader’s version no longer names them');
  t.ok((await mem.list(LEASES_PREFIX)).length > 0, 'a read lease names what the open scan still needs');

  await source.collectGarbage(); // same thread: pins
  const { state } = source.internals();
  await collectGarbage(mem, { clock: systemClock, graceMs: 0, collector: { instanceId: state.instanceId, epoch: state.epoch } }); // elsewhere: the lease
  for (const id of shared) t.ok(await mem.head(sstPath(id)), `file ${id} the scan reads is kept`);
  let n = 1;
  for (let r = await scan.next(); !r.done; r = await scan.next()) n++;
  t.equal(n, 300, 'the scan reads its whole snapshot');
  await reader.flush(); // let the lease withdrawal settle
  t.equal((await mem.list(LEASES_PREFIX)).length, 0, 'the lease is withdrawn when the scan ends');
  await collectGarbage(mem, { clock: systemClock, graceMs: 0, collector: { instanceId: state.instanceId, epoch: state.epoch } });
  for (const id of shared) t.equal(await mem.head(sstPath(id)), undefined, `file ${id} is collected once nothing reads it`);
  await reader.close();
  await source.close();
});
