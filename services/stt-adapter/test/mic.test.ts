// The microphone contract through MIC_SET commands on the bus: GATED audio only raises
// SPEECH_STARTED (barge-in) — fast, dated at the true onset — and never a transcript; a barge-in
// answered with MIC_SET OPEN mid-utterance (or just after it) is transcribed from its onset;
// CLOSED ignores audio.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually } from '@switchboard/testkit';
import { EventType, MicState, newSessionId } from '@switchboard/contracts';
import { concatAudio, silence, speechBoundsByEnergy, synthesizeFixture, wordErrorRate } from '@switchboard/speech';
import { startAdapterUnderTest, type AdapterUnderTest, metricValue, sendMic, streamAudio } from './harness';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

/** the adapter under test */
let sut: AdapterUnderTest;

before(async () => {
  sut = await startAdapterUnderTest();
});

after(() => sut?.stop());

/** Sends MIC_SET and waits until the adapter has seen it (its fan-out consumer counts commands). */
async function setMic(sessionId: string, state: MicState): Promise<void> {
  const before = metricValue(await sut.metrics(), 'stt_mic_commands_total');
  await sendMic(sut.bus, sessionId, state);
  await eventually(async () => metricValue(await sut.metrics(), 'stt_mic_commands_total') > before, 'MIC_SET consumed', 5_000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

test('GATED: speech onset → SPEECH_STARTED (mic GATED) dated within 100 ms of the onset, quickly, and no transcript', async (t) => {
  const sentences = ['stop', 'I want to talk to a human', 'hello world'];
  const wall: number[] = [];
  for (const sentence of sentences) {
    const sessionId = newSessionId();
    await setMic(sessionId, MicState.MIC_STATE_GATED);
    const speech = await synthesizeFixture(sentence, 'flite:slt');
    const bounds = speechBoundsByEnergy(speech.samples, 16000)!;
    const lead = 1000;
    const onset = lead + bounds.startMs;
    // Real time: the wall-clock latency is measured from when the onset's frame was sent.
    const { sentAt } = await streamAudio(sut.bus, sessionId, concatAudio(silence(lead), speech, silence(1500)), { speed: 1 });
    const started = await eventually(() => sut.rec.of(sessionId, EventType.SPEECH_STARTED)[0], 'SPEECH_STARTED');
    const s = started.event.speechStarted!;
    assert.equal(s.mic, MicState.MIC_STATE_GATED);
    assert.ok(Math.abs(s.audioMs - onset) <= 100, `"${sentence}": onset ${s.audioMs} vs true ${onset}`);
    const onsetFrame = Math.floor(onset / 20) * 20;
    const latency = started.at - sentAt.get(onsetFrame)!;
    // Audio time: how much audio after the onset had been sent when the event arrived.
    const audioLatency = Math.max(...[...sentAt].filter(([, at]) => at <= started.at).map(([ms]) => ms)) + 20 - onset;
    wall.push(latency);
    t.diagnostic(`"${sentence}": SPEECH_STARTED ${latency} ms wall-clock after the onset frame was sent (${audioLatency} ms of audio after onset); dated ${s.audioMs - onset} ms from the true onset`);
    await eventually(() => sut.rec.of(sessionId, EventType.SPEECH_ENDED).length === 1, 'SPEECH_ENDED', 30_000);
    await new Promise((r) => setTimeout(r, 1500)); // past the gated grace period
    assert.deepEqual(sut.rec.of(sessionId, EventType.STT_FINAL), [], 'no STT_FINAL while GATED');
    assert.deepEqual(sut.rec.of(sessionId, EventType.STT_PARTIAL), [], 'no STT_PARTIAL while GATED');
  }
  t.diagnostic(`SPEECH_STARTED wall-clock latency after onset: ${wall.join(', ')} ms (median ${median(wall)})`);
  assert.ok(median(wall) <= 150, `median barge-in detection ${median(wall)} ms`);
  assert.ok(Math.max(...wall) <= 300, `worst barge-in detection ${Math.max(...wall)} ms`);
});

test('barge-in: GATED speech, MIC_SET OPEN sent on SPEECH_STARTED → the whole utterance is transcribed', async () => {
  const sentence = 'I want to talk to a human';
  const sessionId = newSessionId();
  await setMic(sessionId, MicState.MIC_STATE_GATED);
  const speech = await synthesizeFixture(sentence, 'flite:kal16');
  // The test plays the orchestrator: SPEAKING → INTERRUPT → LISTENING, MIC_SET OPEN at once.
  let opened = false;
  const watcher = setInterval(() => {
    if (opened) return;
    const s = sut.rec.of(sessionId, EventType.SPEECH_STARTED)[0];
    if (s && s.event.speechStarted!.mic === MicState.MIC_STATE_GATED) {
      opened = true;
      void sendMic(sut.bus, sessionId, MicState.MIC_STATE_OPEN);
    }
  }, 5);
  try {
    await streamAudio(sut.bus, sessionId, concatAudio(silence(800), speech, silence(1500)), { speed: 1 });
    const [final] = await eventually(() => {
      const f = sut.rec.of(sessionId, EventType.STT_FINAL);
      return f.length > 0 ? f : undefined;
    }, 'STT_FINAL after MIC_SET OPEN', 30_000);
    const text = final!.event.sttFinal!.text;
    assert.ok(opened);
    assert.ok(wordErrorRate(sentence, text).wer <= 0.2, `"${text}"`);
    assert.match(text, /^i want/, 'the words spoken while GATED (before OPEN arrived) are in the transcript');
    assert.equal(final!.event.sttFinal!.utterance, 0);
    assert.equal(sut.rec.of(sessionId, EventType.SPEECH_STARTED).length, 1, 'one utterance');
  } finally {
    clearInterval(watcher);
  }
});

test('barge-in: MIC_SET OPEN arriving just after a short GATED utterance ended still yields its final', async () => {
  const sessionId = newSessionId();
  await setMic(sessionId, MicState.MIC_STATE_GATED);
  const speech = await synthesizeFixture('stop', 'flite:slt');
  const { frames } = await streamAudio(sut.bus, sessionId, concatAudio(silence(800), speech, silence(600)), { speed: 1 });
  await eventually(() => sut.rec.of(sessionId, EventType.SPEECH_ENDED).length === 1, 'SPEECH_ENDED', 30_000);
  // keep audio flowing (as the gateway does) while the OPEN arrives late
  const tail = streamAudio(sut.bus, sessionId, silence(1500), { speed: 1, seqStart: frames });
  await sendMic(sut.bus, sessionId, MicState.MIC_STATE_OPEN);
  const [final] = await eventually(() => {
    const f = sut.rec.of(sessionId, EventType.STT_FINAL);
    return f.length > 0 ? f : undefined;
  }, 'STT_FINAL of the gated utterance', 30_000);
  await tail;
  assert.equal(final!.event.sttFinal!.text, 'stop');
});

test('CLOSED: audio is ignored and the session state dropped; OPEN again → heard, numbering continues', async () => {
  const sessionId = newSessionId();
  const hello = await synthesizeFixture('hello world', 'flite:slt');
  await streamAudio(sut.bus, sessionId, concatAudio(silence(500), hello, silence(1000)), { speed: 2 });
  await eventually(() => sut.rec.of(sessionId, EventType.STT_FINAL).length === 1, 'first final', 30_000);
  const before = sut.rec.of(sessionId).length;
  await setMic(sessionId, MicState.MIC_STATE_CLOSED);
  const sessions = async () => ((await (await fetch(`${sut.svc.url}/sessions`)).json()) as { sessions: { sessionId: string }[] }).sessions;
  await eventually(async () => !(await sessions()).some((s) => s.sessionId === sessionId), 'session dropped on CLOSED', 3_000);
  const order = await synthesizeFixture('where is my order', 'flite:slt');
  // A gateway would not even send this audio while CLOSED; the adapter must ignore it anyway.
  await streamAudio(sut.bus, sessionId, concatAudio(silence(300), order, silence(1000)), { speed: 2, seqStart: 200 });
  await new Promise((r) => setTimeout(r, 800));
  assert.equal(sut.rec.of(sessionId).length, before, `nothing new while CLOSED: ${sut.rec.of(sessionId).map((e) => e.event.eventType).join(', ')}`);
  assert.ok(!(await sessions()).some((s) => s.sessionId === sessionId), 'no session state while CLOSED');

  await setMic(sessionId, MicState.MIC_STATE_OPEN);
  await streamAudio(sut.bus, sessionId, concatAudio(silence(300), order, silence(1000)), { speed: 2, seqStart: 400 });
  const finals = await eventually(() => {
    const f = sut.rec.of(sessionId, EventType.STT_FINAL);
    return f.length === 2 ? f : undefined;
  }, 'final after OPEN', 30_000);
  assert.equal(finals[1]!.event.sttFinal!.text, 'where is my order');
  // The new session state continued the numbering from the event log: ids never collide.
  assert.deepEqual(finals.map((f) => f.event.sttFinal!.utterance), [0, 1]);
});
