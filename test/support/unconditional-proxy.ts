/**
 * Real endpoints that ignore create-if-absent, for tests: loopback HTTP proxies that forward every request to
 * a real server unchanged except for the one thing that makes a write conditional.
 *
 * - `startStripProxy(moto)`: removes the `If-None-Match` request header, so moto treats a create-if-absent
 *   PUT as a plain PUT and overwrites — what an S3-compatible server without conditional-write support does
 *   (it ignores the header). The SDK signs `If-None-Match`, so a server that verified signatures would
 *   reject the stripped request; moto does not verify them unless authentication is switched on
 *   (test/support/moto.ts), so use the shared test server or a private moto without `enableMotoAuth`.
 * - `startRenameOverwriteProxy(namenode)`: rewrites WebHDFS `renameoptions=NONE` to `OVERWRITE`, so the
 *   namenode replaces an existing file on a create-if-absent rename — a gateway that loses the option.
 *   Only namenode requests pass through it: CREATE's 307 sends the data straight to the datanode.
 */
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface UnconditionalProxy {
  /** http://127.0.0.1:PORT: use as `s3.endpoint`, or as host:port of an hdfs:// URI. */
  endpoint: string;
  /** Requests whose condition the proxy removed. */
  rewritten(): number;
  /** Requests forwarded so far. */
  forwarded(): number;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(headers: IncomingHttpHeaders, drop: ReadonlySet<string> = new Set()): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !drop.has(name)) out[name] = value;
  }
  return out;
}

/** What goes upstream for one request; `rewritten` says whether a condition was removed. */
type Rewrite = (req: IncomingMessage) => { path: string; headers: IncomingHttpHeaders; rewritten: boolean };

async function startProxy(upstream: string, rewrite: Rewrite): Promise<UnconditionalProxy> {
  const target = new URL(upstream);
  let rewritten = 0;
  let forwarded = 0;
  const server: Server = createServer((req, res) => {
    forwarded++;
    const out = rewrite(req);
    if (out.rewritten) rewritten++;
    const up = request({ host: target.hostname, port: target.port, method: req.method, path: out.path, headers: out.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, endToEnd(upRes.headers));
      upRes.pipe(res);
    });
    // Upstream unreachable or reset: drop the client connection, as a failing server would.
    up.on('error', (err) => res.destroy(err));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    rewritten: () => rewritten,
    forwarded: () => forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const IF_NONE_MATCH = new Set(['if-none-match']);

/** An S3 endpoint that ignores `If-None-Match`: moto (`upstream`, http://host:port) behind a stripping proxy. */
export function startStripProxy(upstream: string): Promise<UnconditionalProxy> {
  return startProxy(upstream, (req) => ({
    path: req.url ?? '/',
    headers: endToEnd(req.headers, IF_NONE_MATCH),
    rewritten: req.headers['if-none-match'] !== undefined,
  }));
}

/** A WebHDFS namenode (`upstream`, http://host:port) whose create-if-absent renames overwrite. */
export function startRenameOverwriteProxy(upstream: string): Promise<UnconditionalProxy> {
  return startProxy(upstream, (req) => {
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    const conditional = url.searchParams.get('op') === 'RENAME' && url.searchParams.get('renameoptions') === 'NONE';
    if (conditional) url.searchParams.set('renameoptions', 'OVERWRITE');
    return { path: `${url.pathname}${url.search}`, headers: endToEnd(req.headers), rewritten: conditional };
  });
}
