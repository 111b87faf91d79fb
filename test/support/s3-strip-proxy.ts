/**
 * A real S3-protocol endpoint that ignores conditional writes, for tests: a loopback HTTP proxy that forwards
 * every request to an S3 server (moto) unchanged, except that it removes the `If-None-Match` request header.
 * moto then treats a create-if-absent PUT as a plain PUT and overwrites, which is what an S3-compatible
 * server without conditional-write support does (it ignores the header).
 *
 * The SDK signs `If-None-Match`, so a server that verified signatures would reject the stripped request;
 * moto does not verify them unless authentication is switched on (test/support/moto.ts), so use the shared
 * test server or a private moto without `enableMotoAuth`.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface StripProxy {
  /** http://127.0.0.1:PORT: use as `s3.endpoint`. */
  endpoint: string;
  /** Requests that carried `If-None-Match` and went upstream without it. */
  stripped(): number;
  /** Requests forwarded so far. */
  forwarded(): number;
  close(): Promise<void>;
}

/** Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade']);

function endToEnd(headers: IncomingHttpHeaders, drop: ReadonlySet<string>): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (!HOP_BY_HOP.has(name) && !drop.has(name)) out[name] = value;
  }
  return out;
}

/** Starts a proxy to `upstream` (http://host:port) on a free loopback port. */
export async function startStripProxy(upstream: string): Promise<StripProxy> {
  const target = new URL(upstream);
  let stripped = 0;
  let forwarded = 0;
  const dropOnRequest = new Set(['if-none-match']);
  const none = new Set<string>();
  const server: Server = createServer((req, res) => {
    forwarded++;
    if (req.headers['if-none-match'] !== undefined) stripped++;
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: endToEnd(req.headers, dropOnRequest),
      },
      (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, endToEnd(upRes.headers, none));
        upRes.pipe(res);
      },
    );
    up.on('error', (err) => {
      // Upstream unreachable or reset: drop the client connection, as a failing server would.
      res.destroy(err);
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stripped: () => stripped,
    forwarded: () => forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
