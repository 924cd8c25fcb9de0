// A real call with Debian's Chromium: the fake microphone plays a flite sentence; its audio must
// arrive in Node as 16 kHz frames whose envelope matches the WAV; agent PCM pushed in Node must be
// heard in the page (AudioWorklet meter on the remote track); a flush must silence the page within
// 150 ms; the mic gate, a supervisor's listen-in and whisper, and hang-up must behave.
// Figures (latency, flush-to-silence) are printed with `# media:` prefixes.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import type { CallEndReason, CallMedia, CallerFrame, MediaPeer, PlaybackDone, PlaybackStarted, WhisperFrame, WorkerPool } from '../src/media/index';
import { createCallMedia, createWorkerPool } from '../src/media/index';
import {
  bestCircularCorrelation,
  bundlePage,
  clockOffset,
  envelope,
  epochNow,
  launchChromium,
  makeSpeechWav,
  readWavPcm16,
  servePage,
  STRICT_MEDIA_TIMING,
  tempDir,
  tonePcm16k,
  workerBin,
} from './helpers/media-env';
import { exclusiveTestFile } from '@switchboard/testkit';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const SILENT = 0.01; // RMS (full scale 1.0): −40 dBFS; the test tone is ~0.21
const LOUD = 0.05;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

function signaling(call: CallMedia, peer: MediaPeer) {
  return async (method: string, data: unknown): Promise<unknown> => {
    // The page sends what mediasoup-client produced; the media layer validates it.
    const d = data as { transportId: string; dtlsParameters: never; kind: never; rtpParameters: never; rtpCapabilities: never };
    switch (method) {
      case 'rtpCapabilities':
        return call.routerRtpCapabilities;
      case 'createTransport':
        return peer.createTransport(data as 'send' | 'recv');
      case 'connect':
        await peer.connectTransport(d.transportId, d.dtlsParameters);
        return null;
      case 'produce':
        return peer.produce({ transportId: d.transportId, kind: d.kind, rtpParameters: d.rtpParameters });
      case 'consume':
        return peer.consume({ transportId: d.transportId, rtpCapabilities: d.rtpCapabilities });
      default:
        throw new Error(`unknown method ${method}`);
    }
  };
}

/** [epochMs, rms] pairs of one metered source in the page since `fromMs` (Node's clock). */
async function levels(page: Page, source: string, offsetMs: number, fromMs: number): Promise<[number, number][]> {
  const flat = await page.evaluate(([s, from]) => window.levelsSince(s, from), [source, fromMs + offsetMs] as const);
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]! - offsetMs, flat[i + 1]!]);
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

describe('call media with real Chromium', { timeout: 40 * 60_000 }, () => {
  let pool: WorkerPool;
  let call: CallMedia;
  let browser: Browser;
  let callerPage: Page;
  let server: { url: string; close: () => Promise<void> };
  let wav: { wav48: string; wav16: string; loopMs: number };
  let offsetMs = 0;
  const frames: (CallerFrame & { at: number })[] = [];
  const started: (PlaybackStarted & { at: number })[] = [];
  const done: (PlaybackDone & { at: number })[] = [];
  const whispers: WhisperFrame[] = [];
  const peersLeft: { id: string; reason: string }[] = [];
  const ended: CallEndReason[] = [];
  let lastClock = { ticks: 0, slots: 0, skipped: 0, lateMaxMs: 0, lateP95Ms: 0 };

  before(async () => {
    const bin = workerBin();
    wav = makeSpeechWav(tempDir('sb-media-'), 'Hello, thank you for calling. I would like to check the status of my order, please.');
    server = await servePage(await bundlePage());
    // Chromium (and playwright-core's big module load, which blocks the event loop) before the
    // call exists: the call's send clock should not start with a stall.
    browser = await launchChromium(wav.wav48);
    callerPage = await browser.newPage();
    pool = createWorkerPool({ workerBin: bin, size: 1 });
    await pool.start();
    call = await createCallMedia(pool, {
      callId: 'test-call',
      config: { connectTimeoutMs: 60_000 },
      onCallerFrame: (f) => frames.push({ ...f, at: epochNow() }),
      onWhisperFrame: (f) => whispers.push(f),
      onPlaybackStarted: (e) => started.push({ ...e, at: epochNow() }),
      onPlaybackDone: (e) => done.push({ ...e, at: epochNow() }),
      onPeerLeft: (id, reason) => peersLeft.push({ id, reason }),
      onEnded: (r) => ended.push(r),
    });

    callerPage.on('pageerror', (e) => console.error('# page error:', e.message));
    await callerPage.exposeFunction('signal', signaling(call, call.caller));
    await callerPage.goto(server.url);
    const { consumers } = await callerPage.evaluate(() => window.startPeer({ send: true, recv: true }));
    assert.deepEqual(consumers, ['agent']);
    offsetMs = (await clockOffset(callerPage)).offsetMs;
    const c = call.stats().clock;
    console.log(`# media: setup: clock ${c.slots} slots, ${c.skipped} skipped, late max ${c.lateMaxMs.toFixed(1)} ms`);
    lastClock = c;
  });

  afterEach(async () => {
    // Diagnostics: did our event loop stall (send clock), how deep is the browser's jitter buffer.
    if (call.closed) return;
    const c = call.stats().clock;
    const rs = await callerPage.evaluate(() => window.recvStats()).catch(() => []);
    console.log(`# media: clock +${c.slots - lastClock.slots} slots, +${c.skipped - lastClock.skipped} skipped, late max ${c.lateMaxMs.toFixed(1)} p95 ${c.lateP95Ms.toFixed(1)} ms; caller page ${JSON.stringify(rs)}`);
    lastClock = c;
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    call?.close();
    await pool?.stop();
    await server?.close();
  });

  it('caller speech arrives in Node as 20 ms 16 kHz frames whose envelope matches the source WAV', async () => {
    const loopFrames = wav.loopMs / 20;
    const skip = 50; // the first second: capture and jitter buffers settle
    await waitFor('a full loop of caller audio', () => frames.length >= skip + loopFrames + 5, 30_000);
    assert.ok(frames.every((f) => f.pcm.length === 640 && f.sampleRate === 16000));
    for (let i = 1; i < frames.length; i++) assert.equal(frames[i]!.seq, frames[i - 1]!.seq + 1, 'contiguous seq');
    assert.equal(frames.at(-1)!.audioMs, frames.at(-1)!.seq * 20);
    const win = frames.slice(skip, skip + loopFrames);
    const got = new Int16Array(loopFrames * 320);
    win.forEach((f, i) => got.set(new Int16Array(f.pcm.buffer.slice(f.pcm.byteOffset, f.pcm.byteOffset + 640)), i * 320));
    const src = readWavPcm16(wav.wav16);
    assert.equal(src.sampleRate, 16000);
    const { r, lag } = bestCircularCorrelation(envelope(got, 320), envelope(src.samples, 320).subarray(0, loopFrames));
    const filled = win.reduce((n, f) => n + f.filledSamples, 0) / 16;
    console.log(`# media: uplink envelope correlation ${r.toFixed(3)} (lag ${lag * 20} ms), filled ${filled} ms of ${wav.loopMs} ms, stats ${JSON.stringify(call.stats().caller)}`);
    assert.ok(r > 0.85, `envelope correlation ${r}`);
  });

  // The playout itself is always checked; its real-time bounds only with STRICT_MEDIA_TIMING=1
  // (hold the measurement lock): on shared cores Chromium's adaptive jitter buffer alone varies.
  it('agent PCM pushed in Node is heard in the browser (one-way latency)', async () => {
    const bursts = 6;
    const t0 = epochNow();
    for (let i = 0; i < bursts; i++) {
      assert.equal(call.pushAgentPcm({ pcm16k: tonePcm16k(300), turnId: `lat-${i}`, speakId: `lat-${i}`, last: true }), 'queued');
      await waitFor(`burst ${i} done`, () => done.some((d) => d.speakId === `lat-${i}`), 5000);
      await sleep(500);
    }
    const lv = await levels(callerPage, 'agent', offsetMs, t0 - 1000);
    const lat: number[] = [];
    for (let i = 0; i < bursts; i++) {
      const s = started.find((e) => e.speakId === `lat-${i}`)!;
      const before = lv.filter(([t]) => t > s.at - 150 && t < s.at);
      assert.ok(before.length > 0 && before.every(([, x]) => x < SILENT), `silent before burst ${i}`);
      const heard = lv.find(([t, x]) => t >= s.at && x > LOUD);
      assert.ok(heard, `burst ${i} heard`);
      lat.push(heard[0] - s.at);
      const d = done.find((e) => e.speakId === `lat-${i}`)!;
      assert.deepEqual([d.durationMs, d.interrupted], [300, false]);
    }
    console.log(`# media: Node→browser one-way (first frame sent → level in page) p50 ${pct(lat, 0.5).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms, n=${lat.length}`);
    if (STRICT_MEDIA_TIMING) assert.ok(pct(lat, 0.5) < 250, `p50 ${pct(lat, 0.5)}`);
    else assert.ok(Math.max(...lat) < 1000, `heard ${Math.max(...lat).toFixed(0)} ms after it was sent`);
  });

  /** The caller page's mean jitter-buffer delay (ms) between two recvStats() snapshots. */
  type Rs = { source: string; jitterBufferDelay: number; jitterBufferEmittedCount: number };
  const agentStats = async (): Promise<Rs> =>
    ((await callerPage.evaluate(() => window.recvStats())) as Rs[]).find((s) => s.source === 'agent')!;
  const jbWindowMs = (a: Rs, b: Rs): number =>
    ((b.jitterBufferDelay - a.jitterBufferDelay) / Math.max(1, b.jitterBufferEmittedCount - a.jitterBufferEmittedCount)) * 1000;

  // The flush is always checked (silence in the page, later frames dropped, next turn heard);
  // the 150 ms bound only with STRICT_MEDIA_TIMING=1 (hold the measurement lock).
  it('flush silences the browser within 150 ms and drops later frames of the flushed turn', async () => {
    const runs: number[] = [];
    const beyondJitterBuffer: number[] = [];
    for (let k = 0; k < 3; k++) {
      const turnId = `flush-${k}`;
      assert.equal(call.pushAgentPcm({ pcm16k: tonePcm16k(3000), turnId, speakId: turnId, last: true }), 'queued');
      await waitFor('playback start', () => started.some((e) => e.speakId === turnId), 5000);
      const s = started.find((e) => e.speakId === turnId)!;
      const jb0 = await agentStats();
      await sleep(Math.max(0, s.at + 700 - epochNow()));
      const flushAt = epochNow();
      const r = call.flush({ turnId, fadeMs: 5 });
      assert.ok(r.droppedFrames > 50, `dropped ${r.droppedFrames}`);
      assert.equal(call.pushAgentPcm({ pcm16k: tonePcm16k(200), turnId, speakId: turnId }), 'dropped_flushed');
      await sleep(700);
      const jbMs = jbWindowMs(jb0, await agentStats());
      const d = done.find((e) => e.speakId === turnId)!;
      assert.equal(d.interrupted, true);
      assert.ok(d.durationMs >= 600 && d.durationMs <= 1000, `played ${d.durationMs} ms`);
      const lv = (await levels(callerPage, 'agent', offsetMs, flushAt - 100)).filter(([t]) => t >= flushAt - 100 && t <= flushAt + 600);
      assert.ok(lv.some(([t, x]) => t < flushAt && x > LOUD), 'playing before the flush');
      // First moment after which the page stays silent.
      let lastLoud = flushAt;
      for (const [t, x] of lv) if (t >= flushAt && x >= SILENT) lastLoud = t;
      assert.ok(lv.some(([t, x]) => t > lastLoud && x < SILENT), `silent in the page after the flush (last loud ${(lastLoud - flushAt).toFixed(0)} ms after it)`);
      runs.push(lastLoud - flushAt);
      beyondJitterBuffer.push(lastLoud - flushAt - jbMs);
      await sleep(300);
    }
    const f = (xs: number[]) => xs.map((x) => x.toFixed(1)).join(', ');
    console.log(`# media: flush→silence in browser ${f(runs)} ms; minus the page's jitter-buffer delay: ${f(beyondJitterBuffer)} ms`);
    // Ours (slot phase ≤20 ms, the fade frame, codec delay, worker, loopback, WebAudio meter) must stay small whatever the
    // browser buffers; the end-to-end figure is what the brief asks (<150 ms). On a busy 2-core
    // machine Chromium's adaptive jitter buffer alone sits at 80–115 ms, so the absolute bound is
    // held on the median of three runs.
    // (Stopping the stream instead of sending silence adds ~140 ms of concealment here; not
    // flushing keeps the tone for 2 s: both fail this.)
    if (STRICT_MEDIA_TIMING) {
      assert.ok(Math.max(...beyondJitterBuffer) < 100, `flush to silence beyond the jitter buffer ${f(beyondJitterBuffer)}`);
      assert.ok(pct(runs, 0.5) < 150, `flush to silence ${f(runs)}`);
    } else assert.ok(Math.max(...runs) < 450, `flush to silence ${f(runs)} (unflushed, the tone would play 2 s more)`);

    // After a flush the next utterance plays normally (encoder reset, no stale state).
    call.pushAgentPcm({ pcm16k: tonePcm16k(300), turnId: 'after', speakId: 'after', last: true });
    await waitFor('after-flush utterance done', () => done.some((e) => e.speakId === 'after'), 5000);
    await sleep(300);
    const s = started.find((e) => e.speakId === 'after')!;
    const lv = await levels(callerPage, 'agent', offsetMs, s.at - 100);
    const heard = lv.find(([t, x]) => t >= s.at && x > LOUD);
    assert.ok(heard && heard[0] - s.at < (STRICT_MEDIA_TIMING ? 250 : 1000), 'speech after a flush is heard promptly');
  });

  it('mic CLOSED stops caller frames; OPEN resumes them on the same timeline', async () => {
    call.setMic('CLOSED');
    await sleep(60);
    const n = frames.length;
    const lastSeq = frames.at(-1)!.seq;
    await sleep(500);
    assert.equal(frames.length, n, 'no frames while CLOSED');
    call.setMic('GATED');
    await waitFor('frames when GATED', () => frames.length > n + 5, 3000);
    assert.ok(frames[n]!.seq >= lastSeq + 20, 'seq kept counting while CLOSED');
    call.setMic('OPEN');
  });

  it('a supervisor hears caller and agent, whispers to the agent only, and leaves without ending the call', async () => {
    const supervisor = call.addSupervisor();
    const supPage = await browser.newPage();
    await supPage.exposeFunction('signal', signaling(call, supervisor));
    await supPage.goto(server.url);
    const { consumers } = await supPage.evaluate(() => window.startPeer({ send: true, recv: true }));
    assert.deepEqual(consumers.sort(), ['agent', 'caller']);
    const supOffset = (await clockOffset(supPage)).offsetMs;
    call.pushAgentPcm({ pcm16k: tonePcm16k(400), turnId: 'sup', speakId: 'sup', last: true });
    await waitFor('supervisor tone done', () => done.some((e) => e.speakId === 'sup'), 5000);
    await waitFor('whisper frames', () => whispers.length > 50, 10_000);
    await sleep(Math.max(0, wav.loopMs - 1000)); // a whole loop of the caller's sentence
    const agentLv = await levels(supPage, 'agent', supOffset, 0);
    const callerLv = await levels(supPage, 'caller', supOffset, 0);
    assert.ok(agentLv.some(([, x]) => x > LOUD), 'supervisor hears the agent');
    assert.ok(callerLv.some(([, x]) => x > LOUD), 'supervisor hears the caller');
    assert.ok(whispers.every((w) => w.source === 'supervisor' && w.peerId === supervisor.id && w.pcm.length === 640));
    // The whisper is not offered to the caller.
    const more = await callerPage.evaluate(() => window.consumeMore());
    assert.deepEqual(more.consumers, []);
    // Closing its PeerConnections sends DTLS close_notify: the supervisor leaves at once.
    await supPage.evaluate(() => window.stopPeer());
    await waitFor('supervisor left', () => peersLeft.some((p) => p.id === supervisor.id), 45_000);
    console.log(`# media: supervisor hung up → left with ${peersLeft.find((p) => p.id === supervisor.id)?.reason}`);
    await supPage.close();
    assert.equal(call.closed, false);
    assert.deepEqual(ended, []);
  });

  it('a caller whose browser vanishes (renderer crash, no DTLS close) ends with ice_disconnected', async () => {
    const reasons: CallEndReason[] = [];
    const lost = await createCallMedia(pool, {
      // Consent checks every few seconds; 3 s without consent → ICE 'disconnected' → 0.5 s grace.
      config: { iceConsentTimeoutS: 3, iceDisconnectTimeoutMs: 500, connectTimeoutMs: 30_000 },
      onCallerFrame: () => {},
      onEnded: (r) => reasons.push(r),
    });
    const page = await browser.newPage();
    await page.exposeFunction('signal', signaling(lost, lost.caller));
    await page.goto(server.url);
    await page.evaluate(() => window.startPeer({ send: false, recv: true }));
    await page.goto('chrome://crash').catch(() => undefined);
    const t0 = Date.now();
    await waitFor('ice_disconnected', () => reasons.length > 0, 30_000);
    console.log(`# media: crashed caller page → ${reasons.join(',')} after ${Date.now() - t0} ms`);
    assert.deepEqual(reasons, ['ice_disconnected']);
    assert.equal(lost.closed, true);
    await page.close().catch(() => undefined);
  });

  it('the caller hanging up ends the call', async () => {
    await callerPage.evaluate(() => window.stopPeer());
    await waitFor('call ended', () => ended.length > 0, 45_000);
    console.log(`# media: hang-up ended the call with ${ended.join(',')}`);
    assert.ok(['dtls_closed', 'ice_disconnected', 'ice_closed'].includes(ended[0]!), ended[0]);
    assert.equal(call.closed, true);
    console.log(`# media: send clock ${JSON.stringify(call.stats().clock)}; agent ${JSON.stringify(call.stats().agent)}`);
  });
});
