/**
 * Admission on second access (DiskCacheOptions.admitOnSecondAccess): a bounded list of pages missed once and
 * not admitted ("ghosts", as ForSt's cache keeps), oldest first. A miss of pages none of which is a ghost
 * (nor being fetched) bypasses the cache and makes them ghosts; a miss of a ghost admits. A uniform stream
 * of one-off reads then costs one GET of the block alone each, while pages read again while remembered are
 * admitted.
 */
export class GhostList {
  /** "<file key>:<page>", insertion order = age. */
  private readonly keys = new Set<string>();

  /** REQUIRES: limit ≥ 0 (how many pages are remembered). */
  constructor(private readonly limit: number) {}

  get size(): number {
    return this.keys.size;
  }

  /**
   * True if no page of `missing` (ascending page numbers of file `keyStr`) is a ghost nor `busy` (being
   * fetched for admission): the read should then bypass admission. Ghosts found are removed (the caller
   * admits them); when the answer is true the pages become ghosts, the oldest dropped past the limit.
   */
  firstMiss(keyStr: string, missing: readonly number[], busy: (key: string) => boolean): boolean {
    let first = true;
    for (const p of missing) {
      const k = `${keyStr}:${p}`;
      if (this.keys.delete(k) || busy(k)) first = false;
      else if (first) {
        this.keys.add(k);
        if (this.keys.size > this.limit) this.keys.delete(this.keys.values().next().value!);
      }
    }
    return first;
  }
}
