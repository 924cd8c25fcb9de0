// Real engines end to end: flite/festival speech padded with known silence, streamed in 20 ms
// frames through Silero VAD + segmenter + PocketSphinx.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  SpeechError,
  concatAudio,
  corpusWordErrorRate,
  createPocketSphinxEngine,
  FAST_SEARCH_ARGS,
  STOCK_SEARCH_ARGS,
  decoderAb,
  createStreamingRecognizer,
  createVad,
  frames20ms,
  hasCommand,
  noiseFixture,
  silence,
  speechBoundsByEnergy,
  synthesizeFixture,
  type FixtureVoice,
  type PcmAudio,
  type PocketSphinxEngine,
  type RecognizerEvent,
  type Vad,
} from '@switchboard/speech';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const SENTENCES = [
  'hello world',
  'how do I reset my password',
  'where is my order',
  'stop',
  'I want to talk to a human',
  'what are your opening hours',
];
const LEAD_MS = 800;
const TAIL_MS = 1200;

let stt: PocketSphinxEngine;
let vad: Vad;
const warnings: string[] = [];

before(async () => {
  stt = await createPocketSphinxEngine({ pool: { warm: 1, max: 3 } }, { logger: { warn: (_o, m) => warnings.push(m) } });
  vad = await createVad();
});
after(async () => {
  stt.close();
  await vad.close();
});

interface Timed {
  event: RecognizerEvent;
  /** Audio time at which the event was emitted (end of the frame that produced it). */
  emittedAtMs: number;
}

async function stream(audio: PcmAudio): Promise<Timed[]> {
  const rec = createStreamingRecognizer({ vad, stt });
  const out: Timed[] = [];
  for (const frame of frames20ms(audio.samples, 16000)) {
    for (const event of await rec.push(frame)) out.push({ event, emittedAtMs: rec.audioMs });
  }
  for (const event of rec.flush()) out.push({ event, emittedAtMs: rec.audioMs });
  rec.close();
  return out;
}

test('recognises call-center and general sentences from two voices with accurate boundaries', async (t) => {
  const voices: FixtureVoice[] = ['flite:slt', 'flite:kal16'];
  if (await hasCommand('text2wave', ['-h'])) voices.push('festival:slt-hts');
  else t.diagnostic('festival text2wave not installed: testing flite voices only');
  const pairs: { reference: string; hypothesis: string }[] = [];
  const rows: string[] = [];
  for (const voice of voices) {
    for (const sentence of SENTENCES) {
      const speech = await synthesizeFixture(sentence, voice);
      const bounds = speechBoundsByEnergy(speech.samples, 16000);
      assert.ok(bounds, `${voice} produced audio for "${sentence}"`);
      const truth = { start: LEAD_MS + bounds.startMs, end: LEAD_MS + bounds.endMs };
      const events = await stream(concatAudio(silence(LEAD_MS), speech, silence(TAIL_MS)));
      const starts = events.filter((e) => e.event.type === 'speech_start');
      const end = events.find((e) => e.event.type === 'speech_end');
      const finals = events.flatMap((e) => (e.event.type === 'final' ? [e.event.text] : []));
      const hypothesis = finals.join(' ');
      pairs.push({ reference: sentence, hypothesis });
      assert.equal(starts.length, 1, `${voice} "${sentence}": one utterance, got ${starts.length}`);
      assert.ok(end && end.event.type === 'speech_end', `${voice} "${sentence}": speech_end`);
      const start = starts[0]!;
      const dStart = start.event.audioMs - truth.start;
      const dEnd = end.event.audioMs - truth.end;
      const onsetLatency = start.emittedAtMs - truth.start;
      rows.push(`${voice} "${sentence}" -> "${hypothesis}" dStart=${dStart} dEnd=${dEnd} onsetLatency=${onsetLatency}`);
      assert.ok(Math.abs(dStart) <= 100, `${voice} "${sentence}": start ${start.event.audioMs} vs truth ${truth.start}`);
      assert.ok(Math.abs(dEnd) <= 100, `${voice} "${sentence}": end ${end.event.audioMs} vs truth ${truth.end}`);
      assert.ok(onsetLatency <= 150, `${voice} "${sentence}": barge-in onset reported ${onsetLatency} ms after real onset`);
    }
  }
  for (const r of rows) t.diagnostic(r);
  const wer = corpusWordErrorRate(pairs);
  t.diagnostic(`WER ${(wer.wer * 100).toFixed(1)}% over ${wer.referenceWords} words (${voices.join(', ')}); LM mode ${stt.lmMode}`);
  assert.equal(stt.lmMode, 'mixed');
  assert.ok(wer.wer <= 0.2, `overall WER ${(wer.wer * 100).toFixed(1)}%`);
});

// What the narrower search saves in CPU is a figure of bench/speech/speech.ts (a timed assertion
// here failed on shared cores: 0.93 against 0.92 once); here, that it hears the same words.
test('the default search settings decode the same words as stock PocketSphinx', async (t) => {
  const stock = await createPocketSphinxEngine({ pool: { warm: 1, max: 1, keepSpare: false }, decoderArgs: { ...STOCK_SEARCH_ARGS } });
  const fast = await createPocketSphinxEngine({ pool: { warm: 1, max: 1, keepSpare: false } });
  assert.ok(Object.keys(FAST_SEARCH_ARGS).length > 0);
  try {
    const clips: { sentence: string; pcm: Int16Array }[] = [];
    for (const voice of ['flite:slt', 'flite:kal16'] as const) {
      for (const sentence of SENTENCES) clips.push({ sentence, pcm: concatAudio(silence(300), await synthesizeFixture(sentence, voice), silence(160)).samples });
    }
    const r = decoderAb(fast, stock, clips.map((c) => c.pcm));
    r.texts.forEach(({ a, b }, i) => assert.equal(a, b, `"${clips[i]!.sentence}": same transcript`));
    t.diagnostic(`CPU ms over ${clips.length} utterances: final pass ${r.cpuMs.a.pass.toFixed(0)} vs stock ${r.cpuMs.b.pass.toFixed(0)}; streaming push ${r.cpuMs.a.push.toFixed(0)} vs ${r.cpuMs.b.push.toFixed(0)}`);
  } finally {
    stock.close();
    fast.close();
  }
});

test('partial hypotheses arrive while speaking and the final text follows speech_end', async () => {
  const speech = await synthesizeFixture('I want to change my shipping address please', 'flite:slt');
  const events = await stream(concatAudio(silence(500), speech, silence(TAIL_MS)));
  const types = events.map((e) => e.event.type).filter((t) => t !== 'partial');
  assert.deepEqual(types, ['speech_start', 'speech_end', 'final']);
  assert.ok(events.some((e) => e.event.type === 'partial' && e.event.text.length > 0), 'at least one partial');
});

test('noise and silence give no final text', async () => {
  for (const gainDb of [-30, -20, -10]) {
    const noise = await noiseFixture(4000, { color: 'pink', gainDb });
    const events = await stream(concatAudio(silence(500), noise, silence(TAIL_MS)));
    const finals = events.filter((e) => e.event.type === 'final');
    assert.deepEqual(finals, [], `pink noise at ${gainDb} dB`);
  }
  const quiet = await stream(silence(3000));
  assert.deepEqual(quiet, []);
});

test('1000 start/abort cycles do not leak decoder state', (t) => {
  const frame = new Int16Array(320).map((_, i) => Math.round(3000 * Math.sin(i / 3)));
  const cycle = (): void => {
    const u = stt.startUtterance();
    for (let i = 0; i < 5; i++) u.push(frame);
    u.abort();
    u.abort(); // idempotent
  };
  for (let i = 0; i < 100; i++) cycle();
  global.gc?.();
  const before = process.memoryUsage().rss;
  for (let i = 0; i < 1000; i++) cycle();
  global.gc?.();
  const grownMb = (process.memoryUsage().rss - before) / 1e6;
  t.diagnostic(`RSS change over 1000 start/push/abort cycles: ${grownMb.toFixed(1)} MB`);
  assert.ok(grownMb < 20, `RSS grew ${grownMb.toFixed(1)} MB over 1000 cycles`);
  const s = stt.stats();
  assert.equal(s.inUse, 0);
});

test('a backlog is fed off the event loop: pushes meanwhile queue behind it and the words are those of an inline feed', async (t) => {
  const speech = concatAudio(silence(300), await synthesizeFixture('how do I reset my password', 'flite:slt'), silence(300));
  const frames = [...frames20ms(speech.samples, 16000)];
  const cut = Math.floor(frames.length * 0.7);
  // One fresh decoder each: a decoder's running mean (CMN) carries over between its utterances.
  const one = { pool: { warm: 1, max: 1, keepSpare: false } };
  const [a, b] = await Promise.all([createPocketSphinxEngine(one), createPocketSphinxEngine(one)]);
  try {
    const inline = a.startUtterance();
    let t0 = performance.now();
    for (const f of frames.slice(0, cut)) inline.push(f);
    const inlineMs = performance.now() - t0;
    for (const f of frames.slice(cut)) inline.push(f);
    const expected = await inline.finishAsync();

    const late = b.startUtterance();
    t0 = performance.now();
    late.pushBacklog!(frames.slice(0, cut));
    const backlogCallMs = performance.now() - t0;
    // Meanwhile the thread is free: timers run while the decoder works on the backlog.
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    for (const f of frames.slice(cut)) late.push(f); // queued behind the backlog
    assert.equal(typeof late.partial(), 'string', 'partial() answers while the backlog is fed');
    assert.throws(() => late.finish(), (e: unknown) => e instanceof SpeechError && e.code === 'DECODE_FAILED' && e.retryable, 'finish() cannot end it while the worker thread holds the decoder');
    const got = await late.finishAsync();
    clearInterval(timer);
    t.diagnostic(`${cut} frames: inline ${inlineMs.toFixed(1)} ms of blocked thread, pushBacklog() returned in ${backlogCallMs.toFixed(2)} ms; ${ticks} 1 ms timer ticks ran before the final`);
    assert.equal(got.text, expected.text);
    assert.ok(backlogCallMs < inlineMs / 4, `pushBacklog() held the thread ${backlogCallMs.toFixed(1)} ms (inline feed: ${inlineMs.toFixed(1)} ms)`);
    assert.ok(ticks > 0, 'timers ran while the backlog was decoded');
    assert.equal(b.stats().inUse, 0);
  } finally {
    a.close();
    b.close();
  }
});

test('an utterance aborted while its backlog is fed gives its decoder back once the worker thread is done', async () => {
  const frames = [...frames20ms((await synthesizeFixture('where is my order', 'flite:slt')).samples, 16000)];
  const u = stt.startUtterance();
  u.pushBacklog!(frames);
  u.abort();
  u.abort(); // idempotent
  assert.throws(() => u.push(frames[0]!), (e: unknown) => e instanceof SpeechError && e.code === 'UTTERANCE_DONE');
  for (let waited = 0; stt.stats().inUse > 0 && waited < 5000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  assert.equal(stt.stats().inUse, 0, 'the decoder went back to the pool');
  const next = stt.startUtterance();
  for (const f of frames) next.push(f);
  assert.match((await next.finishAsync()).text, /order/);
});

test('finished utterances reject more audio; wrong language and a full pool fail with typed errors', async () => {
  const u = stt.startUtterance({ language: 'en-GB' });
  u.push(new Int16Array(320));
  assert.deepEqual(await u.finishAsync(), { text: '', confidence: 0 });
  assert.equal(stt.stats().inUse, 0, 'finishAsync returned the decoder to the pool');
  assert.throws(() => u.push(new Int16Array(320)), (e: unknown) => e instanceof SpeechError && e.code === 'UTTERANCE_DONE');
  assert.throws(() => stt.startUtterance({ language: 'te-IN' }), (e: unknown) => e instanceof SpeechError && e.code === 'LANGUAGE_UNSUPPORTED');

  const small = await createPocketSphinxEngine({ pool: { warm: 1, max: 1, keepSpare: false } });
  try {
    const first = small.startUtterance();
    assert.throws(
      () => small.startUtterance(),
      (e: unknown) => e instanceof SpeechError && e.code === 'POOL_EXHAUSTED' && e.retryable,
    );
    first.abort();
    small.startUtterance().abort();
  } finally {
    small.close();
  }
});

test('a missing model is a clear error at creation; an unusable domain LM falls back to the general LM with a warning', async () => {
  await assert.rejects(
    createPocketSphinxEngine({ modelDir: '/nonexistent/en-us' }),
    (e: unknown) => e instanceof SpeechError && e.code === 'MODEL_MISSING' && e.message.includes('/nonexistent/en-us'),
  );
  await assert.rejects(
    createPocketSphinxEngine({ pool: { warm: 2, max: 1 } }),
    (e: unknown) => e instanceof SpeechError && e.code === 'CONFIG_INVALID',
  );
  const dir = mkdtempSync(join(tmpdir(), 'speech-lm-'));
  try {
    const broken = join(dir, 'broken.arpa');
    writeFileSync(broken, 'this is not a language model\n');
    const warned: string[] = [];
    const engine = await createPocketSphinxEngine(
      { lm: { domain: broken }, pool: { warm: 1, max: 1 } },
      { logger: { warn: (_o, m) => warned.push(m) } },
    );
    try {
      assert.equal(engine.lmMode, 'general');
      assert.ok(warned.some((m) => m.includes('general LM only')), warned.join('; '));
      const speech = await synthesizeFixture('hello world', 'flite:slt');
      const u = engine.startUtterance();
      for (const f of frames20ms(concatAudio(silence(300), speech, silence(300)).samples, 16000)) u.push(f);
      assert.equal(u.finish().text, 'hello world');
    } finally {
      engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
