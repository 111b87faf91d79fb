/**
 * A frozen memtable as the input of its flush: the memtable's own slabs and columns (shared memory, see
 * memtable-entries.ts) plus its key order, so the flush's rewrite, usually on a pool thread, reads the
 * entries where they are. The store's thread only walks its index once for the order (an id per entry) and
 * packs the few entries whose versions are JS objects; it used to copy every key and value into one packed
 * buffer (55–120 ms of its time for a 32 MiB memtable, stretched over ~0.5 s of event-loop turns).
 *
 * Plain data: it crosses to a pool thread by structured clone, which shares the SharedArrayBuffers and
 * copies `order` and `chained` (small: 4 bytes an entry, and the chained entries). Nothing is transferred,
 * so a rewrite retried after a failed attempt finds its input intact. Process-local, never stored.
 *
 * REQUIRES: the memtable stays frozen (no writes) while its image is read; the store keeps it in its list
 * of immutable memtables until the flush that reads the image has committed.
 */
import { EntryKind, type Entry } from '../sst/entry.js';
import { unpackEntries } from './entry-pack.js';
import { KEY_STRIDE, type EntriesImage } from './memtable-entries.js';

/** In `order`: the next entry is the next one of `chained`. */
export const CHAINED = -1;

export interface MemtableImage extends EntriesImage {
  /** Every entry in key order: its id (an index of the columns), or CHAINED. */
  order: Int32Array;
  /** The entries with version objects (merges, TTL, values over 4 KiB, versions kept for snapshots),
   * newest visible version each, in key order, in the format of entry-pack.ts. */
  chained: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * The image's entries in key order. Keys and values are views of the memtable's memory: valid while the
 * memtable lives, and not to be changed (the SST builder copies what it keeps).
 */
export function* imageEntries(img: MemtableImage): Generator<Entry> {
  const { slabs, keyMeta, valSlab, valOff, valLen, seq, kind, order } = img;
  const chained = unpackEntries(img.chained);
  for (let i = 0; i < order.length; i++) {
    const id = order[i]!;
    if (id === CHAINED) {
      const r = chained.next();
      if (r.done === true) throw new Error(`internal: memtable image has fewer chained entries than its order names (at ${i} of ${order.length})`);
      yield r.value;
      continue;
    }
    const m = id * KEY_STRIDE;
    const ks = slabs[keyMeta[m + 1]!]!;
    const ko = keyMeta[m + 2]!;
    const key = ks.subarray(ko, ko + keyMeta[m + 3]!);
    const k = kind[id]! as EntryKind;
    const vl = valLen[id]!;
    const vo = valOff[id]!;
    const value = k === EntryKind.Delete || vl === 0 ? EMPTY : slabs[valSlab[id]!]!.subarray(vo, vo + vl);
    yield { key, kind: k, seq: seq[id]!, value };
  }
}
