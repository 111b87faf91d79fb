/**
 * The data CLI's read-only view of a primary (`floe get|scan --primary`) reads the manifests and SSTs
 * itself, so it must apply the same rules as the engine's reads: entries under a range tombstone
 * (`deleteRange`, `deleteKeyGroups`) and values whose TTL has expired are absent.
 */
import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../lib/index.js';
import { makeDir, runCli } from './support/daemon-process.js';

t.test('get and scan on a primary respect range deletes and expired TTLs', async (t) => {
  const dir = makeDir(t, 'floe-cli-deletes-');
  const primary = `file://${join(dir, 'data')}`;
  const store = await openStore({ primary, maxKeyGroups: 8, compactionWorkers: 0, localDir: join(dir, 'cache') });
  for (const k of ['a1', 'a2', 'b1', 'b2']) await store.put(k, `v-${k}`);
  await store.flush(); // the doomed entries are in an SST; the tombstone comes later
  await store.deleteRange({ gte: 'a', lt: 'b' });
  await store.put('short', 'lived', { ttlMs: 1 });
  await store.put('long', 'lived', { ttlMs: 3_600_000 });
  await store.flush();
  await store.close();
  await new Promise((resolve) => setTimeout(resolve, 20)); // `short` has expired

  const scan = await runCli(['scan', '--json', '--primary', primary]);
  t.equal(scan.code, 0, `scan --primary exits 0 (${scan.stderr})`);
  const keys = scan.stdout
    .trim()
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { key: string }).key)
    .sort();
  t.same(keys, ['b1', 'b2', 'long'], 'the scan shows neither range-deleted nor expired entries');
  for (const gone of ['a1', 'a2', 'short']) {
    t.equal((await runCli(['get', gone, '--primary', primary])).code, 1, `get --primary ${gone}: absent`);
  }
  const kept = await runCli(['get', 'b1', '--primary', primary]);
  t.equal(kept.stdout, 'v-b1\n', 'a key outside the deleted range reads back');
});
