/**
 * `floe load`: a load generator against a running daemon. Opens `--connections` client connections, keeps
 * `--inflight` requests outstanding on each, and issues the `--mix` of operations on keys chosen by
 * `--dist` for `--duration` seconds: as fast as the daemon answers (closed loop), or at a fixed `--rate`
 * (open loop: each operation has an intended start time, and its latency is measured from that time, so a
 * stalled daemon shows up in the percentiles instead of silently lowering the rate). A progress line goes to
 * stderr every second; at the end, HDR-histogram percentiles per operation (text, or JSON with --json).
 */
import type { Histogram } from 'hdr-histogram-js';
import { connect, type FloeClient } from '../client/client.js';
import { isFloeError } from '../errors.js';
import { Random } from '../util/random.js';
import { type CliIo, type CommandSpec, intFlag, numberFlag, stringFlag, usage } from './command.js';
import { socketFrom } from './data-target.js';
import { KeyChooser, type KeyDistribution, type LoadOp, loadKey, loadValue, type Mix, parseMix, pickOp } from './load-workload.js';

export interface LoadSettings {
  socket: string;
  durationS: number;
  connections: number;
  inflight: number;
  /** Operations per second over all connections; 0 = closed loop. */
  rate: number;
  mix: Mix;
  mixText: string;
  keys: number;
  dist: KeyDistribution;
  zipf: number;
  valueBytes: number;
  scanLimit: number;
  seed: number;
  preload: boolean;
}

export const loadCommand: CommandSpec = {
  name: 'load',
  args: '',
  summary: 'Drive a running daemon with a workload and report throughput and latency percentiles.',
  notes: [
    'Progress on stderr every second; the report on stdout. Latency is in milliseconds (HDR histogram, 3',
    'significant digits); with --rate it is measured from each operation\'s intended start. Exit 1 if any',
    'operation failed (the report counts failures by error code).',
  ],
  flags: [
    { name: 'socket', type: 'string', short: 's', arg: 'PATH', help: 'the daemon socket (default as for floe ping)' },
    { name: 'config', type: 'string', short: 'c', arg: 'FILE', help: 'daemon config, for its socket' },
    { name: 'duration', type: 'string', short: 'd', arg: 'SECONDS', help: 'how long to run (default 10)' },
    { name: 'connections', type: 'string', arg: 'N', help: 'client connections (default 4)' },
    { name: 'inflight', type: 'string', arg: 'N', help: 'requests outstanding per connection (default 8)' },
    { name: 'rate', type: 'string', short: 'r', arg: 'OPS', help: 'target operations per second over all connections (default 0: closed loop)' },
    { name: 'mix', type: 'string', short: 'm', arg: 'MIX', help: 'operation weights, OP:W,... with OP in get, put, del, merge, scan (default get:80,put:20)' },
    { name: 'keys', type: 'string', short: 'k', arg: 'N', help: 'key space size (default 100000)' },
    { name: 'dist', type: 'string', arg: 'uniform|zipf', help: 'key distribution (default uniform)' },
    { name: 'zipf', type: 'string', arg: 'S', help: 'Zipf exponent for --dist zipf (default 0.99)' },
    { name: 'value-bytes', type: 'string', arg: 'N', help: 'bytes per value written (default 100)' },
    { name: 'scan-limit', type: 'string', arg: 'N', help: 'entries per scan operation (default 10)' },
    { name: 'seed', type: 'string', arg: 'N', help: 'random seed (default 1)' },
    { name: 'preload', type: 'boolean', help: 'first write every key once (not measured)' },
    { name: 'json', type: 'boolean', help: 'print the report as JSON' },
  ],
  minArgs: 0,
  maxArgs: 0,
  async run(values, _args, io) {
    const s = settingsFrom(values);
    const report = await runLoad(s, io);
    io.out(values.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return Object.keys(report.errors).length === 0 ? 0 : 1;
  },
};

function settingsFrom(values: Record<string, string | boolean | undefined>): LoadSettings {
  const spec = loadCommand;
  const mixText = stringFlag(values, 'mix') ?? 'get:80,put:20';
  const dist = stringFlag(values, 'dist') ?? 'uniform';
  if (dist !== 'uniform' && dist !== 'zipf') throw usage(spec, `--dist must be uniform or zipf, got ${JSON.stringify(dist)}`);
  return {
    socket: socketFrom({ socket: stringFlag(values, 'socket'), config: stringFlag(values, 'config') }),
    durationS: numberFlag(spec, values, 'duration', 0.1, 86_400) ?? 10,
    connections: intFlag(spec, values, 'connections', 1, 1024) ?? 4,
    inflight: intFlag(spec, values, 'inflight', 1, 4096) ?? 8,
    rate: numberFlag(spec, values, 'rate', 0, 10_000_000) ?? 0,
    mix: parseMix(mixText),
    mixText,
    keys: intFlag(spec, values, 'keys', 1, 1_000_000_000) ?? 100_000,
    dist,
    zipf: numberFlag(spec, values, 'zipf', 0, 10) ?? 0.99,
    valueBytes: intFlag(spec, values, 'value-bytes', 0, 16 * 2 ** 20) ?? 100,
    scanLimit: intFlag(spec, values, 'scan-limit', 1, 100_000) ?? 10,
    seed: intFlag(spec, values, 'seed', 0, 2 ** 32 - 1) ?? 1,
    preload: values.preload === true,
  };
}

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface LoadReport {
  settings: Omit<LoadSettings, 'mix'>;
  elapsedS: number;
  ops: number;
  opsPerSec: number;
  /** Failed operations by error code. */
  errors: Record<string, number>;
  /** Milliseconds, per operation and `all`. */
  latencyMs: Record<string, LatencySummary>;
}

type NewHistogram = () => Histogram;

/**
 * Microsecond histograms (1 us to 1 h, 3 significant digits). hdr-histogram-js is loaded only here, so the
 * rest of the `floe` binary (the daemon included) does not depend on it being installed.
 */
async function histogramFactory(): Promise<NewHistogram> {
  const { build } = await import('hdr-histogram-js');
  return () => build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

/** Runs the workload; PROMISES every connection is closed when it settles. */
export async function runLoad(s: LoadSettings, io: CliIo): Promise<LoadReport> {
  const clients: FloeClient[] = [];
  try {
    for (let i = 0; i < s.connections; i++) clients.push(await connect(s.socket, { reconnect: false, flushOnClose: false }));
    if (s.preload) await preload(clients, s);
    return await measure(clients, s, io, await histogramFactory());
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  }
}

async function preload(clients: FloeClient[], s: LoadSettings): Promise<void> {
  let next = 0;
  const worker = async (c: FloeClient): Promise<void> => {
    while (next < s.keys) {
      const i = next++;
      await c.put(loadKey(i), loadValue(s.valueBytes, i, 0));
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: s.inflight }, () => worker(c))));
}

async function measure(clients: FloeClient[], s: LoadSettings, io: CliIo, newHistogram: NewHistogram): Promise<LoadReport> {
  const random = new Random(s.seed);
  const chooser = new KeyChooser(s.keys, s.dist, s.zipf, random.fork());
  const histograms = new Map<string, Histogram>([['all', newHistogram()]]);
  for (const op of s.mix.ops) histograms.set(op, newHistogram());
  const errors: Record<string, number> = {};
  const window = newHistogram();
  let done = 0;
  let version = 1;
  const start = performance.now();
  const end = start + s.durationS * 1000;
  const intervalMs = s.rate > 0 ? 1000 / s.rate : 0;
  let issued = 0;

  const once = async (c: FloeClient, op: LoadOp, intended: number): Promise<void> => {
    const i = chooser.next();
    try {
      if (op === 'get') await c.get(loadKey(i));
      else if (op === 'put') await c.put(loadKey(i), loadValue(s.valueBytes, i, version++));
      else if (op === 'del') await c.delete(loadKey(i));
      else if (op === 'merge') await c.merge(loadKey(i), loadValue(Math.min(s.valueBytes, 16), i, version++));
      else {
        let n = 0;
        for await (const e of c.scan({ gte: loadKey(i), limit: s.scanLimit })) n += e.value.length >= 0 ? 1 : 0;
        if (n > s.scanLimit) throw new Error(`scan returned ${n} entries, over its limit ${s.scanLimit}`);
      }
      const micros = Math.max(1, Math.round((performance.now() - intended) * 1000));
      histograms.get(op)!.recordValue(micros);
      histograms.get('all')!.recordValue(micros);
      window.recordValue(micros);
    } catch (e) {
      const code = isFloeError(e) ? e.code : 'IO';
      errors[code] = (errors[code] ?? 0) + 1;
    }
    done++;
  };

  const slot = async (c: FloeClient): Promise<void> => {
    for (;;) {
      let intended = performance.now();
      if (intervalMs > 0) {
        intended = start + issued * intervalMs;
        issued++;
        const wait = intended - performance.now();
        if (wait > 0) await sleep(wait);
      }
      if (intended >= end || performance.now() >= end) return;
      await once(c, pickOp(s.mix, random), intended);
    }
  };

  const progress = startProgress(io, start, () => done, errors, window);
  try {
    await Promise.all(clients.flatMap((c) => Array.from({ length: s.inflight }, () => slot(c))));
  } finally {
    progress.stop();
  }
  const elapsedS = (performance.now() - start) / 1000;
  const latencyMs: Record<string, LatencySummary> = {};
  for (const [name, h] of histograms) latencyMs[name] = summarize(h);
  const { mix: _mix, ...settings } = s;
  return { settings, elapsedS, ops: done, opsPerSec: done / elapsedS, errors, latencyMs };
}

function summarize(h: Histogram): LatencySummary {
  const ms = (micros: number): number => Math.round(micros) / 1000;
  return {
    count: h.totalCount,
    mean: h.totalCount === 0 ? 0 : ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

/** Every second: elapsed, operations, rate over the last second, its p50/p99, errors (one line; in place on a TTY). */
function startProgress(io: CliIo, start: number, done: () => number, errors: Record<string, number>, window: Histogram): { stop(): void } {
  let last = 0;
  let lastAt = start;
  const tick = (): void => {
    const now = performance.now();
    const n = done();
    const rate = ((n - last) * 1000) / Math.max(1, now - lastAt);
    const failed = Object.values(errors).reduce((a, b) => a + b, 0);
    const line =
      `${((now - start) / 1000).toFixed(1)}s  ${n} ops  ${Math.round(rate)} ops/s  ` +
      `p50 ${(window.getValueAtPercentile(50) / 1000).toFixed(3)} ms  p99 ${(window.getValueAtPercentile(99) / 1000).toFixed(3)} ms  errors ${failed}`;
    io.err(io.errIsTTY ? `\r\x1b[K${line}` : `${line}\n`);
    window.reset();
    last = n;
    lastAt = now;
  };
  const timer = setInterval(tick, 1000);
  return {
    stop() {
      clearInterval(timer);
      // The last partial second too, so even a short run shows its progress line.
      if (done() > last) tick();
      if (io.errIsTTY) io.err('\n');
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function formatReport(r: LoadReport): string {
  const s = r.settings;
  const lines = [
    `floe load: ${s.connections} connection(s) x ${s.inflight} in flight, ${s.rate > 0 ? `rate ${s.rate} ops/s (open loop)` : 'closed loop'}, ` +
      `mix ${s.mixText}, ${s.keys} keys ${s.dist}${s.dist === 'zipf' ? `(${s.zipf})` : ''}, ${s.valueBytes}-byte values`,
    `${r.ops} ops in ${r.elapsedS.toFixed(2)} s: ${Math.round(r.opsPerSec)} ops/s`,
    `errors: ${Object.keys(r.errors).length === 0 ? 'none' : Object.entries(r.errors).map(([c, n]) => `${c} ${n}`).join(', ')}`,
    'latency ms      count      mean       p50       p90       p99     p99.9       max',
  ];
  for (const [name, l] of Object.entries(r.latencyMs)) {
    const cols = [l.mean, l.p50, l.p90, l.p99, l.p999, l.max].map((v) => v.toFixed(3).padStart(10));
    lines.push(`  ${name.padEnd(6)} ${String(l.count).padStart(10)}${cols.join('')}`);
  }
  return `${lines.join('\n')}\n`;
}
