/**
 * Op kinds that CI leaves out of simulated workloads while a known engine bug makes them fail. Each entry
 * names the bug; when the fix lands on main, delete the entry (the list should end up empty). `make sim`
 * runs everything regardless; `--known-bugs` applies this list.
 */
import type { OpKind } from './ops.js';
import type { SeedSpec } from './seed.js';

export interface KnownBugSkip {
  bug: string;
  /** Op kinds to leave out of generated workloads. */
  skip: OpKind[];
  /** Inject short reads into SST reads only. */
  noMetadataShortReads?: boolean;
  /** Keep l0StopWritesTrigger far above l0CompactionTrigger, so an open with many L0 files does not stall. */
  wideL0Stop?: boolean;
  /** gcGraceMs of 10 minutes, beyond the virtual time a run spends in retries and timeouts. */
  longGrace?: boolean;
  /** Leave takeovers ('fence') out of seeds that run with durability 'wal'. */
  walWithoutTakeover?: boolean;
}

export const KNOWN_BUG_SKIPS: KnownBugSkip[] = [
  // Empty: every bug the simulator found is fixed on main. History (see docs/simulator.md):
  // - issue 8 defects 1, 2, 3, 4, 11 (skipped fence, outage, rescale, crashRestore and advance, with a wide
  //   L0 stop trigger and a long GC grace), fixed by f3a91eb, 30a8f0f, ca93dd9;
  // - short reads of metadata taken for corruption, and the WAL takeover bugs (no metadata short reads, no
  //   takeovers with the WAL), fixed by 0d4f3f6.
];

/** The spec fields that apply every entry of KNOWN_BUG_SKIPS (empty when the list is). */
export function knownBugWorkarounds(): Pick<SeedSpec, 'skip' | 'noMetadataShortReads' | 'wideL0Stop' | 'longGrace' | 'walWithoutTakeover'> {
  const skip = KNOWN_BUG_SKIPS.flatMap((b) => b.skip);
  return {
    ...(skip.length > 0 ? { skip } : {}),
    ...(KNOWN_BUG_SKIPS.some((b) => b.noMetadataShortReads === true) ? { noMetadataShortReads: true } : {}),
    ...(KNOWN_BUG_SKIPS.some((b) => b.wideL0Stop === true) ? { wideL0Stop: true } : {}),
    ...(KNOWN_BUG_SKIPS.some((b) => b.longGrace === true) ? { longGrace: true } : {}),
    ...(KNOWN_BUG_SKIPS.some((b) => b.walWithoutTakeover === true) ? { walWithoutTakeover: true } : {}),
  };
}
