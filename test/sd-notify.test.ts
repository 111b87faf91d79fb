/**
 * sd_notify readiness (lib/daemon/sd-notify.ts) with the real daemon: a Unix datagram listener stands in
 * for systemd (NOTIFY_SOCKET, by path and by abstract name). READY=1 arrives once, first, naming the
 * daemon's PID, and only when the daemon already answers on its socket; WATCHDOG=1 pings come every
 * WATCHDOG_USEC / 2; STOPPING=1 arrives on SIGTERM, before a clean exit. A NOTIFY_SOCKET the daemon cannot
 * use fails the start.
 */
import t from 'tap';
import { createRequire } from 'node:module';
import type { Buffer } from 'node:buffer';
import { join } from 'node:path';
import { connect } from '../lib/client/client.js';
import { notifyAddress, watchdogIntervalMs } from '../lib/daemon/sd-notify.js';
import { makeDir, startDaemon, stopDaemon, writeConfig, type DaemonProcess } from './support/daemon-process.js';

interface Listener {
  on(event: 'message', fn: (buf: Buffer) => void): unknown;
  on(event: 'error', fn: (e: Error) => void): unknown;
  bind(path: string): void;
  close(): void;
}
/** Latency of the primary storage (tests only), so that a premature READY would be visible. */
const SLOW_MS = 400;
const unixDgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(type: 'unix_dgram'): Listener };

interface Message {
  at: number;
  fields: Map<string, string>;
}

/** Binds a datagram socket at `address` and records every message; `onMessage` runs on each. */
function listen(address: string, onMessage: (m: Message) => void): { messages: Message[]; close(): void } {
  const messages: Message[] = [];
  const socket = unixDgram.createSocket('unix_dgram');
  socket.on('error', () => undefined);
  socket.on('message', (buf) => {
    const fields = new Map<string, string>();
    for (const line of buf.toString('utf8').split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 1));
    }
    const m = { at: Date.now(), fields };
    messages.push(m);
    onMessage(m);
  });
  socket.bind(address);
  return { messages, close: () => socket.close() };
}

t.test('address and watchdog parsing', async (t) => {
  t.equal(notifyAddress('/run/systemd/notify'), '/run/systemd/notify');
  t.equal(notifyAddress('@floe/notify'), '\0floe/notify', 'abstract names start with @');
  t.throws(() => notifyAddress('relative/path'), { code: 'CONFIG' });
  t.equal(watchdogIntervalMs({}), undefined);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '10000000' }), 5000, 'half the interval');
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '10000000', WATCHDOG_PID: '1' }, 2), undefined, 'meant for another process');
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '10000000', WATCHDOG_PID: '2' }, 2), 5000);
  t.equal(watchdogIntervalMs({ WATCHDOG_USEC: '0' }), undefined);
});

for (const variant of ['path', 'abstract'] as const) {
  t.test(`READY after the socket answers, watchdog pings, STOPPING on SIGTERM (NOTIFY_SOCKET by ${variant})`, async (t) => {
    const dir = makeDir(t, 'floe-notify-');
    writeConfig(dir);
    const name = variant === 'path' ? join(dir, 'notify.sock') : `@floe-test-notify-${process.pid}-${Date.now()}`;
    const socketPath = join(dir, 'd.sock');
    let readyCheck: Promise<{ answered: boolean; ms: number; error?: string }> | undefined;
    const listener = listen(variant === 'path' ? name : '\0' + name.slice(1), (m) => {
      // At the very moment READY arrives, the daemon must already serve requests.
      if (m.fields.get('READY') === '1' && readyCheck === undefined) {
        const started = Date.now();
        readyCheck = (async () => {
          try {
            const c = await connect(socketPath, { connectTimeoutMs: 5000, reconnect: false, flushOnClose: false });
            await c.put('ready-probe', 'yes');
            await c.close();
            return { answered: true, ms: Date.now() - started };
          } catch (e) {
            return { answered: false, ms: Date.now() - started, error: (e as Error).message };
          }
        })();
      }
    });
    t.teardown(() => listener.close());
    const watchdog = variant === 'path';
    // A slow primary (FLOE_INJECT_LATENCY_MS) makes opening the shards take seconds: a READY sent before
    // they are open would leave the probe below waiting that long for its HELLO answer.
    const spawned = Date.now();
    const d: DaemonProcess = await startDaemon(dir, {
      env: { NOTIFY_SOCKET: name, FLOE_INJECT_LATENCY_MS: String(SLOW_MS), ...(watchdog ? { WATCHDOG_USEC: '200000' } : {}) },
    });
    const startupMs = Date.now() - spawned;
    t.teardown(() => {
      d.child.kill('SIGKILL');
    });
    const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
      const end = Date.now() + ms;
      while (!cond() && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 20));
      return cond();
    };
    t.ok(await until(() => readyCheck !== undefined, 5000), 'READY=1 arrived');
    const check = await readyCheck!;
    t.ok(check.answered, `the daemon answered on its socket when READY arrived ${check.error ?? ''}`);
    t.comment(`startup took ${startupMs} ms with a ${SLOW_MS} ms primary; the probe sent at READY was answered in ${check.ms} ms`);
    t.ok(startupMs > 3 * SLOW_MS, 'opening the shards took several slow storage round trips');
    t.ok(check.ms < 2 * SLOW_MS, `the probe did not wait for the shards to open (${check.ms} ms)`);
    const ready = listener.messages.filter((m) => m.fields.get('READY') === '1');
    t.equal(ready.length, 1, 'exactly one READY');
    t.equal(listener.messages[0]!.fields.get('READY'), '1', 'READY is the first message');
    t.equal(ready[0]!.fields.get('MAINPID'), String(d.child.pid), 'MAINPID is the daemon');
    t.match(ready[0]!.fields.get('STATUS'), /^serving 2 shard\(s\)/);

    const pings = (): number => listener.messages.filter((m) => m.fields.get('WATCHDOG') === '1').length;
    if (watchdog) {
      t.ok(await until(() => pings() >= 3, 3000), `watchdog pings every 100 ms (${pings()} so far)`);
      t.ok(d.events.some((e) => e.event === 'watchdog_enabled' && e.intervalMs === 100), 'the daemon logs the watchdog interval');
    } else {
      await new Promise((resolve) => setTimeout(resolve, 300));
      t.equal(pings(), 0, 'no watchdog pings without WATCHDOG_USEC');
    }
    t.equal(await stopDaemon(d), 0, 'clean exit');
    const stopping = listener.messages.filter((m) => m.fields.get('STOPPING') === '1');
    t.equal(stopping.length, 1, 'STOPPING=1 on SIGTERM');
    t.match(stopping[0]?.fields.get('STATUS'), /SIGTERM/);
    t.ok(stopping[0]!.at >= ready[0]!.at, 'after READY');
  });
}

t.test('a NOTIFY_SOCKET the daemon cannot use fails the start', async (t) => {
  const dir = makeDir(t, 'floe-notify-bad-');
  writeConfig(dir);
  const d = await startDaemon(dir, { env: { NOTIFY_SOCKET: 'not/absolute' }, expectFailure: true });
  t.equal(await d.exited, 1, 'exit code 1');
  t.match(d.stderr.join('\n'), /NOTIFY_SOCKET/);
});
