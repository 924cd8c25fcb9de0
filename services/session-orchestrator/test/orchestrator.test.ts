import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startNatsServer, captureLogs, eventually, type NatsServerHandle } from '@switchboard/testkit';
import { startService, type RunningService } from '@switchboard/runtime';
import { HEADERS, type Bus } from '@switchboard/bus';
import { STREAMS, newSessionId, type Command } from '@switchboard/contracts';
import { SessionControlClient, type ListSessionsResponse, type SessionView, type LatencyReport, type EndSessionResponse } from '@switchboard/contracts/grpc';
import { orchestratorService } from '@switchboard/session-orchestrator';
import { CommandRecorder, emit, orchestratorEnv, producerBus } from './harness';

let server: NatsServerHandle;
let svc: RunningService;
let bus: Bus;
let rec: CommandRecorder;
const logs = captureLogs();

before(async () => {
  server = await startNatsServer();
  bus = await producerBus(server.url);
  svc = await startService(orchestratorService, orchestratorEnv(server.url), { logDestination: logs.stream });
  rec = await CommandRecorder.start(bus);
  await eventually(async () => (await fetch(`${svc.url}/readyz`)).ok, 'orchestrator ready');
});
after(async () => {
  await rec?.stop();
  await svc?.stop();
  await bus?.drain();
  await server?.stop();
});

const getJson = async (path: string) => (await fetch(`${svc.url}${path}`)).json() as Promise<any>;
const state = async (sid: string) => (await getJson(`/sessions/${sid}`)).state as string;
const types = (cmds: Array<{ target: string; command: Command }>) => cmds.map((c) => `${c.target}:${c.command.commandType}`);

test('interleaved events of two sessions reach the right sessions; a whole turn with latency', async () => {
  const a = newSessionId();
  const b = newSessionId();
  await emit(bus, 'CALL_STARTED', a, {});
  await emit(bus, 'CALL_STARTED', b, {});
  await eventually(async () => (await state(a)) === 'LISTENING' && (await state(b)) === 'LISTENING', 'both listening');
  await emit(bus, 'SPEECH_ENDED', a, { audioMs: 1000, durationMs: 800 });
  await emit(bus, 'STT_FINAL', a, { text: 'where is my order', isFinal: true });
  await emit(bus, 'STT_FINAL', b, { text: 'reset my password', isFinal: true });
  await eventually(async () => (await state(a)) === 'THINKING' && (await state(b)) === 'THINKING', 'both thinking');
  const qa = await eventually(() => rec.of(a).find((r) => r.command.commandType === 'RAG_QUERY'), 'query a');
  const qb = await eventually(() => rec.of(b).find((r) => r.command.commandType === 'RAG_QUERY'), 'query b');
  assert.equal(qa.command.ragQuery?.text, 'where is my order');
  assert.equal(qb.command.ragQuery?.text, 'reset my password');
  const turnA = qa.command.ragQuery!.turnId;
  assert.equal(qa.command.correlationId, turnA);
  // b's answer published with a's turn id is stale for b; a's real answer moves only a
  await emit(bus, 'RAG_ANSWER_READY', b, { turnId: turnA, text: 'wrong call' }, { correlationId: turnA });
  await emit(bus, 'RAG_ANSWER_READY', a, { turnId: turnA, text: 'Your order ships tomorrow.', intent: 'faq_question' }, { correlationId: turnA });
  await eventually(async () => (await state(a)) === 'SPEAKING', 'a speaking');
  assert.equal(await state(b), 'THINKING');
  const speak = await eventually(() => rec.of(a).find((r) => r.command.commandType === 'TTS_SPEAK'), 'speak a');
  assert.equal(speak.command.ttsSpeak?.text, 'Your order ships tomorrow.');
  const speakId = speak.command.ttsSpeak!.speakId;
  await emit(bus, 'TTS_STARTED', a, { turnId: turnA, speakId, timeToFirstAudioMs: 40 }, { correlationId: turnA });
  await emit(bus, 'PLAYBACK_STARTED', a, { turnId: turnA, speakId }, { correlationId: turnA });
  await emit(bus, 'TTS_DONE', a, { turnId: turnA, speakId, audioMs: 1500 }, { correlationId: turnA });
  await emit(bus, 'PLAYBACK_DONE', a, { turnId: turnA, speakId, durationMs: 1500 }, { correlationId: turnA });
  await eventually(async () => (await state(a)) === 'LISTENING', 'a back to listening');
  assert.ok(rec.of(b).every((r) => r.command.sessionId === b));
  assert.ok(!rec.of(b).some((r) => r.command.commandType === 'TTS_SPEAK'), 'b never spoke a’s answer');

  const lat = await getJson(`/latency/${a}`);
  assert.equal(lat.sessionId, a);
  const names = lat.transitions.map((t: any) => t.stage);
  for (const n of ['IDLE→LISTENING', 'LISTENING→THINKING', 'THINKING→SPEAKING', 'SPEAKING→LISTENING']) assert.ok(names.includes(n), `${n} in ${names}`);
  assert.ok(lat.stages.some((s: any) => s.stage === 'voice_to_voice' && s.count === 1), JSON.stringify(lat.stages));
  const view = await getJson(`/sessions/${a}`);
  assert.deepEqual(view.contract.mic, 'OPEN');
  assert.deepEqual(view.timeline.map((t: any) => `${t.from}→${t.to}`), ['IDLE→LISTENING', 'LISTENING→THINKING', 'THINKING→SPEAKING', 'SPEAKING→LISTENING']);
  assert.equal((await fetch(`${svc.url}/latency/${newSessionId()}`)).status, 404);
});

test('an event for an unknown session is rejected, dead-lettered, and the active sessions are logged', async () => {
  const known = newSessionId();
  await emit(bus, 'CALL_STARTED', known, {});
  await eventually(async () => (await fetch(`${svc.url}/sessions/${known}`)).ok, 'known session');
  const ghost = newSessionId();
  const before = (await bus.jsm.streams.info(STREAMS.dlq)).state.messages;
  await emit(bus, 'STT_FINAL', ghost, { text: 'hello', isFinal: true });
  const line = await eventually(() => logs.lines.find((l) => l['msg'] === 'event for unknown session rejected' && l['sessionId'] === ghost), 'log line');
  assert.ok((line['activeSessions'] as string[]).includes(known), 'lists the active sessions');
  await eventually(async () => (await bus.jsm.streams.info(STREAMS.dlq)).state.messages > before, 'dead letter');
  const last = await bus.jsm.streams.getMessage(STREAMS.dlq, { last_by_subj: 'voice.dlq.session-orchestrator.unknown_session' });
  assert.equal(last?.header.get(HEADERS.dlqReason), 'unknown_session');
  assert.ok(!rec.all.some((r) => r.command.sessionId === ghost), 'nothing routed anywhere');
  assert.equal((await fetch(`${svc.url}/sessions/${ghost}`)).status, 404);
});

test('100 rapid STT_FINALs: one live turn at a time, each superseded turn cancelled with a reason', async () => {
  const s = newSessionId();
  await emit(bus, 'CALL_STARTED', s, {});
  await Promise.all(Array.from({ length: 100 }, (_, i) => emit(bus, 'STT_FINAL', s, { text: `utterance ${i}`, isFinal: true })));
  await eventually(() => rec.of(s).filter((r) => r.command.commandType === 'RAG_QUERY').length === 100, '100 queries', 20_000);
  const rag = rec.of(s).filter((r) => r.target === 'rag').sort((x, y) => x.seq - y.seq);
  // Walk the rag stream in order: live turns never overlap.
  let live: string | undefined;
  let cancels = 0;
  for (const r of rag) {
    if (r.command.commandType === 'RAG_CANCEL') {
      assert.equal(r.command.ragCancel?.turnId, live, 'cancels the live turn');
      assert.ok(r.command.ragCancel?.reason, 'with a reason');
      live = undefined;
      cancels++;
    } else {
      assert.equal(live, undefined, 'previous turn cancelled before a new one starts');
      live = r.command.ragQuery!.turnId;
    }
  }
  assert.equal(cancels, 99);
  const view = await (await fetch(`${svc.url}/sessions/${s}`)).json() as any;
  assert.equal(view.state, 'THINKING');
  assert.equal(view.turn.turnId, live);
  assert.equal(view.counters.turns, 100);
  const cancelLogs = logs.lines.filter((l) => l['sessionId'] === s && l['msg'] === 'turn cancelled');
  assert.equal(cancelLogs.length, 99);
  assert.ok(cancelLogs.every((l) => typeof l['reason'] === 'string' && (l['reason'] as string).length > 0));
});

test('duplicate publishes and redeliveries produce each command exactly once', async () => {
  const s = newSessionId();
  await emit(bus, 'CALL_STARTED', s, {}, { eventId: `start-${s}` });
  await emit(bus, 'CALL_STARTED', s, {}, { eventId: `start-${s}` }); // same id: deduped by the stream
  await emit(bus, 'STT_FINAL', s, { text: 'cancel my order', isFinal: true }, { eventId: `final-${s}` });
  await emit(bus, 'STT_FINAL', s, { text: 'cancel my order', isFinal: true }, { eventId: `final-${s}` });
  await eventually(async () => (await state(s)) === 'THINKING', 'thinking');
  await new Promise((r) => setTimeout(r, 300));
  const ids = rec.of(s).map((r) => r.command.commandId);
  assert.equal(new Set(ids).size, ids.length, 'no command twice');
  assert.deepEqual(types(rec.of(s)).sort(), ['gateway:MIC_SET', 'rag:RAG_QUERY', 'stt:MIC_SET']);
  assert.equal(rec.of(s).filter((r) => r.command.commandType === 'RAG_QUERY').length, 1);

  // A redelivery: restart the orchestrator and rewind its consumer so every event of the partition is delivered again.
  await svc.stop();
  const { partitionOf } = await import('@switchboard/contracts');
  const p = partitionOf(s, 16);
  await bus.jsm.consumers.delete(STREAMS.events, `orchestrator-p${p}`);
  svc = await startService(orchestratorService, orchestratorEnv(server.url), { logDestination: logs.stream });
  await eventually(async () => logs.lines.some((l) => l['msg'] === 'already applied, skipped') || (await fetch(`${svc.url}/readyz`)).ok, 'restarted');
  await new Promise((r) => setTimeout(r, 1000));
  const ids2 = rec.of(s).map((r) => r.command.commandId);
  assert.deepEqual(ids2, ids, 'replaying the whole partition produced no new command');
  assert.equal(await state(s), 'THINKING');
});

test('gRPC control API: list, get, latency, watch, end', async () => {
  const s = newSessionId();
  await emit(bus, 'CALL_STARTED', s, {});
  await eventually(async () => (await state(s)) === 'LISTENING', 'listening');
  const port = Number((await getJson('/grpc')).port);
  const client = new SessionControlClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = <Req, Res>(fn: (req: Req, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req) =>
    new Promise<Res>((resolve, reject) => fn.call(client, req, (err, res) => (err ? reject(err) : resolve(res))));
  const list = await call<object, ListSessionsResponse>(client.listSessions as never, {});
  assert.ok(list.sessions.some((x) => x.sessionId === s));
  const view = await call<object, SessionView>(client.getSession as never, { sessionId: s });
  assert.equal(view.state, 'LISTENING');
  await assert.rejects(call<object, SessionView>(client.getSession as never, { sessionId: newSessionId() }), /NOT_FOUND|unknown session/);
  const lat = await call<object, LatencyReport>(client.getLatency as never, { sessionId: s });
  assert.ok(lat.transitions.some((t) => t.stage === 'IDLE→LISTENING'));
  const updates: string[] = [];
  const stream = client.watchSession({ sessionId: s });
  stream.on('data', (u: { state: string; transition?: { to: string } }) => updates.push(u.transition ? `→${u.transition.to}` : u.state));
  stream.on('error', () => undefined);
  await eventually(() => updates.length >= 1, 'initial state');
  await emit(bus, 'STT_FINAL', s, { text: 'talk to a human', isFinal: true });
  await eventually(() => updates.includes('→THINKING'), 'watched transition');
  const end = await call<object, EndSessionResponse>(client.endSession as never, { sessionId: s, reason: 'operator' });
  assert.equal(end.accepted, true);
  await eventually(async () => (await state(s)) === 'ENDED', 'ended');
  await eventually(() => rec.of(s).some((r) => r.command.commandType === 'CALL_END'), 'gateway told to end the call');
  stream.cancel();
  client.close();
});
