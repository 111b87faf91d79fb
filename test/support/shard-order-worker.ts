/**
 * Worker side of test/shard-service-order.test.ts: a ShardService over a fake engine whose writes settle
 * out of call order (a slow write, then one refused at once), then a read that must wait for both. Posts
 * every response frame's (opcode, request id) to the parent. Runs in a worker so that a shard that spins
 * (never yielding to its event loop) can be stopped by the parent.
 */
import { parentPort } from 'node:worker_threads';
import { FloeError } from '../../lib/errors.js';
import type { LsmStore } from '../../lib/lsm/lsm-store.js';
import { ShardService } from '../../lib/daemon/shard-service.js';
import { encodeKeyOnly, encodeKeyValue, Op } from '../../lib/protocol/protocol.js';
import { readU32, Writer } from '../../lib/protocol/wire.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString();

const fakeEngine = {
  keyGroups: [0, 3],
  put(key: Uint8Array): Promise<void> {
    if (text(key) === 'refused') return Promise.reject(new FloeError('INVALID_ARGUMENT', 'refused by the fake engine'));
    return new Promise((resolve) => setTimeout(resolve, 100)); // a stalled write
  },
  get(): Promise<Uint8Array | undefined> {
    return Promise.resolve(Buffer.from('v'));
  },
} as unknown as LsmStore;

const service = new ShardService(
  fakeEngine,
  (batch) => {
    const bytes = new Uint8Array(batch);
    for (let at = 0; at + 9 <= bytes.length; at += 4 + readU32(bytes, at)) {
      parentPort!.postMessage({ op: bytes[at + 4], id: readU32(bytes, at + 5) });
    }
  },
  () => {},
);

const w = new Writer(256);
encodeKeyValue(w, Op.PUT, 1, 'slow', 'x', undefined);
encodeKeyValue(w, Op.PUT, 2, 'refused', 'x', undefined);
encodeKeyOnly(w, Op.GET, 3, 'slow', undefined);
service.handleBatch(w.take());
