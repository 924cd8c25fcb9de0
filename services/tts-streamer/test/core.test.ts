// The tts-streamer's pure parts, without NATS or an engine: framing, pacing and cancellation of
// a frame stream, the cancel memory, the prompt cache, text limits, events and configuration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { SpeakKind, decodeEvent, encodeEvent } from '@switchboard/contracts';
import { ConfigError, parseConfig } from '@switchboard/runtime';
import { sleep } from '@switchboard/testkit';
import {
  CancelRegistry,
  DEFAULT_CACHE_TEXTS,
  ExpiringSet,
  FrameSplitter,
  PromptCache,
  TtsConfigSchema,
  limitText,
  streamFrames,
  type OutFrame,
} from '@switchboard/tts-streamer';
import { truncateCodePoints, ttsDone, ttsStarted } from '../src/events';
import { resumeOf, waitForTurnToSpeak, type LastFrame } from '../src/session-audio';
import { LoopGapWatch } from '@switchboard/bus';

const ramp = (n: number, from = 0): Int16Array => Int16Array.from({ length: n }, (_, i) => ((from + i) % 30000) + 1);

async function* chunksOf(...chunks: Int16Array[]): AsyncGenerator<Int16Array> {
  for (const c of chunks) yield c;
}

function collect(signal = new AbortController().signal, aheadMs = 10_000) {
  const frames: Array<OutFrame & { t: number }> = [];
  return {
    frames,
    opts: { sampleRate: 16000, aheadMs, signal, emit: (f: OutFrame) => frames.push({ ...f, pcm: Buffer.from(f.pcm), t: performance.now() }) },
  };
}

test('frames: 640-byte PCM16 frames, contiguous seq, the tail padded, last only on the final frame', async () => {
  const { frames, opts } = collect();
  const r = await streamFrames(chunksOf(ramp(1000), ramp(5000, 1000)), opts);
  assert.equal(r.frames, Math.ceil(6000 / 320));
  assert.equal(r.audioMs, r.frames * 20);
  assert.equal(r.cancelled, false);
  assert.deepEqual(
    frames.map((f) => [f.seq, f.audioMs, f.pcm.byteLength, f.last]),
    frames.map((_, i) => [i, i * 20, 640, i === frames.length - 1]),
  );
  const all = new Int16Array(Buffer.concat(frames.map((f) => f.pcm)).buffer.slice(0));
  assert.deepEqual(all.subarray(0, 6000), ramp(6000), 'samples intact and in order');
  assert.ok(all.subarray(6000).every((s) => s === 0), 'tail padded with silence');

  const exact = collect();
  const r2 = await streamFrames(chunksOf(ramp(320), ramp(320)), exact.opts);
  assert.equal(r2.frames, 2);
  assert.deepEqual(
    exact.frames.map((f) => f.last),
    [false, true],
  );

  const empty = collect();
  assert.deepEqual(await streamFrames(chunksOf(), empty.opts), { frames: 0, audioMs: 0, cancelled: false });
});

test('resume: startSeq skips the frames already sent and paces the rest from the first one sent', async () => {
  const { frames, opts } = collect(new AbortController().signal, 0);
  const t0 = performance.now();
  const r = await streamFrames(chunksOf(ramp(320 * 10)), { ...opts, startSeq: 6 });
  assert.deepEqual(frames.map((f) => f.seq), [6, 7, 8, 9]);
  assert.equal(r.frames, 10);
  assert.ok(frames.at(-1)!.last);
  assert.ok(performance.now() - t0 < 200, 'no wait for the skipped frames');
});

// Found by the 100-kill pipeline run: the replica died 1 ms after its last audio frame, before the
// end marker; the replacement's synthesis had no frame past those sent, so no frame ever said
// last=true and the call waited for its playback timeout.
test('resume: when every frame was sent before, one silent frame after them carries last=true', async () => {
  const { frames, opts } = collect(new AbortController().signal, 0);
  const r = await streamFrames(chunksOf(ramp(320 * 10)), { ...opts, startSeq: 10 });
  assert.deepEqual(frames.map((f) => [f.seq, f.last, f.pcm.byteLength]), [[10, true, 640]]);
  assert.ok(frames[0]!.pcm.every((b) => b === 0), 'silence');
  assert.equal(r.cancelled, false);
  // a shorter synthesis than what was sent: still after the last frame sent
  const shorter = collect(new AbortController().signal, 0);
  await streamFrames(chunksOf(ramp(320 * 8)), { ...shorter.opts, startSeq: 10 });
  assert.deepEqual(shorter.frames.map((f) => [f.seq, f.last]), [[10, true]]);
});

test('frozen: a frame maxLateMs past due (the process was stopped) ends the stream without sending it', async () => {
  const { frames, opts } = collect(new AbortController().signal, 0);
  let clock = 0;
  const now = () => (clock += frames.length === 3 ? 5_000 : 20);
  const r = await streamFrames(chunksOf(ramp(320 * 10)), { ...opts, now, maxLateMs: 2_000 });
  assert.equal(r.frozen, true);
  assert.equal(frames.length, 3, 'nothing after the freeze');
  assert.ok(!frames.some((f) => f.last));
});

test('FrameSplitter keeps at most one partial frame and flushes it zero-padded', () => {
  const s = new FrameSplitter(16000);
  assert.equal(s.push(ramp(100)).length, 0);
  assert.equal(s.push(ramp(600)).length, 2);
  const tail = s.flush()!;
  assert.equal(tail.length, 320);
  assert.equal(tail[59], 600); // the 700th sample pushed: the second chunk's last
  assert.equal(tail[60], 0);
  assert.equal(s.flush(), undefined);
  assert.throws(() => new FrameSplitter(11025), RangeError);
});

test('pacing: frames go out at most aheadMs before their play time, and no later than needed', async () => {
  const { frames, opts } = collect(new AbortController().signal, 100);
  const t0 = performance.now();
  await streamFrames(chunksOf(ramp(16000)), opts); // 1 s, 50 frames
  const first = frames[0]!.t;
  assert.ok(first - t0 < 20, 'first frame at once');
  for (const f of frames) assert.ok(f.t - first >= f.seq * 20 - 100 - 2, `frame ${f.seq} at ${(f.t - first).toFixed(1)} ms is too early`);
  const span = frames.at(-1)!.t - first;
  assert.ok(span >= 49 * 20 - 100 - 2 && span < 49 * 20 - 100 + 60, `50 frames published over ${span.toFixed(1)} ms`);
});

test('cancel mid-stream: no frame after the abort, no last frame, returns within a frame', async () => {
  const ac = new AbortController();
  const { frames, opts } = collect(ac.signal, 40);
  const run = streamFrames(chunksOf(ramp(16000 * 3)), opts);
  await sleep(150);
  const abortAt = performance.now();
  ac.abort();
  const r = await run;
  const returnedMs = performance.now() - abortAt;
  assert.equal(r.cancelled, true);
  assert.ok(frames.length > 5 && frames.length < 20, `${frames.length} frames before the cancel`);
  assert.ok(frames.every((f) => f.t <= abortAt), 'nothing published after the abort');
  assert.ok(frames.every((f) => !f.last));
  assert.equal(r.frames, frames.length);
  assert.ok(returnedMs < 20, `returned ${returnedMs.toFixed(2)} ms after the abort`);
});

test('cancel while the first sentence is still being synthesized: nothing is sent', async () => {
  const ac = new AbortController();
  const { frames, opts } = collect(ac.signal);
  async function* slow(): AsyncGenerator<Int16Array> {
    await sleep(300);
    yield ramp(3200);
  }
  const run = streamFrames(slow(), opts);
  await sleep(30);
  const abortAt = performance.now();
  ac.abort();
  const r = await run;
  assert.ok(performance.now() - abortAt < 20, 'does not wait for the engine');
  assert.deepEqual(r, { frames: 0, audioMs: 0, cancelled: true });
  await sleep(300);
  assert.equal(frames.length, 0);
});

test('an engine failure surfaces as a rejection', async () => {
  async function* broken(): AsyncGenerator<Int16Array> {
    yield ramp(320);
    throw Object.assign(new Error('flite crashed'), { code: 'SYNTHESIS_FAILED', retryable: true });
  }
  await assert.rejects(streamFrames(broken(), collect().opts), /flite crashed/);
});

test('cancel registry: by turn, by speak id, remembered for a speak that comes later, bounded with a TTL', () => {
  let now = 1_000;
  const reg = new CancelRegistry({ ttlMs: 5_000, maxEntries: 3, now: () => now });
  const filler = reg.begin({ sessionId: 's1', turnId: 't1', speakId: 't1:filler' })!;
  const answer = reg.begin({ sessionId: 's1', turnId: 't1', speakId: 't1:answer' })!;
  const other = reg.begin({ sessionId: 's2', turnId: 't1', speakId: 't1:answer' })!;
  // A speak-id cancel stops only the filler.
  assert.deepEqual(reg.cancel({ sessionId: 's1', turnId: 't1', speakId: 't1:filler', reason: 'answer_ready' }), { outcome: 'aborted_in_flight', aborted: 1 });
  assert.equal(filler.signal.aborted, true);
  assert.equal(answer.signal.aborted, false);
  // A turn cancel stops the rest of the turn, in that session only.
  assert.equal(reg.cancel({ sessionId: 's1', turnId: 't1', speakId: '', reason: 'barge_in' }).aborted, 1);
  assert.equal(answer.signal.aborted, true);
  assert.equal((answer.signal.reason as Error).message, 'utterance cancelled: barge_in');
  assert.equal(other.signal.aborted, false);
  for (const u of [filler, answer, other]) reg.end(u);
  assert.equal(reg.live().length, 0);
  // A speak arriving after its cancel is refused.
  assert.equal(reg.begin({ sessionId: 's1', turnId: 't1', speakId: 't1:again' }), undefined);
  assert.equal(reg.cancel({ sessionId: 's3', turnId: '', speakId: 'p:prompt', reason: 'x' }).outcome, 'remembered');
  assert.equal(reg.begin({ sessionId: 's3', turnId: 'p', speakId: 'p:prompt' }), undefined);
  assert.ok(reg.begin({ sessionId: 's3', turnId: 'p', speakId: 'p:other' }));
  // TTL
  now += 5_001;
  assert.ok(reg.begin({ sessionId: 's1', turnId: 't1', speakId: 't1:late' }), 'forgotten after the TTL');
  // Bound: the oldest cancel is forgotten first.
  for (let i = 0; i < 4; i++) reg.cancel({ sessionId: 's9', turnId: `t${i}`, speakId: '', reason: 'x' });
  assert.equal(reg.remembered, 3);
  assert.equal(reg.isCancelled({ sessionId: 's9', turnId: 't0', speakId: 'a' }), false);
  assert.equal(reg.isCancelled({ sessionId: 's9', turnId: 't3', speakId: 'a' }), true);
});

test('expiring set: refresh on add, expiry, bound', () => {
  let now = 0;
  const s = new ExpiringSet({ ttlMs: 10, maxEntries: 2, now: () => now });
  s.add('a');
  now = 5;
  s.add('b');
  s.add('a'); // refreshed: now the newest
  s.add('c'); // evicts b, the oldest
  assert.deepEqual([s.has('a'), s.has('b'), s.has('c')], [true, false, true]);
  now = 16;
  assert.deepEqual([s.has('a'), s.has('c')], [false, false]);
  assert.throws(() => new ExpiringSet({ ttlMs: 0, maxEntries: 1 }), RangeError);
});

test('prompt cache: start-up prompts stay, run-time entries are bounded least-recently-used', () => {
  const c = new PromptCache(2);
  const e = (key: string, pinned = false) => ({ key, text: key, pcm: new Int16Array(1), sampleRate: 16000, pinned });
  c.set(e('filler', true));
  c.set(e('x'));
  c.set(e('y'));
  c.get('x'); // x used: y is now the oldest
  c.set(e('z'));
  assert.deepEqual(c.keys().sort(), ['filler', 'x', 'z']);
  c.set({ ...e('filler'), text: 'changed' }); // a run-time entry never replaces a start-up prompt
  assert.equal(c.get('filler')!.text, 'filler');
  const off = new PromptCache(0);
  off.set(e('x'));
  assert.equal(off.get('x'), undefined);
});

test('text limit: cut at a word boundary, never inside a code point', () => {
  assert.deepEqual(limitText('short text', 100), { text: 'short text', cut: false });
  assert.deepEqual(limitText('one two three four five', 15), { text: 'one two three', cut: true });
  const emoji = '👍'.repeat(10);
  const r = limitText(emoji, 3);
  assert.equal(r.text, '👍👍👍');
  assert.ok(r.text.isWellFormed());
  assert.equal(truncateCodePoints('a👍b', 2), 'a');
  assert.equal(truncateCodePoints('నమస్కారం', 3), 'నమస');
});

test('events: ids derived from the command id, valid by the contracts, metadata capped', () => {
  const ref = { commandId: 'ses_01HZX0000000000000000000AB:7:0', sessionId: 'ses_01HZX0000000000000000000AB', turnId: 'turn_1', speakId: 'turn_1:answer', kind: SpeakKind.SPEAK_KIND_ANSWER };
  const s = decodeEvent(encodeEvent(ttsStarted(ref, 41.6, { unspeakable: 'ధ'.repeat(600) })));
  assert.equal(s.eventId, `${ref.commandId}:started`);
  assert.equal(s.correlationId, 'turn_1');
  assert.equal(s.ttsStarted!.timeToFirstAudioMs, 42);
  assert.equal(s.metadata['unspeakable']!.length, 512);
  const d = decodeEvent(encodeEvent(ttsDone(ref, 1200, true, { reason: 'barge_in' })));
  assert.equal(d.eventId, `${ref.commandId}:done`);
  assert.deepEqual(d.ttsDone, { turnId: 'turn_1', speakId: 'turn_1:answer', kind: SpeakKind.SPEAK_KIND_ANSWER, audioMs: 1200, cancelled: true });
});

test('config: defaults, cache texts as JSON, bad values name the variable', () => {
  const base = { HTTP_PORT: '0' };
  const c = parseConfig(TtsConfigSchema, base);
  assert.equal(c.TTS_VOICE, 'slt');
  assert.equal(c.TTS_AHEAD_MS, 400);
  assert.deepEqual(c.TTS_CACHE_TEXTS, DEFAULT_CACHE_TEXTS);
  const custom = parseConfig(TtsConfigSchema, { ...base, TTS_CACHE_TEXTS: '{"filler":"Hold on.","greeting":"Hello!"}' }, {});
  assert.equal(custom.TTS_CACHE_TEXTS['filler'], 'Hold on.');
  for (const [k, v] of [
    ['TTS_CACHE_TEXTS', '{not json'],
    ['TTS_CACHE_TEXTS', '{"filler":""}'],
    ['TTS_AHEAD_MS', '5'],
    ['TTS_VOICE', 'hal9000'],
  ] as const) {
    assert.throws(
      () => parseConfig(TtsConfigSchema, { ...base, [k]: v }),
      (e: unknown) => e instanceof ConfigError && e.message.includes(k),
      `${k}=${v}`,
    );
  }
});

test('leading silence of an utterance is trimmed, keeping 5 ms before the onset', async () => {
  const { trimLeadingSilence } = await import('../src/worker');
  const pcm = new Int16Array(16000);
  pcm.fill(5, 0, 4000); // 250 ms of near-silence
  for (let i = 4000; i < 16000; i++) pcm[i] = i % 2 ? 8000 : -8000;
  const out = trimLeadingSilence(pcm, 16000);
  assert.equal(out.length, 16000 - 4000 + 80);
  assert.equal(trimLeadingSilence(new Int16Array(100), 16000).length, 100, 'all-quiet audio is left alone');
});

test('resume of a redelivered speak: after the last frame out; done; superseded; never from 0 once it started and no frame is readable', () => {
  const f = (speakId: string, seq: number, last = false) => ({ turnId: 't', speakId, seq, last, capturedAt: 0 });
  assert.deepEqual(resumeOf(f('s1', 33), 's1', true), { from: 34 });
  assert.deepEqual(resumeOf(f('s1', 40, true), 's1', true), { done: true });
  assert.deepEqual(resumeOf(f('s0', 9, true), 's1', true), { superseded: true });
  assert.deepEqual(resumeOf(f('s0', 9, true), 's1', false), { from: 0 });
  assert.deepEqual(resumeOf(undefined, 's1', false), { from: 0 }, 'never started: from the start');
  // started, but its frames aged out of the audio stream (or the read failed): frame 0 again
  // would repeat what the caller heard (the pipeline run's "frames 0–33 sent twice")
  assert.deepEqual(resumeOf(undefined, 's1', true), { unknown: true });
  assert.deepEqual(resumeOf('unreadable', 's1', true), { unknown: true });
});

test('a delivery no longer owned (the process was frozen before its first frame) stops the stream like a frozen one', async () => {
  // Pipeline slow-consumer run: a replica SIGSTOPped after taking a speak but before its first
  // frame (no pacing anchor yet, so maxLateMs could not see it) resumed and streamed the whole
  // answer beside the replica the speak had been redelivered to.
  const sent: number[] = [];
  const pcm = new Int16Array(16000); // 1 s: 50 frames
  let owned = true;
  const r = await streamFrames(
    (async function* () {
      yield pcm;
    })(),
    { sampleRate: 16000, aheadMs: 1000, signal: new AbortController().signal, maxLateMs: 1000, stillOwned: () => owned, emit: (f) => (sent.push(f.seq), f.seq === 9 && (owned = false)) },
  );
  assert.equal(r.frozen, true);
  assert.deepEqual(sent, Array.from({ length: 10 }, (_, i) => i), 'nothing after ownership was lost');

  const watch = new LoopGapWatch(20);
  const t0 = performance.now();
  await sleep(60);
  assert.ok(watch.maxGapSince(t0) < 100, 'a running loop has no gap');
  const stall = performance.now();
  while (performance.now() - stall < 400); // the loop does not run: as if SIGSTOPped
  assert.ok(watch.maxGapSince(t0) >= 300, `a 400 ms stall is seen (${Math.round(watch.maxGapSince(t0))} ms)`);
  assert.equal(watch.maxGapSince(performance.now() + 1), 0, 'gaps before the given time do not count');
  watch.stop();
});

test('turn to speak: waits while the session\'s latest frames keep coming — this utterance\'s from another replica too — and not after they end or stall', async () => {
  // nats-server 2.9.10 can hand a speak out again while the replica that has it still streams it
  // (nats-server#5305): the second holder must wait for that replica's last frame, not stream beside it.
  let clock = 0;
  const frame = (speakId: string, seq: number, last: boolean, capturedAt: number): LastFrame => ({ turnId: 't', speakId, seq, last, capturedAt });
  const run = async (frames: Array<LastFrame | undefined | 'unreadable'>, finished: (f: LastFrame) => boolean = () => false): Promise<{ waited: number; reads: number; last: LastFrame | undefined | 'unreadable' }> => {
    clock = 1_000;
    let reads = 0;
    const { waitedMs: waited, last } = await waitForTurnToSpeak(
      async () => {
        const f = frames[Math.min(reads, frames.length - 1)];
        reads++;
        clock += 40; // each poll
        return f;
      },
      { stallMs: 1_500, pollMs: 0, budgetMs: 15_000, signal: new AbortController().signal, finished, now: () => clock },
    );
    return { waited, reads, last };
  };
  // This same speak, streamed elsewhere: fresh frames, then its last one.
  const own = await run([frame('s1', 10, false, 1_000), frame('s1', 11, false, 1_040), frame('s1', 12, true, 1_080)]);
  assert.equal(own.reads, 3, 'kept reading until the last frame of the utterance streaming elsewhere');
  assert.deepEqual(own.last, frame('s1', 12, true, 1_080), 'the frame read last is handed to the resume decision');
  // Another utterance, cancelled: no last frame will come, it is over at once.
  assert.equal((await run([frame('s0', 5, false, 1_000)], () => true)).reads, 1);
  // Nothing in the stream, or the latest utterance already ended: no wait.
  assert.equal((await run([undefined])).reads, 1);
  assert.equal((await run(['unreadable'])).last, 'unreadable', 'an unreadable frame holds nothing back and is reported as such');
  assert.equal((await run([frame('s1', 40, true, 1_000)])).reads, 1);
  // Frames that stopped coming (their replica died): waits only until they are stallMs old.
  const stalled = await run([frame('s1', 10, false, 1_000)]);
  assert.ok(stalled.waited >= 1_500 - 40 && stalled.waited <= 1_500 + 80, `stops waiting once the frames are stallMs old (waited ${stalled.waited} ms)`);
});
