/**
 * The WAL on every backend (issue 9): durability 'wal' on file://, an S3-protocol server and HDFS (WebHDFS).
 * A writer acknowledges writes without ever flushing; a second opener takes the instance over (fencing the
 * first, whose next write fails with FENCED) and must replay every acknowledged write. Skips loudly when a
 * server is not running (run through `make test`, which starts both).
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLsmStore } from '../lib/embedded.js';
import type { StoreOptions } from '../lib/api.js';
import { s3TestConfig, createTestBucket, S3_UNAVAILABLE } from './support/s3-env.js';
import { hdfsTestConfig, HDFS_UNAVAILABLE } from './support/hdfs-env.js';

async function takeOver(t: Test, primary: string, extra: Partial<StoreOptions>): Promise<void> {
  const localDir = mkdtempSync(join(tmpdir(), 'floe-wal-remote-'));
  t.teardown(() => rmSync(localDir, { recursive: true, force: true }));
  const options: StoreOptions = { primary, localDir, maxKeyGroups: 8, durability: 'wal', memtableBytes: 64 * 1024, compactionWorkers: 0, ...extra };
  const first = await openLsmStore(options);
  const acked: string[] = [];
  await Promise.all(
    Array.from({ length: 32 }, async (_, w) => {
      for (let i = 0; i < 12; i++) {
        const key = `w${w}-${i}`;
        await first.put(key, `value-${key}`);
        acked.push(key);
      }
    }),
  );
  await first.delete('w0-0');
  await first.merge('w1-1', '+');
  const second = await openLsmStore(options);
  const got = await second.multiGet(acked);
  const wrong = acked.filter((k, i) => {
    const v = got[i] === undefined ? undefined : Buffer.from(got[i]!).toString();
    const want = k === 'w0-0' ? undefined : k === 'w1-1' ? `value-${k}+` : `value-${k}`;
    return v !== want;
  });
  t.same(wrong, [], `${acked.length} acknowledged writes (never flushed) replayed by the new owner on ${primary}`);
  await t.rejects(first.put('late', 'x'), { code: 'FENCED' }, 'the old writer is fenced by the new owner’s log fence');
  await first.close().catch(() => undefined);
  await second.put('after', 'takeover');
  await second.close();
  const third = await openLsmStore({ ...options, durability: 'checkpoint' });
  t.equal(Buffer.from((await third.get('after'))!).toString(), 'takeover', 'a checkpoint-mode opener replays and flushes the log too');
  await third.close();
}

t.test('file primary', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'floe-wal-file-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await takeOver(t, `file://${dir}`, {});
});

t.test('S3 primary', async (t) => {
  const config = s3TestConfig();
  if (!config) {
    void t.skip(`S3 server not available: ${S3_UNAVAILABLE}`, () => {});
    return;
  }
  const bucket = await createTestBucket(`floe-wal-${process.pid}`);
  await takeOver(t, `s3://${bucket}/wal`, { s3: config });
});

t.test('HDFS primary', async (t) => {
  const config = hdfsTestConfig();
  if (!config) {
    void t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`, () => {});
    return;
  }
  await takeOver(t, `${config.url}/wal-${process.pid}`, { hdfs: { user: config.user } });
});
