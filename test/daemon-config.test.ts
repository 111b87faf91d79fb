/**
 * The daemon's config loader (lib/daemon/config.ts): relative paths resolve against the config file's
 * folder (file) or the working directory (environment), environment overrides win, defaults apply, and
 * every mistake is a CONFIG error naming the key or variable.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { daemonDefaults, loadConfig, primaryUri } from '../lib/daemon/config.js';

const dir = mkdtempSync(join(tmpdir(), 'floe-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: unknown): string {
  const p = join(dir, name);
  writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

t.test('relative paths in the file resolve against its folder', async (t) => {
  const c = loadConfig(file('a.json', { primary: 'file://../run/data', localDir: 'cache', socket: './s.sock', shards: 3 }), {}, '/somewhere/else');
  t.equal(c.store.primary, `file://${join(dir, '..', 'run', 'data')}`);
  t.equal(c.store.localDir, join(dir, 'cache'));
  t.equal(c.socket, join(dir, 's.sock'));
  t.equal(c.store.shards, 3);
  t.equal(c.shardsExplicit, true);
  t.equal(c.maxInFlightPerConnection, daemonDefaults.maxInFlightPerConnection);
  t.equal(c.metricsPort, undefined);
  t.equal(c.store.instanceId, 'main', 'the layout name defaults to main');
});

t.test('environment overrides win and resolve against the working directory', async (t) => {
  const c = loadConfig(file('b.json', { primary: 'file:///data', socket: '/run/x.sock' }), { FLOE_SOCKET: 'rel.sock', FLOE_SHARDS: '2', FLOE_METRICS_PORT: '0', FLOE_PRIMARY: 's3://bucket/prefix' }, '/work');
  t.equal(c.socket, '/work/rel.sock');
  t.equal(c.store.shards, 2);
  t.equal(c.metricsPort, 0);
  t.equal(c.store.primary, 's3://bucket/prefix');
  const d = loadConfig(undefined, { FLOE_PRIMARY: 'data' }, '/work');
  t.equal(d.store.primary, 'file:///work/data', 'a plain path becomes a file URI');
  t.equal(d.socket, daemonDefaults.socket);
  t.equal(d.shardsExplicit, false, 'default shard count is not explicit (an existing layout wins)');
  t.ok(d.store.shards! >= 1);
});

t.test('mistakes are CONFIG errors that name the key', async (t) => {
  t.throws(() => loadConfig(file('c.json', { primary: 'file:///d', sokcet: 'x' })), { code: 'CONFIG', message: /key "sokcet" is unknown/ });
  t.throws(() => loadConfig(file('d.json', { socket: 'x' }), {}), { code: 'CONFIG', message: /key "primary" is required/ });
  t.throws(() => loadConfig(file('e.json', { primary: 'file:///d', shards: 0 })), { code: 'CONFIG', message: /key "shards" must be an integer/ });
  t.throws(() => loadConfig(file('f.json', { primary: 'file:///d', maxInFlightPerConnection: 'lots' })), { code: 'CONFIG', message: /maxInFlightPerConnection/ });
  t.throws(() => loadConfig(file('g.json', { primary: 'file:///d', logLevel: 'loud' })), { code: 'CONFIG', message: /logLevel/ });
  t.throws(() => loadConfig(file('h.json', { primary: 'file:///d', compression: 'gzip' })), { code: 'CONFIG', message: /h\.json: option compression/ });
  t.throws(() => loadConfig(file('i.json', '{ not json')), { code: 'CONFIG', message: /not valid JSON/ });
  t.throws(() => loadConfig(join(dir, 'missing.json')), { code: 'CONFIG', message: /cannot read config file/ });
  t.throws(() => loadConfig(file('j.json', { primary: 'file:///d' }), { FLOE_SHARDS: 'two' }), { code: 'CONFIG', message: /FLOE_SHARDS must be an integer/ });
  t.throws(() => loadConfig(file('k.json', { primary: 'file:///d', name: 'bad name' })), { code: 'CONFIG', message: /key "name"/ });
});

t.test('primary forms', async (t) => {
  t.equal(primaryUri('file:///abs/x', '/base'), 'file:///abs/x');
  t.equal(primaryUri('file://rel/x', '/base'), 'file:///base/rel/x');
  t.equal(primaryUri('rel/x', '/base'), 'file:///base/rel/x');
  t.equal(primaryUri('/abs/x', '/base'), 'file:///abs/x');
  t.equal(primaryUri('hdfs://nn:9870/floe', '/base'), 'hdfs://nn:9870/floe');
});

t.test('the shipped config/floe.json (make run) keeps everything under ./.floe-run', async (t) => {
  const c = loadConfig(join(process.cwd(), 'config', 'floe.json'), {});
  const root = join(process.cwd(), '.floe-run');
  t.equal(c.store.primary, `file://${join(root, 'data')}`);
  t.equal(c.store.localDir, join(root, 'cache'));
  t.equal(c.socket, join(root, 'floe.sock'));
});
