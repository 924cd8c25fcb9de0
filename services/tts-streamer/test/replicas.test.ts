// Two tts-streamer replicas on one nats-server: speaks are shared (each utterance spoken once,
// by one replica), cancels reach whichever replica streams the turn, transcripts are redacted
// by default, and a stopping replica finishes what it streams and hands back what it has not
// started.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Bus } from '@switchboard/bus';
import { newSessionId } from '@switchboard/contracts';
import { startService, type RunningService } from '@switchboard/runtime';
import { createFliteEngine, type TtsProvider } from '@switchboard/speech';
import { captureLogs, eventually, sleep, startNatsServer, type LogCapture, type NatsServerHandle } from '@switchboard/testkit';
import { defineTtsStreamerService } from '@switchboard/tts-streamer';
import { AudioRecorder, EventRecorder, cancel, countingProvider, producerBus, speak, ttsEnv, type SynthesisCall } from './harness';

interface Replica {
  id: string;
  svc: RunningService;
  calls: SynthesisCall[];
  logs: LogCapture;
}

let server: NatsServerHandle;
let bus: Bus;
let audio: AudioRecorder;
let events: EventRecorder;
// One engine for both in-process replicas (each real replica is its own process with its own).
let engine: TtsProvider;
const replicas: Replica[] = [];

async function startReplica(id: string, extra: Record<string, string> = {}): Promise<Replica> {
  const wrapped = countingProvider(engine, { closeInner: false });
  const logs = captureLogs();
  const def = defineTtsStreamerService({ createProvider: () => wrapped.provider });
  const svc = await startService(def, ttsEnv(server.url, { REPLICA_ID: id, LOG_LEVEL: 'info', TTS_DRAIN_MS: '6000', ...extra }), { logDestination: logs.stream });
  const r = { id, svc, calls: wrapped.calls, logs };
  replicas.push(r);
  return r;
}

before(async () => {
  server = await startNatsServer();
  bus = await producerBus(server.url);
  audio = await AudioRecorder.start(bus);
  events = await EventRecorder.start(bus);
  engine = createFliteEngine({ voice: 'slt' });
  await startReplica('tts-a');
  await startReplica('tts-b');
});

after(async () => {
  await audio?.stop();
  await events?.stop();
  for (const r of replicas) await r.svc.stop();
  engine?.close();
  await bus?.drain();
  await server?.stop();
});

const done = (sessionId: string, speakId: string) =>
  eventually(() => events.of(sessionId, 'TTS_DONE').find((e) => e.ttsDone?.speakId === speakId), `TTS_DONE ${speakId}`, 30_000, 5);

const spokenBy = (text: string) => replicas.filter((r) => r.calls.some((c) => c.text === text)).map((r) => r.id);

test('two replicas share the speak work; each utterance is spoken once, by one replica', async (t) => {
  const [a, b] = replicas as [Replica, Replica];
  const jobs = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const sessionId = newSessionId();
      const text = `Your ticket number is ${100 + i}.`;
      return { sessionId, text, ...(await speak(bus, { sessionId, text })) };
    }),
  );
  for (const j of jobs) await done(j.sessionId, j.speakId);
  for (const j of jobs) {
    assert.equal(spokenBy(j.text).length, 1, `${j.text} synthesized by exactly one replica`);
    const frames = audio.of(j.sessionId, j.speakId).map((f) => f.frame);
    assert.deepEqual(
      frames.map((f) => f.seq),
      frames.map((_, k) => k),
      'one contiguous stream per utterance',
    );
    assert.ok(frames.at(-1)!.last);
    assert.equal(events.of(j.sessionId, 'TTS_DONE').length, 1);
  }
  const byA = jobs.filter((j) => spokenBy(j.text)[0] === a.id).length;
  t.diagnostic(`utterances spoken: ${a.id} ${byA}, ${b.id} ${jobs.length - byA}`);
  assert.ok(byA > 0 && byA < jobs.length, 'both replicas took work');
});

test('a cancel reaches the replica that streams the turn (fan-out), whichever it is', async () => {
  for (let i = 0; i < 2; i++) {
    const sessionId = newSessionId();
    const text = `This is a rather long answer number ${i} that keeps talking for quite a few seconds so that it can be interrupted halfway through.`;
    const cmd = await speak(bus, { sessionId, text });
    await eventually(() => audio.of(sessionId, cmd.speakId).length > 30, 'streaming');
    await cancel(bus, sessionId, cmd.turnId);
    const d = await done(sessionId, cmd.speakId);
    assert.equal(d.ttsDone!.cancelled, true);
    const n = audio.of(sessionId, cmd.speakId).length;
    await sleep(400);
    assert.equal(audio.of(sessionId, cmd.speakId).length, n, 'no frames after TTS_DONE cancelled');
    // Both replicas saw the cancel: one aborted its stream, the other remembered it.
    const [a, b] = replicas as [Replica, Replica];
    await eventually(
      () =>
        [a, b].every((r) => r.logs.lines.some((l) => l['msg'] === 'tts cancel' && l['turnId'] === cmd.turnId)) &&
        [a, b].some((r) => r.logs.lines.some((l) => l['msg'] === 'tts cancel' && l['turnId'] === cmd.turnId && l['outcome'] === 'aborted_in_flight')),
      'cancel fanned out',
    );
  }
});

test('transcripts are redacted in logs unless LOG_TRANSCRIPTS=1', async () => {
  const sessionId = newSessionId();
  const text = 'My secret account phrase is blue pelican.';
  const cmd = await speak(bus, { sessionId, text });
  await done(sessionId, cmd.speakId);
  const lines = replicas.flatMap((r) => r.logs.lines);
  const streamed = lines.find((l) => l['msg'] === 'utterance streamed' && l['speakId'] === cmd.speakId);
  assert.ok(streamed);
  assert.equal(streamed['transcript'], '[redacted]');
  assert.ok(!lines.some((l) => JSON.stringify(l).includes('blue pelican')), 'text never in the logs');
});

test('a stopping replica finishes the utterance it streams, and hands back speaks it has not started', async (t) => {
  const [a] = replicas as [Replica, Replica];
  // Find an utterance that replica a streams.
  let sessionId = '';
  let cmd: Awaited<ReturnType<typeof speak>> | undefined;
  for (let i = 0; i < 10 && !cmd; i++) {
    sessionId = newSessionId();
    const text = `Please hold on while I transfer you to the billing team, attempt ${i}.`;
    const c = await speak(bus, { sessionId, text });
    await eventually(() => audio.of(sessionId, c.speakId).length > 0, 'streaming');
    if (spokenBy(text)[0] === a.id) cmd = c;
    else await done(sessionId, c.speakId);
  }
  assert.ok(cmd, 'replica a took one of 10 speaks');
  // More utterances of the same call: those replica a pulls queue behind the first (one at a
  // time per session) and must be handed back when it stops.
  const queued = await Promise.all([0, 1, 2].map((k) => speak(bus, { sessionId, turnId: `turn_after_${k}`, text: `And one more thing, number ${k}.` })));
  await sleep(50);
  const stopping = a.svc.stop('test');
  assert.equal((await fetch(`${replicas[1]!.svc.url}/readyz`)).ok, true);
  const first = await done(sessionId, cmd.speakId);
  await stopping;
  assert.equal(first.ttsDone!.cancelled, false, 'the streaming utterance finished');
  assert.ok(audio.of(sessionId, cmd.speakId).at(-1)!.frame.last);
  for (const [k, q] of queued.entries()) {
    const d = await done(sessionId, q.speakId);
    assert.equal(d.ttsDone!.cancelled, false);
    assert.equal(events.of(sessionId, 'TTS_DONE').filter((e) => e.ttsDone?.speakId === q.speakId).length, 1);
    assert.deepEqual(spokenBy(`And one more thing, number ${k}.`), [replicas[1]!.id], 'spoken once, by the replica still running');
  }
  const handedBack = a.logs.lines.filter((l) => l['msg'] === 'handler failed, will retry' && l['code'] === 'shutting_down').length;
  t.diagnostic(`speaks replica a had pulled but not started, handed back at stop: ${handedBack} of ${queued.length}`);
  replicas.shift(); // stopped
});
