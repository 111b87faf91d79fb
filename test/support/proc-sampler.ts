/**
 * Samples another process's resident memory (/proc/<pid>/status VmRSS) and open file descriptors
 * (entries of /proc/<pid>/fd) at a fixed interval, keeping the maxima: how the daemon hardening tests
 * (test/daemon-fuzz.test.ts, test/daemon-overload.test.ts) check that memory and handles stay bounded.
 * Linux only (the daemon's target); `available()` says whether /proc can be read.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS line in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export class ProcSampler {
  maxRss = 0;
  maxFds = 0;
  samples = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  static available(pid: number): boolean {
    return existsSync(`/proc/${pid}/status`) && existsSync(`/proc/${pid}/fd`);
  }

  /** One sample now (ignored if the process is gone). */
  sample(): void {
    try {
      this.maxRss = Math.max(this.maxRss, rssBytes(this.pid));
      this.maxFds = Math.max(this.maxFds, fdCount(this.pid));
      this.samples++;
    } catch {
      // the process exited; the test notices that itself
    }
  }

  start(): this {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

export const MiB = 2 ** 20;

/** The daemon config keys the memory bound is derived from. */
export interface MemoryBudgetConfig {
  shards: number;
  maxFrameBytes: number;
  maxInFlightPerConnection: number;
  blockCacheBytes: number;
  memtableBytes: number;
  maxImmutableMemtables: number;
  compactionMemoryBytes: number;
}

/** Bytes of V8 heap growth between collections (main and shard isolates) and allocator slack we allow. */
export const RSS_ALLOWANCE = 128 * MiB;

/**
 * What the daemon may hold beyond its idle footprint (`baseline`, its RSS once started), with `connections`
 * open (docs/operations.md, Limits): per connection its in-flight request frames plus one partial frame
 * (maxFrameBytes each) and the 8 MiB of unread answers after which it stops reading; the block cache; the
 * memtables (active + immutable, per shard); per shard one flush and one compaction of compactionMemoryBytes
 * each (inline compaction); and RSS_ALLOWANCE.
 */
export function daemonRssBound(c: MemoryBudgetConfig, baseline: number, connections: number): number {
  const perConnection = (c.maxInFlightPerConnection + 1) * c.maxFrameBytes + 8 * MiB;
  const engine = c.blockCacheBytes + c.shards * (c.memtableBytes * (1 + c.maxImmutableMemtables) + 2 * c.compactionMemoryBytes);
  return baseline + connections * perConnection + engine + RSS_ALLOWANCE;
}
