/**
 * CPU profiles of benchmark phases: start/stop V8's sampling profiler around one workload in this process
 * (the same .cpuprofile format `node --cpu-prof` writes, but limited to the measured phase), and summarise
 * a profile as the functions with the most self time and the most inclusive time.
 *
 *   node dist/bench/cpu-profile.js FILE.cpuprofile [--top 25] [--filter /lib/]
 *
 * Only the main thread is profiled: compaction runs in worker threads and shows up here only as the
 * time the main thread spends handing work over.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export class Profiler {
  private constructor(private readonly session: Session) {}

  static async start(): Promise<Profiler> {
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // 200 µs sampling: fine enough for sub-10 µs operations over a multi-second run.
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    return new Profiler(session);
  }

  /** Stops, writes the profile to `path` and returns it. */
  async stop(path: string): Promise<CpuProfile> {
    const { profile } = (await this.session.post('Profiler.stop')) as unknown as { profile: CpuProfile };
    await this.session.post('Profiler.disable');
    this.session.disconnect();
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, JSON.stringify(profile));
    return profile;
  }
}

export interface HotSpot {
  functionName: string;
  /** Source location relative to the repository, or the URL for code outside it. */
  location: string;
  selfShare: number;
  totalShare: number;
}

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function locate(frame: CallFrame): string {
  if (!frame.url) return '(native)';
  let path = frame.url;
  if (path.startsWith('file://')) {
    // dist-x/lib/lsm/memtable.js → lib/lsm/memtable.ts; the line is the compiled file's (close to the source).
    path = relative(repoRoot, fileURLToPath(path)).replace(/^dist[^/]*\//, '').replace(/\.js$/, '.ts');
  }
  return `${path}:${frame.lineNumber + 1}`;
}

function frameName(frame: CallFrame): string {
  return frame.functionName || '(anonymous)';
}

/**
 * Self time: samples whose leaf is the function. Total time: samples with the function anywhere on the
 * stack (counted once per sample even when it recurses). Shares are of all sampled time, idle included.
 */
export function hotSpots(profile: CpuProfile): HotSpot[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const weight = new Map<number, number>();
  let totalTime = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    weight.set(id, (weight.get(id) ?? 0) + dt);
    totalTime += dt;
  });
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  const names = new Map<string, { functionName: string; location: string }>();
  const keyOf = (n: ProfileNode): string => {
    const k = `${frameName(n.callFrame)}@${locate(n.callFrame)}`;
    if (!names.has(k)) names.set(k, { functionName: frameName(n.callFrame), location: locate(n.callFrame) });
    return k;
  };
  for (const [id, w] of weight) {
    const leaf = byId.get(id)!;
    const lk = keyOf(leaf);
    self.set(lk, (self.get(lk) ?? 0) + w);
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = keyOf(byId.get(cur)!);
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + w);
    }
  }
  const out: HotSpot[] = [];
  for (const [k, t] of total) {
    const n = names.get(k)!;
    out.push({ ...n, selfShare: (self.get(k) ?? 0) / (totalTime || 1), totalShare: t / (totalTime || 1) });
  }
  return out.sort((a, b) => b.selfShare - a.selfShare);
}

export function formatHotSpots(spots: HotSpot[], top: number, filter?: string): string {
  const pct = (v: number): string => `${(v * 100).toFixed(1)}%`.padStart(6);
  const chosen = spots.filter((s) => filter === undefined || s.location.includes(filter)).slice(0, top);
  return ['  self  total  function (location)', ...chosen.map((s) => `${pct(s.selfShare)} ${pct(s.totalShare)}  ${s.functionName} (${s.location})`)].join('\n');
}

function main(argv: string[]): void {
  const file = argv[0];
  if (file === undefined) {
    process.stderr.write('usage: node dist/bench/cpu-profile.js FILE.cpuprofile [--top N] [--filter TEXT]\n');
    process.exitCode = 2;
    return;
  }
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const spots = hotSpots(profile);
  const top = Number(opt('top') ?? 25);
  process.stdout.write(`${file}: ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s sampled\n`);
  process.stdout.write(`by self time:\n${formatHotSpots(spots, top, opt('filter'))}\n`);
  const byTotal = [...spots].sort((a, b) => b.totalShare - a.totalShare).filter((s) => s.location.startsWith('lib/'));
  process.stdout.write(`Floe functions (lib/) by total time:\n${formatHotSpots(byTotal, top)}\n`);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main(process.argv.slice(2));
