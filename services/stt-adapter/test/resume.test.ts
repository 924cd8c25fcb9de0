// A replica that takes a session over replays the last seconds of its audio and continues the
// previous owner's utterance numbering (the ResumePoint read from the event log). With the real
// engines (Silero VAD, PocketSphinx), no NATS, in audio time.
// Found by the 100-kill pipeline run: a takeover whose replay began in the tail of an utterance
// the previous owner had already ended and transcribed heard that tail as a new utterance — a
// second final ("my password" after "how do i reset my password") and an extra turn.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { concatAudio, frames20ms, silence, speechBoundsByEnergy, synthesizeFixture, wordErrorRate, type PcmAudio } from '@switchboard/speech';
import { SttAdapterConfigSchema } from '../src/config';
import { createEngines, type SttEngines } from '../src/providers';
import { SessionRecognizer, type RecognizerEvent, type ResumePoint } from '../src/core/session-recognizer';

let engines: SttEngines;
const config = SttAdapterConfigSchema.parse({ STT_POOL_MAX: '2', STT_WORKERS: '0' });

before(async () => {
  engines = await createEngines(config, { warn: () => {}, info: () => {} });
});
after(async () => {
  await engines?.close();
});

/** Feeds `audio` as 20 ms frames from audio position `fromMs` to a recognizer resuming at `resume`. */
async function replay(audio: PcmAudio, fromMs: number, resume: ResumePoint): Promise<RecognizerEvent[]> {
  const events: RecognizerEvent[] = [];
  const rec = new SessionRecognizer({
    vad: engines.vad,
    stt: engines.stt,
    segmenter: { onsetConfirmMs: config.VAD_ONSET_CONFIRM_MS, hangoverMs: config.VAD_HANGOVER_MS },
    prerollMs: config.STT_PREROLL_MS,
    partialEveryMs: 0,
    maxUtteranceMs: 20_000,
    gatedGraceMs: 0,
    resumeToleranceMs: config.STT_RESUME_TOLERANCE_MS,
    mic: 'OPEN',
    resume,
    firstUtterance: 0,
    sink: (ev) => events.push(ev),
  });
  let audioMs = fromMs;
  for (const samples of frames20ms(audio.samples, 16000)) {
    await rec.push({ audioMs, samples });
    audioMs += 20;
  }
  // let the last final's search pass finish
  await new Promise((r) => setTimeout(r, 1_500));
  rec.close();
  return events;
}

test('a replay that begins in the tail of an utterance already ended and transcribed does not transcribe that tail again; the next utterance gets the next index', async () => {
  const said = await synthesizeFixture('how do i reset my password', 'flite:slt');
  const next = await synthesizeFixture('where is my order', 'flite:slt');
  const bounds = speechBoundsByEnergy(said.samples, 16000)!;
  // The previous owner heard the whole utterance: onset at 10 000 ms of the call's audio.
  const onsetMs = 10_000;
  const cutMs = Math.round((bounds.startMs + (bounds.endMs - bounds.startMs) * 0.55) / 20) * 20; // the replay starts here, in "…my password"
  const tail: PcmAudio = { sampleRate: 16000, samples: said.samples.subarray(cutMs * 16) };
  const fromMs = onsetMs - bounds.startMs + cutMs;
  const endAudioMs = onsetMs + (bounds.endMs - bounds.startMs);
  const events = await replay(concatAudio(tail, silence(1200), next, silence(1200)), fromMs, {
    lastStart: { utterance: 6, audioMs: onsetMs },
    lastStartEnded: true,
    lastEndAudioMs: endAudioMs,
  });
  const finals = events.filter((e): e is Extract<RecognizerEvent, { type: 'final' }> => e.type === 'final');
  const starts = events.filter((e) => e.type === 'speech_started');
  console.log(`# stt resume: replay from audio ${fromMs} (utterance 6 ran ${onsetMs}–${endAudioMs}); starts ${JSON.stringify(starts)}; finals ${JSON.stringify(finals.map((f) => [f.utterance, f.text]))}`);
  assert.equal(finals.length, 1, `one final (the tail is not transcribed again): ${JSON.stringify(finals.map((f) => f.text))}`);
  assert.equal(finals[0]!.utterance, 7, 'the next utterance continues the numbering');
  assert.ok(wordErrorRate('where is my order', finals[0]!.text).wer <= 0.25, finals[0]!.text);
});
