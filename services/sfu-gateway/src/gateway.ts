// The gateway component: serves the call page, runs WebSocket signaling at /ws on the service's
// HTTP server (and on an optional HTTPS listener), and holds this replica's calls. Every socket is
// bounded (message size, messages per second, a join deadline); any signaling fault ends that
// socket's call (or that supervisor) with a readable error — never another call, never the process.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { types as ms } from 'mediasoup';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AliasRegistry } from '@switchboard/bus';
import { BUCKETS, newSessionId } from '@switchboard/contracts';
import type { ServiceComponent, ServiceContext } from '@switchboard/runtime';
import type { CallListener, CallSession } from './call/call-session';
import { openCallSession } from './call/call-session';
import type { GatewayConfig } from './config';
import { resolveWorkerBin } from './config';
import type { MediaPeer, WorkerPool } from './media/index';
import { MediaError, createWorkerPool } from './media/index';
import { SignalingError, type SignalingErrorCode } from './signaling/errors';
import { parseClientMessage, parseRequestData, type ClientMessage, type RequestMethod, type ServerMessage } from './signaling/protocol';
import { mintToken, verifyToken, type TokenRole } from './signaling/tokens';
import type { WebAssets } from './web-assets';
import { buildWebAssets } from './web-assets';

export interface CallSummary {
  sessionId: string;
  live: boolean;
  startedAt: string;
  durationMs: number;
  supervisors: number;
  workerPid: number;
  mic: string;
}

export interface Gateway extends ServiceComponent {
  calls(): CallSummary[];
  /** A signed token (e.g. for tests or an ops tool): caller, or supervisor of `sessionId`. */
  mintToken(role: TokenRole, sessionId?: string, ttlS?: number): string;
  /** Base URL of the call page on this replica (PUBLIC_URL, the HTTPS listener or the HTTP one). */
  baseUrl(): string;
  readonly pool: WorkerPool;
}

interface SocketState {
  id: string;
  ws: WebSocket;
  role?: TokenRole;
  call?: CallSession;
  peer?: MediaPeer;
  listener?: CallListener;
  /** Token bucket: one message per 1/MAX_MESSAGES_PER_S s, burst 2 s worth. */
  tokens: number;
  refilledAt: number;
  chain: Promise<void>;
  failed: boolean;
  hungUp: boolean;
  joinTimer?: NodeJS.Timeout;
}

/** WebSocket close codes: 4000 + an HTTP-like status, so the page can tell what happened. */
const CLOSE = { normal: 1000, ended: 4000, badRequest: 4400, unauthorized: 4401, notFound: 4404, tooLarge: 4413, rateLimited: 4429, unavailable: 4503 } as const;

function closeCodeOf(code: SignalingErrorCode): number {
  switch (code) {
    case 'TOKEN_INVALID':
    case 'TOKEN_EXPIRED':
      return CLOSE.unauthorized;
    case 'SESSION_NOT_HERE':
      return CLOSE.notFound;
    case 'MESSAGE_TOO_LARGE':
      return CLOSE.tooLarge;
    case 'RATE_LIMITED':
      return CLOSE.rateLimited;
    case 'CAPACITY':
    case 'DRAINING':
    case 'MEDIA_FAILED':
    case 'INTERNAL':
      return CLOSE.unavailable;
    default:
      return CLOSE.badRequest;
  }
}

/** Media-layer and mediasoup failures during a request, as signaling errors the page can show. */
function asSignalingError(err: unknown): SignalingError {
  if (err instanceof SignalingError) return err;
  if (err instanceof MediaError) {
    if (err.code === 'UNKNOWN_TRANSPORT') return new SignalingError('UNKNOWN_TRANSPORT', err.message);
    if (err.code === 'BAD_REQUEST' || err.code === 'ALREADY_PRODUCING') return new SignalingError('BAD_REQUEST', err.message);
    if (err.code === 'NO_WORKER') return new SignalingError('MEDIA_FAILED', err.message);
    return new SignalingError('MEDIA_FAILED', err.message);
  }
  // mediasoup validates parameters with TypeError (e.g. malformed dtlsParameters/rtpParameters).
  if (err instanceof TypeError) return new SignalingError('BAD_REQUEST', err.message);
  return new SignalingError('INTERNAL', (err as Error)?.message ?? String(err));
}

const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function createGateway(ctx: ServiceContext<GatewayConfig>): Promise<Gateway> {
  const { config: cfg, bus, log, metrics, replicaId } = ctx;
  const workerBin = resolveWorkerBin(cfg.MEDIASOUP_WORKER_BIN);
  const assets: WebAssets = await buildWebAssets();
  const pool = createWorkerPool({
    workerBin,
    size: cfg.MEDIASOUP_WORKERS,
    logLevel: cfg.MEDIASOUP_LOG_LEVEL,
    log: log.child({ component: 'mediasoup' }),
  });
  const calls = new Map<string, CallSession>();
  const sockets = new Set<SocketState>();
  const aliases = new AliasRegistry(await bus.kv(BUCKETS.aliases), async (sessionId) => calls.has(sessionId));
  const wss = new WebSocketServer({ noServer: true, maxPayload: cfg.MAX_MESSAGE_BYTES * 4, perMessageDeflate: false });
  const activeCalls = metrics.gauge('gateway_calls_active', 'calls held by this replica');
  const socketsGauge = metrics.gauge('gateway_sockets_open', 'signaling sockets open');
  const signalingErrors = metrics.counter('gateway_signaling_errors_total', 'signaling faults, by code', ['code']);
  const callsStarted = metrics.counter('gateway_calls_started_total', 'calls opened');
  const mediaConfig = {
    listenIp: cfg.RTC_LISTEN_IP,
    ...(cfg.ANNOUNCED_IP ? { announcedAddress: cfg.ANNOUNCED_IP } : {}),
    portRange: { min: cfg.RTC_MIN_PORT, max: cfg.RTC_MAX_PORT },
    enableTcp: cfg.RTC_ENABLE_TCP,
    connectTimeoutMs: cfg.CONNECT_TIMEOUT_MS,
    iceDisconnectTimeoutMs: cfg.ICE_DISCONNECT_TIMEOUT_MS,
    maxQueueMs: cfg.MAX_AGENT_QUEUE_MS,
  };
  let httpBase = '';
  let tlsServer: https.Server | undefined;
  let tlsBase = '';
  let draining = false;
  let started = false;

  const baseUrl = (): string => (cfg.PUBLIC_URL ?? (tlsBase || httpBase)).replace(/\/+$/, '');

  // ---------------------------------------------------------------- HTTP: page, bundle, ops
  async function routes(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    switch (url.pathname) {
      case '/':
      case '/call':
      case '/index.html':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...PAGE_HEADERS });
        res.end(assets.html);
        return true;
      case '/call.js':
        res.writeHead(200, { 'content-type': 'application/javascript; charset=utf-8', ...PAGE_HEADERS });
        res.end(assets.js);
        return true;
      case '/call.css':
        res.writeHead(200, { 'content-type': 'text/css; charset=utf-8', ...PAGE_HEADERS });
        res.end(assets.css);
        return true;
      case '/favicon.ico':
        res.writeHead(204);
        res.end();
        return true;
      case '/calls': {
        // Ops view: ids only (joining still needs a signed supervisor token).
        const body = JSON.stringify({ replicaId, draining, calls: summaries() });
        res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', ...PAGE_HEADERS });
        res.end(body);
        return true;
      }
      default:
        return false;
    }
  }

  function summaries(): CallSummary[] {
    const now = Date.now();
    return [...calls.values()].map((c) => ({
      sessionId: c.sessionId,
      live: c.live,
      startedAt: new Date(c.startedAt).toISOString(),
      durationMs: now - c.startedAt,
      supervisors: c.supervisors,
      workerPid: c.media.workerPid,
      mic: c.media.mic,
    }));
  }

  function onUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    if (draining) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => undefined);
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
  }

  // ---------------------------------------------------------------- sockets
  function send(s: SocketState, msg: ServerMessage): void {
    if (s.ws.readyState !== s.ws.OPEN) return;
    // A page that stops reading must not grow our memory: drop live updates beyond 1 MiB.
    if (msg.type === 'update' && s.ws.bufferedAmount > 1 << 20) return;
    s.ws.send(JSON.stringify(msg));
  }

  function closeSocket(s: SocketState, code: number, reason: string): void {
    if (s.joinTimer) clearTimeout(s.joinTimer);
    if (s.ws.readyState === s.ws.OPEN || s.ws.readyState === s.ws.CONNECTING) s.ws.close(code, reason.slice(0, 120));
  }

  /** A signaling fault: tell the page, end its call (or its supervisor seat), close the socket. */
  function fail(s: SocketState, err: unknown): void {
    if (s.failed) return;
    s.failed = true;
    const e = asSignalingError(err);
    signalingErrors.inc({ code: e.code });
    const level = e.code === 'INTERNAL' ? 'error' : 'warn';
    log[level]({ socket: s.id, role: s.role, sessionId: s.call?.sessionId, code: e.code, err: e.message }, 'signaling error: closing this call');
    send(s, { type: 'error', code: e.code, message: e.message });
    if (s.role === 'caller' && s.call) void s.call.end(`signaling_error:${e.code}`);
    else if (s.call && s.listener) s.call.removeListener(s.listener);
    closeSocket(s, closeCodeOf(e.code), e.code);
  }

  function onConnection(ws: WebSocket, req: http.IncomingMessage): void {
    const s: SocketState = {
      id: randomUUID().slice(0, 8),
      ws,
      tokens: cfg.MAX_MESSAGES_PER_S * 2,
      refilledAt: Date.now(),
      chain: Promise.resolve(),
      failed: false,
      hungUp: false,
    };
    sockets.add(s);
    socketsGauge.set(sockets.size);
    log.debug({ socket: s.id, remote: req.socket.remoteAddress }, 'signaling socket open');
    s.joinTimer = setTimeout(() => {
      if (!s.role) fail(s, new SignalingError('JOIN_TIMEOUT', `no join within ${cfg.JOIN_TIMEOUT_MS} ms`));
    }, cfg.JOIN_TIMEOUT_MS);
    ws.on('error', (err) => log.debug({ socket: s.id, err: err.message }, 'signaling socket error'));
    ws.on('message', (data, isBinary) => onMessage(s, data, isBinary));
    ws.on('close', (code) => {
      sockets.delete(s);
      socketsGauge.set(sockets.size);
      if (s.joinTimer) clearTimeout(s.joinTimer);
      if (code === 1009) {
        // ws closed it for exceeding maxPayload (4× the limit) before we could answer.
        signalingErrors.inc({ code: 'MESSAGE_TOO_LARGE' });
        log.warn({ socket: s.id, sessionId: s.call?.sessionId }, 'signaling message over the hard size limit: socket closed');
      }
      if (!s.call || s.call.ended) return;
      if (s.role === 'caller') void s.call.end(s.hungUp ? 'hangup' : code === 1009 ? 'signaling_error:MESSAGE_TOO_LARGE' : 'caller_disconnected');
      else if (s.listener) s.call.removeListener(s.listener);
    });
  }

  function takeToken(s: SocketState): boolean {
    const now = Date.now();
    const rate = cfg.MAX_MESSAGES_PER_S;
    s.tokens = Math.min(rate * 2, s.tokens + ((now - s.refilledAt) / 1000) * rate);
    s.refilledAt = now;
    if (s.tokens < 1) return false;
    s.tokens -= 1;
    return true;
  }

  function onMessage(s: SocketState, data: RawData, isBinary: boolean): void {
    if (s.failed) return;
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : data instanceof ArrayBuffer ? data.byteLength : data.length;
    if (size > cfg.MAX_MESSAGE_BYTES) return fail(s, new SignalingError('MESSAGE_TOO_LARGE', `message of ${size} bytes exceeds ${cfg.MAX_MESSAGE_BYTES}`));
    if (!takeToken(s)) return fail(s, new SignalingError('RATE_LIMITED', `more than ${cfg.MAX_MESSAGES_PER_S} messages per second`));
    if (isBinary) return fail(s, new SignalingError('BAD_MESSAGE', 'binary frames are not accepted; send JSON text'));
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    let msg: ClientMessage;
    try {
      msg = parseClientMessage(text);
    } catch (err) {
      return fail(s, err);
    }
    // One message at a time per socket, in order (join must finish before requests run).
    s.chain = s.chain.then(() => handle(s, msg)).catch((err: unknown) => fail(s, err));
  }

  async function handle(s: SocketState, msg: ClientMessage): Promise<void> {
    if (s.failed) return;
    switch (msg.type) {
      case 'ping':
        send(s, { type: 'pong', ...(msg.t === undefined ? {} : { t: msg.t }), serverTime: Date.now() });
        return;
      case 'join':
        return join(s, msg.token, msg.alias);
      case 'hangup':
        if (!s.call) throw new SignalingError('NOT_JOINED', 'hangup before join');
        s.hungUp = true;
        if (s.role === 'caller') await s.call.end('hangup');
        else {
          if (s.listener) s.call.removeListener(s.listener);
          closeSocket(s, CLOSE.normal, 'left');
        }
        return;
      case 'request': {
        if (!s.call || !s.peer) throw new SignalingError('NOT_JOINED', `request ${msg.method} before join`);
        if (s.call.ended) return;
        const data = await dispatch(s, msg.method, msg.data);
        send(s, { type: 'response', id: msg.id, ok: true, data });
        return;
      }
    }
  }

  async function dispatch(s: SocketState, method: RequestMethod, raw: unknown): Promise<unknown> {
    const peer = s.peer!;
    try {
      switch (method) {
        case 'createTransport':
          return await peer.createTransport(parseRequestData('createTransport', raw).direction);
        case 'connectTransport': {
          const d = parseRequestData('connectTransport', raw);
          await peer.connectTransport(d.transportId, d.dtlsParameters as unknown as ms.DtlsParameters);
          return {};
        }
        case 'produce': {
          const d = parseRequestData('produce', raw);
          const r = await peer.produce({ transportId: d.transportId, kind: d.kind, rtpParameters: d.rtpParameters as unknown as ms.RtpParameters });
          if (s.role === 'caller') await s.call!.announce();
          return r;
        }
        case 'consume': {
          const d = parseRequestData('consume', raw);
          return await peer.consume({ transportId: d.transportId, rtpCapabilities: d.rtpCapabilities as unknown as ms.RtpCapabilities });
        }
      }
    } catch (err) {
      throw asSignalingError(err);
    }
  }

  async function join(s: SocketState, token: string, alias: string | undefined): Promise<void> {
    if (s.role) throw new SignalingError('ALREADY_JOINED', 'this socket already joined a call');
    const claims = verifyToken(cfg.SIGNALING_SECRET, token, Date.now());
    if (draining) throw new SignalingError('DRAINING', 'this gateway is shutting down; try again');
    if (s.joinTimer) clearTimeout(s.joinTimer);
    s.joinTimer = undefined;
    const listener: CallListener = { id: s.id, send: (m) => send(s, m), close: () => closeSocket(s, CLOSE.ended, 'call ended') };
    s.listener = listener;
    if (claims.role === 'supervisor') {
      const call = calls.get(claims.sessionId!);
      if (!call || call.ended) throw new SignalingError('SESSION_NOT_HERE', `session ${claims.sessionId} is not live on this gateway (${replicaId})`);
      s.role = 'supervisor';
      s.call = call;
      try {
        s.peer = call.addSupervisor(listener);
      } catch (err) {
        throw new SignalingError('CAPACITY', (err as Error).message);
      }
      send(s, { type: 'joined', sessionId: call.sessionId, role: 'supervisor', peerId: s.peer.id, routerRtpCapabilities: call.media.routerRtpCapabilities, serverTime: Date.now() });
      return;
    }
    if (calls.size >= cfg.MAX_CALLS) throw new SignalingError('CAPACITY', `this gateway holds its maximum of ${cfg.MAX_CALLS} calls`);
    if (alias !== undefined && !/^client:[A-Za-z0-9+_\-@.]{1,96}$/.test(alias)) {
      throw new SignalingError('ALIAS_REJECTED', 'alias must be client:<id> ([A-Za-z0-9+_-@.], ≤96 chars)');
    }
    s.role = 'caller';
    const sessionId = newSessionId();
    let call: CallSession;
    try {
      call = await openCallSession(
        {
          bus,
          pool,
          log,
          metrics,
          replicaId,
          media: mediaConfig,
          language: cfg.CALL_LANGUAGE,
          maxSupervisors: cfg.MAX_SUPERVISORS_PER_CALL,
          aliases,
          onClosed: (id) => {
            calls.delete(id);
            activeCalls.set(calls.size);
          },
        },
        { sessionId, caller: listener, ...(alias ? { alias } : {}) },
      );
    } catch (err) {
      if ((err as { code?: string }).code === 'ALIAS_TAKEN' || (err as { code?: string }).code === 'INVALID_ALIAS') {
        throw new SignalingError('ALIAS_REJECTED', (err as Error).message);
      }
      throw asSignalingError(err);
    }
    calls.set(sessionId, call);
    activeCalls.set(calls.size);
    callsStarted.inc();
    s.call = call;
    s.peer = call.media.caller;
    if (s.ws.readyState !== s.ws.OPEN) {
      // The page went away while the call was being set up.
      await call.end('caller_disconnected');
      return;
    }
    send(s, { type: 'joined', sessionId, role: 'caller', peerId: s.peer.id, routerRtpCapabilities: call.media.routerRtpCapabilities, serverTime: Date.now() });
  }

  // ---------------------------------------------------------------- lifecycle
  function attachHttp(server: http.Server, info: { port: number; url: string }): void {
    server.on('upgrade', onUpgrade);
    httpBase = info.url;
  }

  async function startTls(): Promise<void> {
    if (!cfg.TLS_CERT || !cfg.TLS_KEY) return;
    const server = https.createServer({ cert: readFileSync(cfg.TLS_CERT), key: readFileSync(cfg.TLS_KEY) }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://localhost');
      routes(req, res, url).then(
        (handled) => {
          if (!handled) {
            res.writeHead(404, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: 'not_found', path: url.pathname }));
          }
        },
        (err: unknown) => {
          log.warn({ err: (err as Error).message }, 'https route failed');
          if (!res.headersSent) res.writeHead(500);
          res.end();
        },
      );
    });
    server.on('upgrade', onUpgrade);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.TLS_PORT, cfg.HTTP_HOST, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const host = cfg.HTTP_HOST === '0.0.0.0' || cfg.HTTP_HOST === '::' ? '127.0.0.1' : cfg.HTTP_HOST;
    tlsBase = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    tlsServer = server;
  }

  return {
    pool,
    routes,
    attachHttp,
    calls: summaries,
    baseUrl,
    mintToken(role, sessionId, ttlS) {
      return mintToken(cfg.SIGNALING_SECRET, role, ttlS ?? cfg.TOKEN_TTL_S, Date.now(), sessionId);
    },
    ready() {
      if (draining) return 'draining';
      if (!started) return 'starting';
      if (pool.liveWorkers === 0) return 'no live mediasoup worker';
      return true;
    },
    async start() {
      await pool.start();
      await startTls();
      started = true;
      const callUrl = `${baseUrl()}/?token=${encodeURIComponent(mintToken(cfg.SIGNALING_SECRET, 'caller', cfg.TOKEN_TTL_S, Date.now()))}`;
      log.info(
        {
          callUrl,
          tokenTtlS: cfg.TOKEN_TTL_S,
          supervisorHint: `live calls: GET ${baseUrl()}/calls; supervisor link: SIGNALING_SECRET=… node --import tsx services/sfu-gateway/src/token-cli.ts supervisor <sessionId> --base ${baseUrl()}`,
          workers: cfg.MEDIASOUP_WORKERS,
        },
        'call page ready',
      );
    },
    async stop() {
      draining = true;
      // Sockets that never joined: nothing to end.
      for (const s of sockets) if (!s.call) closeSocket(s, CLOSE.unavailable, 'shutting down');
      const open = [...calls.values()];
      if (open.length) log.info({ calls: open.length }, 'ending calls for shutdown');
      const budget = new Promise<void>((r) => setTimeout(r, Math.max(500, cfg.SHUTDOWN_BUDGET_MS / 2)).unref());
      await Promise.race([Promise.all(open.map((c) => c.end('shutdown'))), budget]);
      for (const s of sockets) closeSocket(s, CLOSE.unavailable, 'shutting down');
      wss.close();
      await new Promise<void>((r) => {
        if (!tlsServer) return r();
        tlsServer.close(() => r());
        tlsServer.closeAllConnections();
      });
      await pool.stop();
    },
  };
}
