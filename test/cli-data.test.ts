/**
 * `floe get|put|del|scan` through the real CLI binary, against a real daemon (--socket) and against its
 * primary storage read-only (--primary, which must claim nothing: the daemon keeps writing afterwards), and
 * `--claim` writes to a primary nobody has open. Contents are checked against the reference model after a
 * seeded random workload written through the daemon (binary keys, explicit and hashed key groups, merges,
 * deletes).
 */
import t from 'tap';
import { join } from 'node:path';
import { connect } from '../lib/client/client.js';
import { defaultKeyGroup } from '../lib/keys.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { makeDir, runCli, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';
import { Model } from './support/model.js';

const MAX_KG = 16;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** `floe scan --json --hex` output as [keyGroup, keyHex, valueHex] rows. */
function rows(stdout: string): Array<[number, string, string]> {
  return stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const o = JSON.parse(l) as { keyGroup: number; key: string; value: string };
      return [o.keyGroup, o.key, o.value];
    });
}

function modelRows(model: Model, o: Parameters<Model['scan']>[0] = {}): Array<[number, string, string]> {
  return model.scan(o).map((e) => [e.keyGroup, hex(e.key), hex(e.value)]);
}

t.test('data commands through a daemon and read-only on its primary', { timeout: 300_000 }, async (t) => {
  const dir = makeDir(t, 'floe-cli-data-');
  const config = writeConfig(dir);
  const primary = `file://${join(dir, 'data')}`;
  const d = await startDaemon(dir);
  t.teardown(() => stopDaemon(d));
  const sock = ['--socket', d.socket];

  // Text keys, hex keys, explicit key groups.
  t.equal((await runCli(['put', 'hello', 'world', ...sock])).code, 0, 'put exits 0');
  const got = await runCli(['get', 'hello', ...sock]);
  t.same([got.code, got.stdout], [0, 'world\n'], 'get prints the value');
  t.equal((await runCli(['put', '00ff', 'c0ffee', '--hex', '--key-group', '5', ...sock])).code, 0, 'hex put with a key group');
  t.equal((await runCli(['get', '00ff', '-x', '-g', '5', ...sock])).stdout, 'c0ffee\n', 'hex get in that key group');
  const otherGroup = await runCli(['get', '00ff', '-x', '-g', '6', ...sock]);
  t.equal(otherGroup.code, 1, 'the same key in another key group is absent (exit 1)');
  t.match(otherGroup.stderr, /NOT_FOUND: key "00ff" has no value/, 'a typed not-found message');
  t.equal((await runCli(['del', 'hello', ...sock])).code, 0, 'del exits 0');
  t.equal((await runCli(['get', 'hello', ...sock])).code, 1, 'a deleted key is absent');

  // Bad input: typed errors, exit 2, nothing written.
  const badHex = await runCli(['put', 'zz', '00', '--hex', ...sock]);
  t.equal(badHex.code, 2, 'bad hex is a usage error');
  t.match(badHex.stderr, /INVALID_ARGUMENT: KEY "zz" is not hex/, 'naming the argument');
  const badKg = await runCli(['get', 'k', '--key-group', 'x', ...sock]);
  t.match([badKg.code, badKg.stderr], [2, /--key-group must be an integer/], 'a bad key group is a usage error');
  const tooBig = await runCli(['get', 'k', '--key-group', '99', ...sock]);
  t.match([tooBig.code, tooBig.stderr], [2, /INVALID_ARGUMENT: keyGroup must be an integer in \[0, 16\)/], 'the daemon rejects a key group beyond maxKeyGroups');
  const extra = await runCli(['get', 'a', 'b', ...sock]);
  t.match([extra.code, extra.stderr], [2, /floe get takes KEY, got \["a","b"\]/], 'too many arguments');
  const unknown = await runCli(['scan', '--frobnicate', ...sock]);
  t.match([unknown.code, unknown.stderr], [2, /Unknown option '--frobnicate'.*see floe scan --help/s], 'an unknown flag names the help');

  // A seeded workload through the daemon, mirrored in the model.
  const seed = seedFromEnv();
  t.comment(`seed ${seed} (FLOE_SEED to replay)`);
  const r = new Random(seed);
  const model = new Model();
  model.put(5, Buffer.from('00ff', 'hex'), Buffer.from('c0ffee', 'hex'));
  const client = await connect(d.socket, { reconnect: false, flushOnClose: false });
  for (let i = 0; i < 400; i++) {
    const key = r.bool(0.3) ? r.bytes(1 + r.int(4)) : Buffer.from(`k${r.int(60)}`);
    const explicit = r.bool(0.3) ? r.int(MAX_KG) : undefined;
    const kg = explicit ?? defaultKeyGroup(key, MAX_KG);
    const opt = explicit === undefined ? undefined : { keyGroup: explicit };
    const x = r.int(10);
    if (x < 6) {
      const v = r.bytes(r.int(20));
      await client.put(key, v, opt);
      model.put(kg, key, v);
    } else if (x < 8) {
      await client.delete(key, opt);
      model.delete(kg, key);
    } else {
      const v = r.bytes(1 + r.int(5));
      await client.merge(key, v, opt);
      model.merge(kg, key, v);
    }
  }
  t.ok(model.size > 50, `the workload leaves ${model.size} keys`);
  const all = ['--json', '--hex', '--limit', '0'];
  const viaDaemon = await runCli(['scan', ...all, ...sock]);
  t.equal(viaDaemon.code, 0, `scan through the daemon exits 0 (${viaDaemon.stderr})`);
  t.same(rows(viaDaemon.stdout), modelRows(model), 'scan through the daemon equals the model');

  // Make the state durable, then read it from primary storage while the daemon runs.
  t.equal((await runCli(['checkpoint', ...sock])).code, 0, 'checkpoint (flushes every shard)');
  const before = JSON.parse((await runCli(['manifest', 'show', primary, '--json'])).stdout) as { instances: Array<{ epoch: number }> };
  const viaPrimary = await runCli(['scan', ...all, '--primary', primary]);
  t.equal(viaPrimary.code, 0, `scan --primary exits 0 (${viaPrimary.stderr})`);
  t.same(rows(viaPrimary.stdout), modelRows(model), 'scan --primary equals the model');
  const bounded = await runCli(['scan', '--json', '--hex', '--limit', '0', '--gte', hex(Buffer.from('k2')), '--lt', hex(Buffer.from('k5')), '--primary', primary]);
  t.same(rows(bounded.stdout), modelRows(model, { gte: Buffer.from('k2'), lt: Buffer.from('k5') }), 'bounded scan --primary equals the model');
  const prefixed = await runCli(['scan', '--json', '--prefix', 'k1', '--limit', '0', ...sock]);
  t.same(
    prefixed.stdout.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { key: string }).key),
    model.scan({ prefix: Buffer.from('k1') }).map((e) => Buffer.from(e.key).toString('utf8')),
    'prefix scan (UTF-8 output) equals the model',
  );
  const group = r.int(MAX_KG);
  const inGroup = await runCli(['scan', ...all, '--key-group', String(group), '--primary', primary]);
  t.same(rows(inGroup.stdout), modelRows(model, { keyGroup: group }), `scan --primary of key group ${group} equals the model`);
  const limited = await runCli(['scan', '--json', '--hex', '--limit', '3', '--primary', primary]);
  t.same(rows(limited.stdout), modelRows(model, { limit: 3 }), '--limit caps the entries');
  t.match(limited.stderr, /stopped at --limit 3/, 'and says so on stderr');
  for (const e of model.scan({}).slice(0, 5)) {
    const g = await runCli(['get', hex(e.key), '--hex', '-g', String(e.keyGroup), '--primary', primary]);
    t.equal(g.stdout, `${hex(e.value)}\n`, `get --primary of ${hex(e.key)} in key group ${e.keyGroup}`);
  }

  // Read-only means read-only: no claim, the daemon goes on writing, --primary writes are refused.
  const after = JSON.parse((await runCli(['manifest', 'show', primary, '--json'])).stdout) as { instances: Array<{ epoch: number }> };
  t.same(
    after.instances.map((i) => i.epoch),
    before.instances.map((i) => i.epoch),
    'reading the primary claimed nothing (epochs unchanged)',
  );
  const refused = await runCli(['put', 'x', 'y', '--primary', primary]);
  t.match([refused.code, refused.stderr], [2, /fences whoever owns it now.*--claim/s], 'a write through --primary needs --claim');
  t.equal((await runCli(['put', 'late', 'v', ...sock])).code, 0, 'the daemon still accepts writes');
  t.equal((await runCli(['get', 'late', ...sock])).stdout, 'v\n', 'and serves them');
  t.equal((await runCli(['get', 'late', '--primary', primary])).code, 1, 'a write not yet flushed is not in the primary view (documented)');
  await client.close();

  // With the daemon gone, --claim writes straight to the store; the daemon's data is all there.
  await stopDaemon(d);
  const claimed = await runCli(['put', 'claimed', 'yes', '--primary', primary, '--claim', '--config', config]);
  t.equal(claimed.code, 0, `put --primary --claim exits 0 (${claimed.stderr})`);
  t.equal((await runCli(['get', 'claimed', '--primary', primary])).stdout, 'yes\n', 'the claimed write is durable');
  t.equal((await runCli(['get', 'late', '--primary', primary])).stdout, 'v\n', 'the daemon flushed its last write at shutdown');
  t.equal((await runCli(['del', 'claimed', '--primary', primary, '--claim', '--config', config])).code, 0, 'del --primary --claim');
  t.equal((await runCli(['get', 'claimed', '--primary', primary])).code, 1, 'the deleted key is absent');
  const none = await runCli(['get', 'k', '--primary', `file://${join(dir, 'nothing')}`]);
  t.match([none.code, none.stderr], [1, /CONFIG: there is no store named main/], 'a primary without a store is a typed error');
});

t.test('every command lists its flags with --help', { timeout: 120_000 }, async (t) => {
  const cases: Array<[string[], string[]]> = [
    [['get'], ['--socket', '--config', '--primary', '--store', '--hex', '--key-group']],
    [['put'], ['--socket', '--primary', '--claim', '--hex', '--key-group']],
    [['del'], ['--socket', '--primary', '--claim', '--hex', '--key-group']],
    [['scan'], ['--socket', '--primary', '--prefix', '--gte', '--lt', '--limit', '--json', '--hex', '--key-group']],
    [['sst', 'dump'], ['--sample', '--index', '--hex', '--json', '--config']],
    [['manifest', 'show'], ['--store', '--all', '--files', '--hex', '--json', '--config']],
    [['load'], ['--duration', '--connections', '--inflight', '--rate', '--mix', '--keys', '--dist', '--zipf', '--value-bytes', '--preload', '--json', '--seed']],
  ];
  for (const [cmd, flags] of cases) {
    const h = await runCli([...cmd, '--help']);
    t.equal(h.code, 0, `floe ${cmd.join(' ')} --help exits 0`);
    t.match(h.stdout, new RegExp(`^usage: floe ${cmd.join(' ')}`), 'starts with its usage line');
    for (const f of [...flags, '--help']) t.ok(h.stdout.includes(`${f} `) || h.stdout.includes(`${f}\n`), `floe ${cmd.join(' ')} --help lists ${f}`);
  }
  const top = await runCli(['--help']);
  for (const c of ['floe get', 'floe put', 'floe del', 'floe scan', 'floe sst dump', 'floe manifest show', 'floe load']) t.ok(top.stdout.includes(c), `floe --help shows ${c}`);
  const sub = await runCli(['sst', 'frob']);
  t.match([sub.code, sub.stderr], [2, /floe sst needs dump FILE\|URI/], 'an unknown sst subcommand is a usage error');
});
