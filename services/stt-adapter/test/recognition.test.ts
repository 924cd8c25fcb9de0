// The stt-adapter as a service on a real nats-server with the real engines: flite/festival
// speech streamed as 20 ms frames on the bus → SPEECH_STARTED/ENDED at the true boundaries,
// partials, one STT_FINAL per utterance; noise gives nothing; lost/duplicated/reordered frames
// are repaired; transcripts never reach info logs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { eventually, spawnNode } from '@switchboard/testkit';
import { AudioSource, EventType, MicState, newSessionId } from '@switchboard/contracts';
import {
  concatAudio,
  corpusWordErrorRate,
  hasCommand,
  noiseFixture,
  silence,
  speechBoundsByEnergy,
  synthesizeFixture,
  wordErrorRate,
  type FixtureVoice,
} from '@switchboard/speech';
import { adapterEnv, startAdapterUnderTest, type AdapterUnderTest, metricValue, streamAudio, toFrames, type OutFrame } from './harness';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const LEAD_MS = 800;
const TAIL_MS = 1200;
const SPEED = 1; // real time: the replica shares 2 cores with nats-server, the producer and the synthesizers

/** the adapter under test */
let sut: AdapterUnderTest;

before(async () => {
  sut = await startAdapterUnderTest();
});

after(() => sut?.stop());

// Generous: on an oversubscribed box decoding runs behind real time and catches up later.
async function finalsOf(sessionId: string, count: number, timeoutMs = 30_000) {
  return eventually(() => {
    const f = sut.rec.of(sessionId, EventType.STT_FINAL);
    return f.length >= count ? f : undefined;
  }, `${count} STT_FINAL for ${sessionId}`, timeoutMs);
}

interface Case {
  voice: FixtureVoice;
  sentence: string;
  source: AudioSource;
}

const SENTENCES = [
  'hello world',
  'how do I reset my password',
  'where is my order',
  'I want to talk to a human',
  'what are your opening hours',
  'I would like to cancel my subscription',
];
const SOURCES = [AudioSource.AUDIO_SOURCE_WEBRTC, AudioSource.AUDIO_SOURCE_FILE, AudioSource.AUDIO_SOURCE_EXTERNAL_STREAM];

test('sentences from several voices: finals match (WER ≤ 20 %), speech boundaries within 100 ms, one final per utterance', async (t) => {
  const voices: FixtureVoice[] = ['flite:slt', 'flite:kal16'];
  if (await hasCommand('text2wave', ['-h'])) voices.push('festival:slt-hts');
  else t.diagnostic('festival text2wave not installed: flite voices only');
  const cases: Case[] = [];
  for (const voice of voices) {
    // festival is slower to synthesize: half the sentences are enough to cover the voice
    const list = voice.startsWith('festival') ? SENTENCES.slice(0, 3) : SENTENCES;
    list.forEach((sentence, i) => cases.push({ voice, sentence, source: SOURCES[i % SOURCES.length]! }));
  }
  const pairs: { reference: string; hypothesis: string }[] = [];
  const rows: string[] = [];
  // Two calls at a time: concurrent sessions on one replica. Each speaking stream costs ~25 % of the
  // main thread here (PocketSphinx push is synchronous); see the README for capacity.
  const CONCURRENCY = 2;
  let next = 0;
  const failures: string[] = [];
  async function runOne(c: Case): Promise<void> {
    const speech = await synthesizeFixture(c.sentence, c.voice);
    const bounds = speechBoundsByEnergy(speech.samples, 16000);
    assert.ok(bounds, `${c.voice} produced audio for "${c.sentence}"`);
    const truth = { start: LEAD_MS + bounds.startMs, end: LEAD_MS + bounds.endMs };
    const sessionId = newSessionId();
    await streamAudio(sut.bus, sessionId, concatAudio(silence(LEAD_MS), speech, silence(TAIL_MS)), { speed: SPEED, source: c.source });
    const final = (await finalsOf(sessionId, 1).catch(() => []))[0];
    await new Promise((r) => setTimeout(r, 100)); // anything extra would have arrived by now
    if (!final) {
      const types = sut.rec.of(sessionId).map((e) => e.event.eventType);
      failures.push(`${c.voice} "${c.sentence}": no STT_FINAL (events: ${types.join(', ') || 'none'})`);
      pairs.push({ reference: c.sentence, hypothesis: '' });
      return;
    }
    const starts = sut.rec.of(sessionId, EventType.SPEECH_STARTED);
    const ends = sut.rec.of(sessionId, EventType.SPEECH_ENDED);
    const finals = sut.rec.of(sessionId, EventType.STT_FINAL);
    const f = final.event;
    const hyp = f.sttFinal!.text;
    pairs.push({ reference: c.sentence, hypothesis: hyp });
    const dStart = starts[0] ? starts[0].event.speechStarted!.audioMs - truth.start : NaN;
    const dEnd = ends[0] ? ends[0].event.speechEnded!.audioMs - truth.end : NaN;
    rows.push(`${c.voice} "${c.sentence}" -> "${hyp}" dStart=${dStart} dEnd=${dEnd} decodeMs=${f.sttFinal!.decodeMs} conf=${f.sttFinal!.confidence.toFixed(2)}`);
    const check = (ok: boolean, msg: string) => {
      if (!ok) failures.push(`${c.voice} "${c.sentence}": ${msg}`);
    };
    check(starts.length === 1 && ends.length === 1 && finals.length === 1, `one utterance, got ${starts.length}/${ends.length}/${finals.length} starts/ends/finals`);
    check(Math.abs(dStart) <= 100, `SPEECH_STARTED audioMs off by ${dStart} ms`);
    check(Math.abs(dEnd) <= 100, `SPEECH_ENDED audioMs off by ${dEnd} ms`);
    check(starts[0]?.event.speechStarted?.mic === MicState.MIC_STATE_OPEN, 'SPEECH_STARTED with mic OPEN (default)');
    check(f.sttFinal!.isFinal && f.sttFinal!.utterance === 0, 'final is_final, utterance 0');
    check(f.sttFinal!.audioSource === c.source, `audioSource ${f.sttFinal!.audioSource} = frame source ${c.source}`);
    check(f.sttFinal!.speechEndedAudioMs === ends[0]?.event.speechEnded?.audioMs, 'speechEndedAudioMs = SPEECH_ENDED audioMs');
    check(f.eventId === `${sessionId}:stt:0:final` && f.source === 'stt-adapter', `deterministic event id ${f.eventId}`);
    check(f.sttFinal!.language === 'en-US', 'language');
    // order on the stream: start < end < final
    check(starts[0]!.seq < ends[0]!.seq && ends[0]!.seq < final.seq, 'SPEECH_STARTED, SPEECH_ENDED, STT_FINAL in that order');
  }
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < cases.length) await runOne(cases[next++]!);
    }),
  );
  for (const r of rows) t.diagnostic(r);
  const wer = corpusWordErrorRate(pairs);
  t.diagnostic(`WER ${(wer.wer * 100).toFixed(1)}% over ${wer.referenceWords} words, ${cases.length} utterances (${voices.join(', ')})`);
  assert.deepEqual(failures, []);
  assert.ok(wer.wer <= 0.2, `overall WER ${(wer.wer * 100).toFixed(1)}%`);
  const m = await sut.metrics();
  assert.ok(metricValue(m, 'stt_frames_in_total', 'outcome="accepted"') > 1000, 'frames counted');
  assert.ok(metricValue(m, 'stt_decode_ms_count') >= cases.length, 'decode latency observed');
});

test('partials arrive while speaking, only when the text changes, before the final', async () => {
  const sessionId = newSessionId();
  const speech = await synthesizeFixture('I want to change my shipping address please', 'flite:slt');
  await streamAudio(sut.bus, sessionId, concatAudio(silence(500), speech, silence(TAIL_MS)), { speed: SPEED });
  const [final] = await finalsOf(sessionId, 1);
  const partials = sut.rec.of(sessionId, EventType.STT_PARTIAL);
  assert.ok(partials.length >= 1, 'at least one partial');
  const texts = partials.map((p) => p.event.sttPartial!.text);
  for (let i = 1; i < texts.length; i++) assert.notEqual(texts[i], texts[i - 1], 'a partial repeats the previous text');
  assert.ok(partials.every((p) => p.seq < final!.seq && p.event.sttPartial!.text.length > 0));
  assert.deepEqual(
    partials.map((p) => p.event.eventId),
    partials.map((_, i) => `${sessionId}:stt:0:partial:${i}`),
  );
  assert.ok(wordErrorRate('I want to change my shipping address please', final!.event.sttFinal!.text).wer <= 0.2);
});

test('noise and silence produce no transcript', async () => {
  const sessions: string[] = [];
  await Promise.all(
    [-30, -20, -10].map(async (gainDb) => {
      const sessionId = newSessionId();
      sessions.push(sessionId);
      const noise = await noiseFixture(3000, { color: 'pink', gainDb });
      await streamAudio(sut.bus, sessionId, concatAudio(silence(500), noise, silence(TAIL_MS)), { speed: SPEED });
    }),
  );
  const quiet = newSessionId();
  await streamAudio(sut.bus, quiet, silence(2000), { speed: 4 });
  await new Promise((r) => setTimeout(r, 1000));
  for (const s of [...sessions, quiet]) {
    assert.deepEqual(sut.rec.of(s, EventType.STT_FINAL), [], 'no STT_FINAL on noise');
    assert.deepEqual(sut.rec.of(s, EventType.STT_PARTIAL), [], 'no STT_PARTIAL on noise');
  }
  assert.deepEqual(sut.rec.of(quiet), [], 'silence gives no events at all');
});

test('lost, duplicated and reordered frames: the timeline is repaired and the sentence still recognised', async () => {
  const sentence = 'how do I reset my password';
  const speech = await synthesizeFixture(sentence, 'flite:slt');
  const bounds = speechBoundsByEnergy(speech.samples, 16000)!;
  const before = await sut.metrics();
  const sessionId = newSessionId();
  const mangle = (frames: OutFrame[]): OutFrame[] => {
    const out: OutFrame[] = [];
    for (let i = 0; i < frames.length; i++) {
      if (i % 37 === 5) continue; // lost (one frame here and there, inside speech too)
      out.push(frames[i]!);
      if (i % 10 === 3) out.push(frames[i]!); // duplicated right away
      if (i % 25 === 7) out.push(frames[Math.max(0, i - 4)]!); // a stale duplicate of an old frame
    }
    // swap neighbours every 15 frames (reordering within the repair window)
    for (let i = 10; i + 1 < out.length; i += 15) [out[i], out[i + 1]] = [out[i + 1]!, out[i]!];
    return out;
  };
  await streamAudio(sut.bus, sessionId, concatAudio(silence(LEAD_MS), speech, silence(TAIL_MS)), { speed: SPEED, mangle });
  const [final] = await finalsOf(sessionId, 1);
  const wer = wordErrorRate(sentence, final!.event.sttFinal!.text).wer;
  assert.ok(wer <= 0.2, `"${final!.event.sttFinal!.text}" WER ${wer}`);
  const start = sut.rec.of(sessionId, EventType.SPEECH_STARTED)[0]!.event.speechStarted!.audioMs;
  assert.ok(Math.abs(start - (LEAD_MS + bounds.startMs)) <= 100, `onset kept on the audio clock: ${start}`);
  assert.equal(sut.rec.of(sessionId, EventType.STT_FINAL).length, 1);
  const after = await sut.metrics();
  const delta = (name: string, labels: string) => metricValue(after, name, labels) - metricValue(before, name, labels);
  assert.ok(delta('stt_frames_in_total', 'outcome="duplicate"') + delta('stt_frames_in_total', 'outcome="stale"') > 10, 'duplicates dropped');
  assert.ok(delta('stt_frames_in_total', 'outcome="filled"') >= 5, 'lost frames filled with silence');
});

test('a long hole in the sequence ends the utterance (final of what was said), then the next one is heard', async () => {
  const a = await synthesizeFixture('where is my order', 'flite:slt');
  const b = await synthesizeFixture('what are your opening hours', 'flite:kal16');
  const sessionId = newSessionId();
  const firstFrames = toFrames(concatAudio(silence(500), a)).length; // no trailing silence: the hole comes right after
  // frames of the second part continue 5 s later on the sender's clock (e.g. mic closed, then reopened)
  await streamAudio(sut.bus, sessionId, concatAudio(silence(500), a), { speed: SPEED });
  await streamAudio(sut.bus, sessionId, concatAudio(silence(600), b, silence(TAIL_MS)), { speed: SPEED, seqStart: firstFrames + 250 });
  const finals = await finalsOf(sessionId, 2);
  assert.ok(wordErrorRate('where is my order', finals[0]!.event.sttFinal!.text).wer <= 0.25, finals[0]!.event.sttFinal!.text);
  assert.ok(wordErrorRate('what are your opening hours', finals[1]!.event.sttFinal!.text).wer <= 0.2, finals[1]!.event.sttFinal!.text);
  assert.deepEqual(finals.map((f) => f.event.sttFinal!.utterance), [0, 1]);
  const second = sut.rec.of(sessionId, EventType.SPEECH_STARTED)[1]!.event.speechStarted!.audioMs;
  assert.ok(second >= (firstFrames + 250) * 20 + 500, `second onset on the sender's clock: ${second}`);
});

test('a session that stops mid-utterance is dropped after the idle time and its decoder returned', async () => {
  const speech = await synthesizeFixture('I would like to speak to someone about my bill', 'flite:slt');
  const sessionId = newSessionId();
  const cut = concatAudio(silence(400), { sampleRate: 16000, samples: speech.samples.subarray(0, Math.floor(speech.samples.length / 2)) });
  await streamAudio(sut.bus, sessionId, cut, { speed: SPEED });
  await eventually(() => sut.rec.of(sessionId, EventType.SPEECH_STARTED).length === 1, 'speech started');
  const sessionsNow = async () => ((await (await fetch(`${sut.svc.url}/sessions`)).json()) as { sessions: { sessionId: string }[] }).sessions;
  assert.ok((await sessionsNow()).some((s) => s.sessionId === sessionId), 'session active while audio flows');
  await eventually(async () => !(await sessionsNow()).some((s) => s.sessionId === sessionId), 'session dropped after idle', 5_000);
  await eventually(async () => metricValue(await sut.metrics(), 'stt_decoders_in_use') === 0, 'decoders back in the pool', 3_000);
  assert.equal(sut.rec.of(sessionId, EventType.STT_FINAL).length, 0, 'an abandoned utterance gives no final');
  assert.ok(metricValue(await sut.metrics(), 'stt_utterances_without_final_total', 'reason="aborted"') >= 1);
});

test('the replica kept its partition leases throughout (no lost lease under this load)', () => {
  const lost = sut.logs.lines.filter((l) => l['msg'] === 'lease lost');
  assert.deepEqual(lost.map((l) => l['partition']), []);
});

test('logs at info never contain transcripts', () => {
  const words = ['password', 'subscription', 'opening', 'shipping'];
  const leaked = sut.logs.lines.filter((l) => words.some((w) => JSON.stringify(l).toLowerCase().includes(w)));
  assert.deepEqual(leaked, []);
  assert.ok(sut.logs.lines.some((l) => l['msg'] === 'stt final'), 'finals are logged (without text)');
});

test('a missing model stops start-up with a clear error naming the setting', async () => {
  const child = spawnNode(fileURLToPath(new URL('../src/main.ts', import.meta.url)), {
    env: adapterEnv(sut.server.url, { STT_MODEL_DIR: '/nonexistent/en-us', HTTP_PORT: '0' }),
  });
  const code = await child.exited;
  const out = child.lines.join('\n');
  assert.equal(code, 1, out);
  assert.match(out, /stt-adapter failed to start: .*STT_MODEL_DIR.*\/nonexistent\/en-us/);
});
