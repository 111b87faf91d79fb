/**
 * A daemon served from this process (tests): a Router (inline shards when asked, so an injected clock
 * reaches the engines) behind a DaemonServer listening on a Unix socket. What `floe daemon` runs, minus
 * the process, config file and signals, so tests can inject a manual clock for state TTL.
 */
import { join } from 'node:path';
import type { StoreOptions } from '../../lib/api.js';
import { Router } from '../../lib/daemon/router.js';
import { DaemonServer } from '../../lib/daemon/server.js';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_IN_FLIGHT } from '../../lib/protocol/protocol.js';
import type { Clock } from '../../lib/util/clock.js';

export interface InProcessDaemon {
  socket: string;
  router: Router;
  server: DaemonServer;
  stop(): Promise<void>;
}

export async function startInProcessDaemon(dir: string, options: StoreOptions, extra: { clock?: Clock; inline?: boolean } = {}): Promise<InProcessDaemon> {
  const socket = join(dir, 'floe.sock');
  const server = new DaemonServer({
    socketPath: socket,
    maxInFlight: DEFAULT_MAX_IN_FLIGHT,
    maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
    maxConnections: 4096,
    serverName: 'floe test',
    log: () => undefined,
  });
  await server.listen();
  let router: Router;
  try {
    router = await Router.open({
      options,
      ...(extra.clock ? { clock: extra.clock } : {}),
      ...(extra.inline !== undefined ? { inline: extra.inline } : {}),
    });
  } catch (e) {
    await server.shutdown(0);
    throw e;
  }
  server.start(router);
  return {
    socket,
    router,
    server,
    stop: async () => {
      await server.shutdown(5000);
      await router.close();
    },
  };
}
