/**
 * `floe verify URI` (docs/operations.md): a read-only check of everything on one primary store.
 *
 *  1. Instances (verify-instances.ts): every manifest still present, the epoch chain, fencing records, every
 *     WAL segment.
 *  2. Checkpoint records and shard layouts (verify-checkpoints.ts).
 *  3. Every live SST (referenced by the latest manifest of a live instance or by a checkpoint record) exists
 *     with the recorded size and is read whole and verified (verify-sst.ts), a bounded number at a time, each
 *     in bounded ranges. SSTs nothing references are garbage awaiting GC: reported as info.
 *
 * Order matters on a store that is in use: manifests and records are read BEFORE `sst/` is listed, so every
 * file they reference was uploaded before the listing (files are uploaded before the manifest that names
 * them), and a file a newer manifest dropped is still protected by the GC grace period.
 * Writes nothing; works with read-only credentials.
 */
import { markLeasedFiles } from '../checkpoint/leases.js';
import type { ObjectStore } from '../store/object-store.js';
import { CHECKPOINTS_PREFIX, INSTANCES_PREFIX, LAYOUTS_PREFIX, SST_PREFIX, WAL_PREFIX, parseSstPath, sstPath } from '../store/paths.js';
import { type Clock, systemClock } from '../util/clock.js';
import { Semaphore } from '../util/semaphore.js';
import { verifyCheckpoints, verifyLayouts } from './verify-checkpoints.js';
import { verifyInstances } from './verify-instances.js';
import { Findings, type VerifyReport } from './verify-report.js';
import { refList, verifySst, type SstReference } from './verify-sst.js';

export interface VerifyOptions {
  /** SSTs verified at once (default 4). */
  parallel?: number;
  /** Bytes of data blocks read per request (default 4 MiB): memory is about parallel × windowBytes. */
  windowBytes?: number;
  clock?: Clock;
}

export const DEFAULT_VERIFY_PARALLEL = 4;
export const DEFAULT_VERIFY_WINDOW_BYTES = 4 * 2 ** 20;

/**
 * Verifies the store. PROMISES a report of every problem found (damage never throws); throws only when the
 * store cannot be listed or read at all (wrong URI, credentials, unreachable), as the store's FloeError.
 */
export async function verifyStore(store: ObjectStore, options: VerifyOptions = {}): Promise<VerifyReport> {
  const clock = options.clock ?? systemClock;
  const started = clock.now();
  const f = new Findings();
  const [instanceObjs, walObjs, checkpointObjs, layoutObjs] = await Promise.all([
    store.list(INSTANCES_PREFIX),
    store.list(WAL_PREFIX),
    store.list(CHECKPOINTS_PREFIX),
    store.list(LAYOUTS_PREFIX),
  ]);
  const instances = await verifyInstances(store, instanceObjs, walObjs, f);
  const checkpoints = await verifyCheckpoints(store, checkpointObjs, f);
  await verifyLayouts(store, layoutObjs, f);

  const refs = new Map<string, SstReference[]>(instances.refs);
  for (const [id, list] of checkpoints.refs) refs.set(id, [...(refs.get(id) ?? []), ...list]);
  const leased = new Set<string>();
  await markLeasedFiles(store, started, leased);
  const listed = new Map<string, number>();
  for (const o of await store.list(SST_PREFIX)) {
    const id = parseSstPath(o.path);
    if (id === undefined) {
      f.info(o.path, 'not an SST name Floe writes; ignored', 'Remove it if nothing else owns it.');
      continue;
    }
    listed.set(id, o.size);
    if (!refs.has(id)) {
      f.counts.unreferencedSsts++;
      f.counts.unreferencedBytes += o.size;
      const why = leased.has(id) ? 'held only by a read lease of open scans' : 'garbage awaiting GC';
      f.info(o.path, `unreferenced (${o.size} bytes): ${why}`, 'Nothing to do: GC deletes it after its grace period, once no lease holds it.');
    }
  }

  const pool = new Semaphore(Math.max(1, Math.floor(options.parallel ?? DEFAULT_VERIFY_PARALLEL)));
  const windowBytes = Math.max(1, Math.floor(options.windowBytes ?? DEFAULT_VERIFY_WINDOW_BYTES));
  const work: Promise<void>[] = [];
  for (const [fileId, fileRefs] of [...refs].sort((a, b) => a[0].localeCompare(b[0]))) {
    fileRefs.sort((a, b) => a.from.localeCompare(b.from)); // instances were read concurrently: same report every run
    const action = sstAction(fileRefs);
    const size = listed.get(fileId);
    if (size === undefined) {
      f.error(sstPath(fileId), `missing, but referenced by ${refList(fileRefs)}`, action);
      continue;
    }
    work.push(pool.run(() => verifySst({ store, fileId, size, refs: fileRefs, windowBytes, action, findings: f })));
  }
  await Promise.all(work);
  return f.report(store.uri, started, clock.now());
}

/** What to do about a broken SST, given who references it. */
function sstAction(refs: SstReference[]): string {
  const instances = [...new Set(refs.filter((r) => r.from.startsWith('instance ')).map((r) => r.from.split(' ')[1]!))].sort();
  const checkpoints = [...new Set(refs.filter((r) => r.from.startsWith('checkpoint ')).map((r) => r.from.split(' ')[1]!))].sort();
  const parts: string[] = [];
  if (instances.length > 0) {
    parts.push(
      `Reads of instance(s) ${instances.join(', ')} fail when they reach this file: restore them from a retained checkpoint that does not ` +
        'reference it (floe checkpoints list), or put back the original object from a backup.',
    );
  }
  if (checkpoints.length > 0) {
    parts.push(`Restoring checkpoint(s) ${checkpoints.join(', ')} would fail: release them (floe checkpoints release ID) and take new checkpoints.`);
  }
  return parts.join(' ');
}
