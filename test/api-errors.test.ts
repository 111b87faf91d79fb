/**
 * Bad input through the public API: each gets a FloeError with the right code and an actionable message,
 * and the store keeps serving afterwards.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, FloeError } from '../lib/index.js';
import type { Store } from '../lib/api.js';

async function expectCode(t: Test, p: Promise<unknown> | (() => unknown), code: string, re?: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
    t.fail(`expected ${code}, got success`);
  } catch (e) {
    t.ok(e instanceof FloeError, `is a FloeError (${(e as Error).message})`);
    t.equal((e as FloeError).code, code, `code ${code}`);
    if (re) t.match((e as Error).message, re);
  }
}

t.test('invalid keys, values, key groups and options', async (t) => {
  const store: Store = await openStore({ primary: `mem://errors-${process.pid}`, maxKeyGroups: 16 });
  t.teardown(() => store.close());
  await expectCode(t, store.put(123 as unknown as string, 'v'), 'INVALID_ARGUMENT', /key must be a Uint8Array or a string/);
  await expectCode(t, store.put({} as unknown as string, 'v'), 'INVALID_ARGUMENT', /key/);
  await expectCode(t, store.put('', 'v'), 'INVALID_ARGUMENT', /must not be empty/);
  await expectCode(t, store.put('k', 5 as unknown as string), 'INVALID_ARGUMENT', /value must be/);
  await expectCode(t, store.put('x'.repeat(70 * 1024), 'v'), 'INVALID_ARGUMENT', /over the limit/);
  await expectCode(t, store.put('k', 'v', { keyGroup: 16 }), 'INVALID_ARGUMENT', /keyGroup must be an integer in \[0, 16\)/);
  await expectCode(t, store.put('k', 'v', { keyGroup: -1 }), 'INVALID_ARGUMENT');
  await expectCode(t, store.put('k', 'v', { keyGroup: 1.5 }), 'INVALID_ARGUMENT');
  await expectCode(t, store.get(null as unknown as string), 'INVALID_ARGUMENT');
  await expectCode(t, store.merge('k', null as unknown as string), 'INVALID_ARGUMENT', /merge operand/);
  await expectCode(t, store.write([{ type: 'put', key: 'a', value: 'b' }, { type: 'bogus' } as never]), 'INVALID_ARGUMENT', /operation 1/);
  await expectCode(t, store.write('nope' as never), 'INVALID_ARGUMENT');
  await expectCode(t, store.multiGet('nope' as never), 'INVALID_ARGUMENT');
  await expectCode(t, () => store.scan({ keyGroup: 99 }), 'INVALID_ARGUMENT');
  // A batch with one bad op applies nothing.
  t.equal(await store.get('a'), undefined, 'failed batch left no trace');
  // Still serving.
  await store.put('k', 'v');
  t.equal(Buffer.from((await store.get('k'))!).toString(), 'v');
});

t.test('bad configuration', async (t) => {
  await expectCode(t, openStore({ primary: 'ftp://x/y' }), 'CONFIG', /file:\/\/|scheme/);
  await expectCode(t, openStore({ primary: '' }), 'CONFIG', /primary/);
  await expectCode(t, openStore({ primary: 'mem://x', memtableBytes: -5 }), 'CONFIG', /memtableBytes/);
  await expectCode(t, openStore({ primary: 'mem://x', compression: 'gzip' as never }), 'CONFIG', /compression/);
  await expectCode(t, openStore({ primary: 'mem://x', blokCacheBytes: 5 } as never), 'CONFIG', /unknown option "blokCacheBytes"/);
  await expectCode(t, openStore({ primary: 'mem://x', localDir: 'relative/dir' }), 'CONFIG', /absolute/);
  const primary = `mem://kg-${process.pid}`;
  const s = await openStore({ primary, maxKeyGroups: 32 });
  await s.close();
  await expectCode(t, openStore({ primary, maxKeyGroups: 64 }), 'CONFIG', /maxKeyGroups/);
});

t.test('operations after close fail with CLOSED; close is idempotent', async (t) => {
  const store = await openStore({ primary: `mem://closed-${process.pid}` });
  await store.put('a', 'b');
  await store.close();
  await store.close();
  await expectCode(t, store.put('a', 'b'), 'CLOSED', /open a new one/);
  await expectCode(t, store.get('a'), 'CLOSED');
  await expectCode(t, store.flush(), 'CLOSED');
  const reopened = await openStore({ primary: `mem://closed-${process.pid}` });
  t.equal(Buffer.from((await reopened.get('a'))!).toString(), 'b', 'graceful close made the write durable');
  await reopened.close();
});

t.test('a second writer fences the first', async (t) => {
  const primary = `mem://fence-${process.pid}`;
  const a = await openStore({ primary });
  await a.put('k', '1');
  await a.flush();
  const b = await openStore({ primary });
  await a.put('k', '2'); // memtable only: accepted
  await expectCode(t, a.flush(), 'FENCED', /another writer/);
  t.equal(Buffer.from((await b.get('k'))!).toString(), '1', 'new writer sees durable state');
  await b.close();
  await a.close().catch(() => undefined);
});

t.test('corrupt manifest and SST are reported with their path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-corrupt-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const primary = `file://${dir}`;
  const s = await openStore({ primary, blockCacheBytes: 0, compactionWorkers: 0 });
  for (let i = 0; i < 200; i++) await s.put(`key${i}`, `value${i}`.repeat(10));
  await s.close();
  // Flip a byte in the middle of the (only) SST's data.
  const sstDir = join(dir, 'sst');
  const sst = readdirSync(sstDir).find((f) => f.endsWith('.sst'))!;
  const bytes = readFileSync(join(sstDir, sst));
  bytes[100] ^= 0xff;
  writeFileSync(join(sstDir, sst), bytes);
  const s2 = await openStore({ primary, blockCacheBytes: 0, compactionWorkers: 0 });
  let corruptReads = 0;
  for (let i = 0; i < 200; i++) {
    try {
      const v = await s2.get(`key${i}`);
      t.equal(Buffer.from(v!).toString(), `value${i}`.repeat(10));
    } catch (e) {
      t.equal((e as FloeError).code, 'CORRUPTION');
      t.match((e as Error).message, sst);
      corruptReads++;
    }
  }
  t.ok(corruptReads > 0, `the flipped block is reported as corrupt (${corruptReads} reads)`);
  await s2.close();
  // Truncate the newest manifest: opening names it.
  const mdir = join(dir, 'instances', 'main', 'manifest');
  const manifests = readdirSync(mdir).sort();
  const last = join(mdir, manifests[manifests.length - 1]!);
  writeFileSync(last, readFileSync(last).subarray(0, 30));
  await expectCode(t, openStore({ primary }), 'CORRUPTION', /manifest/);
});

t.test('a truncated SST object is reported as CORRUPTION with its path', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-trunc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const primary = `file://${dir}`;
  const s = await openStore({ primary, blockCacheBytes: 0, compactionWorkers: 0 });
  for (let i = 0; i < 300; i++) await s.put(`key${i}`, `value${i}`.repeat(10));
  await s.close();
  const sstDir = join(dir, 'sst');
  const sst = readdirSync(sstDir).find((f) => f.endsWith('.sst'))!;
  writeFileSync(join(sstDir, sst), readFileSync(join(sstDir, sst)).subarray(0, 200));
  const s2 = await openStore({ primary, blockCacheBytes: 0, compactionWorkers: 0 });
  await expectCode(t, s2.get('key7'), 'CORRUPTION', new RegExp(sst));
  await s2.close();
});
