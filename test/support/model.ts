/**
 * The reference model for randomized tests: a plain sorted map from (keyGroup, key) to value with the
 * same merge semantics (list append), checked against any `Store`.
 */
import { Buffer } from 'node:buffer';

export interface ModelEntry {
  keyGroup: number;
  key: Uint8Array;
  value: Uint8Array;
}

function id(keyGroup: number, key: Uint8Array): string {
  return keyGroup.toString(16).padStart(4, '0') + Buffer.from(key).toString('hex');
}

export class Model {
  private readonly map = new Map<string, ModelEntry>();

  put(keyGroup: number, key: Uint8Array, value: Uint8Array): void {
    this.map.set(id(keyGroup, key), { keyGroup, key: Uint8Array.from(key), value: Uint8Array.from(value) });
  }

  delete(keyGroup: number, key: Uint8Array): void {
    this.map.delete(id(keyGroup, key));
  }

  merge(keyGroup: number, key: Uint8Array, operand: Uint8Array): void {
    const old = this.map.get(id(keyGroup, key));
    const value = old ? Buffer.concat([old.value, operand]) : Uint8Array.from(operand);
    this.map.set(id(keyGroup, key), { keyGroup, key: Uint8Array.from(key), value });
  }

  get(keyGroup: number, key: Uint8Array): Uint8Array | undefined {
    return this.map.get(id(keyGroup, key))?.value;
  }

  /** Entries in (keyGroup, key bytes) order, filtered like Store.scan. */
  scan(o: { keyGroup?: number; gte?: Uint8Array; lt?: Uint8Array; prefix?: Uint8Array; limit?: number }): ModelEntry[] {
    const all = [...this.map.values()].sort((a, b) => a.keyGroup - b.keyGroup || Buffer.compare(a.key, b.key));
    const out: ModelEntry[] = [];
    for (const e of all) {
      if (o.limit !== undefined && out.length >= o.limit) break;
      if (o.keyGroup !== undefined && e.keyGroup !== o.keyGroup) continue;
      if (o.gte !== undefined && Buffer.compare(e.key, o.gte) < 0) continue;
      if (o.lt !== undefined && Buffer.compare(e.key, o.lt) >= 0) continue;
      if (o.prefix !== undefined && !Buffer.from(e.key).subarray(0, o.prefix.length).equals(o.prefix)) continue;
      out.push(e);
    }
    return out;
  }

  /**
   * Entries an iterator yields (lib/lsm/iterator.ts): in (keyGroup, key) order, descending with `reverse`,
   * filtered by key group and user-key bounds, starting at `seek` (at or after it; at or before it with
   * `reverse`; nothing when it is outside the bounds). No limit: the caller counts (a limit spans seeks).
   */
  iterate(
    o: { keyGroup?: number; gt?: Uint8Array; gte?: Uint8Array; lt?: Uint8Array; lte?: Uint8Array; reverse?: boolean },
    seek?: { group: number; key: Uint8Array },
  ): ModelEntry[] {
    const order = (a: { keyGroup: number; key: Uint8Array }, b: { keyGroup: number; key: Uint8Array }): number =>
      a.keyGroup - b.keyGroup || Buffer.compare(a.key, b.key);
    // gte wins over gt, lte over lt (abstract-level's rule); a seek target outside the bounds ends iteration.
    const inBounds = (k: Uint8Array): boolean =>
      !(o.gte === undefined && o.gt !== undefined && Buffer.compare(k, o.gt) <= 0) &&
      !(o.gte !== undefined && Buffer.compare(k, o.gte) < 0) &&
      !(o.lte === undefined && o.lt !== undefined && Buffer.compare(k, o.lt) >= 0) &&
      !(o.lte !== undefined && Buffer.compare(k, o.lte) > 0);
    if (seek !== undefined && !inBounds(seek.key)) return [];
    const all = [...this.map.values()].sort(order).filter((e) => {
      if (o.keyGroup !== undefined && e.keyGroup !== o.keyGroup) return false;
      if (!inBounds(e.key)) return false;
      if (seek !== undefined) {
        const c = order(e, { keyGroup: seek.group, key: seek.key });
        if (o.reverse === true ? c > 0 : c < 0) return false;
      }
      return true;
    });
    return o.reverse === true ? all.reverse() : all;
  }

  clone(): Model {
    const m = new Model();
    for (const [k, v] of this.map) m.map.set(k, v);
    return m;
  }

  get size(): number {
    return this.map.size;
  }
}

export function hex(b: Uint8Array | undefined): string {
  return b === undefined ? 'undefined' : Buffer.from(b).toString('hex');
}
