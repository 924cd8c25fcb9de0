// The gateway's edge, with a real nats-server and the real service (in-process) but no browser:
// the page is served as UTF-8, and every kind of bad signaling (forged/expired token, bad JSON,
// unknown type, wrong transport id, oversized or too many messages, capacity, unknown session)
// gets a readable error on that socket and ends only that call — the other call lives on.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { Bus, AliasRegistry } from '@switchboard/bus';
import { BUCKETS, newSessionId } from '@switchboard/contracts';
import { startService, type RunningService } from '@switchboard/runtime';
import { createLogger } from '@switchboard/telemetry';
import { captureLogs, eventually, startNatsServer, type LogCapture, type NatsServerHandle } from '@switchboard/testkit';
import { sfuGatewayService } from '../src/service';
import { mintToken } from '../src/signaling/tokens';
import { workerBin } from './helpers/media-env';

const SECRET = 'signaling-test-secret-0123456789';

interface Client {
  ws: WebSocket;
  messages: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
  send(msg: unknown): void;
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
}

async function client(url: string): Promise<Client> {
  const ws = new WebSocket(url);
  const messages: Record<string, unknown>[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: String(reason) })));
  await new Promise<void>((ok, fail) => {
    ws.once('open', () => ok());
    ws.once('error', fail);
  });
  return {
    ws,
    messages,
    closed,
    send: (msg) => ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg)),
    next: (type, timeoutMs = 5000) => eventually(() => messages.find((m) => m['type'] === type), `a ${type} message`, timeoutMs),
  };
}

describe('gateway signaling edge', { timeout: 120_000 }, () => {
  let nats: NatsServerHandle;
  let svc: RunningService;
  let logs: LogCapture;
  let wsUrl: string;
  let bus: Bus;
  const caller = () => mintToken(SECRET, 'caller', 60, Date.now());

  async function joined(alias?: string): Promise<Client & { sessionId: string }> {
    const c = await client(wsUrl);
    c.send({ type: 'join', token: caller(), ...(alias ? { alias } : {}) });
    const j = await c.next('joined');
    return Object.assign(c, { sessionId: String(j['sessionId']) });
  }

  async function calls(): Promise<string[]> {
    const body = (await (await fetch(`${svc.url}/calls`)).json()) as { calls: { sessionId: string }[] };
    return body.calls.map((c) => c.sessionId);
  }

  async function expectError(c: Client, code: string, closeCode: number): Promise<string> {
    const err = await c.next('error');
    assert.equal(err['code'], code, JSON.stringify(err));
    assert.ok(String(err['message']).length > 5, 'a readable message');
    const closed = await c.closed;
    assert.equal(closed.code, closeCode);
    return String(err['message']);
  }

  before(async () => {
    nats = await startNatsServer();
    logs = captureLogs();
    svc = await startService(
      sfuGatewayService,
      {
        NATS_URL: nats.url,
        HTTP_PORT: '0',
        HTTP_HOST: '127.0.0.1',
        PARTITIONS: '16',
        SIGNALING_SECRET: SECRET,
        MEDIASOUP_WORKER_BIN: workerBin(),
        MEDIASOUP_WORKERS: '1',
        MAX_CALLS: '3',
        MAX_MESSAGES_PER_S: '20',
        JOIN_TIMEOUT_MS: '500',
        REPLICA_ID: 'gw-test',
      },
      { logDestination: logs.stream },
    );
    wsUrl = `${svc.url.replace('http', 'ws')}/ws`;
    bus = await Bus.connect({ servers: nats.url, service: 'test', log: createLogger({ service: 'test', level: 'warn' }), partitions: 16 });
  });

  after(async () => {
    await bus?.drain();
    await svc?.stop();
    await nats?.stop();
  });

  it('serves the call page as UTF-8 with its bundle, and logs a ready call link', async () => {
    const page = await fetch(`${svc.url}/?token=x`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    const html = await page.text();
    assert.match(html, /<meta charset="utf-8">/);
    assert.match(html, /id="transcript"/);
    const js = await fetch(`${svc.url}/call.js`);
    assert.equal(js.status, 200);
    assert.ok((await js.text()).length > 20_000, 'bundle includes mediasoup-client');
    const line = logs.lines.find((l) => typeof l['callUrl'] === 'string');
    assert.ok(line, 'a log line with callUrl');
    assert.match(String(line['callUrl']), /^http:\/\/127\.0\.0\.1:\d+\/\?token=v1\./);
    assert.match(String(line['supervisorHint']), /token-cli\.ts supervisor/);
    assert.deepEqual(await calls(), []);
  });

  it('refuses forged and expired tokens', async () => {
    const forged = await client(wsUrl);
    forged.send({ type: 'join', token: mintToken('some-other-secret-123456', 'caller', 60, Date.now()) });
    await expectError(forged, 'TOKEN_INVALID', 4401);
    const expired = await client(wsUrl);
    expired.send({ type: 'join', token: mintToken(SECRET, 'caller', 10, Date.now() - 60_000) });
    assert.match(await expectError(expired, 'TOKEN_EXPIRED', 4401), /expired at/);
  });

  it('bad JSON, unknown types, requests before join and silence get errors', async () => {
    const a = await client(wsUrl);
    a.send('{"type": "join", ');
    await expectError(a, 'BAD_JSON', 4400);
    const b = await client(wsUrl);
    b.send({ type: 'selfDestruct' });
    assert.match(await expectError(b, 'UNKNOWN_TYPE', 4400), /selfDestruct/);
    const c = await client(wsUrl);
    c.send({ type: 'request', id: 1, method: 'createTransport', data: { direction: 'send' } });
    await expectError(c, 'NOT_JOINED', 4400);
    const d = await client(wsUrl);
    await expectError(d, 'JOIN_TIMEOUT', 4400);
  });

  it('a faulty call is ended alone: the other call keeps running', async () => {
    const good = await joined();
    const bad = await joined();
    assert.deepEqual((await calls()).sort(), [good.sessionId, bad.sessionId].sort());
    // A well-formed request for a transport this call does not have.
    bad.send({ type: 'request', id: 7, method: 'connectTransport', data: { transportId: 'not-a-transport', dtlsParameters: { role: 'client', fingerprints: [] } } });
    assert.match(await expectError(bad, 'UNKNOWN_TRANSPORT', 4400), /not-a-transport/);
    await eventually(async () => !(await calls()).includes(bad.sessionId), 'the bad call removed');
    assert.ok((await calls()).includes(good.sessionId), 'the good call lives on');
    // The good call still answers requests.
    good.send({ type: 'request', id: 1, method: 'createTransport', data: { direction: 'recv' } });
    const res = await good.next('response');
    assert.equal(res['ok'], true);
    assert.ok((res['data'] as { iceCandidates: unknown[] }).iceCandidates.length > 0);
    // Bad request data on the good socket ends that call, with the field named.
    good.send({ type: 'request', id: 2, method: 'createTransport', data: { direction: 'sideways' } });
    assert.match(await expectError(good, 'BAD_REQUEST', 4400), /direction/);
    await eventually(async () => (await calls()).length === 0, 'no calls left');
    const warn = logs.lines.find((l) => l['msg'] === 'signaling error: closing this call' && l['code'] === 'UNKNOWN_TRANSPORT');
    assert.ok(warn && warn['level'] === 'warn', 'logged as a warning with its session');
    assert.equal(warn['sessionId'], bad.sessionId);
  });

  it('oversized messages and floods are refused', async () => {
    const big = await joined();
    big.send({ type: 'ping', pad: 'x'.repeat(70 * 1024) });
    await expectError(big, 'MESSAGE_TOO_LARGE', 4413);
    const flood = await joined();
    for (let i = 0; i < 100; i++) flood.send({ type: 'ping', t: i });
    await expectError(flood, 'RATE_LIMITED', 4429);
    await eventually(async () => (await calls()).length === 0, 'their calls ended');
  });

  it('capacity: MAX_CALLS is enforced, and a slot frees when a call hangs up', async () => {
    const cs = [await joined(), await joined(), await joined()];
    const extra = await client(wsUrl);
    extra.send({ type: 'join', token: caller() });
    await expectError(extra, 'CAPACITY', 4503);
    cs[0]!.send({ type: 'hangup' });
    const ended = await cs[0]!.next('ended');
    assert.equal(ended['reason'], 'hangup');
    await eventually(async () => (await calls()).length === 2, 'a slot freed');
    const again = await joined();
    assert.match(again.sessionId, /^ses_/);
    for (const c of [cs[1]!, cs[2]!, again]) c.ws.close();
    await eventually(async () => (await calls()).length === 0, 'all closed');
  });

  it('supervisors: unknown session refused; a live one is joined', async () => {
    const nobody = await client(wsUrl);
    nobody.send({ type: 'join', token: mintToken(SECRET, 'supervisor', 60, Date.now(), newSessionId()) });
    await expectError(nobody, 'SESSION_NOT_HERE', 4404);
    const call = await joined();
    const sup = await client(wsUrl);
    sup.send({ type: 'join', token: mintToken(SECRET, 'supervisor', 60, Date.now(), call.sessionId) });
    const j = await sup.next('joined');
    assert.deepEqual([j['role'], j['sessionId']], ['supervisor', call.sessionId]);
    // The supervisor leaving does not end the call; the caller leaving ends it for both.
    call.ws.close();
    const ended = await sup.next('ended');
    assert.equal(ended['reason'], 'caller_disconnected');
  });

  it('a client alias is bound while the call lives, refused twice, released at the end', async () => {
    const registry = new AliasRegistry(await bus.kv(BUCKETS.aliases), async () => true);
    const first = await joined('client:crm-42');
    assert.equal(await registry.resolve('client:crm-42'), first.sessionId);
    const second = await client(wsUrl);
    second.send({ type: 'join', token: caller(), alias: 'client:crm-42' });
    await expectError(second, 'ALIAS_REJECTED', 4400);
    const bad = await client(wsUrl);
    bad.send({ type: 'join', token: caller(), alias: 'pstn:+15551234' });
    await expectError(bad, 'ALIAS_REJECTED', 4400);
    first.send({ type: 'hangup' });
    await first.closed;
    await eventually(async () => registry.resolve('client:crm-42').then(() => false, () => true), 'alias released');
  });

  it('a dead mediasoup worker ends its calls (worker_died) and is replaced', async () => {
    const c = await joined();
    const body = (await (await fetch(`${svc.url}/calls`)).json()) as { calls: { sessionId: string; workerPid: number }[] };
    const pid = body.calls.find((x) => x.sessionId === c.sessionId)!.workerPid;
    process.kill(pid, 'SIGKILL');
    const ended = await c.next('ended', 10_000);
    assert.equal(ended['reason'], 'worker_died');
    // The pool respawns the worker: a new call works again.
    const again = await eventually(async () => {
      const n = await client(wsUrl);
      n.send({ type: 'join', token: caller() });
      const m = await eventually(() => n.messages.find((x) => x['type'] === 'joined' || x['type'] === 'error'), 'an answer', 3000);
      return m['type'] === 'joined' ? n : undefined;
    }, 'a call on the respawned worker', 15_000);
    const pid2 = ((await (await fetch(`${svc.url}/calls`)).json()) as { calls: { workerPid: number }[] }).calls[0]!.workerPid;
    assert.notEqual(pid2, pid);
    again.ws.close();
    await eventually(async () => (await calls()).length === 0, 'closed');
  });

  it('shutdown ends open calls with reason shutdown and refuses new sockets', async () => {
    const c = await joined();
    const stopping = svc.stop('test');
    const ended = await c.next('ended');
    assert.equal(ended['reason'], 'shutdown');
    await stopping;
    await assert.rejects(client(wsUrl));
    // The one error this file causes on purpose: the worker it killed.
    const errors = logs.lines.filter((l) => (l['level'] === 'error' || l['level'] === 'fatal') && l['msg'] !== 'mediasoup worker died');
    assert.deepEqual(errors, [], 'no other error-level lines');
  });
});
