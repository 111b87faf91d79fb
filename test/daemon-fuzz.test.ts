/**
 * Protocol fuzzing against the real daemon (a child process, dist/bin/floe.js daemon): FUZZERS connections
 * send seeded random and mutated frames (valid frames of every opcode encoded with the real codecs, then
 * bit flips, truncations, length-field lies, huge and tiny declared lengths, unknown/internal/response
 * opcodes, trailing junk; HELLO-less junk; split writes; floods without reading; half-sent large frames;
 * over-the-cap lengths followed by a stream of body bytes)
 * while a healthy client does puts, gets, deletes, multi-gets and flushes checked against a model. A quarter
 * of the sessions go to the shards' own sockets (docs/protocol.md, "Shard sockets"); the healthy client is
 * shard-aware, so its single-key requests take that path too.
 *
 * Asserts: the daemon never exits; the healthy client's answers stay right and none takes longer than
 * HANG_MS; a session of valid frames only is answered exactly once per request (within PIPELINE_HANG_MS)
 * and never closed; no
 * request fails with an "internal error"; a length over maxFrameBytes closes the connection at once; the
 * daemon's RSS stays under a bound derived from its config (`daemonRssBound`, test/support/proc-sampler.ts);
 * it stops gracefully (exit 0).
 *
 * Bounded: FLOE_FUZZ_SECONDS (default 35) of fuzzing and FLOE_FUZZ_FRAMES (default 200000) frames in all.
 * Long runs: `make fuzz FUZZ_SECONDS=600` (FLOE_FUZZ_SECONDS / FLOE_FUZZ_FRAMES). Replay: FLOE_SEED.
 */
import t from 'tap';
import { Buffer } from 'node:buffer';
import { writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type FloeClient } from '../lib/client/client.js';
import { decodeError, ERROR_OP, Op, opName, RESPONSE_BIT } from '../lib/protocol/protocol.js';
import { FrameParser } from '../lib/protocol/wire.js';
import { Random, seedFromEnv } from '../lib/util/random.js';
import { helloFrame, junk, mutate, openStoreFrame, validFrame, validFrameV2, type FuzzLimits } from './support/fuzz-frames.js';
import { makeDir, startDaemon, stopDaemon, writeConfig } from './support/daemon-process.js';
import { daemonRssBound, MiB, ProcSampler } from './support/proc-sampler.js';

const FUZZERS = 16;
const SECONDS = Number(process.env.FLOE_FUZZ_SECONDS ?? 35);
const MAX_FRAMES = Number(process.env.FLOE_FUZZ_FRAMES ?? 200_000);
/** Body bytes a huge-stream session sends after an over-the-cap length (unless the daemon closes first). */
const HUGE_STREAM_MIB = 32;
/** A healthy request slower than this counts as a hang. */
const HANG_MS = 20_000;
/**
 * A valid pipeline may hold CHECKPOINTs, which the daemon serializes (every shard flushes for each) behind
 * the other fuzzers' checkpoints: on a loaded machine such a pipeline can take longer than HANG_MS without
 * anything being stuck. Slow pipelines are counted; only one still unanswered after this long is a hang.
 */
const PIPELINE_HANG_MS = 120_000;

const CONFIG = {
  shards: 2,
  maxKeyGroups: 16,
  maxFrameBytes: MiB,
  maxInFlightPerConnection: 8,
  maxConnections: 64,
  memtableBytes: 256 * 1024,
  maxImmutableMemtables: 2,
  blockCacheBytes: 4 * MiB,
  compactionMemoryBytes: 32 * MiB,
  compactionWorkers: 0,
  diskCacheBytes: 16 * MiB,
  logLevel: 'info',
};

/** `p`, or a rejection naming `what` after HANG_MS. */
async function withTimeout<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${HANG_MS} ms`)), HANG_MS)));
  try {
    return await Promise.race([p, hang]);
  } finally {
    clearTimeout(timer);
  }
}

interface Tally {
  frames: number;
  sessions: Record<string, number>;
  closedByServer: number;
  errorsSeen: number;
  /** Valid pipelines answered completely only after HANG_MS (but within PIPELINE_HANG_MS). */
  slowPipelines: number;
  failures: string[];
}

/** A raw connection that records response frames and whether the server closed it. */
class RawConn {
  readonly socket: Socket;
  readonly responses: Array<{ op: number; id: number; payload: Buffer }> = [];
  closed = false;
  serverClosed = false;
  readonly done: Promise<void>;
  private readonly parser = new FrameParser(2 ** 31);
  private listeners: Array<() => void> = [];

  constructor(path: string, read: boolean) {
    this.socket = createConnection(path);
    this.socket.on('error', () => undefined);
    if (read) {
      this.socket.on('data', (chunk: Buffer) => {
        this.parser.push(chunk);
        for (let f = this.parser.next(); f; f = this.parser.next()) this.responses.push({ op: f[4]!, id: f.readUInt32BE(5), payload: Buffer.from(f.subarray(9)) });
        this.wake();
      });
    } else {
      this.socket.pause();
    }
    this.socket.on('end', () => (this.serverClosed = true));
    this.done = new Promise((resolve) =>
      this.socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  private wake(): void {
    for (const l of this.listeners.splice(0)) l();
  }

  /** Resolves when `until()` holds, the socket closes, or `ms` pass; returns whether `until()` held. */
  async waitFor(until: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!until() && !this.closed && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(200, Math.max(1, deadline - Date.now())));
        this.listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return until();
  }

  /** Writes `bytes` in random pieces, yielding to the event loop now and then (split frames). */
  async writeSplit(r: Random, bytes: Buffer): Promise<void> {
    let at = 0;
    while (at < bytes.length && !this.closed) {
      const n = r.bool(0.3) ? 1 + r.int(16) : 1 + r.int(64 * 1024);
      this.socket.write(bytes.subarray(at, at + n));
      at += n;
      if (r.bool(0.2)) await new Promise((resolve) => setImmediate(resolve));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** One fuzzing session on a fresh connection; returns the number of frames sent. */
async function fuzzSession(path: string, r: Random, limits: FuzzLimits, tally: Tally, budget: number, shardSocket = false): Promise<number> {
  // A shard's own socket serves only single-key requests: valid frames of other opcodes are violations
  // there, so it gets every session kind but the all-valid pipeline.
  const kind = shardSocket
    ? r.pick(['junk', 'bad-hello', 'mixed', 'mixed', 'mixed', 'flood', 'half-frame', 'huge-stream'] as const)
    : r.pick(['junk', 'bad-hello', 'mixed', 'mixed', 'mixed', 'mixed', 'valid-pipeline', 'valid-pipeline', 'flood', 'half-frame', 'huge-stream', 'v2-mixed', 'v2-mixed', 'v2-pipeline'] as const);
  tally.sessions[kind] = (tally.sessions[kind] ?? 0) + 1;
  const conn = new RawConn(path, kind !== 'flood');
  let sent = 0;
  try {
    switch (kind) {
      case 'junk':
        await conn.writeSplit(r, junk(r));
        sent = 1;
        await conn.waitFor(() => false, 500);
        break;
      case 'bad-hello':
        await conn.writeSplit(r, mutate(r, helloFrame(r.nextU32()), limits));
        sent = 1;
        await conn.waitFor(() => false, 500);
        break;
      case 'mixed': {
        const frames = [helloFrame(1)];
        const n = Math.min(budget, 1 + r.int(60));
        for (let i = 0; i < n; i++) {
          const f = validFrame(r, 2 + i, limits);
          frames.push(r.bool(0.15) ? mutate(r, f, limits) : f);
        }
        sent = frames.length;
        await conn.writeSplit(r, Buffer.concat(frames));
        await conn.waitFor(() => false, 300 + r.int(1500));
        break;
      }
      case 'v2-mixed':
      case 'v2-pipeline': {
        // Protocol 2 (TTL writes, range deletes, snapshots, iterators) on a connection bound to an ephemeral
        // named store: range deletes, valid or mutated, stay away from the healthy client's default store.
        const frames = [helloFrame(1, 2), openStoreFrame(2, `fuzz/${r.int(3)}`, limits)];
        const n = Math.min(budget, kind === 'v2-mixed' ? 1 + r.int(80) : 20 + r.int(200));
        for (let i = 0; i < n; i++) {
          const f = validFrameV2(r, 3 + i, limits);
          frames.push(kind === 'v2-mixed' && r.bool(0.15) ? unbindable(mutate(r, f, limits)) : f);
        }
        sent = frames.length;
        await conn.writeSplit(r, Buffer.concat(frames));
        if (kind === 'v2-mixed') {
          await conn.waitFor(() => false, 300 + r.int(1500));
          break;
        }
        const all = (): boolean => conn.responses.length >= frames.length;
        let answered = await conn.waitFor(all, HANG_MS);
        if (!answered) {
          tally.slowPipelines++;
          answered = await conn.waitFor(all, PIPELINE_HANG_MS - HANG_MS);
        }
        checkValidSession(conn, frames, answered, tally);
        break;
      }
      case 'valid-pipeline': {
        const n = Math.min(budget, 20 + r.int(300));
        const frames = [helloFrame(1)];
        for (let i = 0; i < n; i++) frames.push(validFrame(r, 2 + i, limits));
        sent = frames.length;
        await conn.writeSplit(r, Buffer.concat(frames));
        const all = (): boolean => conn.responses.length >= frames.length;
        let answered = await conn.waitFor(all, HANG_MS);
        if (!answered) {
          tally.slowPipelines++;
          answered = await conn.waitFor(all, PIPELINE_HANG_MS - HANG_MS);
        }
        checkValidSession(conn, frames, answered, tally);
        break;
      }
      case 'flood': {
        // Many requests, never reading a response: the daemon must stop reading this socket, not buffer.
        const n = Math.min(budget, 500 + r.int(3000));
        const frames = [helloFrame(1)];
        for (let i = 0; i < n; i++) frames.push(validFrame(r, 2 + i, limits));
        sent = frames.length;
        conn.socket.write(Buffer.concat(frames));
        await sleep(200 + r.int(1000));
        break;
      }
      case 'huge-stream': {
        // A length over the cap, then a stream of body bytes: the daemon must refuse at the length field
        // and close, not buffer. (Were it to buffer, 16 such streams would blow the RSS bound.)
        const head = Buffer.alloc(9);
        head.writeUInt32BE(r.pick([limits.maxFrameBytes + 1, 0x7fffffff, 0xffffffff]), 0);
        head[4] = 0x10;
        conn.socket.write(Buffer.concat([helloFrame(1), head]));
        sent = 2;
        const chunk = Buffer.alloc(MiB, 0x62);
        for (let i = 0; i < HUGE_STREAM_MIB && !conn.closed; i++) {
          if (!conn.socket.write(chunk)) await Promise.race([new Promise((resolve) => conn.socket.once('drain', resolve)), conn.done]);
        }
        await conn.waitFor(() => false, 2000);
        if (!conn.serverClosed && !conn.closed) tally.failures.push('huge-stream: the daemon did not close a connection whose frame length is over maxFrameBytes');
        break;
      }
      case 'half-frame': {
        // A large declared length (within the limit) with only part of the body, then silence.
        const declared = limits.maxFrameBytes - r.int(1024);
        const head = Buffer.alloc(9);
        head.writeUInt32BE(declared, 0);
        head[4] = r.pick([0x10, 0x14, 0x15, 0x02]);
        const body = Buffer.alloc(r.int(declared >> 1), 0x61);
        sent = 2;
        await conn.writeSplit(r, Buffer.concat([helloFrame(1), head, body]));
        await sleep(200 + r.int(800));
        break;
      }
    }
  } finally {
    if (conn.serverClosed) tally.closedByServer++;
    for (const x of conn.responses) {
      if (x.op !== ERROR_OP) continue;
      tally.errorsSeen++;
      // An "internal error" is a thrown TypeError or RangeError that escaped a decoder: a bug whatever the input.
      const e = decodeError(x.payload);
      if (e.message.startsWith('internal error')) tally.failures.push(`${kind} session: request ${x.id} failed with ${e.code}: ${e.message}`);
    }
    conn.destroy();
    await conn.done;
  }
  return sent;
}

/** Valid frames only: every request answered exactly once, with its opcode or ERROR, never PROTOCOL. */
/** A mutated frame may not unbind (or rebind) its connection: CLOSE_STORE / OPEN_STORE become PING. */
function unbindable(frame: Buffer): Buffer {
  if (frame.length > 4 && (frame[4] === Op.CLOSE_STORE || frame[4] === Op.OPEN_STORE)) frame[4] = Op.PING;
  return frame;
}

function checkValidSession(conn: RawConn, frames: Buffer[], answered: boolean, tally: Tally): void {
  if (!answered) {
    // Frame i carries request id i + 1 (HELLO is 1): name the opcodes left unanswered.
    const seen = new Set(conn.responses.map((x) => x.id));
    const missing = frames.flatMap((f, i) => (seen.has(i + 1) ? [] : [`${i + 1}:${opName(f[4]!)}`]));
    tally.failures.push(`valid pipeline: ${conn.responses.length} of ${frames.length} requests answered in ${PIPELINE_HANG_MS} ms (closed: ${conn.closed}); unanswered: ${missing.slice(0, 12).join(' ')}`);
    return;
  }
  const ids = new Set<number>();
  for (const x of conn.responses) {
    if (ids.has(x.id)) tally.failures.push(`valid pipeline: request ${x.id} answered twice`);
    ids.add(x.id);
    if (x.op === ERROR_OP) {
      const e = decodeError(x.payload);
      if (e.code === 'PROTOCOL' || e.code === 'VERSION') tally.failures.push(`valid pipeline: request ${x.id} refused as a protocol violation: ${e.message}`);
    } else if (!(x.op & RESPONSE_BIT)) {
      tally.failures.push(`valid pipeline: request ${x.id} answered with opcode 0x${x.op.toString(16)}`);
    }
  }
}

/** Puts, gets, deletes, multi-gets and flushes on keys no fuzzer touches, checked against a Map. */
async function healthyClient(
  client: FloeClient,
  r: Random,
  stop: () => boolean,
  failures: string[],
  progress: { ops: number },
): Promise<{ ops: number; maxMs: number; model: Map<string, string> }> {
  const model = new Map<string, string>();
  let ops = 0;
  let maxMs = 0;
  const timed = async <T>(what: string, p: Promise<T>): Promise<T> => {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took over ${HANG_MS} ms`)), HANG_MS)));
    try {
      return await Promise.race([p, hang]);
    } finally {
      clearTimeout(timer);
      maxMs = Math.max(maxMs, Date.now() - started);
    }
  };
  while (!stop() && failures.length === 0) {
    const key = `healthy/${r.int(100)}`;
    const x = r.next();
    try {
      if (x < 0.4) {
        const value = `v${ops}-${r.nextU32()}`;
        await timed(`put ${key}`, client.put(key, value));
        model.set(key, value);
      } else if (x < 0.8) {
        const got = await timed(`get ${key}`, client.get(key));
        const text = got === undefined ? undefined : Buffer.from(got).toString();
        if (text !== model.get(key)) failures.push(`get ${key}: daemon ${text}, model ${model.get(key)}`);
      } else if (x < 0.88) {
        await timed(`delete ${key}`, client.delete(key));
        model.delete(key);
      } else if (x < 0.96) {
        const keys = Array.from({ length: 8 }, () => `healthy/${r.int(100)}`);
        const got = await timed('multiGet', client.multiGet(keys));
        keys.forEach((k, i) => {
          const text = got[i] === undefined ? undefined : Buffer.from(got[i]!).toString();
          if (text !== model.get(k)) failures.push(`multiGet ${k}: daemon ${text}, model ${model.get(k)}`);
        });
      } else {
        await timed('flush', client.flush());
      }
      ops++;
      progress.ops = ops;
    } catch (e) {
      failures.push(`healthy client op ${ops}: ${(e as Error).message}`);
    }
  }
  return { ops, maxMs, model };
}

// The fuzzing time plus start, healthy-client drain, checks and stop (tap's default is 30 s per test).
const TEST_TIMEOUT_MS = (SECONDS + 180) * 1000;

t.test('protocol fuzzing: the daemon stays up, serves a healthy client correctly, and its memory stays bounded', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const seed = seedFromEnv();
  t.comment(`seed ${seed} (replay with FLOE_SEED=${seed}); ${FUZZERS} fuzzers, ${SECONDS} s, at most ${MAX_FRAMES} frames`);
  const dir = makeDir(t, 'floe-fuzz-');
  writeConfig(dir, CONFIG);
  const d = await startDaemon(dir);
  t.teardown(() => {
    d.child.kill('SIGKILL');
    // FLOE_FUZZ_DAEMON_LOG=FILE keeps the daemon's whole log (JSON lines) for a post-mortem.
    if (process.env.FLOE_FUZZ_DAEMON_LOG) writeFileSync(process.env.FLOE_FUZZ_DAEMON_LOG, d.stderr.join('\n') + '\n');
  });
  // Anything but the expected per-connection noise, as it happens (a crash shows up here first).
  const notable = (e: Record<string, unknown>): boolean => !['debug', 'info'].includes(String(e.level)) && e.event !== 'protocol_violation';
  const shown = new Set<Record<string, unknown>>();
  const showNotable = (): void => {
    for (const e of d.events) {
      if (!notable(e) || shown.has(e) || shown.size >= 20) continue;
      shown.add(e);
      t.comment(`daemon: ${JSON.stringify(e).slice(0, 600)}`);
    }
  };
  const pid = d.child.pid!;
  const limits: FuzzLimits = { maxKeyGroups: CONFIG.maxKeyGroups, maxFrameBytes: CONFIG.maxFrameBytes };
  const root = new Random(seed);

  const client = await connect(d.socket);
  for (let i = 0; i < 200; i++) await client.put(`warmup/${i}`, 'x'.repeat(100));
  await client.flush();
  const sampler = new ProcSampler(pid, 100);
  const measure = ProcSampler.available(pid);
  sampler.sample();
  const baseline = sampler.maxRss;

  const tally: Tally = { frames: 0, sessions: {}, closedByServer: 0, errorsSeen: 0, slowPipelines: 0, failures: [] };
  const healthyFailures: string[] = [];
  const deadline = Date.now() + SECONDS * 1000;
  let fuzzing = true;
  const outOfBudget = (): boolean => Date.now() >= deadline || tally.frames >= MAX_FRAMES || d.child.exitCode !== null;
  sampler.start();
  const healthyProgress = { ops: 0 };
  const healthyOps = (): number => healthyProgress.ops;
  const healthy = healthyClient(client, root.fork(), () => !fuzzing, healthyFailures, healthyProgress);
  const fuzzers = Array.from({ length: FUZZERS }, async (_, i) => {
    const r = root.fork();
    while (!outOfBudget()) {
      try {
        // Not `tally.frames += await ...`: that reads the total before the await and loses other fuzzers' counts.
        // A quarter of the sessions go to the shards' own sockets (shard-aware clients' path).
        const shard = r.bool(0.25) ? r.int(CONFIG.shards) : -1;
        const path = shard < 0 ? d.socket : `${d.socket}.shard${shard}`;
        const sent = await fuzzSession(path, r, limits, tally, Math.max(1, MAX_FRAMES - tally.frames), shard >= 0);
        tally.frames += sent;
      } catch (e) {
        tally.failures.push(`fuzzer ${i}: ${(e as Error).message}`);
        return;
      }
    }
  });
  const progress = setInterval(() => {
    showNotable();
    if (process.env.FLOE_FUZZ_VERBOSE) t.comment(`progress: ${tally.frames} frames, healthy ${healthyOps()} ops, ${healthyFailures.length} healthy failures`);
  }, 10_000);
  await Promise.all(fuzzers);
  clearInterval(progress);
  fuzzing = false;
  const h = await healthy;
  sampler.stop();
  showNotable();

  t.equal(d.child.exitCode, null, `seed ${seed}: the daemon is still running`);
  t.same(healthyFailures.slice(0, 5), [], `seed ${seed}: the healthy client's ${h.ops} answers all matched the model (slowest ${h.maxMs} ms)`);
  t.ok(h.ops >= 20, `the healthy client was served throughout (${h.ops} operations)`);
  t.same(tally.failures.slice(0, 5), [], `seed ${seed}: every session got what the protocol promises (valid pipelines answered exactly once, no internal errors, over-the-cap lengths refused)`);
  t.comment(`sessions ${JSON.stringify(tally.sessions)}, ${tally.frames} frames, ${tally.closedByServer} closed by the daemon, ${tally.errorsSeen} ERROR frames, ${tally.slowPipelines} valid pipelines slower than ${HANG_MS} ms`);
  t.ok(tally.closedByServer > 0, 'fuzzing provoked protocol violations');

  // Everything the healthy client wrote is there, and a fresh connection is served (promptly: a hang here
  // must fail the test with the daemon's notable events shown, not time it out).
  const fresh = await withTimeout('connect', connect(d.socket));
  const seen = new Map<string, string>();
  await withTimeout('scan', (async () => {
    for await (const e of fresh.scan({ prefix: 'healthy/' })) seen.set(Buffer.from(e.key).toString(), Buffer.from(e.value).toString());
  })());
  t.same(Object.fromEntries([...seen].sort()), Object.fromEntries([...h.model].sort()), 'a scan of the healthy keys matches the model');
  const stats = (await withTimeout('stats', fresh.stats())) as { daemon?: { protocolViolations?: number; memory?: Record<string, number> } };
  t.comment(`daemon memory at the end (MiB): ${Object.entries(stats.daemon?.memory ?? {}).map(([k, v]) => `${k} ${(v / MiB).toFixed(0)}`).join(', ')}`);
  t.ok((stats.daemon?.protocolViolations ?? 0) > 0, `the daemon counted ${stats.daemon?.protocolViolations} protocol violations`);
  await fresh.close();
  await client.close();

  if (measure) {
    const bound = daemonRssBound(CONFIG, baseline, FUZZERS + 2);
    t.comment(`RSS: baseline ${(baseline / MiB).toFixed(0)} MiB, max ${(sampler.maxRss / MiB).toFixed(0)} MiB over ${sampler.samples} samples, bound ${(bound / MiB).toFixed(0)} MiB; max fds ${sampler.maxFds}`);
    t.ok(sampler.maxRss <= bound, `RSS stayed under the bound derived from the config (${(sampler.maxRss / MiB).toFixed(0)} <= ${(bound / MiB).toFixed(0)} MiB)`);
  } else {
    t.comment('!!! /proc is not readable: the RSS bound is NOT checked !!!');
  }
  const errors = d.events.filter((e) => e.level === 'error');
  t.same(errors.slice(0, 3), [], 'the daemon logged no errors');
  t.equal(await stopDaemon(d), 0, 'graceful stop: exit 0');
});
