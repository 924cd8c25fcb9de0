// Latency records: per transition (time spent in the `from` state, orchestrator clock) and per
// pipeline stage (marks from the producers' event timestamps).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MicState } from '@switchboard/contracts';
import type { Event } from '@switchboard/contracts';
import { FsmDriver, ev, latencyReport, percentile } from '../src/fsm/index';
import type { StageLatency } from '../src/fsm/index';

const at = (e: Event, timestamp: number): Event => ({ ...e, timestamp });
const byName = (list: StageLatency[]): Record<string, Omit<StageLatency, 'stage'>> =>
  Object.fromEntries(list.map(({ stage, ...rest }) => [stage, rest]));

/** Two turns with known producer timestamps (10 s skew from the orchestrator clock on purpose). */
function twoTurns(): FsmDriver {
  const d = new FsmDriver({ now: 1_000_000 });
  d.send(ev.callStarted()); // IDLE→LISTENING, 0 ms in IDLE
  d.send(at(ev.speechEnded(), 10_000), 1800);
  d.send(at(ev.sttFinal('when do you open'), 10_250), 200); // LISTENING→THINKING after 2000
  const t1 = d.state.turn?.turnId ?? '';
  d.send(at(ev.intent(t1), 10_400), 150);
  d.send(at(ev.ragPartial(t1), 10_600), 200);
  d.send(at(ev.ragReady(t1), 11_050), 450); // THINKING→SPEAKING after 800
  d.send(at(ev.ttsStarted(t1, `${t1}:answer`), 11_170), 120);
  d.send(at(ev.playbackStarted(t1, `${t1}:answer`), 11_230), 60);
  d.send(ev.callStarted(), 10); // rejected: not a transition
  d.send(at(ev.playbackDone(t1, `${t1}:answer`), 13_000), 1810); // SPEAKING→LISTENING after 2000
  // turn 2: no SPEECH_ENDED seen; the final's decodeMs gives the speech end
  d.send(at(ev.sttFinal('and on sunday', true, 300), 20_300), 5000); // LISTENING→THINKING after 5000
  const t2 = d.state.turn?.turnId ?? '';
  d.send(at(ev.ragReady(t2), 20_900), 600); // THINKING→SPEAKING after 600
  d.send(at(ev.ttsStarted(t2, `${t2}:answer`), 21_000), 100);
  d.send(at(ev.playbackStarted(t2, `${t2}:answer`), 21_100), 100);
  d.send(ev.speechStarted(MicState.MIC_STATE_GATED), 500); // SPEAKING→INTERRUPT after 700, INTERRUPT→LISTENING 0
  return d;
}

describe('latency', () => {
  it('each transition records from, to, event, time, time spent in `from`, turn and event sequence', () => {
    const d = twoTurns();
    const t = d.state.timeline.filter((x) => !x.rejected);
    assert.deepEqual(t[1], { from: 'LISTENING', to: 'THINKING', eventType: 'STT_FINAL', at: 1_002_000, latencyMs: 2000, turnId: 'turn_3', eventSeq: 3 });
    assert.deepEqual(t.map((x) => `${x.from}→${x.to}:${x.latencyMs}`), [
      'IDLE→LISTENING:0', 'LISTENING→THINKING:2000', 'THINKING→SPEAKING:800', 'SPEAKING→LISTENING:2000',
      'LISTENING→THINKING:5000', 'THINKING→SPEAKING:600', 'SPEAKING→INTERRUPT:700', 'INTERRUPT→LISTENING:0',
    ]);
    assert.equal(d.state.timeline.filter((x) => x.rejected).length, 1);
  });

  it('stage marks come from the events; a turn keeps them when it closes', () => {
    const d = twoTurns();
    const [a, b] = d.state.turnsCompleted;
    assert.deepEqual(a?.marks, { speechEnded: 10_000, final: 10_250, intent: 10_400, firstPartial: 10_600, answer: 11_050, ttsStarted: 11_170, playbackStarted: 11_230, playbackDone: 13_000 });
    assert.equal(a?.outcome, 'completed');
    assert.deepEqual(b?.marks, { speechEnded: 20_000, final: 20_300, answer: 20_900, firstPartial: 20_900, ttsStarted: 21_000, playbackStarted: 21_100 });
    assert.equal(b?.outcome, 'cancelled');
  });

  it('latencyReport: per transition type and per stage, count / total / p50 / max, with totals', () => {
    const r = latencyReport(twoTurns().state);
    assert.equal(r.sessionId, 'ses_TEST');
    assert.deepEqual(byName(r.transitions), {
      'IDLE→LISTENING': { count: 1, totalMs: 0, p50Ms: 0, maxMs: 0 },
      'INTERRUPT→LISTENING': { count: 1, totalMs: 0, p50Ms: 0, maxMs: 0 },
      'LISTENING→THINKING': { count: 2, totalMs: 7000, p50Ms: 2000, maxMs: 5000 },
      'SPEAKING→INTERRUPT': { count: 1, totalMs: 700, p50Ms: 700, maxMs: 700 },
      'SPEAKING→LISTENING': { count: 1, totalMs: 2000, p50Ms: 2000, maxMs: 2000 },
      'THINKING→SPEAKING': { count: 2, totalMs: 1400, p50Ms: 600, maxMs: 800 },
    });
    assert.deepEqual(byName(r.stages), {
      stt: { count: 2, totalMs: 550, p50Ms: 250, maxMs: 300 },
      rag: { count: 2, totalMs: 1400, p50Ms: 600, maxMs: 800 },
      tts: { count: 2, totalMs: 220, p50Ms: 100, maxMs: 120 },
      playout: { count: 2, totalMs: 160, p50Ms: 60, maxMs: 100 },
      voice_to_voice: { count: 2, totalMs: 2330, p50Ms: 1100, maxMs: 1230 },
    });
    assert.equal(r.totalMs, 11_100);
  });

  it('the live turn counts for the stages it has reached', () => {
    const d = twoTurns();
    d.send(at(ev.speechEnded(), 30_000), 100);
    d.send(at(ev.sttFinal('one more thing'), 30_400), 400);
    const r = byName(latencyReport(d.state).stages);
    assert.deepEqual(r.stt, { count: 3, totalMs: 950, p50Ms: 300, maxMs: 400 });
    assert.equal(r.rag?.count, 2);
  });

  it('an empty session reports zeros', () => {
    const r = latencyReport(new FsmDriver().state);
    assert.deepEqual(r.transitions, []);
    assert.ok(r.stages.every((s) => s.count === 0 && s.p50Ms === 0 && s.maxMs === 0));
    assert.equal(r.totalMs, 0);
  });

  it('percentile is nearest-rank', () => {
    const xs = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    assert.equal(percentile(xs, 50), 5);
    assert.equal(percentile(xs, 90), 9);
    assert.equal(percentile(xs, 100), 10);
    assert.equal(percentile(xs, 0), 1);
    assert.equal(percentile([], 50), 0);
    assert.equal(percentile([7], 50), 7);
  });
});
