// The tts-streamer against a real nats-server and the real Flite engine: speak commands in,
// paced 20 ms frames and TTS events out; first-audio latency, cancellation, the prompt cache,
// and text the voice cannot speak.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { Bus } from '@switchboard/bus';
import { SpeakKind, newSessionId, type AudioFrame } from '@switchboard/contracts';
import { startService, type RunningService } from '@switchboard/runtime';
import { createFliteEngine } from '@switchboard/speech';
import { captureLogs, eventually, startNatsServer, sleep, type NatsServerHandle } from '@switchboard/testkit';
import { defineTtsStreamerService } from '@switchboard/tts-streamer';
import { AudioRecorder, EventRecorder, cancel, countingProvider, fmt, median, producerBus, speak, ttsEnv, type SynthesisCall } from './harness';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const AHEAD_MS = 400;
let server: NatsServerHandle;
let bus: Bus;
let svc: RunningService;
let audio: AudioRecorder;
let events: EventRecorder;
let calls: SynthesisCall[];
const logs = captureLogs();

before(async () => {
  server = await startNatsServer();
  bus = await producerBus(server.url);
  audio = await AudioRecorder.start(bus);
  events = await EventRecorder.start(bus);
  const def = defineTtsStreamerService({
    createProvider: (c) => {
      const wrapped = countingProvider(createFliteEngine({ voice: c.TTS_VOICE }));
      calls = wrapped.calls;
      return wrapped.provider;
    },
  });
  svc = await startService(def, ttsEnv(server.url, { TTS_AHEAD_MS: String(AHEAD_MS), LOG_TRANSCRIPTS: '1' }), { logDestination: logs.stream });
  await eventually(async () => (await fetch(`${svc.url}/readyz`)).ok, 'tts-streamer ready');
});

after(async () => {
  await audio?.stop();
  await events?.stop();
  await svc?.stop();
  await bus?.drain();
  await server?.stop();
});

const done = (sessionId: string, speakId: string) =>
  eventually(() => events.of(sessionId, 'TTS_DONE').find((e) => e.ttsDone?.speakId === speakId), `TTS_DONE ${speakId}`, 20_000, 5);

const firstFrame = (sessionId: string, speakId: string) => eventually(() => audio.of(sessionId, speakId)[0], `first frame of ${speakId}`, 10_000, 1);

function assertWellFormed(frames: readonly AudioFrame[], sessionId: string, turnId: string, speakId: string, kind: SpeakKind): void {
  assert.ok(frames.length > 0);
  frames.forEach((f, i) => {
    assert.equal(f.pcm.byteLength, 640, `frame ${i} is 640 bytes`);
    assert.equal(f.seq, i, 'contiguous seq from 0');
    assert.equal(f.audioMs, i * 20);
    assert.equal(f.sampleRate, 16000);
    assert.equal(f.sessionId, sessionId);
    assert.equal(f.turnId, turnId);
    assert.equal(f.speakId, speakId);
    assert.equal(f.kind, kind);
    assert.ok(f.capturedAt > 0, 'capturedAt on every frame');
    assert.equal(f.last, i === frames.length - 1, `last only on the final frame (frame ${i})`);
  });
}

test('first audio frame within 150 ms of a one-sentence speak; frames are well-formed and paced', async (t) => {
  const sessionId = newSessionId();
  const text = 'How do I reset my password?';
  const ttfaRecv: number[] = [];
  const ttfaEvent: number[] = [];
  for (let i = 0; i < 7; i++) {
    const callsBefore = calls.length;
    const t0 = performance.now();
    const cmd = await speak(bus, { sessionId, text, turnId: `turn_ttfa_${i}` });
    const first = await firstFrame(sessionId, cmd.speakId);
    ttfaRecv.push(first.at - t0);
    const doneEv = await done(sessionId, cmd.speakId);
    const started = events.of(sessionId, 'TTS_STARTED').find((e) => e.ttsStarted?.speakId === cmd.speakId);
    assert.ok(started, 'TTS_STARTED published');
    ttfaEvent.push(started.ttsStarted!.timeToFirstAudioMs);
    assert.equal(started.eventId, `${cmd.commandId}:started`, 'event id derived from the command id');
    assert.equal(doneEv.eventId, `${cmd.commandId}:done`);
    assert.equal(started.correlationId, cmd.turnId);

    const frames = audio.of(sessionId, cmd.speakId).map((r) => r.frame);
    assertWellFormed(frames, sessionId, cmd.turnId, cmd.speakId, SpeakKind.SPEAK_KIND_ANSWER);
    // Audio duration ≈ what the engine synthesized (the tail is padded to a whole frame).
    assert.equal(calls.length, callsBefore + 1, 'one synthesis per uncached speak');
    const synthesized = calls[calls.length - 1]!.samples;
    assert.ok(frames.length * 320 >= synthesized && frames.length * 320 < synthesized + 320, `${frames.length} frames for ${synthesized} samples`);
    assert.equal(doneEv.ttsDone!.audioMs, frames.length * 20);
    assert.equal(doneEv.ttsDone!.cancelled, false);
    // Paced: never more than AHEAD_MS ahead of the wall clock (1 ms clock granularity + 5 ms
    // scheduling slack), yet the whole utterance is out before its audio has played.
    const c0 = frames[0]!.capturedAt;
    const lead = frames.map((f, k) => k * 20 - (f.capturedAt - c0));
    assert.ok(Math.max(...lead) <= AHEAD_MS + 6, `max lead ${Math.max(...lead)} ms`);
    const span = frames[frames.length - 1]!.capturedAt - c0;
    assert.ok(span < frames.length * 20, `published over ${span} ms for ${frames.length * 20} ms of audio`);
    if (i === 0) t.diagnostic(`one utterance: ${frames.length} frames (${frames.length * 20} ms audio) published over ${span} ms; max lead ${Math.max(...lead)} ms`);
  }
  const sorted = [...ttfaRecv].sort((a, b) => a - b);
  t.diagnostic(`time to first audio frame at the consumer (ms, sorted): ${fmt(sorted)}; p50 ${median(ttfaRecv).toFixed(1)}`);
  t.diagnostic(`TTS_STARTED timeToFirstAudioMs (command timestamp → first frame published): ${ttfaEvent.join(', ')}`);
  // Flite needs ~40-55 ms of CPU for this sentence; wall time is what the scheduler allows on
  // 2 shared cores: the best run holds the engine to 150 ms, the median gets a looser bound.
  assert.ok(sorted[0]! <= 150, `best time to first audio ${sorted[0]!.toFixed(1)} ms`);
  assert.ok(median(ttfaRecv) <= 300, `median time to first audio ${median(ttfaRecv).toFixed(1)} ms`);
});

test('a multi-sentence answer starts streaming before the whole text is synthesized', async () => {
  const sessionId = newSessionId();
  const text = 'Your order has shipped. It left our warehouse this morning. You will get a tracking number by email. Anything else?';
  const cmd = await speak(bus, { sessionId, text });
  await done(sessionId, cmd.speakId);
  const frames = audio.of(sessionId, cmd.speakId);
  assertWellFormed(
    frames.map((f) => f.frame),
    sessionId,
    cmd.turnId,
    cmd.speakId,
    SpeakKind.SPEAK_KIND_ANSWER,
  );
  const call = calls[calls.length - 1]!;
  assert.equal(call.chunkAt.length, 4, 'one chunk per sentence');
  assert.ok(frames.length * 20 > 4_000, `${frames.length * 20} ms of audio`);
  assert.ok(frames.length * 320 >= call.samples && frames.length * 320 < call.samples + 320);
  // The first frame left before the engine had finished the last sentence.
  assert.ok(frames[0]!.frame.capturedAt < call.chunkAt[3]!, `first frame at ${frames[0]!.frame.capturedAt}, last sentence synthesized at ${call.chunkAt[3]}`);
  assert.ok(frames[0]!.frame.capturedAt <= call.chunkAt[0]! + 5, 'the first frame left as soon as the first sentence was ready');
});

test('a cancel mid-sentence stops frames within 20 ms of the cancel command; TTS_DONE says cancelled', async (t) => {
  const text =
    'Thank you for waiting, I have looked at your account and I can see that the refund for your returned order was issued yesterday afternoon to the card you used for the purchase.';
  const gaps: number[] = [];
  const recvGaps: number[] = [];
  for (let i = 0; i < 4; i++) {
    const sessionId = newSessionId();
    const cmd = await speak(bus, { sessionId, text });
    await firstFrame(sessionId, cmd.speakId);
    await sleep(600 + i * 7); // a different phase against the 20 ms frame clock each time
    const cancelAt = Date.now();
    const cancelPerf = performance.now();
    await cancel(bus, sessionId, cmd.turnId);
    const doneEv = await done(sessionId, cmd.speakId);
    await sleep(500); // anything still coming would arrive now
    const frames = audio.of(sessionId, cmd.speakId);
    const lastFrame = frames[frames.length - 1]!;
    gaps.push(lastFrame.frame.capturedAt - cancelAt);
    recvGaps.push(lastFrame.at - cancelPerf);
    assert.equal(doneEv.ttsDone!.cancelled, true);
    assert.equal(doneEv.ttsDone!.audioMs, frames.length * 20);
    assert.equal(doneEv.metadata['reason'], 'barge_in');
    assert.ok(frames.every((f) => !f.frame.last), 'a cancelled utterance has no last frame');
    assert.ok(frames.length * 20 < 6_000 && frames.length * 20 > 600, `${frames.length * 20} ms of a ~10 s sentence went out`);
    assert.deepEqual(
      frames.map((f) => f.frame.seq),
      frames.map((_, k) => k),
    );
  }
  t.diagnostic(`cancel publish → last frame published (capturedAt, ms; ≤0 = before the cancel was sent): ${gaps.join(', ')}`);
  t.diagnostic(`cancel publish → last frame received by the test (ms): ${fmt(recvGaps)}`);
  for (const g of gaps) assert.ok(g <= 20, `a frame was published ${g} ms after the cancel`);
});

test('a cancel that arrives before its speak: no frames, TTS_DONE cancelled with 0 ms', async () => {
  const remembered = async (): Promise<number> => {
    const m = /switchboard_tts_cancels_total\{[^}]*outcome="remembered"[^}]*\} (\d+)/.exec(await svc.ctx.metrics.text());
    return m ? Number(m[1]) : 0;
  };
  for (const bySpeakId of [false, true]) {
    const sessionId = newSessionId();
    const turnId = `turn_early_${bySpeakId ? 'speak' : 'turn'}`;
    const speakId = `${turnId}:answer`;
    const before = await remembered();
    await cancel(bus, sessionId, bySpeakId ? '' : turnId, bySpeakId ? speakId : '', 'superseded');
    await eventually(async () => (await remembered()) > before, 'cancel remembered');
    const callsBefore = calls.length;
    const cmd = await speak(bus, { sessionId, turnId, speakId, text: 'This must never be heard.' });
    const doneEv = await done(sessionId, cmd.speakId);
    await sleep(300);
    assert.equal(doneEv.ttsDone!.cancelled, true);
    assert.equal(doneEv.ttsDone!.audioMs, 0);
    assert.deepEqual(audio.of(sessionId), [], 'no frames');
    assert.equal(events.of(sessionId, 'TTS_STARTED').length, 0);
    assert.equal(calls.length, callsBefore, 'nothing synthesized');
  }
});

test('fillers and prompts come from the start-up cache: no synthesis, much lower time to first audio', async (t) => {
  const cacheTtfa: number[] = [];
  const synthTtfa: number[] = [];
  const fillerSynth = calls.find((c) => c.text === 'One moment, let me check that.');
  assert.ok(fillerSynth, 'the filler was synthesized at start-up');
  for (let i = 0; i < 5; i++) {
    const sessionId = newSessionId();
    const callsBefore = calls.length;
    let t0 = performance.now();
    // The orchestrator sends its own text with the key; the key wins.
    const f = await speak(bus, { sessionId, turnId: `turn_f${i}`, speakId: `turn_f${i}:filler`, cacheKey: 'filler', text: 'One moment…', kind: SpeakKind.SPEAK_KIND_FILLER });
    cacheTtfa.push((await firstFrame(sessionId, f.speakId)).at - t0);
    const fDone = await done(sessionId, f.speakId);
    assert.equal(calls.length, callsBefore, 'no synthesis for a cached filler');
    const frames = audio.of(sessionId, f.speakId).map((r) => r.frame);
    assertWellFormed(frames, sessionId, f.turnId, f.speakId, SpeakKind.SPEAK_KIND_FILLER);
    assert.equal(frames.length, Math.ceil(fillerSynth.samples / 320));
    assert.equal(fDone.ttsDone!.kind, SpeakKind.SPEAK_KIND_FILLER);
    const started = events.of(sessionId, 'TTS_STARTED')[0]!;
    assert.equal(started.metadata['cacheKey'], 'filler');
    // A comparable uncached sentence, for contrast.
    t0 = performance.now();
    const a = await speak(bus, { sessionId, turnId: `turn_a${i}`, text: `Let me check order number ${41 + i} for you.` });
    synthTtfa.push((await firstFrame(sessionId, a.speakId)).at - t0);
    await done(sessionId, a.speakId);
  }
  t.diagnostic(`time to first audio, cached filler (ms): ${fmt(cacheTtfa)}; p50 ${median(cacheTtfa).toFixed(1)}`);
  t.diagnostic(`time to first audio, synthesized sentence (ms): ${fmt(synthTtfa)}; p50 ${median(synthTtfa).toFixed(1)}`);
  assert.ok(median(cacheTtfa) < median(synthTtfa), 'cache is faster');
  assert.ok(Math.min(...cacheTtfa) <= 25, `best cached first audio ${Math.min(...cacheTtfa).toFixed(1)} ms`);

  // Every configured prompt key is served without synthesis.
  for (const key of ['no_input', 'apology', 'goodbye']) {
    const sessionId = newSessionId();
    const before = calls.length;
    const p = await speak(bus, { sessionId, cacheKey: key, text: 'ignored', kind: SpeakKind.SPEAK_KIND_PROMPT });
    assert.equal((await done(sessionId, p.speakId)).ttsDone!.cancelled, false);
    assert.equal(calls.length, before, `${key} from cache`);
  }
  // An unknown key: synthesized (and streamed) the first time, cached for the next.
  const s1 = newSessionId();
  let before = calls.length;
  const g1 = await speak(bus, { sessionId: s1, cacheKey: 'greeting', text: 'Hello, thanks for calling.', kind: SpeakKind.SPEAK_KIND_PROMPT });
  await done(s1, g1.speakId);
  assert.equal(calls.length, before + 1, 'first use synthesizes');
  before = calls.length;
  const g2 = await speak(bus, { sessionId: s1, turnId: 'turn_g2', cacheKey: 'greeting', text: 'Hello, thanks for calling.', kind: SpeakKind.SPEAK_KIND_PROMPT });
  await done(s1, g2.speakId);
  assert.equal(calls.length, before, 'second use from cache');
  assert.equal(audio.of(s1, g1.speakId).length, audio.of(s1, g2.speakId).length);

  // Visible in metrics and, at debug, in the logs.
  const metrics = await svc.ctx.metrics.text();
  assert.match(metrics, /switchboard_tts_cache_hits_total\{[^}]*key="filler"[^}]*\} 5/);
  assert.match(metrics, /switchboard_tts_cache_misses_total\{[^}]*key="greeting"[^}]*\} 1/);
  assert.match(metrics, /switchboard_tts_time_to_first_audio_ms_count\{[^}]*source="cache"/);
  assert.ok(logs.lines.some((l) => l['msg'] === 'served from cache' && l['cacheKey'] === 'filler' && l['level'] === 'debug'));
});

test('Telugu text does not crash: reported empty, and byte-identical in events and logs', async () => {
  const telugu = 'నమస్కారం, మీకు ఎలా సహాయం చేయగలను';
  const sessionId = newSessionId();
  const cmd = await speak(bus, { sessionId, text: telugu });
  const doneEv = await done(sessionId, cmd.speakId);
  const started = events.of(sessionId, 'TTS_STARTED')[0];
  assert.ok(started, 'TTS_STARTED even with nothing to say');
  assert.equal(doneEv.ttsDone!.audioMs, 0);
  assert.equal(doneEv.ttsDone!.cancelled, false);
  assert.deepEqual(Buffer.from(doneEv.metadata['unspeakable']!, 'utf8'), Buffer.from(telugu, 'utf8'));
  assert.deepEqual(Buffer.from(started.metadata['unspeakable']!, 'utf8'), Buffer.from(telugu, 'utf8'));
  assert.deepEqual(audio.of(sessionId), []);
  const warn = logs.lines.find((l) => l['msg'] === 'text the voice cannot speak was skipped' && l['sessionId'] === sessionId);
  assert.ok(warn, 'logged');
  assert.equal(warn['level'], 'warn');
  assert.deepEqual(warn['transcript'], [telugu]);

  // Mixed: the English is spoken, the Telugu noted.
  const s2 = newSessionId();
  const mixed = await speak(bus, { sessionId: s2, text: 'Your refund is on its way. ధన్యవాదాలు! Anything else?' });
  const mixedDone = await done(s2, mixed.speakId);
  assert.ok(mixedDone.ttsDone!.audioMs > 1_000);
  assert.equal(mixedDone.metadata['unspeakable'], 'ధన్యవాదాలు');
  assert.ok(audio.of(s2, mixed.speakId).at(-1)!.frame.last);
  assert.ok((await fetch(`${svc.url}/readyz`)).ok, 'still ready');
});

test('a burst of 8 calls speaking at once: every utterance streams; time to first audio grows with the queue', async (t) => {
  // One engine per replica synthesizes one sentence at a time (flite's voice state is not
  // made for concurrent use), so simultaneous first sentences queue: this is the replica's
  // capacity figure, and the reason to scale replicas on speak-consumer lag.
  const jobs = await Promise.all(
    Array.from({ length: 8 }, async (_, i) => {
      const sessionId = newSessionId();
      const t0 = performance.now();
      const cmd = await speak(bus, { sessionId, text: `Your appointment is confirmed for ${i + 2} p.m. tomorrow.` });
      return { sessionId, t0, ...cmd };
    }),
  );
  const ttfa: number[] = [];
  for (const j of jobs) {
    ttfa.push((await firstFrame(j.sessionId, j.speakId)).at - j.t0);
    const d = await done(j.sessionId, j.speakId);
    assert.equal(d.ttsDone!.cancelled, false);
    assertWellFormed(
      audio.of(j.sessionId, j.speakId).map((f) => f.frame),
      j.sessionId,
      j.turnId,
      j.speakId,
      SpeakKind.SPEAK_KIND_ANSWER,
    );
  }
  ttfa.sort((a, b) => a - b);
  t.diagnostic(`8 simultaneous speaks, time to first audio (ms, sorted): ${fmt(ttfa)}`);
  // Loose bounds (2 shared cores, other suites running): the figures are the point.
  assert.ok(ttfa[0]! <= 600, `fastest ${ttfa[0]!.toFixed(1)} ms`);
  assert.ok(ttfa[7]! <= 3_000, `slowest ${ttfa[7]!.toFixed(1)} ms`);
});
