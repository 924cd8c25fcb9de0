// Barge-in, end to end: the caller asks a knowledge-base question with a long spoken answer and
// says "stop" while the agent speaks. The page must show SPEAKING → INTERRUPT → LISTENING, and
// the agent audio received by the browser must go silent soon after the caller's speech onset.
// Both instants are measured in the page on one clock: the onset on the local microphone track,
// the silence on the received agent track (RMS per ~10.7 ms window on the audio clock).
// Figures are printed with `# e2e:`.
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, makeScriptWav, openCall, startStack, tempDir, view, waitPage, type Stack } from './helpers/e2e-env';
import { bargeInChain, describeBargeIn, gatewayFlushes, startBusTrace, uplinkLags, type BusTrace } from './helpers/bus-trace';
import { exclusiveTestFile } from '@switchboard/testkit';
import { STRICT_MEDIA_TIMING } from './helpers/media-env';

// timing-sensitive: never beside another such file on the same cores
await exclusiveTestFile();

const LOUD = 0.02; // RMS, full scale 1.0
/** What the test asserts with STRICT_MEDIA_TIMING=1 (E2E_BARGE_IN_BUDGET_MS): the design target.
 *  Measured 90–100 ms (bench/e2e, 1–2 calls, load ~1.5–2) since the sibilant onset path; 160–330
 *  ms when other work on the 2 cores stalled the send clock and Chromium's jitter buffer grew to
 *  ~150 ms — hence opt-in; the figure is printed either way. */
const BARGE_IN_BUDGET_MS = Number(process.env['E2E_BARGE_IN_BUDGET_MS'] ?? 150);

type Series = [number, number][];

function pairs(flat: number[]): Series {
  const out: Series = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

describe('e2e: barge-in silences the agent in the browser', { timeout: 5 * 60_000 }, () => {
  let stack: Stack;
  let browser: Browser;
  let page: Page;
  let trace: BusTrace;
  let gapS = 0;

  before(async () => {
    const dir = tempDir('sb-e2e-barge-');
    // A first exchange warms the speech engines (a cold first utterance can lag seconds on a
    // loaded machine); then the password answer plays ~8 s and "stop" comes ~3 s into it.
    gapS = 4.5;
    const script = makeScriptWav(dir, [
      { silenceS: 3 },
      { say: 'Hello world.' },
      { silenceS: 9 },
      { say: 'How do I reset my password?' },
      { silenceS: gapS },
      { say: 'Stop.' },
      { silenceS: 120 },
    ]);
    [stack, browser] = await Promise.all([startStack(), launchBrowser(script.wav)]);
    trace = startBusTrace(stack.bus, { keepPcm: process.env['E2E_LOG_DIR'] !== undefined });
  });

  after(async () => {
    trace?.stop();
    await browser?.close().catch(() => undefined);
    await stack?.stop();
  });

  it('SPEAKING → INTERRUPT → LISTENING, and the received agent audio stops within the budget', async () => {
    page = await openCall(browser, stack.gatewayUrl, stack.callerToken(), '&rawmic=1');
    await waitPage(page, 'the password answer playing', () => window.sb.transcript.some((t) => t.role === 'agent' && /password/i.test(t.text)), undefined, 60_000);
    await waitPage(page, 'INTERRUPT', () => window.sb.states.some((s) => s.state === 'INTERRUPT'), undefined, 30_000);
    await waitPage(page, 'back to LISTENING', () => window.sb.states.at(-1)?.state !== 'INTERRUPT', undefined, 10_000);
    await new Promise((r) => setTimeout(r, 1500)); // let the meters record the silence after
    const v = await view(page);
    console.log(`# e2e: states ${v.states.join(' → ')}`);
    const i = v.states.indexOf('INTERRUPT');
    assert.ok(i > 0, 'INTERRUPT shown');
    assert.equal(v.states[i - 1], 'SPEAKING');
    assert.equal(v.states[i + 1], 'LISTENING');

    // The answer that was cut: the last one that started before INTERRUPT.
    const answer = v.playbacks.filter((p) => p.kind === 'SPEAK_KIND_ANSWER' && p.interrupted === true).at(-1)!;
    assert.ok(answer, `an interrupted answer in ${JSON.stringify(v.playbacks)}`);
    assert.ok(answer.heardAt !== undefined);
    const data = await page.evaluate(() => ({
      mic: window.sb.levelsSince('mic', 0),
      agent: window.sb.levelsSince('agent', 0),
      interruptAt: window.sb.states.find((s) => s.state === 'INTERRUPT')!.at,
    }));
    const mic = pairs(data.mic);
    const agent = pairs(data.agent);
    // The caller's "stop": the first loud mic sample after the answer became audible.
    const onset = mic.find(([t, x]) => t > answer.heardAt! + 200 && x > LOUD);
    assert.ok(onset, 'caller speech onset found on the mic track');
    // The agent is silent from the last loud sample of the cut answer on, until the next
    // utterance starts (the agent answers "stop" too: "Okay. What else can I help you with?").
    const next = v.playbacks.find((p) => p.startedAt > answer.startedAt && p.speakId !== answer.speakId);
    const offset = await page.evaluate(() => window.sb.clockOffsetMs);
    // The next utterance as the browser heard it (page clock); the gateway's start time when the
    // page did not mark it. TTS trims its leading silence, so the next answer follows closely.
    const windowEnd = next ? (next.heardAt ?? next.startedAt - offset) : Infinity;
    const loudAfter = agent.filter(([t, x]) => t >= onset[0] - 1000 && t < windowEnd && x > LOUD);
    assert.ok(loudAfter.some(([t]) => t < onset[0]), 'the agent was audible right before the onset');
    const lastLoud = loudAfter.at(-1)![0];
    const end = Math.min(windowEnd, agent.at(-1)![0]);
    // Browser-side audio timing (Chromium's jitter buffer): only with STRICT_MEDIA_TIMING=1.
    if (STRICT_MEDIA_TIMING) assert.ok(end - lastLoud > 100, `silence recorded after the last loud sample (${Math.round(end - lastLoud)} ms before the next utterance)`);
    const silentMs = lastLoud - onset[0];
    const chain = bargeInChain(trace, v.sessionId, onset[0] + offset, lastLoud + offset, gatewayFlushes(stack.logs('sfu-gateway')));
    const rs = await page.evaluate(() => window.sb.recvStats());
    const agentRs = rs.find((r) => r.source === 'agent');
    const jbMs = agentRs ? (agentRs.jitterBufferDelay / Math.max(1, agentRs.jitterBufferEmittedCount)) * 1000 : NaN;
    const logDir = process.env['E2E_LOG_DIR'];
    if (logDir) {
      // The caller audio as the STT got it (16 kHz PCM16 from the call's first frame), for offline VAD checks.
      const fr = trace.frames(v.sessionId);
      mkdirSync(logDir, { recursive: true });
      writeFileSync(join(logDir, `caller-${fr[0]?.audioMs ?? 0}ms.raw`), Buffer.concat(fr.map((x) => Buffer.from(x.pcm!.buffer, x.pcm!.byteOffset, x.pcm!.byteLength))));
      console.log(`# e2e: STT-dated onset at audio ${chain.speechStarted?.audioMs} ms`);
    }
    const up = uplinkLags(trace, v.sessionId, mic, offset).map((x) => Math.round(x));
    console.log(`# e2e: barge-in chain: ${describeBargeIn(chain)}; page jitter buffer mean ${jbMs.toFixed(0)} ms; uplink (page mic onset → gateway frame) per onset ${up.join(', ')} ms`);
    const uiMs = data.interruptAt - onset[0];
    const playedMs = answer.durationMs ?? NaN;
    console.log(
      `# e2e: barge-in: caller onset → agent silent in the browser ${silentMs.toFixed(0)} ms (target 150, asserted ≤ ${BARGE_IN_BUDGET_MS} with STRICT_MEDIA_TIMING=1); onset → INTERRUPT shown ${uiMs.toFixed(0)} ms; answer played ${playedMs} ms, interrupted=${String(answer.interrupted)}`,
    );
    assert.equal(answer.interrupted, true, 'PLAYBACK_DONE says interrupted');
    if (STRICT_MEDIA_TIMING) assert.ok(silentMs <= BARGE_IN_BUDGET_MS, `agent silent ${silentMs.toFixed(0)} ms after the onset`);
  });

  it('the bus recorded the barge-in turn and no service logged an error', async () => {
    const sessionId = (await view(page)).sessionId;
    const res = await fetch(`${stack.orchestratorUrl}/sessions/${sessionId}/events`, { signal: AbortSignal.timeout(10_000) });
    const evs = ((await res.json()) as { events: { event: { eventType: string; playbackDone?: { interrupted: boolean; durationMs: number } } }[] }).events.map((e) => e.event);
    const done = evs.filter((e) => e.eventType === 'PLAYBACK_DONE');
    assert.ok(done.some((e) => e.playbackDone?.interrupted === true), 'an interrupted PLAYBACK_DONE');
    assert.deepEqual(stack.errorLines().map((e) => `${e.service}: ${JSON.stringify(e.line).slice(0, 300)}`), []);
  });
});
