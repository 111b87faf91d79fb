/**
 * `floe load` through the real CLI binary against a real daemon: the JSON report is consistent (per-op
 * counts add up, the mix's operations all ran, no errors), the preload wrote every key, an open-loop run
 * never issues more than rate x duration operations, and bad flags are usage errors. Nothing here judges
 * speed (docs/benchmarks.md is where numbers go).
 */
import t from 'tap';
import { makeDir, runCli, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';

interface Report {
  ops: number;
  errors: Record<string, number>;
  latencyMs: Record<string, { count: number; p50: number; p99: number; max: number }>;
}

t.test('floe load drives a daemon and reports percentiles', { timeout: 240_000 }, async (t) => {
  const dir = makeDir(t, 'floe-cli-load-');
  writeConfig(dir);
  const d = await startDaemon(dir);
  t.teardown(() => stopDaemon(d));
  const sock = ['--socket', d.socket];

  const reads = await runCli(['load', ...sock, '--duration', '0.5', '--keys', '50', '--mix', 'get:1', '--preload', '--json']);
  t.equal(reads.code, 0, `read-only load after a preload exits 0 (${reads.stderr.slice(-300)})`);
  const rr = JSON.parse(reads.stdout) as Report;
  t.same(Object.keys(rr.latencyMs).sort(), ['all', 'get'], 'a get-only mix measures gets only');
  const scanned = await runCli(['scan', ...sock, '--gte', 'key-0000000000', '--lt', 'key-0000000050', '--limit', '0']);
  t.equal(scanned.stdout.split('\n').filter(Boolean).length, 50, 'the preload wrote every key of the key space');

  const closed = await runCli(['load', ...sock, '--duration', '1', '--connections', '2', '--inflight', '4', '--keys', '200', '--dist', 'zipf', '--mix', 'get:40,put:30,merge:10,del:10,scan:10', '--json']);
  t.equal(closed.code, 0, `closed-loop load exits 0 (${closed.stderr.slice(-300)})`);
  const r = JSON.parse(closed.stdout) as Report;
  t.same(r.errors, {}, 'no operation failed');
  t.ok(r.ops > 0, `${r.ops} operations ran`);
  t.equal(r.latencyMs.all!.count, r.ops, 'every operation is in the overall histogram');
  const perOp = ['get', 'put', 'merge', 'del', 'scan'];
  t.equal(perOp.reduce((n, op) => n + r.latencyMs[op]!.count, 0), r.ops, 'per-operation counts add up');
  for (const op of perOp) t.ok(r.latencyMs[op]!.count > 0, `${op} ran`);
  const l = r.latencyMs.all!;
  t.ok(l.p50 > 0 && l.p50 <= l.p99 && l.p99 <= l.max, `percentiles are ordered (p50 ${l.p50} <= p99 ${l.p99} <= max ${l.max})`);
  t.match(closed.stderr, /\d+\.\ds {2}\d+ ops {2}\d+ ops\/s {2}p50 [\d.]+ ms {2}p99 [\d.]+ ms {2}errors 0/, 'a progress line on stderr');

  const open = await runCli(['load', ...sock, '--duration', '1', '--rate', '50', '--keys', '100']);
  t.equal(open.code, 0, `open-loop load exits 0 (${open.stderr.slice(-300)})`);
  const m = /^(\d+) ops in [\d.]+ s/m.exec(open.stdout);
  t.ok(m, 'the text report gives the operation count');
  t.ok(Number(m![1]) <= 50, `at most rate x duration = 50 operations were issued (${m![1]})`);
  t.match(open.stdout, /latency ms +count +mean +p50 +p90 +p99 +p99\.9 +max\n {2}all /, 'the text report has the percentile table');

  for (const [args, pattern] of [
    [['--mix', 'get:1,fly:2'], /--mix "get:1,fly:2": each part must be OP:WEIGHT/],
    [['--dist', 'pareto'], /--dist must be uniform or zipf/],
    [['--duration', '0'], /--duration must be a number in \[0\.1, 86400\]/],
    [['--connections=0'], /--connections must be an integer in \[1, 1024\]/],
  ] as Array<[string[], RegExp]>) {
    const bad = await runCli(['load', ...sock, ...args]);
    t.match([bad.code, bad.stderr], [2, pattern], `floe load ${args.join(' ')} is a usage error`);
  }
});
