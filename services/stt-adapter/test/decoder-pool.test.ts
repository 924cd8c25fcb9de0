// More callers end an utterance at the same moment than there are speech decoders (bench/load at
// 8 calls: 8 callers, 4 decoders). An utterance that got no decoder while it was spoken used to
// try once when it ended and, the pool still full, end without a final — a question the caller
// waits for in vain (1 of 24 turns unanswered). It now waits for a decoder (bounded) and is
// transcribed from its onset: every utterance gets its final.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, exclusiveTestFile } from '@switchboard/testkit';
import { EventType, newSessionId } from '@switchboard/contracts';
import { concatAudio, silence, synthesizeFixture } from '@switchboard/speech';
import { startAdapterUnderTest, type AdapterUnderTest, metricValue, streamAudio } from './harness';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const CALLERS = 3;

/** the adapter under test */
let sut: AdapterUnderTest;

before(async () => {
  // One recogniser thread with a single decoder: every caller but one speaks with the pool full.
  sut = await startAdapterUnderTest({ STT_POOL_MAX: '1', STT_WORKERS: '1' });
});

after(() => sut?.stop());

test(`${CALLERS} callers ending an utterance at once with one decoder: each gets its final, none is dropped for want of a decoder`, async () => {
  const speech = await synthesizeFixture('where is my order', 'flite:slt');
  const audio = concatAudio(silence(600), speech, silence(1500));
  const sessions = Array.from({ length: CALLERS }, () => newSessionId());
  await Promise.all(sessions.map((id) => streamAudio(sut.bus, id, audio)));
  const finals = await eventually(
    () => {
      const got = sessions.map((id) => sut.rec.of(id, EventType.STT_FINAL).length);
      return got.every((n) => n >= 1) ? got : undefined;
    },
    'a final for every caller',
    20_000,
  ).catch(() => sessions.map((id) => sut.rec.of(id, EventType.STT_FINAL).length));
  const noDecoder = metricValue(await sut.metrics(), 'stt_utterances_without_final_total', 'reason="no_decoder"');
  assert.deepEqual(finals, sessions.map(() => 1), `one final per caller (dropped for want of a decoder: ${noDecoder})`);
  assert.equal(noDecoder, 0);
  for (const id of sessions) assert.match(sut.rec.of(id, EventType.STT_FINAL)[0]!.event.sttFinal!.text, /order/, 'transcribed from the onset');
});
