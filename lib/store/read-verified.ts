/**
 * Whole-object reads of self-checking metadata (manifests, checkpoint records, WAL segments, layouts).
 *
 * A body cut short by a dropped connection decodes as damage (bad checksum, invalid JSON). SST reads already
 * re-read short bodies (lib/lsm/table-cache.ts); metadata readers use this: on CORRUPTION the object is read
 * again a few times, and only damage seen in every read is reported. So a transient short body never
 * becomes a false CORRUPTION, and real damage still is one, naming the object.
 */
import { isFloeError } from '../errors.js';
import type { ObjectStore } from './object-store.js';

const ATTEMPTS = 4;

/** Reads `path` and decodes it; re-reads while decoding fails with CORRUPTION (see above). */
export async function readVerified<T>(store: ObjectStore, path: string, decode: (bytes: Uint8Array) => T): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const bytes = await store.get(path);
    try {
      return decode(bytes);
    } catch (e) {
      if (!isFloeError(e, 'CORRUPTION') || attempt >= ATTEMPTS) throw e;
    }
  }
}
