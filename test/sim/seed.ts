/**
 * One seed end to end: everything (options, faults, op list, schedule) is derived from the seed, so
 * `(seed, ops, keep, skip)` replays exactly. Every fifth seed is a metamorphic run: one op list (without
 * crashes, takeovers and outages) under three option sets, whose read results must be identical.
 */
import { Random } from '../../lib/util/random.js';
import { formatKeep, generateOps, type Op, type OpKind } from './ops.js';
import { randomOptions, type SimOptions } from './options.js';
import { runSim, type RunResult } from './runner.js';
import { NO_FAULTS, randomFaults } from './world.js';

export interface SeedSpec {
  seed: number;
  ops: number;
  /** Indices of the generated ops to run (shrinking); default all. */
  keep?: number[];
  /** Op kinds left out of the generated list (an explicit known-bug list; see known-bugs.ts). */
  skip?: readonly OpKind[];
  /** Leave short reads of manifests and checkpoint records out of the faults (known-bugs.ts). */
  noMetadataShortReads?: boolean;
  /** l0StopWritesTrigger far above the compaction trigger (known-bugs.ts). */
  wideL0Stop?: boolean;
  /** gcGraceMs of 10+ minutes (known-bugs.ts). */
  longGrace?: boolean;
  /** No takeovers in seeds with durability 'wal' (known-bugs.ts). */
  walWithoutTakeover?: boolean;
  /** Testing the simulator: a share of SST uploads is silently lost (FaultConfig.plantedLostUploads). */
  plantedLostUploads?: number;
}

export interface SeedOutcome {
  spec: SeedSpec;
  metamorphic: boolean;
  violation: RunResult['violation'];
  steps: number;
  counts: Record<string, number>;
  /** Every read result of the run, joined (the metamorphic runs': of option set 0). Same spec, same text. */
  reads: string;
}

export const DEFAULT_OPS = 100;
const MAX_KEY_GROUPS = [4, 8, 16];

export function isMetamorphic(seed: number): boolean {
  return seed % 5 === 4;
}

/** The op list of a spec, with the original index of each op. */
export function opsOf(spec: SeedSpec): { ops: Op[]; indices: number[] } {
  const r = new Random(spec.seed);
  const keySpace = r.pick([12, 40, 150]);
  const all = generateOps(spec.seed, spec.ops, { keySpace, metamorphic: isMetamorphic(spec.seed) });
  const indices = (spec.keep ?? all.map((_, i) => i)).filter((i) => i < all.length && !(spec.skip ?? []).includes(all[i]!.k));
  return { ops: indices.map((i) => all[i]!), indices };
}

export async function runSeed(spec: SeedSpec): Promise<SeedOutcome> {
  const r = new Random(spec.seed ^ 0x0b7e);
  const maxKg = r.pick(MAX_KEY_GROUPS);
  const { ops, indices } = opsOf(spec);
  const metamorphic = isMetamorphic(spec.seed);
  if (!metamorphic) {
    const options = randomOptions(r, maxKg, spec.wideL0Stop === true, spec.longGrace === true);
    const keep = ops.map((op) => !(spec.walWithoutTakeover === true && options.store.durability === 'wal' && op.k === 'fence'));
    const res = await runSim({
      seed: spec.seed,
      ops: ops.filter((_, i) => keep[i]),
      indices: indices.filter((_, i) => keep[i]),
      options,
      faults: { ...randomFaults(r, spec.noMetadataShortReads !== true), ...(spec.plantedLostUploads ? { plantedLostUploads: spec.plantedLostUploads } : {}) },
      runId: `${spec.seed}`,
      metamorphic: false,
    });
    return { spec, metamorphic, violation: res.violation, steps: res.steps, counts: res.counts, reads: res.reads.join('\n') };
  }
  const sets: SimOptions[] = [randomOptions(r, maxKg, spec.wideL0Stop === true, spec.longGrace === true), randomOptions(r, maxKg, spec.wideL0Stop === true, spec.longGrace === true), randomOptions(r, maxKg, spec.wideL0Stop === true, spec.longGrace === true)];
  let first: RunResult | undefined;
  let steps = 0;
  for (const [k, options] of sets.entries()) {
    const faults = { ...NO_FAULTS, ...(spec.plantedLostUploads ? { plantedLostUploads: spec.plantedLostUploads } : {}) };
    const res = await runSim({ seed: spec.seed, ops, indices, options, faults, runId: `${spec.seed}-m${k}`, metamorphic: true });
    steps += res.steps;
    if (res.violation) {
      const violation = { ...res.violation, message: `[option set ${k}: ${describe(options)}] ${res.violation.message}` };
      return { spec, metamorphic, violation, steps, counts: res.counts, reads: res.reads.join('\n') };
    }
    if (first === undefined) {
      first = res;
      continue;
    }
    const d = firstDifference(first.reads, res.reads);
    if (d !== undefined) {
      return {
        spec,
        metamorphic,
        violation: {
          kind: 'metamorphic-mismatch',
          message: `read ${d} differs between option set 0 (${describe(sets[0]!)}): ${first.reads[d]} and option set ${k} (${describe(options)}): ${res.reads[d]}`,
          opIndex: -1,
          op: '(comparison of read results)',
        },
        steps,
        counts: res.counts,
        reads: first.reads.join('\n'),
      };
    }
  }
  return { spec, metamorphic, violation: undefined, steps, counts: first!.counts, reads: first!.reads.join('\n') };
}

function firstDifference(a: string[], b: string[]): number | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) if (a[i] !== b[i]) return i;
  return undefined;
}

function describe(o: SimOptions): string {
  const s = o.store;
  return `shards ${o.shards}, block ${s.blockBytes}, ${s.compression}, memtable ${s.memtableBytes}, block cache ${s.blockCacheBytes}`;
}

/** The command that replays a spec exactly. */
export function replayCommand(spec: SeedSpec): string {
  let cmd = `node dist/test/sim/run.js --seed ${spec.seed} --ops ${spec.ops}`;
  if (spec.keep !== undefined) cmd += ` --keep ${formatKeep(spec.keep)}`;
  if (spec.skip !== undefined && spec.skip.length > 0) cmd += ` --skip ${spec.skip.join(',')}`;
  if (spec.noMetadataShortReads === true) cmd += ' --no-metadata-short-reads';
  if (spec.wideL0Stop === true) cmd += ' --wide-l0-stop';
  if (spec.longGrace === true) cmd += ' --long-grace';
  if (spec.walWithoutTakeover === true) cmd += ' --wal-without-takeover';
  if (spec.plantedLostUploads) cmd += ` --plant-lost-uploads ${spec.plantedLostUploads}`;
  return cmd;
}

/**
 * Delta debugging (ddmin) over the op list: the smallest sub-list found that still fails with the same
 * violation kind, within `budget` runs.
 */
export async function shrink(spec: SeedSpec, kind: string, budget = 300, log: (s: string) => void = () => undefined): Promise<SeedSpec> {
  let current = opsOf(spec).indices;
  let runs = 0;
  const fails = async (keep: number[]): Promise<boolean> => {
    runs++;
    const out = await runSeed({ ...spec, keep });
    return out.violation?.kind === kind;
  };
  let n = 2;
  while (current.length >= 2 && runs < budget) {
    const size = Math.ceil(current.length / n);
    let reduced = false;
    for (let i = 0; i < n && runs < budget; i++) {
      const complement = current.filter((_, j) => j < i * size || j >= (i + 1) * size);
      if (complement.length > 0 && complement.length < current.length && (await fails(complement))) {
        current = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        log(`  shrink: ${current.length} ops still fail (${runs} runs)`);
        break;
      }
    }
    if (!reduced) {
      if (n >= current.length) break;
      n = Math.min(current.length, n * 2);
    }
  }
  return { ...spec, keep: current };
}
