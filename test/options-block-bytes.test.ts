import t from 'tap';
import { defaults, resolveOptions } from '../lib/options.js';

t.test('remote primaries write 4 KiB blocks by default, local ones 16 KiB; an explicit blockBytes wins', async (t) => {
  t.equal(defaults.remoteBlockBytes, 4096);
  t.equal(defaults.blockBytes, 16 * 1024);
  for (const primary of ['s3://bucket/prefix', 'hdfs://namenode:9870/floe']) {
    t.equal(resolveOptions({ primary, localDir: '/tmp/x' }).blockBytes, 4096, primary);
    t.equal(resolveOptions({ primary, localDir: '/tmp/x', blockBytes: 16 * 1024 }).blockBytes, 16 * 1024, `${primary}, explicit`);
  }
  for (const primary of ['file:///tmp/floe-data', 'mem://m']) {
    t.equal(resolveOptions({ primary, localDir: '/tmp/x' }).blockBytes, 16 * 1024, primary);
    t.equal(resolveOptions({ primary, localDir: '/tmp/x', blockBytes: 4096 }).blockBytes, 4096, `${primary}, explicit`);
  }
});

t.test('remote primaries keep 256 block reads in flight by default, local ones 64; an explicit readConcurrency wins', async (t) => {
  for (const primary of ['s3://bucket/prefix', 'hdfs://namenode:9870/floe']) {
    t.equal(resolveOptions({ primary, localDir: '/tmp/x' }).readConcurrency, 256, primary);
    t.equal(resolveOptions({ primary, localDir: '/tmp/x', readConcurrency: 64 }).readConcurrency, 64, `${primary}, explicit`);
  }
  for (const primary of ['file:///tmp/floe-data', 'mem://m']) {
    t.equal(resolveOptions({ primary, localDir: '/tmp/x' }).readConcurrency, 64, primary);
  }
});
