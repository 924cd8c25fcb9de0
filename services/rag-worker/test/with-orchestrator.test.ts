// The rag-worker with the real session-orchestrator: the orchestrator's RAG_QUERY (its command
// ids, deadline, history) is answered, and the orchestrator acts on the worker's events.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import type { Bus } from '@switchboard/bus';
import { STREAMS, decodeCommand, makeEvent, newId, newSessionId, subjects, type EventTypeName } from '@switchboard/contracts';
import { startService, type RunningService } from '@switchboard/runtime';
import { orchestratorService } from '@switchboard/session-orchestrator';
import { captureLogs, eventually, startNatsServer, type NatsServerHandle } from '@switchboard/testkit';
import { ragWorkerService } from '../src/index';
import { EventRecorder, producerBus } from './harness';

let server: NatsServerHandle;
let bus: Bus;
let events: EventRecorder;
let orch: RunningService;
let rag: RunningService;
const logs = captureLogs();

const emit = <T extends EventTypeName>(type: T, sessionId: string, payload: Record<string, unknown>, correlationId = '') =>
  bus.publishEvent(makeEvent(type, { sessionId, source: 'test', eventId: newId('evt'), correlationId }, payload as never));
/** The answer's TTS_SPEAK as the orchestrator sent it (its speak id, and the text it will say). */
const speakIdOf = (sid: string, turnId: string): Promise<string> =>
  eventually(async () => {
    const m = await bus.jsm.streams.getMessage(STREAMS.cmd.tts, { last_by_subj: subjects.command('tts', sid, 'TTS_SPEAK') }).catch(() => undefined);
    const speak = m ? decodeCommand(m.data).ttsSpeak : undefined;
    return speak?.turnId === turnId ? speak.speakId : undefined;
  }, 'TTS_SPEAK of the answer');
const view = async (sid: string) => (await (await fetch(`${orch.url}/sessions/${sid}`)).json()) as { state: string; turn?: { turnId: string } };

before(async () => {
  server = await startNatsServer();
  bus = await producerBus(server.url);
  events = await EventRecorder.start(bus);
  const common = { NATS_URL: server.url, HTTP_PORT: '0', HTTP_HOST: '127.0.0.1', PARTITIONS: '16', LOG_LEVEL: 'info' };
  orch = await startService(
    orchestratorService,
    { ...common, GRPC_PORT: '0', LEASE_TTL_MS: '1000', NO_INPUT_MS: '600000', FILLER_AFTER_MS: '600000', TURN_TIMEOUT_MS: '600000' },
    { logDestination: logs.stream },
  );
  rag = await startService(ragWorkerService, { ...common, KB_WATCH: '0' }, { logDestination: logs.stream });
});
after(async () => {
  await rag?.stop();
  await orch?.stop();
  await events?.stop();
  await bus?.drain();
  await server?.stop();
});

it('a call: question → answer spoken; the follow-up uses the history the orchestrator keeps', async () => {
  const sid = newSessionId();
  await emit('CALL_STARTED', sid, {});
  await eventually(async () => (await view(sid)).state === 'LISTENING', 'listening');

  await emit('STT_FINAL', sid, { text: 'how fast is express shipping', isFinal: true });
  const first = (await events.waitFor(sid, 'RAG_ANSWER_READY')).event;
  assert.deepEqual(first.ragAnswerReady!.sourceIds, ['shipping-times']);
  await eventually(async () => (await view(sid)).state === 'SPEAKING', 'speaking the answer');
  // Finish playing it, as the tts-streamer and gateway would.
  const turn1 = first.correlationId;
  const speakId = await speakIdOf(sid, turn1);
  await emit('TTS_DONE', sid, { turnId: turn1, speakId, audioMs: 1000 }, turn1);
  await emit('PLAYBACK_DONE', sid, { turnId: turn1, speakId, durationMs: 1000 }, turn1);
  await eventually(async () => (await view(sid)).state === 'LISTENING', 'back to listening');

  await emit('STT_FINAL', sid, { text: 'and how much does that cost', isFinal: true });
  const second = await eventually(
    () => events.of(sid).find((s) => s.event.eventType === 'RAG_ANSWER_READY' && s.event.correlationId !== turn1),
    'second answer',
  );
  assert.deepEqual(second.event.ragAnswerReady!.sourceIds, ['shipping-costs'], 'resolved from the history in the RAG_QUERY');
  assert.match(second.event.ragAnswerReady!.text, /12 dollars 99/);
  await eventually(async () => (await view(sid)).state === 'SPEAKING', 'speaking the follow-up');
  assert.ok(!logs.lines.some((l) => l['level'] === 'error'), JSON.stringify(logs.lines.filter((l) => l['level'] === 'error').slice(0, 3)));
});

it('"I want to talk to a person": the call ends as escalated after the hand-over sentence', async () => {
  const sid = newSessionId();
  await emit('CALL_STARTED', sid, {});
  await eventually(async () => (await view(sid)).state === 'LISTENING', 'listening');
  await emit('STT_FINAL', sid, { text: 'I want to talk to a person', isFinal: true });
  const esc = await events.waitFor(sid, 'ESCALATION_REQUESTED');
  const turn = esc.event.correlationId;
  await eventually(async () => (await view(sid)).state === 'SPEAKING', 'speaking the hand-over');
  const speakId = await speakIdOf(sid, turn);
  await emit('TTS_DONE', sid, { turnId: turn, speakId, audioMs: 800 }, turn);
  await emit('PLAYBACK_DONE', sid, { turnId: turn, speakId, durationMs: 800 }, turn);
  await eventually(async () => (await view(sid)).state === 'ENDED', 'ended as escalated');
});
