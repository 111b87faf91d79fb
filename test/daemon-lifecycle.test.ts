/**
 * The daemon's life as a process: SIGTERM in the middle of a write load (exit code 0; every write
 * acknowledged before a successful flush — and, since the stop is graceful, every acknowledged write — is
 * there after the restart; a client reconnects by itself), and socket handling: a stale socket left by a
 * killed daemon is removed, a live one makes a second daemon exit 1 without touching the data.
 */
import t from 'tap';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from '../lib/client/client.js';
import { makeDir, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';

const text = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString());

t.test('SIGTERM in the middle of a write load: acknowledged writes survive the restart', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir);
  let d = await startDaemon(dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
  });
  const c = await connect(d.socket, { reconnect: false });
  const reconnecting = await connect(d.socket);
  await reconnecting.put('before-restart', 'kept');
  const acked = new Map<string, string>();
  let durable = new Map<string, string>();
  let flushes = 0;
  let n = 0;
  let stopped: Error | undefined;
  const load = (async () => {
    while (stopped === undefined) {
      const window: Array<Promise<void>> = [];
      for (let i = 0; i < 64; i++) {
        const key = `w${n}`;
        const value = `v${n}-${'x'.repeat(n % 50)}`;
        n++;
        window.push(c.put(key, value).then(() => void acked.set(key, value)));
      }
      const results = await Promise.allSettled(window);
      const failed = results.find((x): x is PromiseRejectedResult => x.status === 'rejected');
      if (failed) {
        stopped = failed.reason as Error;
        break;
      }
      if (n % 320 === 0) {
        const snapshot = new Map(acked);
        try {
          await c.flush();
          durable = snapshot;
          flushes++;
        } catch (e) {
          stopped = e as Error;
        }
      }
    }
  })();
  // Let the load run, then stop the daemon under it.
  while (flushes < 2 && stopped === undefined) await new Promise((r) => setTimeout(r, 20));
  const code = await stopDaemon(d);
  await load;
  t.equal(code, 0, 'exit code 0 after SIGTERM');
  t.match(stopped, { code: /IO|CLOSED/ }, `the load saw the connection end: ${stopped?.message.slice(0, 100)}`);
  t.ok(durable.size > 0 && acked.size >= durable.size, `${acked.size} writes acknowledged, ${durable.size} before the last successful flush`);
  await c.close().catch(() => undefined);

  d = await startDaemon(dir);
  const c2 = await connect(d.socket);
  const check = async (m: Map<string, string>, what: string): Promise<void> => {
    const keys = [...m.keys()];
    let missing = 0;
    for (let i = 0; i < keys.length; i += 500) {
      const batch = keys.slice(i, i + 500);
      const got = await c2.multiGet(batch);
      got.forEach((v, j) => {
        if (text(v) !== m.get(batch[j]!)) missing++;
      });
    }
    t.equal(missing, 0, `every ${what} write is present after the restart (${m.size})`);
  };
  await check(durable, 'flushed');
  await check(acked, 'acknowledged (graceful stop flushes)');
  await c2.close();
  // A client whose connection broke reconnects on its next request.
  t.equal(text(await reconnecting.get('before-restart')), 'kept', 'the old client reconnected by itself');
  await reconnecting.close();
  t.equal(await stopDaemon(d), 0);
});

t.test('stale socket is removed; a live one refuses a second daemon', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir);
  const first = await startDaemon(dir);
  const c = await connect(first.socket);
  await c.put('k', 'v');
  await c.flush();
  await c.close();
  first.child.kill('SIGKILL');
  await first.exited;
  t.ok(statSync(first.socket).isSocket(), 'a killed daemon leaves its socket file behind');

  const second = await startDaemon(dir);
  t.teardown(() => {
    second.child.kill('SIGKILL');
  });
  t.ok(second.events.some((e) => e.event === 'stale_socket_removed'), 'the stale socket was removed');

  const third = await startDaemon(dir, { expectFailure: true });
  t.equal(await third.exited, 1, 'a second daemon on a live socket exits 1');
  t.match(third.stderr.join('\n'), /another daemon is listening on .*d\.sock/);

  // The refused daemon touched nothing: the running one still owns its shards and serves writes.
  const c2 = await connect(second.socket);
  t.equal(text(await c2.get('k')), 'v', 'flushed data survived SIGKILL');
  await c2.put('k2', 'v2');
  await c2.flush();
  t.equal(text(await c2.get('k2')), 'v2');
  await c2.close();
  t.equal(await stopDaemon(second), 0);
});

t.test('a shard whose background flush failed makes the daemon exit non-zero, saying what was not durable', async (t) => {
  const dir = makeDir(t);
  writeConfig(dir, { shards: 1 });
  const d = await startDaemon(dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
  });
  const c = await connect(d.socket, { reconnect: false });
  await c.put('durable', 'yes');
  await c.flush();
  // From now on no SST can be uploaded: the folder SSTs go to is replaced by a plain file.
  rmSync(join(dir, 'data', 'sst'), { recursive: true, force: true });
  writeFileSync(join(dir, 'data', 'sst'), 'not a folder');
  await c.put('lost', 'no');
  await t.rejects(c.flush(), 'the flush fails');
  await c.close().catch(() => undefined);
  const code = await stopDaemon(d);
  t.not(code, 0, `the daemon exits non-zero (got ${code})`);
  const closeFailed = d.events.find((e) => e.event === 'close_failed' || e.msg === 'close_failed');
  t.ok(closeFailed, 'it logs close_failed');
  t.match(JSON.stringify(closeFailed ?? {}), /not made durable/, 'the log says what was not made durable');
});
