/**
 * Shard worker thread: owns the shard's LSM instance (one contiguous key-group range of a sharded store),
 * plus one instance per named store the router places on this shard, and serves the router over
 * `parentPort` (lib/daemon/shard-host.ts and shard-service.ts do the work).
 *
 * Messages: first this thread posts `{ type: 'ready', instanceId, keyGroups }` or
 * `{ type: 'failed', error: FloeError.toJSON() }`; afterwards both directions carry only ArrayBuffers of
 * frames (transferred, not copied): requests in sections per store slot (shard-host.ts), responses concatenated. The shared block cache arrives as a descriptor in
 * workerData and is attached here, so every shard reads and fills one SharedArrayBuffer arena. Rewrite jobs
 * for the compaction pool are relayed to the main thread (one pool per process), not run on a pool here.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { relayRunner } from '../lib/lsm/rewrite-relay.js';
import { SharedBlockCache, type SharedBlockCacheDescriptor } from '../lib/cache/shared-block-cache.js';
import { asFloeError } from '../lib/protocol/protocol.js';
import { ShardHost } from '../lib/daemon/shard-host.js';
import { openShardStore, type ShardInit } from '../lib/daemon/shard-service.js';
import { DirectServer, type DirectSocketInit } from '../lib/daemon/direct-server.js';

interface WorkerData {
  init: ShardInit;
  /** Serve the shard's own socket too (shard-aware clients, lib/daemon/direct-server.ts). */
  direct?: DirectSocketInit;
  /** Rewrite pool jobs go to the main thread's pool over this port (lib/lsm/rewrite-relay.ts). */
  rewritePort: MessagePort;
  cache?: SharedBlockCacheDescriptor;
}

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('shard-worker.js must run as a worker thread (it is started by the router)');
  const { init, cache, rewritePort, direct } = workerData as WorkerData;
  let host: ShardHost;
  let directServer: DirectServer | undefined;
  let directError: string | undefined;
  try {
    const blockCache = cache ? SharedBlockCache.attach(cache) : undefined;
    const rewrites = relayRunner(rewritePort);
    const lsm = await openShardStore(init, blockCache, rewrites);
    // Named stores placed on this shard open here too, sharing its block cache and rewrite relay.
    host = new ShardHost(
      lsm,
      (named) => openShardStore(named, blockCache, rewrites),
      (batch) => port.postMessage(batch, [batch]),
      () => port.close(),
      () => directServer?.close() ?? Promise.resolve(),
    );
    // The shard's own socket is an optimisation: when it cannot be bound the shard serves through the
    // router only (the router logs why).
    if (direct !== undefined) {
      directServer = await DirectServer.listen(direct, lsm, init.keyGroups).catch((e: unknown) => {
        directError = asFloeError(e).message;
        return undefined;
      });
    }
    port.postMessage({ type: 'ready', instanceId: lsm.instanceId, keyGroups: lsm.keyGroups, directSocket: directServer ? direct!.socketPath : undefined, directError });
  } catch (e) {
    port.postMessage({ type: 'failed', error: asFloeError(e).toJSON() });
    port.close();
    return;
  }
  port.on('message', (m: unknown) => {
    if (m instanceof ArrayBuffer) host.handleBatch(new Uint8Array(m));
  });
}

main().catch((e: unknown) => {
  // Unexpected: let the thread die so the router fails this shard's requests loudly.
  throw e;
});
