// Pure parts: WER, sentence splitting, speakable text, the segmenter FSM, WAV/frames/resample,
// and the committed domain LM being fresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_MODEL_PATHS,
  DOMAIN_CORPUS,
  FrameChunker,
  UtteranceSegmenter,
  buildDomainModelFiles,
  corpusWordErrorRate,
  frames20ms,
  highBandTiltDb,
  readWav,
  resample,
  rmsDbfs,
  speechBoundsByEnergy,
  wordErrorRate,
  writeWav,
  type SegmenterEvent,
} from '@switchboard/speech';
import { splitSentences } from '../src/text/sentences';
import { planSpeakable } from '../src/text/speakable';

test('WER counts substitutions, deletions and insertions on normalised words', () => {
  assert.equal(wordErrorRate('How do I reset my password?', 'how do i reset my password').wer, 0);
  const r = wordErrorRate('where is my order', 'where is order');
  assert.deepEqual([r.substitutions, r.deletions, r.insertions, r.referenceWords], [0, 1, 0, 4]);
  assert.equal(r.wer, 1 / 4);
  const ins = wordErrorRate('stop', 'stop now please');
  assert.deepEqual([ins.substitutions, ins.deletions, ins.insertions], [0, 0, 2]);
  assert.equal(wordErrorRate('where is my order', 'where is order now please').wer, 3 / 4);
  assert.equal(wordErrorRate('stop', 'top').wer, 1);
  assert.equal(wordErrorRate('', '').wer, 0);
  assert.equal(wordErrorRate('', 'noise').wer, 1);
  const c = corpusWordErrorRate([
    { reference: 'hello world', hypothesis: 'hello word' },
    { reference: 'stop', hypothesis: 'stop' },
  ]);
  assert.equal(c.wer, 1 / 3);
});

test('sentences split at terminators but not at abbreviations, initials or decimals', () => {
  assert.deepEqual(splitSentences('Dr. Smith paid $3.50 today. Is that right?! Yes.'), [
    'Dr. Smith paid $3.50 today.',
    'Is that right?!',
    'Yes.',
  ]);
  assert.deepEqual(splitSentences('See e.g. the U.S.A. office. J. Smith said "fine." Then he left'), [
    'See e.g. the U.S.A. office.',
    'J. Smith said "fine."',
    'Then he left',
  ]);
  // Non-Latin terminators and text pass through intact.
  assert.deepEqual(splitSentences('నమస్కారం. మీకు ఎలా సహాయం చేయగలను?'), ['నమస్కారం.', 'మీకు ఎలా సహాయం చేయగలను?']);
  const long = Array.from({ length: 80 }, (_, i) => `word${i}`).join(' ');
  const parts = splitSentences(long, 100);
  assert.ok(parts.length > 1 && parts.every((p) => p.length <= 100));
  assert.equal(parts.join(' '), long);
});

test('speakable planning keeps Latin text and reports other scripts and emoji verbatim', () => {
  const telugu = 'నమస్కారం, మీకు ఎలా సహాయం చేయగలను';
  assert.deepEqual(planSpeakable(telugu), { speakable: '', unspeakable: [telugu] });
  const mixed = planSpeakable('Hello 👋 world, café “ok”!');
  assert.equal(mixed.speakable, 'Hello world, cafe "ok"!');
  assert.deepEqual(mixed.unspeakable, ['👋']);
  assert.deepEqual(planSpeakable('Order 42 ships on Jan. 5'), { speakable: 'Order 42 ships on Jan. 5', unspeakable: [] });
});

function runSegmenter(probs: number[], config = {}, energies?: number[]): { events: SegmenterEvent[]; at: number[] } {
  const seg = new UtteranceSegmenter(config);
  const events: SegmenterEvent[] = [];
  const at: number[] = [];
  probs.forEach((probability, i) => {
    const energyDb = energies?.[i];
    for (const e of seg.push({ audioMs: i * 20, probability, ...(energyDb === undefined ? {} : { energyDb }) })) {
      events.push(e);
      at.push((i + 1) * 20);
    }
  });
  for (const e of seg.flush()) {
    events.push(e);
    at.push(probs.length * 20);
  }
  return { events, at };
}

const frames = (ms: number, p: number): number[] => Array.from({ length: ms / 20 }, () => p);

test('segmenter: start dated to the first speech frame, end after the hangover dated to the last', () => {
  const { events, at } = runSegmenter([...frames(400, 0.02), ...frames(600, 0.9), ...frames(600, 0.02)], {
    onsetConfirmMs: 60,
    hangoverMs: 400,
  });
  assert.deepEqual(events, [
    { type: 'speech_start', audioMs: 400 },
    { type: 'speech_end', audioMs: 1000, durationMs: 600 },
  ]);
  assert.equal(at[0], 460, 'start is emitted after onsetConfirmMs of speech');
  assert.equal(at[1], 1400, 'end is emitted after hangoverMs of silence');
});

test('segmenter: pauses shorter than the hangover stay in one utterance; noise and blips emit nothing', () => {
  const one = runSegmenter([...frames(200, 0), ...frames(400, 0.9), ...frames(300, 0.1), ...frames(400, 0.9), ...frames(600, 0)], {
    hangoverMs: 400,
  });
  assert.deepEqual(one.events.map((e) => e.type), ['speech_start', 'speech_end']);
  assert.deepEqual(runSegmenter(frames(3000, 0.2)).events, []);
  assert.deepEqual(runSegmenter([...frames(500, 0), 0.9, 0.9, ...frames(500, 0)], { onsetConfirmMs: 60 }).events, []);
  // Between onsetConfirmMs and minSpeechMs: started (barge-in fired), then discarded.
  const short = runSegmenter([...frames(500, 0), ...frames(100, 0.9), ...frames(600, 0)], { onsetConfirmMs: 60, minSpeechMs: 200 });
  assert.deepEqual(short.events.map((e) => e.type), ['speech_start', 'speech_discarded']);
});

test('segmenter: a quiet tail Silero still rates speech counts towards the hangover (quietReleaseDb)', () => {
  // flite "stop" (Silero v5, 20 ms frames): the word's last loud frame, then a tail 35–55 dB under
  // its peak that Silero rates 0.95 and then 0.43–0.50 (in the hysteresis band) for 140 ms.
  const probs = [...frames(200, 0), ...frames(200, 0.98), 0.95, 0.95, 0.52, 0.43, 0.43, 0.5, 0.5, 0.24, ...frames(600, 0)];
  const energies = [...frames(200, -70), ...frames(200, -14), -49, -61, -67, -49, -47, -53, -59, -63, ...frames(600, -70)];
  const on = runSegmenter(probs, { onsetConfirmMs: 60, hangoverMs: 400 }, energies);
  const off = runSegmenter(probs, { onsetConfirmMs: 60, hangoverMs: 400, quietReleaseDb: 0 }, energies);
  assert.deepEqual(on.events[1], { type: 'speech_end', audioMs: 540, durationMs: 340 }, 'the end is dated as Silero dates it');
  assert.equal(on.at[1], 800, 'but emitted 400 ms after the last loud frame');
  assert.deepEqual(off.events[1], on.events[1]);
  assert.equal(off.at[1], 940, 'without it the tail delayed the end by 140 ms');
  // A quiet stretch inside speech (a weak consonant) does not end an utterance: the next loud frame resets it.
  const inner = runSegmenter(
    [...frames(200, 0), ...frames(300, 0.95), ...frames(300, 0.95), ...frames(300, 0.95), ...frames(600, 0)],
    { onsetConfirmMs: 60, hangoverMs: 400 },
    [...frames(200, -70), ...frames(300, -14), ...frames(300, -50), ...frames(300, -15), ...frames(600, -70)],
  );
  assert.deepEqual(inner.events.map((e) => e.type), ['speech_start', 'speech_end']);
  assert.equal(inner.events[1]!.audioMs, 1100, 'one utterance, to its last speech frame');
  // Without energies the probability alone decides, as before.
  assert.deepEqual(runSegmenter(probs, { onsetConfirmMs: 60, hangoverMs: 400 }).events[1], off.events[1]);
});

test('segmenter: the energy onset path catches a weak-probability onset above the noise floor only', () => {
  const probs = [...frames(600, 0.01), ...frames(200, 0.1), ...frames(400, 0.9), ...frames(600, 0.01)];
  const energies = [...frames(600, -60), ...frames(200, -30), ...frames(400, -20), ...frames(600, -60)];
  const fast = runSegmenter(probs, { onsetConfirmMs: 60 }, energies);
  assert.deepEqual(fast.events[0], { type: 'speech_start', audioMs: 600 });
  const slow = runSegmenter(probs, { onsetConfirmMs: 60 });
  assert.deepEqual(slow.events[0], { type: 'speech_start', audioMs: 800 });
  // Steady loud noise: the floor follows it, the weak path stays quiet.
  assert.deepEqual(runSegmenter(frames(3000, 0.1), {}, frames(3000, -15)).events, []);
});

test('segmenter: the sibilant onset path starts on a loud, high-band-dense onset Silero rates 0, and on nothing else', () => {
  // The decoded "stop" of a call (test/fixtures of the stt-adapter): probability 0.00 for 220 ms.
  const run = (tilt: number, level = -30, withTilt = true): SegmenterEvent[] => {
    const seg = new UtteranceSegmenter({ onsetConfirmMs: 60 });
    const out: SegmenterEvent[] = [];
    for (let i = 0; i < 60; i++) {
      const onset = i >= 30 && i < 37;
      const f = { audioMs: i * 20, probability: i >= 42 && i < 50 ? 0.9 : 0, energyDb: onset ? level : -70 };
      out.push(...seg.push(withTilt ? { ...f, tiltDb: onset ? tilt : -10 } : f));
    }
    return out;
  };
  const s = run(30);
  assert.deepEqual(s[0], { type: 'speech_start', audioMs: 600 }, 'dated at the first sibilant frame');
  assert.deepEqual(run(30, -30, false)[0], { type: 'speech_start', audioMs: 840 }, 'without tiltDb: the vowel, 240 ms later');
  // Broadband noise (white ≈ 0 dB tilt, pink < 0) and a quiet hiss: only the vowel starts it.
  assert.deepEqual(run(3)[0], { type: 'speech_start', audioMs: 840 });
  assert.deepEqual(run(30, -60)[0], { type: 'speech_start', audioMs: 840 });
  // Sibilant alone (no voiced speech follows): started, then discarded (no transcript).
  const seg = new UtteranceSegmenter({ onsetConfirmMs: 60 });
  const hiss: SegmenterEvent[] = [];
  for (let i = 0; i < 60; i++) hiss.push(...seg.push({ audioMs: i * 20, probability: 0, energyDb: i >= 30 && i < 37 ? -30 : -70, tiltDb: 30 }));
  assert.deepEqual(hiss.map((e) => e.type), ['speech_start', 'speech_discarded']);
});

test('highBandTiltDb: sibilant-like high-band noise is far above white, pink-like and voiced signals', () => {
  let x = 12345;
  const rnd = (): number => ((x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  const white = Int16Array.from({ length: 320 }, () => Math.round(8000 * rnd()));
  // High-passed noise (third difference): energy concentrated near the top of the band, like "s".
  const w = Array.from({ length: 323 }, rnd);
  const hiss = Int16Array.from({ length: 320 }, (_, i) => Math.round(2000 * (w[i + 3]! - 3 * w[i + 2]! + 3 * w[i + 1]! - w[i]!)));
  const vowel = Int16Array.from({ length: 320 }, (_, i) => Math.round(8000 * (Math.sin((2 * Math.PI * 200 * i) / 16000) + 0.5 * Math.sin((2 * Math.PI * 700 * i) / 16000))));
  assert.ok(Math.abs(highBandTiltDb(white)) < 6, `white ${highBandTiltDb(white)}`);
  assert.ok(highBandTiltDb(hiss) > 20, `hiss ${highBandTiltDb(hiss)}`);
  assert.ok(highBandTiltDb(vowel) < -20, `vowel ${highBandTiltDb(vowel)}`);
  assert.equal(highBandTiltDb(new Int16Array(320)), 0);
});

test('WAV write/read round trip, frames, chunker, resampling and energy bounds', () => {
  const samples = Int16Array.from({ length: 16000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16000)));
  const back = readWav(writeWav({ sampleRate: 16000, samples }));
  assert.equal(back.sampleRate, 16000);
  assert.deepEqual(back.samples, samples);
  const f = frames20ms(samples.subarray(0, 1000), 16000);
  assert.deepEqual(f.map((x) => x.length), [320, 320, 320, 320]);
  const chunker = new FrameChunker(16000);
  const out = [...chunker.push(samples.subarray(0, 500)), ...chunker.push(samples.subarray(500, 1000))];
  assert.equal(out.length, 3);
  assert.deepEqual(out[2], samples.subarray(640, 960));
  const down = resample(samples, 16000, 8000);
  assert.equal(down.length, 8000);
  assert.ok(Math.abs(rmsDbfs(down) - rmsDbfs(samples)) < 0.5, 'a 440 Hz tone keeps its level');
  const high = Int16Array.from({ length: 16000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 6000 * i) / 16000)));
  assert.ok(rmsDbfs(resample(high, 16000, 8000)) < rmsDbfs(high) - 20, '6 kHz is filtered out, not aliased, at 8 kHz');
  const padded = new Int16Array(32000);
  padded.set(samples.subarray(0, 8000), 8000);
  assert.deepEqual(speechBoundsByEnergy(padded, 16000), { startMs: 500, endMs: 1000 });
});

test('the committed domain LM and dictionary are fresh and cover the corpus', () => {
  const built = buildDomainModelFiles(DOMAIN_CORPUS, readFileSync(DEFAULT_MODEL_PATHS.dict, 'utf8'));
  assert.equal(readFileSync(DEFAULT_MODEL_PATHS.domainLm, 'utf8'), built.arpa, 'run libs/speech/src/scripts/build-lm.ts');
  assert.equal(readFileSync(DEFAULT_MODEL_PATHS.domainDict, 'utf8'), built.dict);
  assert.ok(DOMAIN_CORPUS.length >= 150);
  for (const w of ['hello', 'world', 'password', 'order', 'stop', 'human', 'refund']) assert.ok(built.vocabulary.includes(w), w);
});
