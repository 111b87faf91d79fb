/**
 * The deterministic simulator (test/sim, docs/simulator.md) over 1,000 seeds: random workloads with
 * crashes, faults, takeovers, checkpoints, restores, rescales and metamorphic option sets, every step
 * checked against the model.
 * A failure prints the command that replays the seed exactly.
 *
 * While engine fixes are pending, the workloads leave out what test/sim/known-bugs.ts lists (printed
 * below); `make sim` runs everything. FLOE_SIM_FROM picks another first seed.
 */
import t from 'tap';
import { KNOWN_BUG_SKIPS, knownBugWorkarounds } from './sim/known-bugs.js';
import { replayCommand, runSeed, shrink } from './sim/seed.js';

const SEEDS = 1000;
/** Ops per seed: fewer than `make sim`'s 100, to keep the suite's share of CI time near a minute. */
const OPS = 80;
const from = Number(process.env.FLOE_SIM_FROM ?? 1);

t.test(`simulator: ${SEEDS} seeds from ${from}`, async (t) => {
  const workarounds = knownBugWorkarounds();
  for (const b of KNOWN_BUG_SKIPS) t.comment(`known bug, workload adjusted: ${b.bug}`);
  const failures: string[] = [];
  let steps = 0;
  let metamorphic = 0;
  for (let seed = from; seed < from + SEEDS; seed++) {
    const spec = { seed, ops: OPS, ...workarounds };
    const out = await runSeed(spec);
    steps += out.steps;
    if (out.metamorphic) metamorphic++;
    if (out.violation) {
      const v = out.violation;
      // The first failure is shrunk too (a bounded number of replays), for a short reproduction.
      const small = failures.length === 0 ? `\n  shrunk: ${replayCommand(await shrink(spec, v.kind, 150))}` : '';
      failures.push(`seed ${seed} [${v.kind}] at op ${v.opIndex} ${v.op}: ${v.message}\n  replay: ${replayCommand(spec)}${small}`);
      if (failures.length >= 10) break;
    }
  }
  for (const f of failures) t.fail(f);
  t.equal(failures.length, 0, `${SEEDS} seeds (${metamorphic} metamorphic), ${steps} scheduler steps`);
  t.ok(steps > SEEDS * 50, 'the seeds did real work');
});

t.test('simulator: a seed replays exactly', async (t) => {
  // Same spec, same run: step counts, op counts, every read result and the outcome are identical.
  for (const seed of [3, 4, 17, 5107]) {
    const a = await runSeed({ seed, ops: OPS });
    const b = await runSeed({ seed, ops: OPS });
    t.same(
      { steps: b.steps, counts: b.counts, reads: b.reads, violation: b.violation },
      { steps: a.steps, counts: a.counts, reads: a.reads, violation: a.violation },
      `seed ${seed}: ${a.steps} steps, ${a.reads.split('\n').length} reads, ${a.violation ? a.violation.kind : 'no violation'} both times`,
    );
  }
});

t.test('simulator: a planted store bug is caught', async (t) => {
  // Uploads that report success but store nothing: the checks must notice in most seeds.
  let caught = 0;
  const seeds = 40;
  for (let seed = 1; seed <= seeds; seed++) {
    const out = await runSeed({ seed, ops: OPS, ...knownBugWorkarounds(), plantedLostUploads: 0.2 });
    if (out.violation !== undefined && ['missing-file', 'corruption', 'lost-durable', 'wrong-read', 'restore-mismatch'].includes(out.violation.kind)) caught++;
  }
  t.ok(caught >= seeds / 2, `${caught} of ${seeds} seeds caught lost uploads`);
});
