/**
 * The simulator's command line.
 *
 *   node dist/test/sim/run.js --seeds 10000 [--from S] [--ops N] [--shrink | --no-shrink] [--known-bugs] [--max-failures N]
 *   node dist/test/sim/run.js --seed S [--ops N] [--keep 0,3,5-9] [--no-shrink] [--verbose]
 *
 * The first three failures are shrunk (ddmin over the op list, up to 300 replays each); --shrink shrinks
 * every failure, --no-shrink none.
 *
 * Workload adjustments (each also implied by --known-bugs while test/sim/known-bugs.ts lists it):
 *   --skip kind,kind  --no-metadata-short-reads  --wide-l0-stop  --long-grace  --wal-without-takeover
 * Testing the simulator itself: --plant-lost-uploads RATE (SST uploads that report success but store nothing).
 *
 * Prints the failing seeds with the command that replays each exactly, and a summary; exits 1 if any
 * seed failed.
 */
import { knownBugWorkarounds } from './known-bugs.js';
import { parseKeep, type OpKind } from './ops.js';
import { DEFAULT_OPS, replayCommand, runSeed, shrink, type SeedSpec } from './seed.js';

interface Args {
  seeds: number;
  from: number;
  seed: number | undefined;
  ops: number;
  keep: number[] | undefined;
  skip: OpKind[];
  noMetadataShortReads: boolean;
  wideL0Stop: boolean;
  longGrace: boolean;
  walWithoutTakeover: boolean;
  plantedLostUploads: number;
  /** Shrink every failure (--shrink); by default the first three are shrunk, unless --no-shrink. */
  shrink: boolean;
  noShrink: boolean;
  verbose: boolean;
  maxFailures: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seeds: 100, from: 1, seed: undefined, ops: DEFAULT_OPS, keep: undefined, skip: [], noMetadataShortReads: false, wideL0Stop: false, longGrace: false, walWithoutTakeover: false, plantedLostUploads: 0, shrink: false, noShrink: false, verbose: false, maxFailures: 50 };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    const num = (): number => {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 0) throw new Error(`${flag} needs a non-negative integer`);
      return v;
    };
    switch (flag) {
      case '--seeds':
        a.seeds = num();
        break;
      case '--from':
        a.from = num();
        break;
      case '--seed':
        a.seed = num();
        break;
      case '--ops':
        a.ops = num();
        break;
      case '--keep':
        a.keep = parseKeep(value());
        break;
      case '--skip':
        a.skip.push(...(value().split(',').filter((s) => s !== '') as OpKind[]));
        break;
      case '--known-bugs': {
        const w = knownBugWorkarounds();
        a.skip.push(...(w.skip ?? []));
        a.noMetadataShortReads ||= w.noMetadataShortReads === true;
        a.wideL0Stop ||= w.wideL0Stop === true;
        a.longGrace ||= w.longGrace === true;
        a.walWithoutTakeover ||= w.walWithoutTakeover === true;
        break;
      }
      case '--wal-without-takeover':
        a.walWithoutTakeover = true;
        break;
      case '--plant-lost-uploads': {
        const rate = Number(value());
        if (!(rate >= 0 && rate <= 1)) throw new Error('--plant-lost-uploads needs a rate in [0, 1]');
        a.plantedLostUploads = rate;
        break;
      }
      case '--long-grace':
        a.longGrace = true;
        break;
      case '--wide-l0-stop':
        a.wideL0Stop = true;
        break;
      case '--no-metadata-short-reads':
        a.noMetadataShortReads = true;
        break;
      case '--shrink':
        a.shrink = true;
        break;
      case '--no-shrink':
        a.shrink = false;
        a.noShrink = true;
        break;
      case '--verbose':
        a.verbose = true;
        break;
      case '--max-failures':
        a.maxFailures = num();
        break;
      default:
        throw new Error(`unknown argument ${flag}; see the comment at the top of test/sim/run.ts`);
    }
  }
  return a;
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const common = { ops: a.ops, ...(a.skip.length ? { skip: a.skip } : {}), ...(a.noMetadataShortReads ? { noMetadataShortReads: true } : {}), ...(a.wideL0Stop ? { wideL0Stop: true } : {}), ...(a.longGrace ? { longGrace: true } : {}), ...(a.walWithoutTakeover ? { walWithoutTakeover: true } : {}),
    ...(a.plantedLostUploads > 0 ? { plantedLostUploads: a.plantedLostUploads } : {}),
  };
  const specs: SeedSpec[] =
    a.seed !== undefined ? [{ seed: a.seed, ...common, ...(a.keep ? { keep: a.keep } : {}) }] : Array.from({ length: a.seeds }, (_, i) => ({ seed: a.from + i, ...common }));
  const started = Date.now();
  const kinds: Record<string, number[]> = {};
  let failed = 0;
  let steps = 0;
  for (const spec of specs) {
    const out = await runSeed(spec);
    steps += out.steps;
    if (a.verbose) console.log(`seed ${spec.seed}${out.metamorphic ? ' (metamorphic)' : ''}: ${out.steps} steps, ops ${JSON.stringify(out.counts)}`);
    if (out.violation === undefined) continue;
    failed++;
    (kinds[out.violation.kind] ??= []).push(spec.seed);
    const v = out.violation;
    console.log(`FAIL seed ${spec.seed} [${v.kind}] at op ${v.opIndex} ${v.op}\n  ${v.message}\n  replay: ${replayCommand(spec)}`);
    if (a.shrink || (!a.noShrink && failed <= 3)) {
      const small = await shrink(spec, v.kind, 300, a.verbose ? console.log : undefined);
      console.log(`  shrunk to ${small.keep!.length} ops: ${replayCommand(small)}`);
    }
    if (failed >= a.maxFailures && a.seed === undefined) {
      console.log(`stopping after ${failed} failures (--max-failures)`);
      break;
    }
  }
  const secs = (Date.now() - started) / 1000;
  console.log(
    `${specs.length} seeds, ${failed} failed, ${steps} scheduler steps, ${secs.toFixed(1)} s` +
      (failed ? `; by kind: ${Object.entries(kinds).map(([k, s]) => `${k} (${s.length}: seeds ${s.slice(0, 8).join(', ')}${s.length > 8 ? ', …' : ''})`).join('; ')}` : ''),
  );
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error((e as Error).message);
    process.exit(2);
  },
);
