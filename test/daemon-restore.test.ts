/**
 * Rescaling a running daemon through the command line: `floe checkpoint` (one handle over every shard),
 * `floe daemon --restore HANDLE.json --shards 3`, the layout surviving restarts, the refusal of a
 * conflicting shard count, and `floe checkpoints list/show/release` on primary storage.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CheckpointHandle } from '../lib/api.js';
import { connect } from '../lib/client/client.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { hex, Model } from './support/model.js';
import { makeDir, runCli, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';

const MAX_KG = 16;

t.test('checkpoint → restore with 3 shards → restart keeps the layout', async (t) => {
  const seed = seedFromEnv();
  const r = new Random(seed);
  const dir = makeDir(t);
  const config = writeConfig(dir);
  let d = await startDaemon(dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
  });
  const model = new Model();
  let c = await connect(d.socket);
  for (let i = 0; i < 400; i++) {
    const key = Buffer.from(`k${r.int(200)}`);
    const kg = r.int(MAX_KG);
    const v = r.bytes(r.int(80));
    await c.put(key, v, { keyGroup: kg });
    model.put(kg, key, v);
  }
  await c.flush();
  await c.put('unflushed', 'but-checkpointed', { keyGroup: 9 });
  model.put(9, Buffer.from('unflushed'), Buffer.from('but-checkpointed'));

  const out = join(dir, 'h.json');
  const cp = await runCli(['checkpoint', '--config', config, '--out', out]);
  t.equal(cp.code, 0, `floe checkpoint: ${cp.stderr}`);
  const handle = JSON.parse(readFileSync(out, 'utf8')) as CheckpointHandle;
  t.same(handle.instances.map((i) => i.keyGroups), [
    [0, 7],
    [8, 15],
  ], 'one handle, both shards');
  const atCheckpoint = model.clone();
  await c.put('after', 'checkpoint', { keyGroup: 1 });
  await c.close();

  const [list, show, stopped] = await Promise.all([
    runCli(['checkpoints', 'list', '--config', config]),
    runCli(['checkpoints', 'show', handle.checkpointId, '--config', config]),
    stopDaemon(d),
  ]);
  t.equal(list.code, 0);
  t.match(list.stdout, handle.checkpointId);
  t.same(JSON.parse(show.stdout), handle, 'show prints the handle');
  t.equal(stopped, 0);

  d = await startDaemon(dir, { args: ['--restore', out, '--shards', '3'] });
  t.ok(d.events.some((e) => e.event === 'layout_restored'), 'a new layout was written');
  while (!d.stdout.some((l) => l.includes('stop with'))) await new Promise((resolve) => setTimeout(resolve, 10));
  t.match(d.stdout.join('\n'), /shards: {2}3 \(layout main #2/);
  c = await connect(d.socket);
  t.equal(c.server.shards, 3);
  const all: string[] = [];
  for await (const e of c.scan()) all.push(`${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`);
  t.same(all, atCheckpoint.scan({}).map((e) => `${e.keyGroup}/${hex(e.key)}=${hex(e.value)}`), `seed ${seed}: restored state = checkpoint`);
  await c.put('on-three', 'shards', { keyGroup: 15 });
  await c.close();
  t.equal(await stopDaemon(d), 0);

  // Without a pinned shard count the daemon follows the layout; a conflicting pin is refused.
  writeConfig(dir, { shards: undefined });
  d = await startDaemon(dir);
  c = await connect(d.socket);
  t.equal(c.server.shards, 3, 'restart keeps 3 shards');
  t.equal(Buffer.from((await c.get('on-three', { keyGroup: 15 }))!).toString(), 'shards');
  await c.close();
  t.equal(await stopDaemon(d), 0);
  writeConfig(dir, { shards: 2 });
  const [refused, release, bad] = await Promise.all([
    startDaemon(dir, { expectFailure: true }),
    runCli(['checkpoints', 'release', handle.checkpointId, '--config', config]),
    runCli(['daemon', '--config', config, '--restore', join(dir, 'nope.json')]),
  ]);
  t.equal(await refused.exited, 1);
  t.match(refused.stderr.join('\n'), /has 3 shards, but 2 were asked for.*--restore/);
  t.equal(release.code, 0);
  t.equal(bad.code, 2, 'unreadable handle file is a usage error');
  const [after, missing] = await Promise.all([
    runCli(['checkpoints', 'list', '--config', config]),
    runCli(['checkpoints', 'show', handle.checkpointId, '--config', config]),
  ]);
  t.notMatch(after.stdout, handle.checkpointId, 'released');
  t.equal(missing.code, 2);
  t.match(missing.stderr, /no retained checkpoint/);
});
