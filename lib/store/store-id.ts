/**
 * The store id: a random id written once, create-if-absent, at `_floe/store-id` (lib/store/paths.ts) by the
 * first opener that needs it, and read by every later one. It names this incarnation of the data: file ids
 * (`<instance>-<epoch>-<number>`) start over when a store's data is deleted and a new store is created at
 * the same URI, so anything kept outside primary storage and keyed by file id (the disk cache) must also
 * be keyed by the store id, or the new store would read the old store's bytes.
 *
 * Format: 32 lowercase hex digits (16 random bytes) and a newline. A reader does not parse it: the identity
 * is a hash of whatever bytes are there, so a damaged object only changes the identity (costing cache
 * warmth), never fails an open. Nothing deletes it: GC lists only its own prefixes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { isFloeError } from '../errors.js';
import type { ObjectStore } from './object-store.js';
import { STORE_ID_PATH } from './paths.js';

/** 16 hex digits identifying the data of `store`, creating the store id if there is none yet. One GET; one PUT more the first time. */
export async function readOrCreateStoreId(store: ObjectStore): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await store.get(STORE_ID_PATH);
  } catch (e) {
    if (!isFloeError(e, 'NOT_FOUND')) throw e;
    const fresh = Buffer.from(`${randomBytes(16).toString('hex')}\n`, 'utf8');
    try {
      await store.put(STORE_ID_PATH, fresh, { ifNoneMatch: true });
      bytes = fresh;
    } catch (e2) {
      if (!isFloeError(e2, 'ALREADY_EXISTS')) throw e2;
      bytes = await store.get(STORE_ID_PATH); // another opener created it first: theirs is the id
    }
  }
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}
