/**
 * State TTL (lib/lsm/ttl.ts) on a test clock: per-write and default TTLs, how expiry composes with merge,
 * the two visibilities, renewal on read, option validation, and the compaction filter making disk use
 * follow live state. The randomized check against the model is test/lsm-model.test.ts.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import type { StoreOptions } from '../lib/api.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { TtlClock } from './support/manual-clock.js';

let n = 0;
async function open(t: Test, extra: Partial<StoreOptions> = {}): Promise<{ store: LsmStore; clock: TtlClock; options: StoreOptions }> {
  const localDir = mkdtempSync(join(tmpdir(), 'floe-ttl-'));
  t.teardown(() => rmSync(localDir, { recursive: true, force: true }));
  const clock = new TtlClock();
  const options: StoreOptions = { primary: `mem://ttl-${process.pid}-${n++}`, localDir, compactionWorkers: 0, maxKeyGroups: 4, ...extra };
  const store = await openLsmStore(options, { clock });
  t.teardown(() => store.close().catch(() => undefined));
  return { store, clock, options };
}

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

t.test('a per-write TTL expires the value; the default TTL applies to writes without one', async (t) => {
  const { store, clock } = await open(t, { defaultTtlMs: 5000 });
  await store.put('short', 'a', { ttlMs: 1000 });
  await store.put('default', 'b');
  await store.put('forever', 'c', { ttlMs: 0 });
  await store.write([{ type: 'put', key: 'batched', value: 'd', ttlMs: 1000 }]);
  clock.advance(999);
  t.equal(text(await store.get('short')), 'a', 'alive 1 ms before expiry');
  clock.advance(1);
  t.equal(await store.get('short'), undefined, 'gone at its expiry time');
  t.equal(await store.get('batched'), undefined, 'a TTL given in a batch too');
  t.equal(text(await store.get('default')), 'b');
  clock.advance(4000);
  t.equal(await store.get('default'), undefined, 'the default TTL expired');
  t.equal(text(await store.get('forever')), 'c', 'ttlMs 0 never expires');
  const scanned: string[] = [];
  for await (const e of store.scan()) scanned.push(Buffer.from(e.key).toString());
  t.same(scanned, ['forever'], 'scans leave expired values out');
});

t.test('expiry composes with merge operand by operand, in memory and after compaction', async (t) => {
  const { store, clock } = await open(t);
  await store.put('k', 'a', { ttlMs: 1000 });
  await store.merge('k', 'b');
  await store.merge('k', 'c', { ttlMs: 3000 });
  await store.put('old', 'x', { ttlMs: 100 });
  clock.advance(200);
  await store.merge('old', 'y'); // merged onto an expired value: the old bytes do not come back
  t.equal(text(await store.get('old')), 'y');
  clock.advance(1300);
  t.equal(text(await store.get('k')), 'bc', 'the put expired, the operands did not');
  await store.flush();
  await store.compactUntilIdle();
  t.equal(text(await store.get('k')), 'bc', 'same after flush');
  clock.advance(2000);
  t.equal(text(await store.get('k')), 'b', 'the TTL operand expired; the one without TTL stays');
  await store.put('pad', 'p');
  await store.flush();
  await store.compactUntilIdle();
  t.equal(text(await store.get('k')), 'b');
  t.equal(text(await store.get('old')), 'y');
});

t.test('ReturnExpiredIfNotCleanedUp returns expired values until a rewrite removes them', async (t) => {
  const { store, clock } = await open(t, { ttlVisibility: 'ReturnExpiredIfNotCleanedUp' });
  await store.put('a', 'v', { ttlMs: 1000 });
  await store.merge('m', 'keep');
  await store.merge('m', '+ttl', { ttlMs: 1000 });
  clock.advance(5000);
  t.equal(text(await store.get('a')), 'v', 'expired but not cleaned up: returned');
  t.equal(text(await store.get('m')), 'keep+ttl');
  await store.flush(); // the flush rewrite applies the compaction filter
  t.equal(await store.get('a'), undefined, 'cleaned up by the rewrite');
  t.equal(text(await store.get('m')), 'keep', 'only the expired operand was removed');

  const never = await open(t);
  await never.store.put('a', 'v', { ttlMs: 1000 });
  never.clock.advance(1000);
  t.equal(await never.store.get('a'), undefined, 'NeverReturnExpired (default) hides it at once');
});

t.test('OnReadAndWrite renews the TTL on get and multiGet; OnCreateAndWrite does not', async (t) => {
  for (const ttlUpdate of ['OnReadAndWrite', 'OnCreateAndWrite'] as const) {
    const { store, clock } = await open(t, { ttlUpdate });
    await store.put('k', 'v', { ttlMs: 1000 });
    await store.put('f', 'w', { ttlMs: 1000 });
    await store.flush(); // renewal also works for values read from SSTs
    clock.advance(800);
    t.equal(text(await store.get('k')), 'v');
    t.same((await store.multiGet(['f'])).map(text), ['w']);
    clock.advance(800);
    const renewed = ttlUpdate === 'OnReadAndWrite';
    t.equal(text(await store.get('k')), renewed ? 'v' : undefined, `${ttlUpdate}: get at 1600 ms`);
    t.same((await store.multiGet(['f'])).map(text), [renewed ? 'w' : undefined], `${ttlUpdate}: multiGet at 1600 ms`);
    clock.advance(1000);
    t.equal(await store.get('k'), undefined, `${ttlUpdate}: expired 1000 ms after the last read`);
    await store.close();
  }
});

t.test('invalid TTL options are refused', async (t) => {
  const { store } = await open(t);
  await t.rejects(store.put('k', 'v', { ttlMs: -1 }), { code: 'INVALID_ARGUMENT', message: /ttlMs/ });
  await t.rejects(store.merge('k', 'v', { ttlMs: 1.5 }), { code: 'INVALID_ARGUMENT' });
  await t.rejects(store.write([{ type: 'put', key: 'k', value: 'v', ttlMs: 'x' as unknown as number }]), { code: 'INVALID_ARGUMENT', message: /operation 0/ });
  await t.rejects(open(t, { defaultTtlMs: -5 }), { code: 'CONFIG', message: /defaultTtlMs/ });
  await t.rejects(open(t, { ttlVisibility: 'Sometimes' as 'NeverReturnExpired' }), { code: 'CONFIG', message: /ttlVisibility/ });
  await t.rejects(open(t, { ttlUpdate: 'OnRead' as 'OnReadAndWrite' }), { code: 'CONFIG', message: /ttlUpdate/ });
});

t.test('compaction drops expired data: disk use follows live state', async (t) => {
  const tuning: Partial<StoreOptions> = { memtableBytes: 4 * 2 ** 20, l0CompactionTrigger: 2, targetFileBytes: 256 * 1024 };
  const bytes = async (expire: boolean): Promise<{ before: number; after: number }> => {
    const { store, clock } = await open(t, tuning);
    const value = Buffer.alloc(1000, 7);
    for (let i = 0; i < 2000; i++) await store.put(`key-${i}`, value, { ttlMs: 60_000 });
    await store.flush();
    const total = (): number => store.stats().lsm.levels.reduce((s, l) => s + l.bytes, 0);
    const before = total();
    if (expire) clock.advance(60_000);
    await store.put('live', 'x');
    await store.flush(); // a second L0 file triggers compaction
    await store.compactUntilIdle();
    const after = total();
    await store.close();
    return { before, after };
  };
  const kept = await bytes(false);
  const expired = await bytes(true);
  t.ok(kept.after > 0.9 * kept.before, `unexpired data stays: ${kept.before} → ${kept.after} bytes`);
  t.ok(expired.after < 0.01 * expired.before, `expired data is dropped: ${expired.before} → ${expired.after} bytes`);
});

t.test('a read can override the store TTL visibility and update type (one Flink state each)', async (t) => {
  const { store, clock } = await open(t);
  await store.put('a', 'v', { ttlMs: 1000 });
  await store.put('r', 'w', { ttlMs: 1000 });
  clock.advance(800);
  t.equal(text(await store.get('r', { ttlUpdate: 'OnReadAndWrite' })), 'w', 'a read that renews');
  clock.advance(800);
  t.equal(await store.get('a'), undefined, 'the store default hides the expired value');
  t.equal(text(await store.get('a', { ttlVisibility: 'ReturnExpiredIfNotCleanedUp' })), 'v', 'this read asks for it until cleanup');
  t.same((await store.multiGet(['a'], { ttlVisibility: 'ReturnExpiredIfNotCleanedUp' })).map(text), ['v']);
  const scanned: string[] = [];
  for await (const e of store.scan({ ttlVisibility: 'ReturnExpiredIfNotCleanedUp' })) scanned.push(Buffer.from(e.key).toString());
  t.same(scanned.sort(), ['a', 'r'], 'a scan can ask for expired values too');
  t.equal(text(await store.get('r')), 'w', 'the renewed value is alive at 1600 ms');
  await t.rejects(store.get('a', { ttlUpdate: 'Sometimes' as 'OnReadAndWrite' }), { code: 'INVALID_ARGUMENT', message: /ttlUpdate/ });
  t.throws(() => store.scan({ ttlVisibility: 'All' as 'NeverReturnExpired' }), { code: 'INVALID_ARGUMENT', message: /ttlVisibility/ });
});
