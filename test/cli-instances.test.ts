/**
 * `floe instances list|retire` (issue 8 defect 5) through the real CLI binary: lists the instances on primary
 * storage with their state, retires one (fencing it, after which it cannot be opened), and refuses an
 * unknown id with a usage-class error.
 */
import t from 'tap';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { makeDir, runCli, writeConfig } from './support/daemon-process.js';

t.test('floe instances list and retire', async (t) => {
  const dir = makeDir(t, 'floe-cli-instances-');
  const config = writeConfig(dir);
  const primary = `file://${join(dir, 'data')}`;
  for (const id of ['alpha', 'beta']) {
    const s = await openLsmStore({ primary, localDir: join(dir, `cache-${id}`), maxKeyGroups: 16, instanceId: id, compactionWorkers: 0 });
    await s.put(`${id}-key`, 'v');
    await s.close();
  }
  const listed = await runCli(['instances', 'list', '--config', config]);
  t.equal(listed.code, 0, `list exits 0 (${listed.stderr})`);
  t.match(listed.stdout, /^alpha {2}\[0-15\] {2}epoch \d+ {2}1 file\(s\)/m, 'alpha is listed as live, with its file');
  t.match(listed.stdout, /^beta {2}\[0-15\] {2}epoch \d+/m, 'beta is listed as live');

  const retired = await runCli(['instances', 'retire', 'alpha', '--config', config]);
  t.equal(retired.code, 0, `retire exits 0 (${retired.stderr})`);
  t.match(retired.stdout, /retired instance alpha: 1 file reference\(s\) released/, 'says what it released');
  const again = await runCli(['instances', 'retire', 'alpha', '--config', config]);
  t.match(again.stdout, /was retired already/, 'retiring twice is a no-op');
  const after = await runCli(['instances', 'list', '--config', config]);
  t.match(after.stdout, /^alpha {2}\[0-15\] {2}retired \S+ {2}0 file\(s\)/m, 'alpha is listed as retired');
  await t.rejects(openLsmStore({ primary, localDir: join(dir, 'cache-x'), maxKeyGroups: 16, instanceId: 'alpha' }), { code: 'CONFIG' }, 'a retired instance cannot be opened');

  const unknown = await runCli(['instances', 'retire', 'nope', '--config', config]);
  t.equal(unknown.code, 2, 'an unknown instance is a usage-class error (exit 2)');
  t.match(unknown.stderr, /INVALID_ARGUMENT: there is no instance nope/, 'naming the instance');
  const bad = await runCli(['instances', 'frobnicate', '--config', config]);
  t.equal(bad.code, 2, 'an unknown subcommand is a usage error');
});
