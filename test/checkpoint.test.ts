/**
 * Checkpoints, restore and rescale by reference against the model: checkpoints taken at random points
 * restore to exactly the model's snapshot at that point; rescale 1→2→4→3→1 keeps contents; GC keeps every
 * referenced file and deletes unreferenced ones; no SST bytes are copied by restore.
 */
import t from 'tap';
import { openLsmStore } from '../lib/embedded.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import type { CheckpointHandle, Store, StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { openMemStore } from '../lib/store/mem.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { type Model, hex } from './support/model.js';
import { runRandomOps } from './support/random-ops.js';
import { FloeError } from '../lib/errors.js';
import { readCheckpointRecord } from '../lib/checkpoint/checkpoint-record.js';
import { checkpointPath, sstPath } from '../lib/store/paths.js';

const MAX_KG = 16;
const base = (primary: string): StoreOptions => ({
  primary,
  maxKeyGroups: MAX_KG,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  blockBytes: 1024,
  l0CompactionTrigger: 2,
  compactionWorkers: 0,
  gcGraceMs: 0,
});

async function contents(store: Store, keyGroups?: [number, number]): Promise<string[]> {
  const out: string[] = [];
  for await (const e of store.scan()) {
    if (keyGroups && (e.keyGroup < keyGroups[0] || e.keyGroup > keyGroups[1])) continue;
    out.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
  }
  return out;
}

function modelContents(m: Model, keyGroups?: [number, number]): string[] {
  return m
    .scan({})
    .filter((e) => !keyGroups || (e.keyGroup >= keyGroups[0] && e.keyGroup <= keyGroups[1]))
    .map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
}

t.test('checkpoints at random points restore to the model snapshot', async (t) => {
  const seed = seedFromEnv();
  const primary = `mem://ckpt-${process.pid}-${seed}`;
  const snapshots: Array<{ handle: CheckpointHandle; model: Model }> = [];
  const { store, model: finalModel } = await runRandomOps({
    seed,
    ops: 3000,
    maxKeyGroups: MAX_KG,
    keySpace: 300,
    maxValueBytes: 200,
    open: () => openLsmStore(base(primary)),
    compact: (s) => (s as LsmStore).compactUntilIdle(),
    onStep: async (s, model) => {
      snapshots.push({ handle: await s.checkpoint(), model: model.clone() });
    },
  });
  snapshots.push({ handle: await store.checkpoint(), model: finalModel.clone() });
  const mem = openMemStore(primary.slice('mem://'.length));
  // The original store keeps compacting in the background, so count only SSTs the restored instance wrote.
  const sstsOf = async (instanceId: string): Promise<number> => (await mem.list(`sst/${instanceId}-`)).length;
  for (const [i, snap] of snapshots.entries()) {
    const restored = await restoreStore({ ...base(primary), instanceId: `r${i}` }, [JSON.parse(JSON.stringify(snap.handle))]);
    t.equal(await sstsOf(`r${i}`), 0, 'restore copies no SST');
    t.same(await contents(restored), modelContents(snap.model), `seed ${seed}: checkpoint ${i} restores the model snapshot`);
    await restored.close();
  }
  await store.close();
  t.pass(`seed ${seed}: ${snapshots.length} checkpoints verified`);
});

t.test('rescale 1 -> 2 -> 4 -> 3 -> 1 keeps contents', async (t) => {
  const seed = seedFromEnv();
  const primary = `mem://rescale-${process.pid}-${seed}`;
  const { store, model } = await runRandomOps({
    seed,
    ops: 2500,
    maxKeyGroups: MAX_KG,
    keySpace: 300,
    maxValueBytes: 200,
    open: () => openLsmStore(base(primary)),
    compact: (s) => (s as LsmStore).compactUntilIdle(),
  });
  let handles: CheckpointHandle[] = [await store.checkpoint()];
  await store.close();
  let n = 0;
  for (const parallelism of [2, 4, 3, 1]) {
    const next: CheckpointHandle[] = [];
    for (let i = 0; i < parallelism; i++) {
      const range: [number, number] = [Math.ceil((i * MAX_KG) / parallelism), Math.ceil(((i + 1) * MAX_KG) / parallelism) - 1];
      const s = await restoreStore({ ...base(primary), instanceId: `p${parallelism}-${i}-${n++}` }, handles, { keyGroups: range });
      t.same(await contents(s), modelContents(model, range), `parallelism ${parallelism} shard ${i} ${JSON.stringify(range)}`);
      // Writes outside the range are rejected; inside accepted.
      await t.rejects(s.put('zz', 'v', { keyGroup: range[1] + 1 < MAX_KG ? range[1] + 1 : range[0] - 1 }), { code: 'INVALID_ARGUMENT' });
      next.push(await s.checkpoint());
      await s.close();
    }
    handles = next;
  }
});

t.test('GC keeps referenced files and deletes unreferenced ones', async (t) => {
  const primary = `mem://gc-${process.pid}`;
  const mem = openMemStore(`gc-${process.pid}`);
  const s = (await openLsmStore(base(primary))) as LsmStore;
  const r = new Random(7);
  for (let i = 0; i < 3000; i++) await s.put(`k${r.int(500)}`, r.bytes(100));
  const handle = await s.checkpoint();
  const record = await readCheckpointRecord(mem, checkpointPath(handle.checkpointId));
  const referencedByCheckpoint = new Set(record.files.map((f) => sstPath(f)));
  t.ok(referencedByCheckpoint.size > 0, 'the checkpoint references files');
  for (let i = 0; i < 3000; i++) await s.put(`k${r.int(500)}`, r.bytes(100));
  await s.flush();
  await s.compactUntilIdle();
  await s.collectGarbage();
  const afterGc = new Set((await mem.list('sst/')).map((o) => o.path));
  const live = new Set(s.internals().state.version.allFiles().map((f) => `sst/${f.fileId}.sst`));
  for (const f of live) t.ok(afterGc.has(f), `live file ${f} kept`);
  const ckptFiles = [...referencedByCheckpoint].filter((f) => !live.has(f));
  for (const f of ckptFiles) t.ok(afterGc.has(f), `checkpoint file ${f} kept while retained`);
  await s.releaseCheckpoint(handle);
  await s.collectGarbage();
  const afterRelease = new Set((await mem.list('sst/')).map((o) => o.path));
  t.same([...afterRelease].sort(), [...live].sort(), 'after release only live files remain');
  t.ok(ckptFiles.length > 0, `the checkpoint held ${ckptFiles.length} files the live version no longer uses`);
  for (const f of ckptFiles) t.notOk(afterRelease.has(f), `released checkpoint file ${f} was collected`);
  await s.close();
});

t.test('bad restore inputs are rejected and modify nothing', async (t) => {
  const primary = `mem://badrestore-${process.pid}`;
  const s = await openLsmStore(base(primary));
  await s.put('a', 'b');
  const h = await s.checkpoint();
  const mem = openMemStore(`badrestore-${process.pid}`);
  const objects = (await mem.list('')).length;
  const expect = async (p: Promise<unknown>, code: string): Promise<void> => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    t.ok(e instanceof FloeError && e.code === code, `${code}: ${(e as Error)?.message}`);
  };
  await expect(restoreStore(base(primary), [{ ...h, version: 99 }]), 'VERSION');
  await expect(restoreStore(base(primary), [h, h]), 'INVALID_ARGUMENT');
  await expect(restoreStore(base(primary), [h], { keyGroups: [0, MAX_KG] }), 'INVALID_ARGUMENT');
  await expect(restoreStore({ ...base(primary), maxKeyGroups: 32 }, [h]), 'CONFIG');
  await expect(restoreStore(base('mem://elsewhere'), [h]), 'CONFIG');
  await expect(restoreStore(base(primary), [{ ...h, checkpointId: 'gone-1' }]), 'INVALID_ARGUMENT');
  t.equal((await mem.list('')).length, objects, 'nothing was written by failed restores');
  await s.close();
});
