// The latency knobs of one session's recognizer, with the real engines (Silero VAD, PocketSphinx)
// and no NATS, in audio time (deterministic, whatever the machine's load):
//  - GATED onsets (barge-in) can be confirmed on fewer frames (VAD_GATED_ONSET_CONFIRM_MS); with
//    the configured value, noise raises none (what 40 ms would raise is printed);
//  - the final's search pass starts during the hangover, so the final comes with SPEECH_ENDED;
//    speech resuming within the hangover drops that pass and the utterance stays whole.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { concatAudio, frames20ms, mixAudio, noiseFixture, silence, speechBoundsByEnergy, synthesizeFixture, type PcmAudio, type SttProvider } from '@switchboard/speech';
import { SttAdapterConfigSchema } from '../src/config';
import { createEngines, type SttEngines } from '../src/providers';
import { SessionRecognizer, type Mic, type RecognizerEvent, type SessionRecognizerOptions } from '../src/core/session-recognizer';

let engines: SttEngines;
const config = SttAdapterConfigSchema.parse({ STT_POOL_MAX: '2', STT_WORKERS: '0' });

before(async () => {
  engines = await createEngines(config, { warn: () => {}, info: () => {} });
});
after(async () => {
  await engines?.close();
});

interface Run {
  events: { ev: RecognizerEvent; audioMs: number; wallMs: number }[];
}

/** Feeds `audio` as 20 ms frames (as fast as the engines go, or paced in real time); each event
 *  records the audio position of the frame that produced it. */
async function run(audio: PcmAudio, mic: Mic, opts: Partial<SessionRecognizerOptions> = {}, realTime = false, onFrame?: (audioMs: number, rec: SessionRecognizer) => void | Promise<void>): Promise<Run> {
  const out: Run = { events: [] };
  let audioMs = 0;
  const rec = new SessionRecognizer({
    vad: engines.vad,
    stt: engines.stt,
    segmenter: { onsetConfirmMs: config.VAD_ONSET_CONFIRM_MS, hangoverMs: config.VAD_HANGOVER_MS },
    prerollMs: config.STT_PREROLL_MS,
    partialEveryMs: 0,
    maxUtteranceMs: 20_000,
    gatedGraceMs: 0,
    resumeToleranceMs: 300,
    mic,
    sink: (ev) => out.events.push({ ev, audioMs, wallMs: performance.now() }),
    ...opts,
  });
  const t0 = performance.now();
  for (const samples of frames20ms(audio.samples, 16000)) {
    const wait = t0 + audioMs - performance.now();
    if (realTime && wait > 0) await new Promise((r) => setTimeout(r, wait));
    await onFrame?.(audioMs, rec);
    await rec.push({ audioMs, samples });
    audioMs += 20;
  }
  rec.close();
  return out;
}

const scaled = (a: PcmAudio, gainDb: number): PcmAudio => {
  const g = 10 ** (gainDb / 20);
  return { sampleRate: a.sampleRate, samples: Int16Array.from(a.samples, (x) => Math.round(x * g)) };
};

test('GATED: a shorter gated confirm emits SPEECH_STARTED that much audio sooner, dated at the same onset', async () => {
  const stop = await synthesizeFixture('stop', 'flite:slt');
  const onset = 1000 + speechBoundsByEnergy(stop.samples, 16000)!.startMs;
  const audio = concatAudio(silence(1000), stop, silence(800));
  const at = async (gated?: number) => {
    const r = await run(audio, 'GATED', gated === undefined ? {} : { gatedOnsetConfirmMs: gated });
    const s = r.events.find((e) => e.ev.type === 'speech_started');
    assert.ok(s, 'SPEECH_STARTED');
    return { emittedAt: s.audioMs, datedAt: (s.ev as { audioMs: number }).audioMs };
  };
  const slow = await at();
  const fast = await at(40);
  console.log(`# stt: "stop" onset ${onset} ms; SPEECH_STARTED emitted at audio ${slow.emittedAt} (confirm ${config.VAD_ONSET_CONFIRM_MS}) vs ${fast.emittedAt} (confirm 40 while GATED)`);
  assert.equal(fast.datedAt, slow.datedAt, 'same onset');
  assert.equal(slow.emittedAt - fast.emittedAt, config.VAD_ONSET_CONFIRM_MS - 40);
  assert.ok(fast.emittedAt - onset <= 80, `emitted ${fast.emittedAt - onset} ms of audio after the onset`);
});

test('GATED: "stop" seconds after an utterance (Silero rates its "s" 0.00) starts a barge-in at the sibilant, not 240 ms later at the vowel', async () => {
  // The bench/e2e call's script: after "How do I reset my password?" and 4.6 s of the caller's
  // silence while the agent answers, Silero's state keeps the "s" of "stop" at 0.00 until the vowel.
  const question = await synthesizeFixture('How do I reset my password?', 'flite:slt');
  const stop = await synthesizeFixture('Stop.', 'flite:slt');
  const before = concatAudio(silence(500), question, silence(4600));
  const onset = before.samples.length / 16 + speechBoundsByEnergy(stop.samples, 16000)!.startMs;
  const audio = concatAudio(before, stop, silence(800));
  const emittedAfterOnset = async (sibilant: boolean): Promise<number> => {
    const r = await run(audio, 'GATED', {
      gatedOnsetConfirmMs: config.VAD_GATED_ONSET_CONFIRM_MS,
      segmenter: { onsetConfirmMs: config.VAD_ONSET_CONFIRM_MS, hangoverMs: config.VAD_HANGOVER_MS, fricativeOnset: { enabled: sibilant, minTiltDb: config.VAD_GATED_SIBILANT_TILT_DB } },
    });
    const starts = r.events.filter((e) => e.ev.type === 'speech_started' && e.audioMs > onset - 500);
    assert.equal(starts.length, 1, 'one SPEECH_STARTED for "stop"');
    return starts[0]!.audioMs + 20 - onset;
  };
  const without = await emittedAfterOnset(false);
  const withIt = await emittedAfterOnset(true);
  console.log(`# stt: GATED "stop" after an utterance: SPEECH_STARTED emitted ${withIt} ms of audio after the onset with the sibilant path, ${without} ms without`);
  assert.ok(withIt <= 100, `emitted ${withIt} ms after the onset`);
  assert.ok(without - withIt >= 100, 'the sibilant path is what made it early');
});

test('GATED onset confirmation: quiet noise raises no barge-in; what the configured and a 40 ms confirm raise on louder noise and echo is reported', async () => {
  const agent = await synthesizeFixture('Your order shipped yesterday and should arrive on Friday.', 'flite:slt');
  const room = await noiseFixture(agent.samples.length / 16, { color: 'pink', gainDb: -45 });
  // Residual echo after a browser's echo canceller (20–40 dB of echo return loss), over room noise.
  const echo = (db: number): PcmAudio => concatAudio(silence(500), mixAudio(scaled(agent, db), room), silence(500));
  const noise = async (color: 'pink' | 'white', gainDb: number): Promise<PcmAudio> => concatAudio(silence(500), await noiseFixture(3000, { color, gainDb }), silence(500));
  const cases: [string, PcmAudio, boolean][] = [];
  for (const db of [-30, -20, -10]) for (let k = 0; k < 3; k++) cases.push([`pink ${db} dB #${k}`, await noise('pink', db), db === -30]);
  cases.push(['white −20 dB', await noise('white', -20), false]);
  // Silero hears speech however quiet: a sustained echo is a barge-in with any confirm time (only
  // the echo canceller prevents it): reported, not asserted.
  cases.push(['agent echo −40 dB', echo(-40), false], ['agent echo −30 dB', echo(-30), false]);
  const rows: string[] = [];
  const starts = async (audio: PcmAudio, gatedOnsetConfirmMs: number) =>
    (await run(audio, 'GATED', { gatedOnsetConfirmMs })).events.filter((e) => e.ev.type === 'speech_started').length;
  for (const [name, audio, never] of cases) {
    const configured = await starts(audio, config.VAD_GATED_ONSET_CONFIRM_MS);
    const fast = await starts(audio, 40);
    rows.push(`${name} ${configured}/${fast}`);
    if (never) assert.equal(configured, 0, `${name}: no SPEECH_STARTED`);
  }
  console.log(`# stt: SPEECH_STARTED on non-speech while GATED (confirm ${config.VAD_GATED_ONSET_CONFIRM_MS} / 40 ms): ${rows.join(', ')}`);
});

/** The real engine, noting at which audio position each final search pass was started. */
function watchPasses(stt: SttProvider, audioPos: () => number): { provider: SttProvider; passesAt: number[] } {
  const passesAt: number[] = [];
  return {
    passesAt,
    provider: {
      name: stt.name,
      close: () => stt.close(),
      startUtterance(o) {
        const u = stt.startUtterance(o);
        return {
          push: (pcm) => u.push(pcm),
          partial: () => u.partial(),
          finish: () => u.finish(),
          abort: () => u.abort(),
          finishAsync: () => {
            passesAt.push(audioPos());
            return u.finishAsync();
          },
        };
      },
    },
  };
}

test('early final: the search pass starts during the hangover, so the final comes with SPEECH_ENDED; a pause within the hangover keeps one utterance', async () => {
  // Trimmed to their speech, so the pause between them is exactly the one inserted.
  const trim = (x: PcmAudio): PcmAudio => {
    const b = speechBoundsByEnergy(x.samples, 16000)!;
    return { sampleRate: x.sampleRate, samples: x.samples.subarray(b.startMs * 16, b.endMs * 16) };
  };
  const a = trim(await synthesizeFixture('I want to check my order', 'flite:slt'));
  const b = trim(await synthesizeFixture('and change the address', 'flite:slt'));
  const early = config.STT_EARLY_FINAL_MS;
  const finals = async (audio: PcmAudio, earlyFinalMs: number) => {
    let pos = 0;
    const w = watchPasses(engines.stt, () => pos);
    const r = await run(audio, 'OPEN', { earlyFinalMs, stt: w.provider }, true, (ms) => {
      pos = ms;
    });
    const ended = r.events.filter((e) => e.ev.type === 'speech_ended');
    const fin = r.events.filter((e) => e.ev.type === 'final');
    return { ended, fin, passesAt: w.passesAt, texts: fin.map((e) => (e.ev as { text: string }).text) };
  };
  const one = concatAudio(silence(500), a, silence(1000));
  const late = await finals(one, 0);
  const soon = await finals(one, early);
  assert.deepEqual(soon.texts, late.texts, 'same final text');
  assert.equal(soon.texts.length, 1);
  assert.match(soon.texts[0]!, /order/);
  const endedAt = soon.ended[0]!.audioMs;
  const speechEnd = (soon.ended[0]!.ev as { audioMs: number }).audioMs;
  // One pass, started `early` ms of silence after the speech (not at the end of the hangover).
  assert.equal(soon.passesAt.length, 1);
  assert.ok(soon.passesAt[0]! < endedAt, `pass started at ${soon.passesAt[0]} ms, SPEECH_ENDED at ${endedAt} ms`);
  // Silence counts from the word's quiet tail (VAD_QUIET_RELEASE_DB), up to ~140 ms before the
  // end Silero reports, so the pass may start that much less than `early` after the reported end.
  const afterEnd = soon.passesAt[0]! - speechEnd;
  assert.ok(afterEnd >= early - 150 && afterEnd <= early + 60, `pass at ${soon.passesAt[0]} ms, speech ended at ${speechEnd} ms`);
  assert.deepEqual(late.passesAt, [late.ended[0]!.audioMs], 'without it: the pass starts with SPEECH_ENDED');
  const gap = (x: typeof late) => x.fin[0]!.wallMs - x.ended[0]!.wallMs;
  console.log(`# stt: SPEECH_ENDED → final (wall, real-time feed): ${gap(late).toFixed(0)} ms with the pass after the hangover, ${gap(soon).toFixed(0)} ms with it started ${early} ms into the hangover`);

  // A pause longer than earlyFinalMs but within the hangover: the early pass is dropped, one
  // utterance, both halves in its final.
  const paused = concatAudio(silence(500), a, silence(early + 120), b, silence(1000));
  const p = await finals(paused, early);
  assert.equal(p.ended.length, 1, 'one utterance');
  assert.equal(p.texts.length, 1);
  assert.equal(p.passesAt.length, 2, 'the early pass in the pause, then one for the whole utterance');
  assert.equal((p.ended[0]!.ev as Extract<RecognizerEvent, { type: 'speech_ended' }>).endpoint.earlyDropped, 1, 'the end counts the dropped pass');
  assert.match(p.texts[0]!, /order.*address/, `both halves in "${p.texts[0]}"`);
});

test('complete-text endpoint: a finished question ends ~200 ms sooner with the same final; a caller resuming after such an end gets one final with both parts', async () => {
  const trim = (x: PcmAudio): PcmAudio => {
    const b = speechBoundsByEnergy(x.samples, 16000)!;
    return { sampleRate: x.sampleRate, samples: x.samples.subarray(b.startMs * 16, b.endMs * 16) };
  };
  const question = trim(await synthesizeFixture('How do I reset my password?', 'flite:slt'));
  const opts = (on: boolean): Partial<SessionRecognizerOptions> => ({
    earlyFinalMs: config.STT_EARLY_FINAL_MS,
    completeEndMs: on ? config.STT_COMPLETE_END_MS : 0,
    rejoinMs: on ? config.STT_REJOIN_MS : 0,
  });
  // Deterministic in audio time: the feed waits for a final pass before its next frame, as if
  // decoding took under 20 ms (on this box it takes 70–230 ms of the 240 ms the endpoint leaves).
  const endAndFinal = async (audio: PcmAudio, on: boolean) => {
    let pending: Promise<unknown> | null = null;
    const stt: SttProvider = {
      name: engines.stt.name,
      close: () => engines.stt.close(),
      startUtterance(o) {
        const u = engines.stt.startUtterance(o);
        return { push: (pcm) => u.push(pcm), partial: () => u.partial(), finish: () => u.finish(), abort: () => u.abort(), finishAsync: () => (pending = u.finishAsync()) as ReturnType<typeof u.finishAsync> };
      },
    };
    const wait = async (): Promise<void> => {
      const p = pending;
      pending = null;
      if (p) await p.catch(() => undefined);
    };
    const r = await run(audio, 'OPEN', { ...opts(on), stt }, false, wait);
    const ended = r.events.filter((e) => e.ev.type === 'speech_ended');
    const fin = r.events.filter((e) => e.ev.type === 'final');
    return { ended, fin, texts: fin.map((e) => (e.ev as { text: string }).text) };
  };
  const q = concatAudio(silence(500), question, silence(1000));
  const off = await endAndFinal(q, false);
  const on = await endAndFinal(q, true);
  assert.deepEqual(on.texts, off.texts, 'same final');
  assert.equal(on.texts.length, 1);
  const lag = (x: typeof on) => x.ended[0]!.audioMs + 20 - (x.ended[0]!.ev as { audioMs: number }).audioMs;
  console.log(`# stt: "${on.texts[0]}": SPEECH_ENDED ${lag(on)} ms of silence after the speech with the complete-text endpoint (${config.STT_COMPLETE_END_MS} ms), ${lag(off)} ms without (hangover ${config.VAD_HANGOVER_MS})`);
  // The hangover counts from the word's quiet tail (VAD_QUIET_RELEASE_DB): up to ~140 ms before
  // the end Silero reports, from which the lag is measured.
  assert.ok(lag(off) >= config.VAD_HANGOVER_MS - 150 && lag(off) <= config.VAD_HANGOVER_MS + 20, `hangover end ${lag(off)} ms after the speech`);
  assert.ok(lag(on) < config.VAD_HANGOVER_MS - 60, `ended ${lag(on)} ms after the speech`);
  assert.ok(lag(off) - lag(on) >= 100, 'the complete-text end is what made it early');
  // The end says what ended it (logged per utterance and counted in stt_endpoints_total).
  const endpoint = (x: typeof on) => (x.ended[0]!.ev as Extract<RecognizerEvent, { type: 'speech_ended' }>).endpoint;
  assert.equal(endpoint(on).kind, 'words');
  assert.equal(endpoint(on).readComplete, true);
  assert.ok((endpoint(on).earlyPassMs ?? -1) >= 0, 'the early pass took a measured time');
  assert.equal(endpoint(off).kind, 'hangover');
  assert.equal(endpoint(off).earlyDropped, 0);

  // "I want to check my order" reads complete: ended early; "and change the address" 350 ms
  // later continues it, so the last final has both parts.
  const a = trim(await synthesizeFixture('I want to check my order', 'flite:slt'));
  const b = trim(await synthesizeFixture('and change the address', 'flite:slt'));
  const two = await endAndFinal(concatAudio(silence(500), a, silence(350), b, silence(1000)), true);
  console.log(`# stt: resumed after an early end: finals ${JSON.stringify(two.texts)}`);
  assert.equal(two.ended.length, 2, 'the first part ended early');
  assert.match(two.texts.at(-1)!, /order.*address/, 'the continuation decoded from the first part on');
});

test('MIC_SET OPEN mid-utterance feeds the audio since the onset off the thread: setMic() returns at once, the final has every word', async (t) => {
  const speech = await synthesizeFixture('I want to change my shipping address please', 'flite:slt');
  const audio = concatAudio(silence(600), speech, silence(1200));
  const openAt = 600 + Math.round(speech.samples.length / 16 / 2 / 20) * 20 + 400; // past the middle of the sentence
  let setMicMs = NaN;
  const r = await run(audio, 'GATED', {}, false, async (audioMs, rec) => {
    if (audioMs !== openAt) return;
    const t0 = performance.now();
    await rec.setMic('OPEN');
    setMicMs = performance.now() - t0;
  });
  const started = r.events.find((e) => e.ev.type === 'speech_started')?.ev;
  assert.ok(started?.type === 'speech_started', 'SPEECH_STARTED');
  const backlogFrames = (openAt - started.audioMs) / 20;
  // The same backlog pushed inline, for scale.
  const u = engines.stt.startUtterance();
  const frames = frames20ms(audio.samples, 16000).slice(Math.max(0, (started.audioMs - config.STT_PREROLL_MS) / 20), openAt / 20);
  const t0 = performance.now();
  for (const f of frames) u.push(f);
  const inlineMs = performance.now() - t0;
  u.abort();
  const final = r.events.find((e) => e.ev.type === 'final')?.ev;
  t.diagnostic(`OPEN after ${backlogFrames} frames of speech: setMic() took ${setMicMs.toFixed(1)} ms; the same audio pushed inline ${inlineMs.toFixed(1)} ms; final "${final?.type === 'final' ? final.text : '—'}"`);
  assert.ok(final?.type === 'final' && /address/.test(final.text), `final from the onset: ${JSON.stringify(final)}`);
  assert.ok(backlogFrames > 40, `the backlog was ${backlogFrames} frames`);
  assert.ok(setMicMs < inlineMs / 4, `setMic('OPEN') held the thread ${setMicMs.toFixed(1)} ms (inline: ${inlineMs.toFixed(1)} ms)`);
});
