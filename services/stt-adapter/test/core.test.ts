// Pure parts, no engines and no NATS: frame ordering, mic memory, event ids, recognizer worker placement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newSessionId } from '@switchboard/contracts';
import { FrameSequencer, type SeqFrame } from '../src/core/frame-sequencer';
import { MicMemory } from '../src/core/mic-memory';
import { cleanTranscript, readsComplete } from '../src/core/session-recognizer';
import { eventIds, toBusEvent, utteranceOfEventId } from '../src/core/to-events';
import { decodersOf, leastLoaded } from '../src/host/worker-host';

const f = (seq: number): SeqFrame => ({ seq, audioMs: seq * 20, samples: new Int16Array(320).fill(seq) });
const seqs = (r: { frames: readonly { seq: number }[] }) => r.frames.map((x) => x.seq);

function sequencer(reorderWindow = 2, maxFillFrames = 5) {
  return new FrameSequencer({ reorderWindow, maxFillFrames, frameMs: 20, frameSamples: 320 });
}

test('in-order frames pass straight through; duplicates and stale frames are dropped', () => {
  const s = sequencer();
  assert.deepEqual(seqs(s.push(f(10))), [10]);
  assert.deepEqual(seqs(s.push(f(11))), [11]);
  assert.equal(s.push(f(11)).outcome, 'stale');
  assert.equal(s.push(f(3)).outcome, 'stale');
  assert.deepEqual(seqs(s.push(f(12))), [12]);
});

test('a swapped pair is put back in order; a duplicate of a held frame is dropped', () => {
  const s = sequencer();
  s.push(f(0));
  assert.deepEqual(seqs(s.push(f(2))), []);
  assert.equal(s.push(f(2)).outcome, 'duplicate');
  assert.deepEqual(seqs(s.push(f(1))), [1, 2]);
});

test('a lost frame becomes silence once the reorder window is full, keeping the audio clock', () => {
  const s = sequencer(2);
  s.push(f(0));
  s.push(f(2));
  s.push(f(3));
  const r = s.push(f(4));
  assert.deepEqual(seqs(r), [1, 2, 3, 4]);
  assert.equal(r.filled, 1);
  assert.equal(r.frames[0]!.filled, true);
  assert.equal(r.frames[0]!.audioMs, 20);
  assert.ok(r.frames[0]!.samples.every((x) => x === 0));
});

test('a hole longer than the fill limit is a jump: no silence, the next frame is marked', () => {
  const s = sequencer(0, 5);
  s.push(f(0));
  const r = s.push(f(100));
  assert.equal(r.outcome, 'discontinuity');
  assert.deepEqual(seqs(r), [100]);
  assert.equal(r.frames[0]!.afterJump, true);
  assert.equal(r.frames[0]!.audioMs, 2000);
  assert.equal(s.push(f(101)).frames[0]!.afterJump, false);
});

test('flush releases frames held for a missing one when the stream goes quiet', () => {
  const s = sequencer(5);
  s.push(f(0));
  s.push(f(2));
  assert.equal(s.pending, 1);
  assert.deepEqual(seqs(s.flush()), [1, 2]);
  assert.equal(s.pending, 0);
});

test('mic memory keeps the latest state per session, ignores older commands, and is bounded', () => {
  const m = new MicMemory(2);
  assert.equal(m.set('a', 'GATED', 10), true);
  assert.equal(m.set('a', 'OPEN', 5), false, 'an older command does not override');
  assert.equal(m.get('a')?.mic, 'GATED');
  m.set('b', 'OPEN', 1);
  m.set('c', 'CLOSED', 1);
  assert.equal(m.size, 2);
  assert.equal(m.get('a'), undefined, 'least recently updated forgotten first');
});

test('event ids are deterministic per session, utterance and kind, and parse back', () => {
  const sid = newSessionId();
  assert.equal(eventIds.final(sid, 3), `${sid}:stt:3:final`);
  assert.equal(utteranceOfEventId(sid, eventIds.partial(sid, 7, 2)), 7);
  assert.equal(utteranceOfEventId(sid, 'evt_other'), undefined);
  const ev = toBusEvent(
    { type: 'final', utterance: 1, text: 'hello world', confidence: 1.5, speechEndedAudioMs: 1200, decodeMs: 80.6 },
    { sessionId: sid, audioSource: 'AUDIO_SOURCE_WEBRTC' as never, language: 'en-US', now: 1 },
  )!;
  assert.equal(ev.eventId, `${sid}:stt:1:final`);
  assert.deepEqual({ ...ev.sttFinal }, { text: 'hello world', isFinal: true, confidence: 1, utterance: 1, audioSource: 'AUDIO_SOURCE_WEBRTC', speechEndedAudioMs: 1200, decodeMs: 81, language: 'en-US' });
  assert.equal(toBusEvent({ type: 'no_final', utterance: 1, reason: 'empty' }, { sessionId: sid, audioSource: 'AUDIO_SOURCE_TEST' as never, language: '', now: 1 }), undefined);
});

test('transcripts lose filler tokens and alternate-pronunciation marks', () => {
  assert.equal(cleanTranscript('<s> hello(2) [noise] world </s>'), 'hello world');
  assert.equal(cleanTranscript('<sil> ++breath++'), '');
});

test('readsComplete: an utterance ending on a word a sentence goes on from is not complete', () => {
  for (const t of ['hello world', 'how do i reset my password', 'stop', 'what are your opening hours']) assert.equal(readsComplete(t), true, t);
  for (const t of ['', 'i want to check my', 'my order and', 'can you tell me about the', 'um', 'i want']) assert.equal(readsComplete(t), false, t);
});

test('the decoder pool is split between recognizer workers as evenly as it goes, at least one each', () => {
  const split = (pool: number, workers: number): number[] => Array.from({ length: workers }, (_, i) => decodersOf(pool, workers, i));
  assert.deepEqual(split(4, 3), [2, 1, 1], 'the pool total is kept (was ceil: 2 each, 6 decoders)');
  assert.deepEqual(split(4, 2), [2, 2]);
  assert.deepEqual(split(4, 4), [1, 1, 1, 1]);
  assert.deepEqual(split(2, 3), [1, 1, 1], 'a worker never has none');
});

test('a new session opens on the worker with the fewest sessions, then the most decoders', () => {
  // Pool 4 over 3 workers (2/1/1): three calls land on three threads, the fourth beside the 2-decoder one.
  const workers = [0, 1, 2].map((i) => ({ i, sessions: 0, decoders: decodersOf(4, 3, i) }));
  const placed: number[] = [];
  for (let call = 0; call < 4; call++) {
    const w = leastLoaded(workers)!;
    w.sessions++;
    placed.push(w.i);
  }
  assert.deepEqual(placed, [0, 1, 2, 0]);
  assert.equal(leastLoaded([]), undefined);
});
