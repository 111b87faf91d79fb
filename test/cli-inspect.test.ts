/**
 * `floe manifest show` and `floe sst dump` through the real CLI binary, on a store written by an embedded
 * store: what they print must agree with the manifest and with the SSTs' contents (read back through the
 * store), in text and JSON, for a path and a file:// URI; a damaged SST is a CORRUPTION error, not a dump.
 * Once on the real S3 test server (skipped loudly without): an s3:// object and a read-only --primary view.
 */
import t from 'tap';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import { makeDir, runCli } from './support/daemon-process.js';
import { createTestBucket, deleteTestBucket, S3_UNAVAILABLE, s3TestConfig } from './support/s3-env.js';

interface ManifestJson {
  uri: string;
  instances: Array<{
    instanceId: string;
    epoch: number;
    keyGroups: [number, number];
    lastSequence: number;
    levels: Array<{ level: number; files: Array<{ fileId: string; size: number; entries: number; smallest: string; largest: string }> }>;
  }>;
  checkpoints: Array<{ id: string; files: number }>;
}

interface DumpJson {
  size: number;
  properties: { entries: number; deletes: number; merges: number; smallestKey: string; largestKey: string; dataBlocks: number };
  index: Array<{ lastKey: string; offset: number; size: number }>;
  entries: Array<{ key: string; kind: string; seq: number; value: string }>;
}

t.test('manifest show and sst dump agree with the store', { timeout: 240_000 }, async (t) => {
  const dir = makeDir(t, 'floe-cli-inspect-');
  const primary = `file://${join(dir, 'data')}`;
  const store = await openLsmStore({ primary, localDir: join(dir, 'cache'), maxKeyGroups: 8, compactionWorkers: 0, blockBytes: 512, compression: 'none' });
  const expected = new Map<string, string>();
  for (let i = 0; i < 300; i++) {
    const key = `key-${String(i).padStart(4, '0')}`;
    const value = `value-${i}-${'x'.repeat(i % 17)}`;
    await store.put(key, value, { keyGroup: i % 8 });
    expected.set(`${i % 8}:${key}`, value);
  }
  await store.delete('key-0007', { keyGroup: 7 });
  await store.merge('key-0001', '+m', { keyGroup: 1 });
  expected.delete('7:key-0007');
  expected.set('1:key-0001', `${expected.get('1:key-0001')}+m`);
  await store.flush();
  await store.checkpoint();
  await store.close();

  const shown = await runCli(['manifest', 'show', primary, '--json']);
  t.equal(shown.code, 0, `manifest show exits 0 (${shown.stderr})`);
  const m = JSON.parse(shown.stdout) as ManifestJson;
  t.equal(m.instances.length, 1, 'one instance (an embedded store, no shard layout)');
  const inst = m.instances[0]!;
  t.equal(inst.instanceId, 'main', 'the default instance');
  t.same(inst.keyGroups, [0, 7], 'owning every key group');
  t.ok(inst.lastSequence >= 302, `last sequence ${inst.lastSequence} covers every write`);
  const files = inst.levels.flatMap((l) => l.files);
  t.ok(files.length >= 1, `${files.length} file(s) listed`);
  t.equal(m.checkpoints.length, 1, 'the retained checkpoint is listed');
  const text = await runCli(['manifest', 'show', primary, '--files']);
  for (const f of files) t.ok(text.stdout.includes(f.fileId), `the text lists ${f.fileId}`);
  t.match(text.stdout, /instance main: manifest #\d+ \(\d+ kept\), epoch \d+/, 'the text names the instance and epoch');

  const sstDir = join(dir, 'data', 'sst');
  t.same(readdirSync(sstDir).sort(), files.map((f) => `${f.fileId}.sst`).sort(), 'the manifest names exactly the SSTs on storage');
  const seen = new Map<string, { kind: string; value: string }>();
  let entries = 0;
  for (const f of files) {
    const path = join(sstDir, `${f.fileId}.sst`);
    const arg = entries === 0 ? path : `file://${path}`; // both forms
    const d = await runCli(['sst', 'dump', arg, '--json', '--sample', '100000']);
    t.equal(d.code, 0, `sst dump ${f.fileId} exits 0 (${d.stderr})`);
    const dump = JSON.parse(d.stdout) as DumpJson;
    t.equal(dump.size, f.size, 'size matches the manifest');
    t.equal(dump.properties.entries, f.entries, 'entry count matches the manifest');
    t.equal(dump.entries.length, f.entries, 'every entry sampled');
    t.equal(dump.properties.smallestKey, dump.entries[0]!.key, 'smallest key is the first entry');
    t.equal(dump.properties.largestKey, dump.entries.at(-1)!.key, 'largest key is the last entry');
    t.equal(dump.index.length, dump.properties.dataBlocks, 'one index entry per data block');
    t.ok(dump.properties.dataBlocks > 1, `small blocks: ${dump.properties.dataBlocks} blocks`);
    t.equal(dump.index.at(-1)!.lastKey, dump.properties.largestKey, 'the last index key is the largest key');
    for (const e of dump.entries) if (!seen.has(e.key)) seen.set(e.key, { kind: e.kind, value: e.value });
    entries += dump.entries.length;
  }
  // One flush, so each key is in exactly one file: the dumped entries are the store's contents.
  const live = new Map([...seen].filter(([, e]) => e.kind !== 'delete').map(([k, e]) => [k, e.value]));
  t.same(Object.fromEntries(live), Object.fromEntries(expected), 'the dumped entries are exactly the store contents');
  t.equal(seen.get('7:key-0007')?.kind, 'delete', 'the delete is a tombstone');

  const first = join(sstDir, `${files[0]!.fileId}.sst`);
  const sample = await runCli(['sst', 'dump', first, '--sample', '3', '--index', '2']);
  t.match(sample.stdout, /entries \(first 3\)/, 'the text dump honours --sample');
  t.match(sample.stdout, /index \(\d+ block\(s\), first 2; --index 0 for all\)/, 'and --index');
  t.match(sample.stdout, /smallest key \d+:key-\d{4}\n {2}largest key {2}\d+:key-\d{4}/, 'and prints the key range');

  // Damage: one flipped byte in the properties block is caught by its checksum.
  const broken = join(dir, 'broken.sst');
  copyFileSync(first, broken);
  const bytes = readFileSync(broken);
  bytes[bytes.length - 70]! ^= 0xff;
  writeFileSync(broken, bytes);
  const bad = await runCli(['sst', 'dump', broken]);
  t.equal(bad.code, 1, 'a damaged SST fails');
  t.match(bad.stderr, /floe: CORRUPTION: /, 'with a CORRUPTION error');
  const missing = await runCli(['sst', 'dump', join(dir, 'nope.sst')]);
  t.match([missing.code, missing.stderr], [2, /INVALID_ARGUMENT: cannot open SST file/], 'a missing file is a usage error');
  const noStore = await runCli(['manifest', 'show', `file://${join(dir, 'empty')}`, '--store', 'other']);
  t.match([noStore.code, noStore.stderr], [1, /CONFIG: there is no store named other/], 'an unknown store is a typed error');
  const all = await runCli(['manifest', 'show', primary, '--all', '--json']);
  t.same((JSON.parse(all.stdout) as ManifestJson).instances.map((i) => i.instanceId), ['main'], '--all lists every instance');
});

t.test('on an S3 primary: manifest show, sst dump of an s3:// object, get and scan --primary', { timeout: 240_000 }, async (t) => {
  const s3 = s3TestConfig();
  if (!s3) {
    void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
    return;
  }
  const dir = makeDir(t, 'floe-cli-inspect-s3-');
  const bucket = await createTestBucket(`floe-cli-${process.pid}`);
  t.teardown(() => deleteTestBucket(bucket).catch(() => undefined));
  const primary = `s3://${bucket}/cli`;
  const config = join(dir, 'floe.json');
  writeFileSync(config, JSON.stringify({ primary, s3, maxKeyGroups: 8 }));
  const store = await openLsmStore({ primary, s3, localDir: join(dir, 'cache'), maxKeyGroups: 8, compactionWorkers: 0 });
  for (let i = 0; i < 50; i++) await store.put(`s3-key-${i}`, `v${i}`);
  await store.merge('s3-key-1', '+m');
  await store.flush();
  await store.close();

  const shown = await runCli(['manifest', 'show', primary, '--config', config, '--json']);
  t.equal(shown.code, 0, `manifest show exits 0 (${shown.stderr})`);
  const files = (JSON.parse(shown.stdout) as ManifestJson).instances[0]!.levels.flatMap((l) => l.files);
  t.ok(files.length >= 1, `${files.length} file(s)`);
  const d = await runCli(['sst', 'dump', `${primary}/sst/${files[0]!.fileId}.sst`, '--config', config, '--json', '--sample', '1000']);
  t.equal(d.code, 0, `sst dump of the s3:// object exits 0 (${d.stderr})`);
  const dump = JSON.parse(d.stdout) as DumpJson;
  t.equal(dump.entries.length, files[0]!.entries, 'every entry of the object');
  t.equal(dump.size, files[0]!.size, 'its size matches the manifest');
  const got = await runCli(['get', 's3-key-1', '--primary', primary, '--config', config]);
  t.equal(got.stdout, 'v1+m\n', 'get --primary on S3 resolves the merge');
  const scanned = await runCli(['scan', '--primary', primary, '--config', config, '--limit', '0']);
  t.equal(scanned.stdout.split('\n').filter(Boolean).length, 50, 'scan --primary on S3 sees every key');
  const missing = await runCli(['sst', 'dump', `${primary}/sst/nope.sst`, '--config', config]);
  t.match([missing.code, missing.stderr], [1, /NOT_FOUND: there is no object nope\.sst/], 'a missing object is NOT_FOUND');
});
