/**
 * The level adapter's iterator: an `abstract-level` iterator over a Floe iterator (lib/lsm/iterator.ts)
 * of the adapter's key group. abstract-level does the bookkeeping (limit, count, busy and closed states,
 * encodings, sublevel prefixes); this maps keys back from the keyspace (lib/level/keyspace.ts).
 */
import { AbstractIterator } from 'abstract-level';
import type { FloeIterator, IteratorEntry } from '../api.js';
import { fromFloeKey, plainView, toFloeKey, type LevelRange } from './keyspace.js';

/** What abstract-level passes to `_iterator` (range bounds encoded to the 'view' format). */
export interface LevelIteratorOptions extends LevelRange {
  reverse: boolean;
  limit: number;
  keys: boolean;
  values: boolean;
  snapshot?: unknown;
}

type Entry = [Uint8Array | undefined, Uint8Array | undefined];

export class FloeLevelIterator<K, V> extends AbstractIterator<unknown, K, V> {
  constructor(
    db: unknown,
    options: LevelIteratorOptions,
    /** Undefined when created on a closed snapshot: every read fails. */
    private readonly floe: FloeIterator<Partial<IteratorEntry>> | undefined,
  ) {
    super(db, options as never);
  }

  async _next(): Promise<Entry | undefined> {
    const e = await this.it().next();
    return e === undefined ? undefined : entry(e);
  }

  async _nextv(size: number): Promise<Entry[]> {
    return (await this.it().nextv(size)).map(entry);
  }

  async _all(): Promise<Entry[]> {
    return (await this.it().all()).map(entry);
  }

  _seek(target: Uint8Array): void {
    this.it().seek(toFloeKey(target));
  }

  async _close(): Promise<void> {
    await this.floe?.close();
  }

  private it(): FloeIterator<Partial<IteratorEntry>> {
    if (this.floe === undefined) {
      throw Object.assign(new Error('Snapshot is not open: cannot use snapshot after close()'), { code: 'LEVEL_SNAPSHOT_NOT_OPEN' });
    }
    return this.floe;
  }
}

function entry(e: Partial<IteratorEntry>): Entry {
  return [e.key === undefined ? undefined : plainView(fromFloeKey(e.key)), e.value === undefined ? undefined : plainView(e.value)];
}
