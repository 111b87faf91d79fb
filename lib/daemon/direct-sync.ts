/**
 * The memory the router shares with its shard threads for the shards' own sockets (direct-server.ts):
 * one SharedArrayBuffer of Int32 slots.
 *
 * - HOLD: nonzero while the router cuts a checkpoint of the default store; writes arriving on a shard
 *   socket wait for it to clear (Atomics.waitAsync), so a checkpoint stays one consistent cut.
 * - CROSS_STARTED / CROSS_IN_PROGRESS: cross-shard writes of the router (a WRITE batch, range delete or
 *   key-group delete sent to several shards at one point of their order). The router adds 1 to both
 *   before it sends any part, and takes 1 from CROSS_IN_PROGRESS once every part has answered (so after
 *   every part is visible). A multiGet part on a shard socket (MULTI_GET_PART) reads IN_PROGRESS and
 *   STARTED before its engine read and STARTED after it: "quiet" when nothing was in progress and nothing
 *   started meanwhile. Parts that are all quiet with one STARTED value read the same set of cross-shard
 *   writes, each entirely: a consistent cut as far as cross-shard batches go (single-shard writes are
 *   atomic on their shard anyway). The client checks that, and sends the whole multiGet through the
 *   router when it fails (lib/client/shard-links.ts).
 */
export const HOLD = 0;
export const CROSS_STARTED = 1;
export const CROSS_IN_PROGRESS = 2;
const SLOTS = 3;

export function newDirectSync(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS * 4);
}

/** Marks a cross-shard write as started; call the returned function once every part has answered. */
export function crossWriteStarted(sync: Int32Array): () => void {
  Atomics.add(sync, CROSS_IN_PROGRESS, 1);
  Atomics.add(sync, CROSS_STARTED, 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    Atomics.sub(sync, CROSS_IN_PROGRESS, 1);
  };
}
