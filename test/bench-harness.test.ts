/**
 * The benchmark harness (bench/): the SVG chart writer, report tables and ratios, the workload drivers'
 * count/time bounds, argument parsing, and CPU-profile summaries. The benchmarks themselves are run by
 * `make bench`, not here.
 */
import t from 'tap';
import { barChartSvg, compactNumber, escapeXml, lineChartSvg } from '../bench/plot.js';
import { deriveRatios, markdownTable, rows, textTable, type BenchReport, type Measurement } from '../bench/report.js';
import { runAwaited, runInFlight } from '../bench/measure.js';
import { parseArgs, plots } from '../bench/run.js';
import { hotSpots, type CpuProfile } from '../bench/cpu-profile.js';
import { Random, seedFromEnv } from '../lib/util/random.js';

const seed = seedFromEnv();
t.comment(`FLOE_SEED=${seed}`);

function count(haystack: string, needle: RegExp): number {
  return (haystack.match(needle) ?? []).length;
}

t.test('compactNumber and escapeXml', async (t) => {
  t.equal(compactNumber(1234), '1.2k');
  t.equal(compactNumber(25_000), '25k');
  t.equal(compactNumber(2_500_000), '2.5M');
  t.equal(compactNumber(999), '999');
  t.equal(compactNumber(1.5), '1.5');
  t.equal(compactNumber(0.853), '0.85');
  t.equal(compactNumber(0), '0');
  t.equal(escapeXml(`a<b>&"c"`), 'a&lt;b&gt;&amp;&quot;c&quot;');
});

t.test('bar chart: one rect per finite value, escaped text, no NaN, deterministic', async (t) => {
  const r = new Random(seed);
  for (let round = 0; round < 20; round++) {
    const nCat = 1 + r.int(8);
    const nSer = 1 + r.int(4);
    const scale = r.bool() ? 'log' : 'linear';
    const categories = Array.from({ length: nCat }, (_, i) => `cat <${i}> & "x"`);
    let finite = 0;
    const series = Array.from({ length: nSer }, (_, s) => ({
      name: `sys${s}`,
      values: categories.map(() => {
        const pick = r.int(10);
        if (pick === 0) return undefined;
        if (pick === 1) return Number.NaN;
        if (pick === 2 && scale === 'log') return 0; // not drawable on a log axis
        finite++;
        return 10 ** (r.next() * 6);
      }),
    }));
    const spec = { title: 'T & <t>', categories, series, valueLabel: 'ops/s', scale: scale as 'log' | 'linear', referenceLine: { value: 1, label: 'parity' } };
    const svg = barChartSvg(spec);
    t.ok(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'), 'svg root');
    t.ok(svg.trimEnd().endsWith('</svg>'), 'closed');
    t.notOk(/NaN|Infinity|undefined/.test(svg), 'no NaN/Infinity/undefined in output');
    t.notOk(/<[^/!a-zA-Z]/.test(svg.replace(/<\/?[a-zA-Z][^>]*>/g, '')), 'no stray < in text');
    // One <rect> per bar, plus the background and one legend swatch per series.
    t.equal(count(svg, /<rect /g), finite + 1 + nSer, `rect count (round ${round}, scale ${scale})`);
    t.equal(svg, barChartSvg(spec), 'same spec, same bytes');
    t.ok(svg.includes('cat &lt;0&gt; &amp; &quot;x&quot;'), 'category labels escaped');
  }
});

t.test('line chart: one marker per drawable point, no NaN', async (t) => {
  const svg = lineChartSvg({
    title: 'lines',
    xLabel: 'keys',
    yLabel: 'ops/s',
    xScale: 'log',
    series: [
      { name: 'a', points: [[10, 5], [100, 7], [1000, 9]] },
      { name: 'b', points: [[10, 2], [-1, 3], [Number.NaN, 1], [1000, 4]] },
      { name: 'empty', points: [] },
    ],
  });
  t.equal(count(svg, /<circle /g), 5);
  t.equal(count(svg, /<polyline /g), 2);
  t.notOk(/NaN|Infinity/.test(svg));
});

function measurement(workload: string, mode: string, system: string, opsPerSec: number, latency = false): Measurement {
  return {
    workload,
    mode,
    system,
    ops: Math.round(opsPerSec),
    seconds: 1,
    opsPerSec,
    stoppedBy: 'time',
    ...(latency ? { latencyUs: { p50: 10, p99: 2000, p999: 3000, max: 4000 } } : {}),
  };
}

function report(measurements: Measurement[]): BenchReport {
  const r: BenchReport = {
    name: 'x',
    title: 'X',
    command: 'node dist/bench/run.js x',
    startedAt: '2026-01-01T00:00:00.000Z',
    durationSeconds: 1,
    machine: { nproc: 2, cpuModel: 'cpu', node: 'v20', platform: 'linux-x64', totalMemGiB: 1, loadAvgStart: 0 },
    subject: 'floe',
    systems: ['floe', 'rocksdb', 'leveldb'],
    settings: {},
    measurements,
    ratios: [],
    notes: [],
  };
  r.ratios = deriveRatios(r);
  return r;
}

t.test('ratios, rows and tables', async (t) => {
  const rep = report([
    measurement('get', 'awaited', 'floe', 200, true),
    measurement('get', 'awaited', 'rocksdb', 100, true),
    measurement('get', 'awaited', 'leveldb', 400),
    measurement('scan', '64 in flight', 'floe', 50),
    measurement('scan', '64 in flight', 'rocksdb', 0),
  ]);
  t.same(
    rep.ratios.map((r) => [r.workload, r.peer, r.ratio]),
    [
      ['get', 'rocksdb', 2],
      ['get', 'leveldb', 0.5],
    ],
    'a ratio per measured pair; zero rates give none',
  );
  t.equal(rows(rep.measurements).length, 2);
  const md = markdownTable(rep);
  const lines = md.split('\n');
  t.equal(lines.length, 4, 'header, separator, two rows');
  t.match(lines[0]!, /\| workload \| floe ops\/s \| rocksdb ops\/s \| leveldb ops\/s \| floe\/rocksdb \| floe\/leveldb \|/);
  t.match(lines[2]!, /\| get \(awaited\) \| 200 \| 100 \| 400 \| 2\.00 \| 0\.50 \| 10\.0 µs \/ 2\.0 ms \|/);
  t.match(lines[3]!, /–/, 'missing cells are dashes');
  t.equal(textTable(rep).split('\n').length, 4);
  const svgs = plots(rep);
  t.same(
    svgs.map((p) => p.suffix),
    ['ops', 'ratio', 'latency'],
  );
});

t.test('runAwaited stops at the count and records latency', async (t) => {
  let calls = 0;
  const r = await runAwaited(async (i) => {
    t.equal(i, calls, 'indices in order');
    calls++;
  }, { count: 500, seconds: 60 });
  t.equal(r.ops, 500);
  t.equal(calls, 500);
  t.equal(r.stoppedBy, 'count');
  t.ok(r.latencyUs !== undefined && r.latencyUs.p50 <= r.latencyUs.p99 && r.latencyUs.p99 <= r.latencyUs.max);
});

t.test('runAwaited stops at the time limit', async (t) => {
  const r = await runAwaited(() => new Promise((resolve) => setTimeout(resolve, 5)), { count: 1e9, seconds: 0.05 });
  t.equal(r.stoppedBy, 'time');
  t.ok(r.ops >= 1 && r.ops < 1e9);
});

t.test('runInFlight keeps the requested number in flight and stops at the count', async (t) => {
  let active = 0;
  let peak = 0;
  const seen = new Set<number>();
  const r = await runInFlight(
    async (i) => {
      seen.add(i);
      active++;
      peak = Math.max(peak, active);
      await new Promise((resolve) => setImmediate(resolve));
      active--;
    },
    { count: 1000, seconds: 60 },
    64,
  );
  t.equal(r.ops, 1000);
  t.equal(seen.size, 1000, 'every index exactly once');
  t.equal(peak, 64);
  t.equal(r.stoppedBy, 'count');
  t.equal(r.latencyUs, undefined);
});

t.test('runInFlight rethrows the first failure and stops issuing', async (t) => {
  let started = 0;
  await t.rejects(
    runInFlight(
      async (i) => {
        started++;
        await new Promise((resolve) => setImmediate(resolve));
        if (i === 10) throw new Error('boom');
      },
      { count: 100_000, seconds: 60 },
      8,
    ),
    { message: 'boom' },
  );
  t.ok(started < 100, `stopped soon after the failure (started ${started})`);
});

t.test('parseArgs', async (t) => {
  const d = parseArgs([], {});
  t.same(d.names, []);
  t.equal(d.args.keys, 1_000_000);
  t.equal(d.args.quick, false);
  t.equal(d.fullRun, true);
  t.equal(d.replot, false);
  t.equal(parseArgs(['--replot', 'embedded'], {}).replot, true);
  t.equal(parseArgs(['--profile', '/tmp/p'], {}).fullRun, false, 'a profiled run is never filed as the committed result');
  const q = parseArgs(['embedded', '--quick', '--seconds', '2', '--systems=floe,rocksdb'], {});
  t.same(q.names, ['embedded']);
  t.equal(q.args.quick, true);
  t.equal(q.args.keys, 40_000);
  t.equal(q.args.seconds, 2);
  t.same(q.args.systems, ['floe', 'rocksdb']);
  t.equal(q.fullRun, false);
  const e = parseArgs([], { BENCH_KEYS: '1_000', BENCH_QUICK: '1' });
  t.equal(e.args.keys, 1000);
  t.equal(e.args.quick, true);
  t.throws(() => parseArgs(['--bogus', '1'], {}), /unknown option --bogus/);
  t.throws(() => parseArgs(['--keys', 'x'], {}), /--keys must be a positive number/);
  t.throws(() => parseArgs(['--keys'], {}), /--keys needs a value/);
});

t.test('hotSpots: self and total shares from a profile tree', async (t) => {
  // root → a → b (leaf), root → b (leaf), recursion a → a.
  const frame = (functionName: string) => ({ functionName, url: '', lineNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)'), children: [2, 4] },
      { id: 2, callFrame: frame('a'), children: [3, 5] },
      { id: 3, callFrame: frame('b') },
      { id: 4, callFrame: frame('b') },
      { id: 5, callFrame: frame('a') },
    ],
    startTime: 0,
    endTime: 100,
    samples: [3, 3, 4, 5],
    timeDeltas: [10, 10, 20, 60],
  };
  const spots = new Map(hotSpots(profile).map((s) => [s.functionName, s]));
  t.equal(spots.get('a')!.selfShare, 0.6);
  t.equal(spots.get('a')!.totalShare, 0.8, 'recursion counted once per sample');
  t.equal(spots.get('b')!.selfShare, 0.4);
  t.equal(spots.get('b')!.totalShare, 0.4);
  t.equal(spots.get('(root)')!.totalShare, 1);
});

t.test('tint mixes towards white', async (t) => {
  const { tint } = await import('../bench/plot.js');
  t.equal(tint('#000000', 0), '#000000');
  t.equal(tint('#000000', 1), '#ffffff');
  t.equal(tint('#2563eb', 0.5), '#92b1f5');
  t.equal(tint('not-a-colour', 0.5), 'not-a-colour');
});
