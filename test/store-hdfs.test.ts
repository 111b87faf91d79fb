/**
 * The WebHDFS backend. Against the real HDFS test cluster (a MiniDFSCluster started by
 * test/support/run-tests.ts, passed in FLOE_TEST_HDFS_URL): the object-store contract suite with
 * create-if-absent enforced, ranged reads across the namenode → datanode redirect, a 6+ MiB streamed write,
 * temp files (invisible, swept after the grace period), user.name on every request, a root that is a file.
 * Without a cluster (these run always): URI validation, a namenode that is down (a closed port), and the
 * error mapping of answers a real cluster will not give on demand (permission denied, not WebHDFS, Hadoop
 * IPC port, safe mode, a server that never answers), served by a small fake server on 127.0.0.1.
 *
 * Run alone: bash test/support/install-hdfs.sh; build; node dist/test/support/hdfs-server.js; export the
 * variables it prints; tap dist/test/store-hdfs.test.js.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { type FloeError, isFloeError } from '../lib/errors.js';
import { createWebHdfsStore, parseHdfsUri, TEMP_MARK, type WebHdfsObjectStore, type WebHdfsStoreOptions } from '../lib/store/webhdfs.js';
import { Random } from '../lib/util/random.js';
import { deleteHdfsTree, HDFS_UNAVAILABLE, hdfsRootPath, hdfsTestConfig, listHdfsTree, type HdfsTestConfig } from './support/hdfs-env.js';
import { ManualClock } from './support/manual-clock.js';
import { expectCode, randomBytes, runStoreContract, sameBytes, seedFromEnv } from './support/store-contract.js';

const MiB = 2 ** 20;
const seed = seedFromEnv();
t.comment(`store-hdfs seed ${seed} (replay with FLOE_SEED=${seed})`);

await offlineTests();
const config = hdfsTestConfig();
if (config === undefined) {
  console.log(`#\n# !!! HDFS not available: ${HDFS_UNAVAILABLE}\n# !!! store-hdfs cluster tests SKIP\n#`);
  void t.skip(`HDFS not available: ${HDFS_UNAVAILABLE}`, () => {});
} else {
  await clusterTests(config);
}

/** A port that nothing listens on: bound, then closed again. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A fake server on 127.0.0.1 answering every request with `answer`. */
async function fakeServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const server = createServer(answer);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function remoteException(res: ServerResponse, status: number, exception: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ RemoteException: { exception, javaClassName: `org.apache.hadoop.${exception}`, message } }));
}

async function offlineTests(): Promise<void> {
  void t.test('URIs: canonical form, malformed ones are CONFIG', async (t) => {
    t.same(parseHdfsUri('hdfs://nn.example:9870/floe/data/'), {
      uri: 'hdfs://nn.example:9870/floe/data',
      origin: 'http://nn.example:9870',
      rootPath: '/floe/data',
    });
    t.equal(parseHdfsUri('hdfs://nn/floe').uri, 'hdfs://nn:9870/floe', 'the port defaults to 9870, the WebHDFS port of Hadoop 3');
    t.equal(parseHdfsUri('hdfs://nn:1234').rootPath, '/', 'no path: the HDFS root');
    t.equal(parseHdfsUri('hdfs://[::1]:1234/x').origin, 'http://[::1]:1234', 'IPv6 literal');
    for (const bad of ['hdfs://', 'hdfs:///floe', 'hdfs://nn:99999/x', 'hdfs://nn:1/a/../b', 'hdfs://u:p@nn:1/x', 'hdfs://nn:1/x?y=1', 'http://nn:1/x', 'hdfs://nn:1/a//b']) {
      await expectCode(t, createWebHdfsStore(bad, { verify: false }), 'CONFIG', `URI ${JSON.stringify(bad)}`);
    }
    await expectCode(t, createWebHdfsStore('hdfs://nn:1/x', { verify: false, user: 'has space' }), 'CONFIG', 'a user name with a space');
    await expectCode(t, createWebHdfsStore('hdfs://nn:1/x', { verify: false, requestTimeoutMs: -5 }), 'CONFIG', 'a negative timeout');
  });

  void t.test('namenode down (a closed port): IO, retryable, names the URI', async (t) => {
    const port = await closedPort();
    const uri = `hdfs://127.0.0.1:${port}/floe`;
    try {
      await createWebHdfsStore(uri, { user: 'floe' });
      t.fail('opening against a closed port succeeded');
    } catch (error) {
      t.ok(isFloeError(error, 'IO'), `open fails with IO (${String(error)})`);
      t.equal((error as FloeError).retryable, true, 'retryable');
      t.match((error as Error).message, uri, 'the message names the URI');
      t.match((error as Error).message, /is the namenode running/, 'and asks whether the namenode runs');
    }
    const store = await createWebHdfsStore(uri, { user: 'floe', verify: false });
    try {
      for (const [what, op] of [
        ['get', () => store.get('a')],
        ['put', () => store.put('a', Uint8Array.from([1]))],
        ['head', () => store.head('a')],
        ['list', () => store.list('')],
        ['delete', () => store.delete('a')],
      ] as const) {
        try {
          await op();
          t.fail(`${what} succeeded against a closed port`);
        } catch (error) {
          t.ok(isFloeError(error, 'IO') && error.retryable, `${what} fails with retryable IO`);
          t.match((error as Error).message, /ECONNREFUSED/, `${what}: the message says the connection was refused`);
        }
      }
    } finally {
      await store.close();
    }
    await expectCode(t, store.get('a'), 'CLOSED', 'a closed store');
  });

  void t.test('error answers map to FloeError codes (fake WebHDFS server)', async (t) => {
    let mode = 'acl';
    const fake = await fakeServer((_req, res) => {
      switch (mode) {
        case 'acl':
          return remoteException(res, 403, 'AccessControlException', 'Permission denied: user=floe, access=WRITE, inode="/floe":hdfs:supergroup:drwxr-xr-x');
        case 'html404':
          res.writeHead(404, { 'content-type': 'text/html' });
          return res.end('<html><body>HTTP ERROR 404 Not Found</body></html>');
        case 'ipc':
          res.writeHead(404, { 'content-type': 'text/plain' });
          return res.end('It looks like you are making an HTTP request to a Hadoop IPC port. This is not the correct port for the web interface on this daemon.');
        case 'safemode':
          return remoteException(res, 403, 'RetriableException', 'org.apache.hadoop.hdfs.server.namenode.SafeModeException: Cannot create file. Name node is in safe mode.');
        case 'standby':
          return remoteException(res, 403, 'StandbyException', 'Operation category READ is not supported in state standby');
        case 'notfound':
          return remoteException(res, 404, 'FileNotFoundException', 'File does not exist: /floe/x');
        case 'quota':
          return remoteException(res, 403, 'DSQuotaExceededException', 'The DiskSpace quota of /floe is exceeded');
        case 'hang':
          return; // never answers
        default:
          res.writeHead(500);
          return res.end();
      }
    });
    const uri = `hdfs://127.0.0.1:${fake.port}/floe`;
    const store = await createWebHdfsStore(uri, { user: 'floe', verify: false, requestTimeoutMs: 400 });
    try {
      mode = 'acl';
      await expectCode(t, store.put('x', Uint8Array.from([1])), 'CONFIG', 'AccessControlException');
      await expectCode(t, createWebHdfsStore(uri, { user: 'floe' }), 'CONFIG', 'AccessControlException at open');
      mode = 'html404';
      await expectCode(t, store.head('x'), 'CONFIG', 'a 404 that is not WebHDFS (wrong port or WebHDFS off)');
      mode = 'ipc';
      try {
        await store.list('');
        t.fail('list against the Hadoop IPC port succeeded');
      } catch (error) {
        t.ok(isFloeError(error, 'CONFIG'), 'the Hadoop IPC port is CONFIG');
        t.match((error as Error).message, /RPC port/, 'and the message says to use the HTTP port');
      }
      for (const m of ['safemode', 'standby', 'server-error']) {
        mode = m;
        try {
          await store.get('x');
          t.fail(`${m}: succeeded`);
        } catch (error) {
          t.ok(isFloeError(error, 'IO') && error.retryable, `${m}: retryable IO`);
        }
      }
      mode = 'quota';
      try {
        await store.delete('x');
        t.fail('quota: succeeded');
      } catch (error) {
        t.ok(isFloeError(error, 'IO') && !error.retryable, 'a quota refusal is IO that retrying cannot fix');
      }
      mode = 'notfound';
      await expectCode(t, store.get('x'), 'NOT_FOUND', 'FileNotFoundException');
      t.equal(await store.head('x'), undefined, 'head of a FileNotFoundException is undefined');
      mode = 'hang';
      try {
        await store.head('x');
        t.fail('a server that never answers: succeeded');
      } catch (error) {
        t.ok(isFloeError(error, 'IO') && error.retryable, 'a timeout is retryable IO');
        t.match((error as Error).message, /400 ms/, 'the message gives the timeout');
      }
      const aborted = new AbortController();
      const reason = new Error('cancelled by the test');
      setTimeout(() => aborted.abort(reason), 50);
      try {
        await store.get('x', undefined, { signal: aborted.signal });
        t.fail('an aborted get succeeded');
      } catch (error) {
        t.equal(error, reason, "an aborted request rejects with the signal's reason");
      }
    } finally {
      await store.close();
      await fake.close();
    }
  });
}

async function clusterTests(config: HdfsTestConfig): Promise<void> {
  const base = `store-hdfs-${seed.toString(36)}-${process.pid}`;
  const baseHdfs = `${hdfsRootPath(config)}/${base}`;
  t.teardown(() => deleteHdfsTree(config, baseHdfs));
  const open = (sub: string, extra: WebHdfsStoreOptions = {}): Promise<WebHdfsObjectStore> =>
    createWebHdfsStore(`${config.url}/${base}/${sub}`, { user: config.user, ...extra });

  let contractRuns = 0;
  runStoreContract(
    t,
    'hdfs (MiniDFSCluster)',
    async () => {
      const sub = `contract/${contractRuns++}`;
      const store = await open(sub);
      return { store, cleanup: () => deleteHdfsTree(config, `${baseHdfs}/${sub}`) };
    },
    { conditionalPut: true, mtime: true },
  );

  void t.test('ranged reads follow the redirect to the datanode', async (t) => {
    const store = await open('ranged');
    const origins = new Set<string>();
    const withoutUser: string[] = [];
    const namenode = new URL(config.url.replace(/^hdfs:/, 'http:')).origin;
    let namenodeOpens = 0;
    const onRequest = (message: unknown): void => {
      const r = (message as { request: { origin: string; path: string } }).request;
      origins.add(String(r.origin));
      if (String(r.origin) === namenode && /[?&]op=OPEN(&|$)/.test(r.path)) namenodeOpens++;
      if (!/[?&]user\.name=/.test(r.path)) withoutUser.push(`${r.origin}${r.path}`);
    };
    subscribe('undici:request:create', onRequest);
    try {
      const rand = new Random(seed ^ 0x6006);
      const bytes = randomBytes(rand, 3 * MiB + 777);
      await store.put('big.sst', bytes);
      origins.clear();
      let mismatches = 0;
      for (let i = 0; i < 40; i++) {
        const offset = rand.int(bytes.length + 1); // past the end is checked below, apart from the count
        const length = rand.bool(0.1) ? undefined : rand.int(300_000);
        const range = length === undefined ? { offset } : { offset, length };
        const got = await store.get('big.sst', range);
        const want = bytes.subarray(Math.min(offset, bytes.length), length === undefined ? bytes.length : Math.min(bytes.length, offset + length));
        if (Buffer.compare(Buffer.from(got), Buffer.from(want)) !== 0) {
          mismatches++;
          t.fail(`range ${JSON.stringify(range)}: got ${got.length} bytes, wanted ${want.length} (seed ${seed})`);
        }
      }
      t.equal(mismatches, 0, `40 random ranges of a ${bytes.length}-byte file are byte-exact (seed ${seed})`);
      t.ok(origins.has(namenode), 'reads asked the namenode');
      t.equal(namenodeOpens, 1, 'only the first read of the file went through the namenode (the datanode URL is reused)');
      t.ok([...origins].some((o) => o !== namenode), `and were served by a datanode at another address (${[...origins].join(', ')})`);
      sameBytes(t, await store.get('big.sst', { offset: 2 * MiB - 5, length: 10 }), bytes.subarray(2 * MiB - 5, 2 * MiB + 5), 'a range across a 2 MiB boundary');
      t.equal((await store.get('big.sst', { offset: bytes.length })).length, 0, 'a read at the end is empty');
      t.equal((await store.get('big.sst', { offset: bytes.length + 10, length: 5 })).length, 0, 'a read past the end is empty');
      t.same(withoutUser, [], 'every request carried user.name');
      // The remembered datanode reads the path anew each time: a replaced file reads as its new bytes,
      // a deleted one as NOT_FOUND (the datanode's 404 sends the read back to the namenode).
      const replacement = randomBytes(rand, 5000);
      await store.put('big.sst', replacement);
      sameBytes(t, await store.get('big.sst', { offset: 100, length: 50 }), replacement.subarray(100, 150), 'a replaced file reads as its new bytes');
      t.equal((await store.get('big.sst', { offset: 4000 })).length, 1000, 'and has its new size');
      await store.delete('big.sst');
      await expectCode(t, store.get('big.sst', { offset: 0, length: 10 }), 'NOT_FOUND', 'a deleted file, read through the remembered datanode');
    } finally {
      unsubscribe('undici:request:create', onRequest);
      await store.close();
    }
  });

  void t.test('putStream of 6+ MiB in uneven chunks is byte-exact', async (t) => {
    const store = await open('stream');
    try {
      const rand = new Random(seed ^ 0x7007);
      const total = 6 * MiB + 12_345;
      const whole = randomBytes(rand, total);
      const cuts: number[] = [0];
      while (cuts[cuts.length - 1]! < total) cuts.push(Math.min(total, cuts[cuts.length - 1]! + rand.range(1, 512 * 1024)));
      async function* produce(): AsyncGenerator<Uint8Array> {
        for (let i = 1; i < cuts.length; i++) {
          yield whole.subarray(cuts[i - 1], cuts[i]);
          if (i % 7 === 0) await new Promise((r) => setImmediate(r));
        }
      }
      await store.putStream('six.sst', produce(), { ifNoneMatch: true });
      t.equal((await store.head('six.sst'))?.size, total, `head reports ${total} bytes`);
      sameBytes(t, await store.get('six.sst'), whole, `${cuts.length - 1} chunks, ${total} bytes round-trip exactly`);
      sameBytes(t, await store.get('six.sst', { offset: total - 100_000 }), whole.subarray(total - 100_000), 'the tail');
    } finally {
      await store.close();
    }
  });

  void t.test('temp files: never listed, swept after the grace period', async (t) => {
    const clock = new ManualClock(Date.now());
    const store = await open('temps', { clock, tempFileGraceMs: 3600_000 });
    const folder = `${baseHdfs}/temps`;
    try {
      await store.put('dir/real', Uint8Array.from([1, 2, 3]));
      // A writer that failed part-way (its producer threw) leaves nothing visible.
      async function* failing(): AsyncGenerator<Uint8Array> {
        yield new Uint8Array(100_000);
        throw new Error('the producer failed');
      }
      await t.rejects(store.putStream('dir/broken', failing()), /the producer failed/, "putStream rejects with the producer's error");
      t.equal(await store.head('dir/broken'), undefined, 'the failed object is not there');
      // A crashed writer's temp file, made by hand the way the store makes them.
      const stray = `dir/${TEMP_MARK}0123456789abcdef`;
      await rawCreate(config, `${folder}/${stray}`, new Uint8Array(10));
      t.same(
        (await store.list('')).map((i) => i.path),
        ['dir/real'],
        'list shows only the real object',
      );
      t.ok((await listHdfsTree(config, folder)).includes(stray), 'a fresh temp file is kept (its writer may still be running)');
      await expectCode(t, store.put(stray, new Uint8Array(1)), 'INVALID_ARGUMENT', 'writing an object with a temp name');
      clock.advance(2 * 3600_000);
      t.same(
        (await store.list('dir/')).map((i) => i.path),
        ['dir/real'],
        'after the grace period list still shows only the real object',
      );
      t.notOk((await listHdfsTree(config, folder)).includes(stray), 'and the stale temp file is gone');
    } finally {
      await store.close();
    }
  });

  void t.test("objects and folders: 'a' and 'a/b' cannot both exist", async (t) => {
    const store = await open('folders');
    try {
      await store.put('a/b', Uint8Array.from([1]));
      await expectCode(t, store.put('a', Uint8Array.from([2])), 'INVALID_ARGUMENT', 'a put onto a folder');
      await expectCode(t, store.put('a', Uint8Array.from([2]), { ifNoneMatch: true }), 'INVALID_ARGUMENT', 'a create-if-absent onto a folder');
      await expectCode(t, store.put('a/b/c', Uint8Array.from([3])), 'INVALID_ARGUMENT', 'a put under an object');
      await expectCode(t, store.get('a/b/c'), 'NOT_FOUND', 'a get under an object');
      t.equal(await store.head('a/b/c'), undefined, 'a head under an object');
      await store.delete('a/b/c');
      await store.delete('a');
      t.pass('deleting under an object, or a folder, is a no-op');
      t.same(
        (await store.list('')).map((i) => i.path),
        ['a/b'],
        'and the object is still there, alone',
      );
    } finally {
      await store.close();
    }
  });

  void t.test('a root that is a file is CONFIG at open', async (t) => {
    const store = await open('fileroot');
    try {
      await store.put('f', Uint8Array.from([1]));
    } finally {
      await store.close();
    }
    await expectCode(t, open('fileroot/f'), 'CONFIG', 'opening a store whose root is a file');
  });
}

/** CREATE through WebHDFS by hand (namenode 307, then the datanode), outside the store under test. */
async function rawCreate(config: HdfsTestConfig, hdfsPath: string, bytes: Uint8Array): Promise<void> {
  const http = new URL(config.url.replace(/^hdfs:/, 'http:'));
  const first = await fetch(`http://${http.host}/webhdfs/v1${hdfsPath}?op=CREATE&overwrite=false&user.name=${config.user}`, {
    method: 'PUT',
    redirect: 'manual',
  });
  await first.text();
  const location = first.headers.get('location');
  if (first.status !== 307 || location === null) throw new Error(`CREATE ${hdfsPath}: namenode answered ${first.status}`);
  // fetch (undici) rejects the datanode's unsolicited 100 Continue, so the upload uses node:http.
  const { request } = await import('node:http');
  await new Promise<void>((resolve, reject) => {
    const req = request(location, { method: 'PUT', headers: { 'content-length': String(bytes.length) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 201 ? resolve() : reject(new Error(`CREATE ${hdfsPath}: datanode answered ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(bytes);
  });
}
