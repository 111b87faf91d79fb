/**
 * A per-write TTL is honoured by embedded stores only: the socket protocol (and so the daemon client and
 * the in-process sharded store, which speak it) has no field for it yet. Such a write must fail loudly with
 * INVALID_ARGUMENT, not store a value that never expires.
 */
import t from 'tap';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { openStore } from '../lib/index.js';
import type { FloeError } from '../lib/errors.js';

t.test('ttlMs through a sharded store is refused, not ignored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-ttl-frames-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = await openStore({ primary: `file://${join(dir, 'data')}`, localDir: join(dir, 'cache'), shards: 2, maxKeyGroups: 8, compactionWorkers: 0 });
  t.teardown(() => store.close());
  const refused = async (what: string, p: Promise<unknown>): Promise<void> => {
    const e = (await p.then(() => undefined, (x: unknown) => x)) as FloeError | undefined;
    t.equal(e?.code, 'INVALID_ARGUMENT', `${what}: INVALID_ARGUMENT (${e?.message})`);
  };
  await refused('put', store.put('k', 'v', { ttlMs: 1000 } as never));
  await refused('merge', store.merge('k', 'v', { ttlMs: 1000 } as never));
  await refused('write', store.write([{ type: 'put', key: 'k', value: 'v', ttlMs: 1000 }]));
  t.equal(await store.get('k'), undefined, 'nothing was written');
  await store.put('k', 'v', { ttlMs: 0 } as never);
  t.ok(await store.get('k'), 'ttlMs 0 (never expires) is accepted');
});
