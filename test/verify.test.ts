/**
 * `floe verify` (lib/tools/verify.ts): a healthy store — writes, flushes, compactions, checkpoints, a restore
 * with clip ranges, a retired instance, a live WAL — verifies clean; then each kind of damage, one at a time
 * on a fresh copy, makes it report exactly the broken object. The CLI runs as a child process for a clean,
 * a broken and the usage cases; the real S3 and HDFS servers are verified once each (skipped loudly without).
 */
import t, { type Test } from 'tap';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store, StoreOptions } from '../lib/api.js';
import { restoreStore } from '../lib/checkpoint/restore.js';
import { retireInstance } from '../lib/checkpoint/retire.js';
import { openLsmStore } from '../lib/embedded.js';
import { openStore } from '../lib/index.js';
import type { LsmStore } from '../lib/lsm/lsm-store.js';
import { decodeManifest, encodeManifest, listManifestSeqs, readLatestManifest } from '../lib/lsm/manifest.js';
import { Version } from '../lib/lsm/version.js';
import { openObjectStore } from '../lib/store/open.js';
import { checkpointPath, layoutPath, manifestPath, sstPath, walPrefix } from '../lib/store/paths.js';
import { verifyStore } from '../lib/tools/verify.js';
import type { VerifyReport } from '../lib/tools/verify-report.js';
import { Random } from '../lib/util/random.js';
import { runCli } from './support/daemon-process.js';
import { S3_UNAVAILABLE, createTestBucket, s3TestConfig } from './support/s3-env.js';
import { HDFS_UNAVAILABLE, hdfsTestConfig } from './support/hdfs-env.js';

const MAX_KG = 16;
const tuning: Partial<StoreOptions> = {
  maxKeyGroups: MAX_KG,
  memtableBytes: 64 * 1024,
  targetFileBytes: 64 * 1024,
  levelBaseBytes: 128 * 1024,
  blockBytes: 1024,
  l0CompactionTrigger: 2,
  compactionWorkers: 0,
  gcGraceMs: 3_600_000, // keep replaced files: they are the garbage verify reports as info
};

/** Seeded puts, deletes and merges; `groups`: key groups the store owns (default: the key's own group). */
async function writeSome(store: Store, r: Random, n: number, tag: string, groups?: [number, number]): Promise<void> {
  for (let i = 0; i < n; i++) {
    const key = `k${r.int(1500)}`;
    const kg = groups === undefined ? {} : { keyGroup: groups[0] + r.int(groups[1] - groups[0] + 1) };
    const roll = r.int(10);
    if (roll === 0) await store.delete(key, kg);
    else if (roll === 1) await store.merge(key, `+${tag}${i}`, kg);
    else await store.put(key, `${tag}-${i}-${Buffer.from(r.bytes(40)).toString('hex')}`, kg);
  }
}

interface Healthy {
  root: string;
  /** Instance `w` (durability 'wal'), kept open so its WAL segments stay until the test ends. */
  walStore: Store;
  checkpointId: string;
}

/** Builds the healthy store in a temp folder (file:// primary). */
async function buildHealthy(t: Test): Promise<Healthy> {
  const root = mkdtempSync(join(tmpdir(), 'floe-verify-'));
  const localDir = mkdtempSync(join(tmpdir(), 'floe-verify-local-'));
  t.teardown(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(localDir, { recursive: true, force: true });
  });
  const base = (id: string): StoreOptions => ({ primary: `file://${root}`, localDir: join(localDir, id), ...tuning, instanceId: id });
  const r = new Random(20261129);
  const a = (await openLsmStore(base('a'))) as LsmStore;
  await writeSome(a, r, 2500, 'a1');
  await a.flush();
  await a.compactUntilIdle();
  const handle = await a.checkpoint();
  await writeSome(a, r, 2500, 'a2'); // replaces files: the old ones stay as checkpoint files or garbage
  await a.flush();
  await a.compactUntilIdle();
  const second = await a.checkpoint();
  await a.close();

  // Restored from the second checkpoint, so files only the first one keeps exist.
  // One memtable holds all 300 writes (the memtable budget counts allocated slab bytes, so 64 KiB would take
  // two flushes): a single flush leaves one L0 file, below the compaction trigger, so the restored files
  // keep their clip ranges, which is what verify must be shown to handle.
  const restored = (await restoreStore({ ...base('r'), memtableBytes: 1024 * 1024 }, [second], { keyGroups: [3, 11] })) as LsmStore;
  await writeSome(restored, r, 300, 'r', [3, 11]);
  await restored.flush();
  await restored.close();

  const old = await openLsmStore(base('old'));
  await writeSome(old, r, 500, 'o');
  await old.close();
  await retireInstance(base('old'), 'old');

  // A sharded store: a shard layout and its two instances.
  const sharded = await openStore({ ...base('unused'), instanceId: undefined, shards: 2 });
  await writeSome(sharded, r, 300, 's');
  await sharded.close();

  const walStore = await openLsmStore({ ...base('w'), durability: 'wal', memtableBytes: 4 * 2 ** 20 });
  t.teardown(() => walStore.close());
  for (let i = 0; i < 6; i++) await walStore.put(`w${i}`, `value ${i}`); // one segment each (sequential)
  return { root, walStore, checkpointId: handle.checkpointId };
}

async function verifyDir(root: string, windowBytes?: number): Promise<VerifyReport> {
  const { store } = await openObjectStore(`file://${root}`, { skipProbe: true });
  try {
    return await verifyStore(store, windowBytes === undefined ? {} : { windowBytes });
  } finally {
    await store.close();
  }
}

const errorPaths = (r: VerifyReport): string[] => r.problems.filter((p) => p.severity === 'error').map((p) => p.path);

/** A copy of the healthy store, removed when the test ends. */
function copyOf(t: Test, root: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'floe-verify-copy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(root, dir, { recursive: true });
  return dir;
}

async function latestFiles(root: string, instanceId: string) {
  const { store } = await openObjectStore(`file://${root}`, { skipProbe: true });
  try {
    return (await readLatestManifest(store, instanceId))!;
  } finally {
    await store.close();
  }
}

t.test('floe verify', async (t) => {
  const h = await buildHealthy(t);
  const aLatest = await latestFiles(h.root, 'a');
  const rLatest = await latestFiles(h.root, 'r');
  t.ok(rLatest.version.allFiles().some((f) => f.clip !== undefined), 'the restored instance references files with clip ranges');

  t.test('a healthy store verifies clean', async (t) => {
    const report = await verifyDir(h.root);
    t.same(errorPaths(report), [], 'no errors');
    t.ok(report.ok, 'ok');
    const c = report.counts;
    t.match(c, { instances: 6, liveInstances: 5, retiredInstances: 1, checkpoints: 2, layouts: 1 }, `counts: ${JSON.stringify(c)}`);
    t.ok(c.walSegments >= 6, 'the WAL segments of the open wal instance were checked');
    t.ok(c.unreferencedSsts > 0, 'replaced files are reported as garbage');
    t.ok(report.problems.every((p) => p.severity === 'info'), 'everything else is info');
    const live = new Map<string, number>();
    for (const f of [...aLatest.version.allFiles(), ...rLatest.version.allFiles()]) live.set(f.fileId, f.size);
    t.ok(c.ssts >= live.size, `${c.ssts} SSTs verified, at least the ${live.size} of instances a and r`);
    const liveBytes = [...live.values()].reduce((n, s) => n + s, 0);
    t.ok(c.sstBytes >= liveBytes, `every byte of them was read (${c.sstBytes} >= ${liveBytes})`);
    const entries = aLatest.version.allFiles().reduce((n, f) => n + f.entries, 0);
    t.ok(c.entries >= entries, 'every entry was decoded');
    const small = await verifyDir(h.root, 3000);
    t.same({ ...small.counts }, { ...c }, 'reading in small windows finds the same');
  });

  t.test('the CLI: clean exit 0, usage errors exit 2', async (t) => {
    const clean = await runCli(['verify', `file://${h.root}`]);
    t.equal(clean.code, 0, `exit 0: ${clean.stderr}`);
    t.match(clean.stdout, /OK: no problems found/);
    t.match(clean.stdout, /instances: +6 \(5 live, 1 retired\)/);
    const json = await runCli(['verify', `file://${h.root}`, '--json']);
    t.equal(json.code, 0);
    t.match(JSON.parse(json.stdout), { ok: true, counts: { checkpoints: 2 } }, '--json prints the report');
    const config = join(h.root, '..', `verify-${process.pid}.json`);
    writeFileSync(config, JSON.stringify({ primary: `file://${h.root}`, maxKeyGroups: MAX_KG }));
    t.teardown(() => rmSync(config, { force: true }));
    const fromConfig = await runCli(['verify', '--config', config]);
    t.equal(fromConfig.code, 0, `without a URI the config's primary is verified: ${fromConfig.stderr}`);
    t.match(fromConfig.stdout, `floe verify file://${h.root}`);
    t.equal((await runCli(['verify'])).code, 2, 'no URI: exit 2');
    t.equal((await runCli(['verify', 'relative/dir'])).code, 2, 'a relative path: exit 2');
    t.equal((await runCli(['verify', `file://${h.root}`, 'extra'])).code, 2, 'two URIs: exit 2');
  });

  t.test('a flipped byte in a data block of a live SST (CLI, exit 1)', async (t) => {
    const dir = copyOf(t, h.root);
    const file = aLatest.version.allFiles().find((f) => f.size > 4096)!;
    const path = join(dir, sstPath(file.fileId));
    const bytes = readFileSync(path);
    bytes[100] ^= 0x40; // inside data block 0 (the file starts with its data blocks)
    writeFileSync(path, bytes);
    const run = await runCli(['verify', `file://${dir}`]);
    t.equal(run.code, 1, 'exit 1');
    t.match(run.stdout, new RegExp(`ERROR ${sstPath(file.fileId)}\\n.*data block 0 .*checksum mismatch`), run.stdout);
    t.match(run.stdout, /what to do: Reads of instance\(s\) a[ ,]/);
    t.match(run.stdout, /BROKEN: 1 problem/);
    const report = await verifyDir(dir);
    t.same(errorPaths(report), [sstPath(file.fileId)], 'the module names the same file, and only it');
  });

  t.test('a truncated SST', async (t) => {
    const dir = copyOf(t, h.root);
    const file = rLatest.version.allFiles()[0]!;
    truncateSync(join(dir, sstPath(file.fileId)), file.size - 100);
    const report = await verifyDir(dir);
    t.same(errorPaths(report), [sstPath(file.fileId)]);
    t.match(report.problems[0]!.problem, `is ${file.size - 100} bytes but`);
  });

  t.test('a deleted SST that only a checkpoint references', async (t) => {
    const dir = copyOf(t, h.root);
    const live = new Set([...aLatest.version.allFiles(), ...rLatest.version.allFiles()].map((f) => f.fileId));
    const record = JSON.parse(readFileSync(join(dir, checkpointPath(h.checkpointId)), 'utf8')) as { files: string[] };
    const only = record.files.find((id) => !live.has(id));
    t.ok(only, 'the checkpoint keeps a file no live manifest uses');
    unlinkSync(join(dir, sstPath(only!)));
    const report = await verifyDir(dir);
    t.same(errorPaths(report), [sstPath(only!)]);
    t.match(report.problems[0], { problem: /missing, but referenced by checkpoint /, action: /Restoring checkpoint\(s\) / });
  });

  t.test('a corrupt latest manifest, and a corrupt older one', async (t) => {
    const dir = copyOf(t, h.root);
    const latest = join(dir, manifestPath('a', aLatest.seq));
    const bytes = readFileSync(latest);
    bytes[bytes.length - 5] ^= 1;
    writeFileSync(latest, bytes);
    let report = await verifyDir(dir);
    t.same(errorPaths(report), [manifestPath('a', aLatest.seq)], 'the latest manifest is named');
    t.match(report.problems[0], { problem: /checksum mismatch/, action: /current state: it cannot open/ });
    writeFileSync(latest, readFileSync(join(h.root, manifestPath('a', aLatest.seq))));
    const { store } = await openObjectStore(`file://${dir}`, { skipProbe: true });
    const seqs = await listManifestSeqs(store, 'a');
    await store.close();
    t.ok(seqs.length > 1, 'instance a keeps older manifests');
    writeFileSync(join(dir, manifestPath('a', seqs[0]!)), 'not a manifest');
    report = await verifyDir(dir);
    t.same(errorPaths(report), [manifestPath('a', seqs[0]!)], 'an older manifest is checked too');
    t.match(report.problems[0], { problem: /bad magic/ });
  });

  t.test('a manifest renamed to another seq', async (t) => {
    const dir = copyOf(t, h.root);
    const seq = rLatest.seq;
    const moved = manifestPath('r', seq + 1);
    cpSync(join(dir, manifestPath('r', seq)), join(dir, moved));
    const report = await verifyDir(dir);
    t.same(errorPaths(report), [moved]);
    t.match(report.problems[0]!.problem, `its name says instance r seq ${seq + 1}`);
  });

  t.test('a manifest that records another key range or size for a file than the file holds', async (t) => {
    const dir = copyOf(t, h.root);
    const path = manifestPath('r', rLatest.seq);
    const m = decodeManifest(readFileSync(join(dir, path)), path);
    const target = m.version.levels.findIndex((l) => l.length > 0);
    const [file, ...rest] = m.version.levels[target]!;
    const levels = m.version.levels.map((l) => [...l]);
    levels[target] = [{ ...file!, largestKey: file!.smallestKey }, ...rest];
    writeFileSync(join(dir, path), encodeManifest({ ...m, version: new Version(levels) }, Date.now()));
    let report = await verifyDir(dir);
    t.same(errorPaths(report), [sstPath(file!.fileId)], 'the file is named');
    t.match(report.problems[0]!.problem, `instance r (manifest ${rLatest.seq}) records a different largest key`);
    levels[target] = [{ ...file!, size: file!.size + 1 }, ...rest];
    writeFileSync(join(dir, path), encodeManifest({ ...m, version: new Version(levels) }, Date.now()));
    report = await verifyDir(dir);
    t.same(errorPaths(report), [sstPath(file!.fileId)]);
    t.match(report.problems[0]!.problem, `instance r (manifest ${rLatest.seq}) records ${file!.size + 1}`);
  });

  t.test('a corrupt checkpoint record', async (t) => {
    const dir = copyOf(t, h.root);
    const path = join(dir, checkpointPath(h.checkpointId));
    writeFileSync(path, readFileSync(path, 'utf8').slice(0, 200));
    const report = await verifyDir(dir);
    t.same(errorPaths(report), [checkpointPath(h.checkpointId)]);
    t.match(report.problems[0], { problem: /not valid JSON/, action: `floe checkpoints release ${h.checkpointId}` });
  });

  t.test('a corrupt shard layout', async (t) => {
    const dir = copyOf(t, h.root);
    const path = layoutPath('main', 1);
    writeFileSync(join(dir, path), readFileSync(join(dir, path), 'utf8').replace('"shards"', '"shardz"'));
    const report = await verifyDir(dir);
    t.same(errorPaths(report), [path]);
    t.match(report.problems[0], { problem: /not a Floe shard layout/ });
  });

  t.test('a corrupt WAL segment that is not the last; a torn last one is only info', async (t) => {
    const dir = copyOf(t, h.root);
    const walDir = join(dir, walPrefix('w'));
    const segments = readdirSync(walDir).sort();
    t.ok(segments.length >= 6, `segments: ${segments.join(' ')}`);
    const withRecord = segments.filter((s) => statSync(join(walDir, s)).size > 40);
    const first = withRecord[0]!;
    const bytes = readFileSync(join(walDir, first));
    bytes[bytes.length - 2] ^= 0x10;
    writeFileSync(join(walDir, first), bytes);
    const last = segments[segments.length - 1]!;
    const lastBytes = readFileSync(join(walDir, last));
    t.ok(lastBytes.length > 20, 'the last segment holds a record');
    writeFileSync(join(walDir, last), lastBytes.subarray(0, lastBytes.length - 3));
    let report = await verifyDir(dir);
    t.same(errorPaths(report), [`${walPrefix('w')}${first}`]);
    t.match(report.problems.find((p) => p.severity === 'error'), { problem: /checksum mismatch/ });
    // A torn record is accepted only at the end of the last segment: cut a middle one short instead.
    writeFileSync(join(walDir, first), readFileSync(join(h.root, walPrefix('w'), first)));
    const middle = withRecord[withRecord.length - 2]!;
    t.not(middle, last, 'a segment before the last one');
    truncateSync(join(walDir, middle), statSync(join(walDir, middle)).size - 3);
    report = await verifyDir(dir);
    t.same(errorPaths(report), [`${walPrefix('w')}${middle}`], 'a cut-short segment that is not the last is broken');
    t.match(report.problems.find((p) => p.severity === 'error'), { problem: /runs past the end/ });
    t.ok(
      report.problems.some((p) => p.severity === 'info' && p.path === `${walPrefix('w')}${last}` && /torn record/.test(p.problem)),
      'the torn tail of the last segment is a note',
    );
  });
});

async function remoteRoundTrip(t: Test, primary: string, extra: Partial<StoreOptions>): Promise<void> {
  const localDir = mkdtempSync(join(tmpdir(), 'floe-verify-remote-'));
  t.teardown(() => rmSync(localDir, { recursive: true, force: true }));
  const store = (await openLsmStore({ primary, localDir, ...tuning, ...extra, instanceId: 'v' })) as LsmStore;
  await writeSome(store, new Random(7), 1500, 'v');
  await store.flush();
  await store.compactUntilIdle();
  await store.checkpoint();
  const victim = store.internals().state.version.allFiles()[0]!;
  await store.close();
  const { store: objects } = await openObjectStore(primary, { s3: extra.s3 ?? {}, hdfs: extra.hdfs ?? {}, skipProbe: true });
  try {
    const clean = await verifyStore(objects);
    t.same(errorPaths(clean), [], `clean on ${primary}: ${JSON.stringify(clean.counts)}`);
    t.ok(clean.counts.ssts > 0 && clean.counts.checkpoints === 1, 'files and the checkpoint were checked');
    await objects.delete(sstPath(victim.fileId));
    const broken = await verifyStore(objects);
    t.same(errorPaths(broken), [sstPath(victim.fileId)], 'a deleted live SST is named');
  } finally {
    await objects.close();
  }
}

t.test('S3 primary', async (t) => {
  const config = s3TestConfig();
  if (!config) {
    void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
    return;
  }
  const bucket = await createTestBucket(`floe-verify-${process.pid}`);
  await remoteRoundTrip(t, `s3://${bucket}/verify`, { s3: config });
});

t.test('HDFS primary', async (t) => {
  const config = hdfsTestConfig();
  if (!config) {
    void t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`, () => {});
    return;
  }
  await remoteRoundTrip(t, `${config.url}/verify-${process.pid}`, { hdfs: { user: config.user } });
});
