/**
 * Files this thread's open stores need but that may be missing from every manifest: uploads not yet
 * committed, and files that open scans read after their store's own version dropped them. Every store
 * registers its pins here, under its primary storage's URI, and every GC pass of this thread consults all
 * of them, so one store's GC never deletes a file another store in the same thread still reads.
 * (Across threads and processes, read leases do the same job: lib/checkpoint/leases.ts.)
 */
export interface PinSet {
  has(fileId: string): boolean;
}

const byStore = new Map<string, Set<PinSet>>();

/** Registers `pins` for the store at `storeUri`; returns the function that unregisters them. */
export function registerPins(storeUri: string, pins: PinSet): () => void {
  let set = byStore.get(storeUri);
  if (set === undefined) {
    set = new Set();
    byStore.set(storeUri, set);
  }
  set.add(pins);
  return () => {
    set.delete(pins);
    if (set.size === 0 && byStore.get(storeUri) === set) byStore.delete(storeUri);
  };
}

/** A live view of every pin registered in this thread for `storeUri` (consulted at deletion time). */
export function pinsOfThread(storeUri: string): PinSet {
  return {
    has(fileId) {
      for (const pins of byStore.get(storeUri) ?? []) if (pins.has(fileId)) return true;
      return false;
    },
  };
}
