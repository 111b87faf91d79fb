/**
 * Regression: a reverse iterator returned expired values still in the memtable (Memtable.rangeBackward
 * dropped the entries' TTL metadata, so lib/lsm/reverse-scan.ts could not judge expiry), while forward
 * iterators, gets and reverse reads of flushed files hid them. Found through the daemon (protocol v2).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { TtlClock } from './support/manual-clock.js';

t.test('reverse iterators hide expired memtable values, as forward ones do', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-ttl-reverse-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new TtlClock();
  const s = await openLsmStore({ primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), maxKeyGroups: 4, compactionWorkers: 0 }, { clock });
  t.teardown(() => s.close());
  await s.put('a', '1', { keyGroup: 1 });
  await s.put('k', 'v', { keyGroup: 1, ttlMs: 5 });
  await s.merge('m', 'x', { keyGroup: 1, ttlMs: 5 });
  await s.put('z', '1', { keyGroup: 1 });
  clock.advance(10);
  const keys = async (o: object): Promise<string> => (await s.iterator(o).all()).map((e) => Buffer.from(e.key!).toString()).join(',');
  t.equal(await keys({}), 'a,z', 'forward');
  t.equal(await keys({ reverse: true }), 'z,a', 'reverse over every group');
  t.equal(await keys({ reverse: true, keyGroup: 1, lt: 'y' }), 'a', 'reverse within a group, bounded');
  await s.flush();
  t.equal(await keys({ reverse: true }), 'z,a', 'reverse after flush');
});
