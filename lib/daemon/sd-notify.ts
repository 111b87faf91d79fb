/**
 * systemd's readiness protocol (sd_notify(3)) for `Type=notify` units: newline-separated `KEY=VALUE`
 * assignments sent as ONE datagram to the AF_UNIX SOCK_DGRAM socket named by NOTIFY_SOCKET (a path, or an
 * abstract name when it starts with '@'). The daemon sends
 *
 *   READY=1 + STATUS + MAINPID   once every shard is open and the socket serves requests
 *   STOPPING=1 + STATUS          when a signal (or a crashed shard) starts the drain
 *   WATCHDOG=1                   every WATCHDOG_USEC / 2 while the main event loop runs, when systemd asks
 *                                for it (WATCHDOG_USEC set and WATCHDOG_PID unset or this process)
 *
 * The datagram goes out from this process itself (systemd checks the sender's PID with NotifyAccess=main;
 * a spawned `systemd-notify` is another PID and races with that check). Node has no Unix datagram
 * sockets, so this uses the small native `unix-dgram` package, loaded only when NOTIFY_SOCKET is set.
 * Without NOTIFY_SOCKET (not under systemd, or Type=simple) every call is a no-op.
 */
import { createRequire } from 'node:module';
import { Buffer } from 'node:buffer';
import { FloeError } from '../errors.js';
import type { LogFn } from './router.js';

/** The subset of unix-dgram's socket used here. */
interface DgramSocket {
  on(event: 'error', fn: (e: Error) => void): unknown;
  send(buf: Buffer, offset: number, length: number, path: string, callback: (e?: Error) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: 'unix_dgram'): DgramSocket;
}

export interface Notifier {
  /** Sends one message (e.g. "READY=1\nSTATUS=serving"). Never throws: a failed send is logged. */
  notify(message: string): Promise<void>;
  /** Starts the watchdog pings if systemd asked for them; returns the interval in ms (undefined: none). */
  startWatchdog(): number | undefined;
  /** Stops the watchdog and closes the socket. */
  close(): void;
}

const NOOP: Notifier = {
  notify: () => Promise.resolve(),
  startWatchdog: () => undefined,
  close: () => undefined,
};

/** NOTIFY_SOCKET → the address to send to ('@name' → abstract '\0name'). Throws CONFIG on anything else. */
export function notifyAddress(value: string): string {
  if (value.startsWith('@')) return '\0' + value.slice(1);
  if (value.startsWith('/')) return value;
  throw new FloeError('CONFIG', `NOTIFY_SOCKET=${JSON.stringify(value)} is neither an absolute path nor an abstract socket name (@...); this daemon cannot report readiness to it`);
}

/** WATCHDOG_USEC (and WATCHDOG_PID) → the ping interval in ms (half the timeout), or undefined. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || usec === '' || !/^\d+$/.test(usec) || Number(usec) === 0) return undefined;
  const forPid = env.WATCHDOG_PID;
  if (forPid !== undefined && forPid !== '' && Number(forPid) !== pid) return undefined;
  return Math.max(1, Math.floor(Number(usec) / 2000));
}

function loadUnixDgram(): UnixDgram {
  try {
    return createRequire(import.meta.url)('unix-dgram') as UnixDgram;
  } catch (e) {
    throw new FloeError(
      'CONFIG',
      `NOTIFY_SOCKET is set (a systemd Type=notify unit), but the unix-dgram package that sends the readiness datagram cannot be loaded (${(e as Error).message}); run npm install in the Floe folder (it builds a small native module), or use Type=simple`,
      { cause: e },
    );
  }
}

/**
 * A Notifier for this process's environment: a no-op without NOTIFY_SOCKET, else one datagram socket.
 * PROMISES: throws CONFIG if NOTIFY_SOCKET is set but unusable (so a Type=notify unit fails loudly at
 * start instead of timing out without a word).
 */
export function openNotifier(log: LogFn, env: NodeJS.ProcessEnv = process.env): Notifier {
  const raw = env.NOTIFY_SOCKET;
  if (raw === undefined || raw === '') return NOOP;
  const address = notifyAddress(raw);
  const socket = loadUnixDgram().createSocket('unix_dgram');
  socket.on('error', (e) => log('warn', 'sd_notify_failed', { error: e.message }));
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const send = (message: string): Promise<void> =>
    new Promise((resolve) => {
      if (closed) return resolve();
      const buf = Buffer.from(message, 'utf8');
      try {
        socket.send(buf, 0, buf.length, address, (e) => {
          if (e) log('warn', 'sd_notify_failed', { socket: raw, message: message.split('\n')[0], error: e.message });
          resolve();
        });
      } catch (e) {
        log('warn', 'sd_notify_failed', { socket: raw, error: (e as Error).message });
        resolve();
      }
    });
  return {
    notify: send,
    startWatchdog() {
      const ms = watchdogIntervalMs(env);
      if (ms === undefined || timer !== undefined) return ms;
      // A timer on the main thread: a wedged event loop stops the pings and systemd restarts the daemon.
      timer = setInterval(() => void send('WATCHDOG=1'), ms);
      timer.unref();
      log('info', 'watchdog_enabled', { intervalMs: ms });
      return ms;
    },
    close() {
      clearInterval(timer);
      if (closed) return;
      closed = true;
      try {
        socket.close();
      } catch {
        // already closed
      }
    },
  };
}
