// Speech engine figures on this machine:  node --import tsx bench/speech/speech.ts
// STT real-time factor (PocketSphinx, mixed LM), VAD real-time factor, final/partial latency
// after speech end, TTS time-to-first-audio and real-time factor, and streams per core.
// Everything runs on the calling thread (sync FFI per 20 ms frame), so streams per core is
// 1 / (STT RTF + VAD RTF) measured on one thread.
import {
  concatAudio,
  createFliteEngine,
  createPocketSphinxEngine,
  createStreamingRecognizer,
  createVad,
  frames20ms,
  silence,
  synthesizeFixture,
  wordErrorRate,
  decoderAb,
  STOCK_SEARCH_ARGS,
} from '../../libs/speech/src/index';

const SENTENCES = [
  'hello world',
  'how do I reset my password',
  'where is my order',
  'stop',
  'I want to talk to a human',
  'what are your opening hours',
  'can I change my delivery address',
  'I was charged twice on my bill',
];

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f1 = (x: number): string => x.toFixed(1);
const f3 = (x: number): string => x.toFixed(3);

async function main(): Promise<void> {
  const t0 = performance.now();
  // BENCH_DECODER_ARGS='{"-fwdflat":"no"}' compares decoder options.
  const decoderArgs = JSON.parse(process.env['BENCH_DECODER_ARGS'] ?? '{}') as Record<string, string>;
  const stt = await createPocketSphinxEngine({ pool: { warm: 1, max: 2 }, decoderArgs });
  const sttInitMs = performance.now() - t0;
  const vad = await createVad();
  const clips = await Promise.all(SENTENCES.map((s) => synthesizeFixture(s, 'flite:slt')));

  // STT alone, whole utterances pushed frame by frame.
  let audioMs = 0;
  let sttMs = 0;
  let errors = 0;
  const partialMs: number[] = [];
  const finishMs: number[] = [];
  for (const [i, clip] of clips.entries()) {
    const audio = concatAudio(silence(300), clip, silence(300));
    const frames = frames20ms(audio.samples, 16000);
    audioMs += frames.length * 20;
    const u = stt.startUtterance();
    const s0 = performance.now();
    for (const [k, f] of frames.entries()) {
      u.push(f);
      if (k % 10 === 9) {
        const p0 = performance.now();
        u.partial();
        partialMs.push(performance.now() - p0);
      }
    }
    const f0 = performance.now();
    const r = u.finish();
    finishMs.push(performance.now() - f0);
    sttMs += performance.now() - s0;
    errors += wordErrorRate(SENTENCES[i]!, r.text).wer > 0 ? 1 : 0;
  }
  const sttRtf = sttMs / audioMs;

  // VAD alone.
  const stream = vad.createStream();
  let vadAudioMs = 0;
  const v0 = performance.now();
  for (const clip of clips) {
    for (const f of frames20ms(concatAudio(silence(300), clip, silence(300)).samples, 16000)) {
      await stream.process(f);
      vadAudioMs += 20;
    }
  }
  const vadRtf = (performance.now() - v0) / vadAudioMs;

  // Full streaming path: compute time of the frame that emits speech_end (+ final).
  const hangoverMs = 400;
  const endFrameMs: number[] = [];
  for (const clip of clips) {
    const rec = createStreamingRecognizer({ vad, stt, segmenter: { hangoverMs } });
    for (const f of frames20ms(concatAudio(silence(500), clip, silence(hangoverMs + 300)).samples, 16000)) {
      const p0 = performance.now();
      const events = await rec.push(f);
      if (events.some((e) => e.type === 'final')) endFrameMs.push(performance.now() - p0);
    }
    rec.close();
  }

  // TTS.
  const tts = createFliteEngine();
  for await (const _ of tts.synthesize('Warm up.', new AbortController().signal)) void _;
  const ttfa: number[] = [];
  let ttsMs = 0;
  let ttsAudioMs = 0;
  for (const s of SENTENCES) {
    const text = `${s[0]!.toUpperCase()}${s.slice(1)}.`;
    const s0 = performance.now();
    let first = -1;
    for await (const chunk of tts.synthesize(text, new AbortController().signal)) {
      if (first < 0) first = performance.now() - s0;
      ttsAudioMs += (chunk.length / tts.sampleRate) * 1000;
    }
    ttfa.push(first);
    ttsMs += performance.now() - s0;
  }

  console.log(`machine: ${process.arch}, node ${process.version}, loadavg ${(await import('node:os')).loadavg().map(f1).join(' ')}`);
  console.log(`STT  pocketsphinx (${stt.lmMode} LM): decoder init ${f1(sttInitMs)} ms; RTF ${f3(sttRtf)} over ${f1(audioMs / 1000)} s audio; sentences wrong ${errors}/${clips.length}`);
  console.log(`STT  partial() p50 ${f3(pct(partialMs, 50))} ms p95 ${f3(pct(partialMs, 95))} ms; finish() p50 ${f1(pct(finishMs, 50))} ms p95 ${f1(pct(finishMs, 95))} ms`);
  console.log(`VAD  silero v5: RTF ${f3(vadRtf)}`);
  console.log(`PIPE final after real speech end = hangover ${hangoverMs} ms of audio + compute p50 ${f1(pct(endFrameMs, 50))} ms p95 ${f1(pct(endFrameMs, 95))} ms`);
  console.log(`TTS  flite slt: time to first audio p50 ${f1(pct(ttfa, 50))} ms p95 ${f1(pct(ttfa, 95))} ms; RTF ${f3(ttsMs / ttsAudioMs)}`);
  console.log(`CAP  real-time STT+VAD streams per core: ${f1(1 / (sttRtf + vadRtf))} (1 / (STT RTF + VAD RTF))`);

  // The default search (FAST_SEARCH_ARGS) against stock PocketSphinx on the same clips,
  // interleaved: CPU ratios measured in this run, and whether the words stay the same.
  const stock = await createPocketSphinxEngine({ pool: { warm: 1, max: 1, keepSpare: false }, decoderArgs: { ...STOCK_SEARCH_ARGS } });
  const fast = await createPocketSphinxEngine({ pool: { warm: 1, max: 1, keepSpare: false } });
  const ab = decoderAb(fast, stock, [...clips, ...clips].map((c) => concatAudio(silence(300), c, silence(160)).samples));
  const same = ab.texts.filter((x) => x.a === x.b).length;
  const total = (x: { push: number; pass: number }): number => x.push + x.pass;
  console.log(
    `STT  default vs stock search: CPU ×${f3(total(ab.cpuMs.a) / total(ab.cpuMs.b))} in all, final pass ×${f3(ab.cpuMs.a.pass / ab.cpuMs.b.pass)} (${f1(ab.cpuMs.a.pass)} vs ${f1(ab.cpuMs.b.pass)} ms); same transcript ${same}/${ab.texts.length}`,
  );
  stock.close();
  fast.close();
  stt.close();
  tts.close();
  await vad.close();
}

await main();
