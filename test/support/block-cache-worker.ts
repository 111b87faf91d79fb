/**
 * Worker for test/shared-block-cache.test.ts: attaches to a SharedBlockCache and hammers it with inserts and
 * lookups of blocks whose bytes are derived from their key, verifying every hit byte for byte. Posts a
 * summary (counts and the first mismatch, if any) when done.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SharedBlockCache, type SharedBlockCacheDescriptor } from '../../lib/cache/shared-block-cache.js';
import { Random } from '../../lib/util/random.js';
import { blockKeys, expectedBlock } from './block-cache-blocks.js';

export interface BlockCacheWorkerInput {
  descriptor: SharedBlockCacheDescriptor;
  seed: number;
  operations: number;
  keyCount: number;
  insertRatio: number;
}

export interface BlockCacheWorkerResult {
  lookups: number;
  hits: number;
  inserts: number;
  mismatches: number;
  firstMismatch?: string;
}

const input = workerData as BlockCacheWorkerInput;
const cache = SharedBlockCache.attach(input.descriptor);
const random = new Random(input.seed);
const keys = blockKeys(input.keyCount);
const expected = keys.map((k) => expectedBlock(k));
const result: BlockCacheWorkerResult = { lookups: 0, hits: 0, inserts: 0, mismatches: 0 };
for (let i = 0; i < input.operations; i++) {
  const k = random.int(keys.length);
  const key = keys[k]!;
  if (random.bool(input.insertRatio)) {
    cache.insert(key.file, key.offset, expected[k]!);
    result.inserts++;
    continue;
  }
  result.lookups++;
  const got = cache.lookup(key.file, key.offset);
  if (got === undefined) continue;
  result.hits++;
  const want = expected[k]!;
  if (got.length !== want.length || Buffer.compare(Buffer.from(got.buffer, got.byteOffset, got.length), Buffer.from(want.buffer, want.byteOffset, want.length)) !== 0) {
    result.mismatches++;
    result.firstMismatch ??= `key ${k} (offset ${key.offset}): got ${got.length} bytes starting ${Array.from(got.subarray(0, 8)).join(',')}, want ${want.length} starting ${Array.from(want.subarray(0, 8)).join(',')}`;
  }
}
parentPort!.postMessage(result);
