/**
 * Prometheus metrics of the daemon (prom-client), served on 127.0.0.1:<metricsPort>/metrics when the
 * config sets a port. Values are pulled at scrape time from the store's stats (one STATS fan-out per
 * scrape) and the server's counters, so the request path pays nothing for metrics. A private Registry is
 * used (no global state); Node process metrics (CPU, memory, event-loop lag) are included.
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { StoreStats } from '../api.js';
import type { LogFn } from './router.js';
import type { ServerStats } from './server.js';

export interface MetricsSources {
  stats(): Promise<StoreStats>;
  server(): ServerStats;
  shards: number;
}

export interface MetricsHandle {
  registry: Registry;
  /** Pulls fresh values into the registry. */
  refresh(): Promise<void>;
}

export function buildMetrics(sources: MetricsSources): MetricsHandle {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const counter = (name: string, help: string, labelNames: string[] = []): Counter => new Counter({ name, help, labelNames, registers: [registry] });
  const gauge = (name: string, help: string, labelNames: string[] = []): Gauge => new Gauge({ name, help, labelNames, registers: [registry] });
  // Cumulative values are mirrored from the store: reset then inc sets the counter to the current total.
  const mirror = (c: Counter, value: number, labels?: Record<string, string>): void => {
    if (labels) c.inc(labels, value);
    else c.inc(value);
  };
  const m = {
    remoteOps: counter('floe_remote_operations_total', 'Object-store requests by kind', ['op']),
    remoteBytes: counter('floe_remote_bytes_total', 'Object-store bytes by direction', ['direction']),
    cacheHits: counter('floe_cache_hits_total', 'Cache hits', ['cache']),
    cacheMisses: counter('floe_cache_misses_total', 'Cache misses', ['cache']),
    cacheBytes: gauge('floe_cache_bytes', 'Bytes held by each cache', ['cache']),
    cacheCapacity: gauge('floe_cache_capacity_bytes', 'Budget of each cache', ['cache']),
    memtable: gauge('floe_memtable_bytes', 'Bytes in live and frozen memtables, all shards'),
    levelFiles: gauge('floe_level_files', 'SST references per LSM level, all shards', ['level']),
    levelBytes: gauge('floe_level_bytes', 'SST bytes per LSM level, all shards', ['level']),
    pending: gauge('floe_pending_compaction_bytes', 'Estimated bytes compaction still has to rewrite'),
    stalls: counter('floe_write_stalls_total', 'Writes that had to wait for flush or compaction'),
    shards: gauge('floe_shards', 'Shard worker threads'),
    connections: gauge('floe_connections', 'Open client connections'),
    connectionsTotal: counter('floe_connections_total', 'Client connections accepted'),
    inFlight: gauge('floe_inflight_requests', 'Requests received and not yet answered'),
    buffered: gauge('floe_buffered_request_bytes', 'Request bytes received and not yet handled (partial frames, paused connections)'),
    requests: counter('floe_requests_total', 'Requests received, by opcode', ['op']),
    errors: counter('floe_request_errors_total', 'Error answers, by code', ['code']),
    violations: counter('floe_protocol_violations_total', 'Connections closed for protocol violations'),
  };
  const refresh = async (): Promise<void> => {
    const s = await sources.stats();
    const srv = sources.server();
    for (const c of [m.remoteOps, m.remoteBytes, m.cacheHits, m.cacheMisses, m.stalls, m.connectionsTotal, m.requests, m.errors, m.violations]) c.reset();
    for (const g of [m.levelFiles, m.levelBytes]) g.reset();
    mirror(m.remoteOps, s.remote.gets, { op: 'get' });
    mirror(m.remoteOps, s.remote.puts, { op: 'put' });
    mirror(m.remoteOps, s.remote.lists, { op: 'list' });
    mirror(m.remoteOps, s.remote.deletes, { op: 'delete' });
    mirror(m.remoteBytes, s.remote.bytesRead, { direction: 'read' });
    mirror(m.remoteBytes, s.remote.bytesWritten, { direction: 'written' });
    for (const [cache, c] of [['block', s.blockCache], ['disk', s.diskCache]] as const) {
      mirror(m.cacheHits, c.hits, { cache });
      mirror(m.cacheMisses, c.misses, { cache });
      m.cacheBytes.set({ cache }, c.bytes);
      m.cacheCapacity.set({ cache }, c.capacity);
    }
    m.memtable.set(s.lsm.memtableBytes);
    s.lsm.levels.forEach((l, i) => {
      m.levelFiles.set({ level: String(i) }, l.files);
      m.levelBytes.set({ level: String(i) }, l.bytes);
    });
    m.pending.set(s.lsm.pendingCompactionBytes);
    mirror(m.stalls, s.lsm.stalls);
    m.shards.set(sources.shards);
    m.connections.set(srv.connections);
    mirror(m.connectionsTotal, srv.connectionsTotal);
    m.inFlight.set(srv.inFlight);
    m.buffered.set(srv.bufferedBytes);
    for (const [op, n] of Object.entries(srv.requests)) mirror(m.requests, n, { op });
    for (const [code, n] of Object.entries(srv.errors)) mirror(m.errors, n, { code });
    mirror(m.violations, srv.protocolViolations);
  };
  return { registry, refresh };
}

/** Serves GET /metrics on 127.0.0.1:`port` (0 = any free port). Resolves once listening. */
export async function startMetricsServer(port: number, sources: MetricsSources, log: LogFn): Promise<{ port: number; close(): Promise<void> }> {
  const { registry, refresh } = buildMetrics(sources);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    refresh()
      .then(() => registry.metrics())
      .then(
        (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
        (e: unknown) => {
          log('warn', 'metrics_failed', { error: (e as Error).message });
          res.writeHead(503, { 'content-type': 'text/plain' }).end(`stats unavailable: ${(e as Error).message}\n`);
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  log('info', 'metrics_listening', { url: `http://127.0.0.1:${actual}/metrics` });
  return {
    port: actual,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections?.();
      }),
  };
}
