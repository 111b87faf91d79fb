/**
 * `floe daemon`: the life of the daemon process, from a loaded config to an exit code.
 *
 *   bind the socket (before touching data: opening the store claims its instances, which would fence a
 *   daemon that is still running; binding fails atomically if one listens) → open the router (fresh,
 *   existing or restored layout) → serve → optional metrics → print where data and socket are → wait for
 *   SIGTERM/SIGINT (or a shard crash) → stop accepting, drain in-flight requests, flush and close the
 *   shards → exit code.
 *
 * systemd: with NOTIFY_SOCKET set (Type=notify) it reports READY=1 once serving, STOPPING=1 when the drain
 * starts, and WATCHDOG=1 pings if WatchdogSec is configured (lib/daemon/sd-notify.ts).
 *
 * Exit codes: 0 after a signal-driven shutdown that flushed everything; 1 if a shard crashed (the
 * supervisor, e.g. systemd Restart=on-failure, restarts the daemon) or the final flush failed. A startup
 * failure is logged and thrown (the CLI prints it and exits 1). A second SIGINT/SIGTERM during shutdown
 * exits at once with 130.
 */
import type { CheckpointHandle } from '../api.js';
import { asFloeError } from '../protocol/protocol.js';
import type { DaemonConfig } from './config.js';
import { INJECT_LATENCY_ENV, injectedLatencyMs } from './inject.js';
import { startMetricsServer } from './metrics.js';
import { openNotifier, type Notifier } from './sd-notify.js';
import { Router, type LogFn } from './router.js';
import { DaemonServer } from './server.js';

export interface DaemonRun {
  config: DaemonConfig;
  /** `--restore`: start from these checkpoints with `config.store.shards` shards. */
  restore?: CheckpointHandle[];
  log: LogFn;
  /** Human-readable lines (the banner). Default: stdout. */
  print?: (line: string) => void;
  /** Version string for HELLO and logs. */
  version: string;
}

export async function runDaemon(run: DaemonRun): Promise<number> {
  const { config, log } = run;
  const print = run.print ?? ((line: string) => process.stdout.write(line + '\n'));
  let stopRequested!: (reason: { signal?: string; crash?: string }) => void;
  const stop = new Promise<{ signal?: string; crash?: string }>((resolve) => (stopRequested = resolve));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log('warn', 'forced_exit', { signal });
      process.exit(130);
    }
    stopping = true;
    stopRequested({ signal });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let notifier: Notifier | undefined;
  try {
    // Opened first: a NOTIFY_SOCKET this daemon cannot use fails the start at once (docs/operations.md).
    notifier = openNotifier(log);
    log('info', 'starting', {
      version: run.version,
      config: config.configPath ?? null,
      primary: config.store.primary,
      localDir: config.store.localDir,
      socket: config.socket,
      shards: config.store.shards,
      restore: run.restore?.map((h) => h.checkpointId) ?? null,
    });
    const latency = injectedLatencyMs();
    if (latency !== undefined) log('warn', 'latency_injection', { env: INJECT_LATENCY_ENV, ms: latency, note: 'tests and benchmarks only: every primary-storage operation is delayed' });
    const server = new DaemonServer({
      socketPath: config.socket,
      maxInFlight: config.maxInFlightPerConnection,
      maxFrameBytes: config.maxFrameBytes,
      maxConnections: config.maxConnections,
      serverName: `floe ${run.version}`,
      log,
    });
    await server.listen();
    let router: Router;
    try {
      router = await Router.open({
        options: config.store,
        shardsExplicit: config.shardsExplicit || run.restore !== undefined,
        ...(run.restore ? { restore: { handles: run.restore } } : {}),
        log,
        ...(config.shardSockets
          ? {
              direct: {
                socketOf: (i: number) => shardSocketPath(config.socket, i),
                maxFrameBytes: config.maxFrameBytes,
                maxInFlight: config.maxInFlightPerConnection,
                maxConnections: config.maxConnections,
                serverName: `floe ${run.version}`,
              },
            }
          : {}),
        onShardCrash: (shard, error) => {
          if (stopping) return;
          stopping = true;
          stopRequested({ crash: `shard ${shard}: ${error.message}` });
        },
      });
    } catch (e) {
      await server.shutdown(0);
      throw e;
    }
    router.extraStats = () => ({
      ...server.stats(),
      shards: router.describeShards(),
      namedStores: router.named.describe(),
      layout: { name: router.layout.name, seq: router.layout.seq },
      // The whole process's resident memory, and the main thread's share of it (shard threads have their own heaps).
      memory: processMemory(),
    });
    server.start(router);
    let metrics: { port: number; close(): Promise<void> } | undefined;
    if (config.metricsPort !== undefined) {
      try {
        metrics = await startMetricsServer(config.metricsPort, { stats: () => router.stats(), server: () => server.stats(), shards: router.shardCount }, log);
      } catch (e) {
        log('error', 'metrics_failed_to_start', { port: config.metricsPort, error: (e as Error).message });
      }
    }
    const layout = router.layout;
    print(`floe daemon ${run.version} ready (pid ${process.pid})`);
    print(`  data:    ${config.store.primary}`);
    print(`  cache:   ${config.store.localDir}`);
    print(`  socket:  ${config.socket}`);
    print(`  shards:  ${router.shardCount} (layout ${layout.name} #${layout.seq}: ${router.describeShards().map((s) => `${s.instanceId} [${s.keyGroups[0]}-${s.keyGroups[1]}]`).join(', ')})`);
    if (metrics) print(`  metrics: http://127.0.0.1:${metrics.port}/metrics`);
    print('  stop with Ctrl-C or SIGTERM (drains, flushes, exits 0)');
    log('info', 'ready', { socket: config.socket, shards: router.shardCount, layout: layout.name, layoutSeq: layout.seq, pid: process.pid });
    // systemd (Type=notify): ready only now, when every shard is open and the socket answers.
    await notifier.notify(`READY=1\nSTATUS=serving ${router.shardCount} shard(s) on ${config.socket}\nMAINPID=${process.pid}`);
    notifier.startWatchdog();

    const reason = await stop;
    log('info', 'shutting_down', reason);
    await notifier.notify(`STOPPING=1\nSTATUS=draining and flushing (${reason.signal ?? reason.crash ?? 'stop'})`);
    const { drained } = await server.shutdown(config.shutdownTimeoutMs);
    if (!drained) log('warn', 'drain_timeout', { timeoutMs: config.shutdownTimeoutMs });
    let code = reason.crash ? 1 : 0;
    try {
      await router.close();
      log('info', 'flushed_and_closed', {});
    } catch (e) {
      log('error', 'close_failed', { error: asFloeError(e) });
      code = 1;
    }
    await metrics?.close();
    log('info', 'stopped', { exitCode: code });
    return code;
  } catch (e) {
    log('error', 'startup_failed', { error: asFloeError(e) });
    await notifier?.notify(`STATUS=failed to start: ${asFloeError(e).message.split('\n')[0]}`);
    throw e;
  } finally {
    notifier?.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

/** Bytes: the process's RSS, and the main thread's V8 heap and off-heap (Buffer) memory. */
function processMemory(): { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** Where worker shard `i` serves its own socket: beside the daemon's (`floe.sock` → `floe.sock.shard1`). */
export function shardSocketPath(socket: string, i: number): string {
  return `${socket}.shard${i}`;
}
