// The ops HTTP endpoint every service exposes: liveness, readiness with a reason, Prometheus
// metrics, plus optional service routes. A failing route answers 500; it never kills the process.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

export type RouteHandler = (
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
) => boolean | Promise<boolean>;

export interface HttpServerOptions {
  port: number;
  /** Defaults to 0.0.0.0 (reachable by kubelet probes); tests may pass 127.0.0.1. */
  host?: string;
  log: Logger;
  metrics: Metrics;
  /** true = ready; false or a string (the reason) = not ready. Absent = always ready. */
  ready?: () => boolean | string;
  /** Service routes; return true when the request was handled. */
  routes?: RouteHandler;
}

export interface HttpServerHandle {
  port: number;
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function readiness(ready: HttpServerOptions['ready']): { ok: true } | { ok: false; reason: string } {
  if (!ready) return { ok: true };
  try {
    const r = ready();
    if (r === true) return { ok: true };
    return { ok: false, reason: typeof r === 'string' && r.length > 0 ? r : 'not ready' };
  } catch (err) {
    return { ok: false, reason: `readiness check failed: ${(err as Error).message}` };
  }
}

export async function startHttpServer(opts: HttpServerOptions): Promise<HttpServerHandle> {
  const { log, metrics } = opts;

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const isGet = req.method === 'GET' || req.method === 'HEAD';
    if (isGet && url.pathname === '/healthz') {
      sendJson(res, 200, { status: 'ok' });
      return;
    }
    if (isGet && url.pathname === '/readyz') {
      const r = readiness(opts.ready);
      if (r.ok) sendJson(res, 200, { status: 'ready' });
      else sendJson(res, 503, { status: 'not ready', reason: r.reason });
      return;
    }
    if (isGet && url.pathname === '/metrics') {
      const body = await metrics.text();
      res.writeHead(200, { 'content-type': metrics.contentType });
      res.end(body);
      return;
    }
    if (opts.routes && (await opts.routes(req, res, url))) return;
    sendJson(res, 404, { error: 'not_found', path: url.pathname });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err, method: req.method, path: req.url }, 'http route failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal', message: (err as Error)?.message ?? String(err) });
      else res.destroy();
    });
  });
  // Keep-alive sockets from probes must not hold close() open.
  server.keepAliveTimeout = 5000;

  const host = opts.host ?? '0.0.0.0';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => log.error({ err }, 'http server error'));
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host;
  log.debug({ port, host }, 'http server listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${urlHost.includes(':') ? `[${urlHost}]` : urlHost}:${port}`,
    server,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
