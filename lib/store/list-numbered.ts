/** Listing of numbered objects (manifests, fencing records, WAL segments): their numbers, ascending. */
import type { ObjectStore } from './object-store.js';

/** Numbers of the objects under `prefix` that `parse` recognises (undefined: not one of them), ascending. */
export async function listNumbered(store: ObjectStore, prefix: string, parse: (path: string) => number | undefined): Promise<number[]> {
  const out: number[] = [];
  for (const o of await store.list(prefix)) {
    const n = parse(o.path);
    if (n !== undefined) out.push(n);
  }
  return out.sort((a, b) => a - b);
}
