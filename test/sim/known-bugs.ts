/**
 * Op kinds that CI leaves out of simulated workloads while a known engine bug makes them fail. Each entry
 * names the bug; when the fix lands on main, delete the entry (the list should end up empty). `make sim`
 * runs everything regardless; `--known-bugs` applies this list.
 */
import type { OpKind } from './ops.js';

export interface KnownBugSkip {
  bug: string;
  skip: OpKind[];
}

export const KNOWN_BUG_SKIPS: KnownBugSkip[] = [];
