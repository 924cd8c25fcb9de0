// Turns, cancellation, barge-in, stale results, timers, purity and robustness of the reducer.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommandType, EventType, MicState, SpeakKind, TimerKind, decodeCommand, encodeCommand, newSessionId } from '@switchboard/contracts';
import type { Event } from '@switchboard/contracts';
import { FsmDriver, STATE_LIMITS, defaultFsmConfig, ev, initialState, nextDeadline, parseFsmConfig, reduce, toCommand } from '../src/fsm/index';
import type { Effect, ReduceResult, SessionState } from '../src/fsm/index';

const sig = (r: ReduceResult): string[] => r.effects.map((e) => `${e.target}:${e.commandType}`);
const body = <K extends string>(e: Effect | undefined, key: K): Record<string, unknown> =>
  (e?.body as Record<string, Record<string, unknown>> | undefined)?.[key] ?? {};

function listening(): FsmDriver {
  const d = new FsmDriver();
  d.send(ev.callStarted('en-GB'));
  return d;
}

/** LISTENING → THINKING → SPEAKING on one turn; returns its id. */
function toSpeaking(d: FsmDriver, text = 'We open at nine.', opts: { escalate?: boolean } = {}): string {
  d.send(ev.speechEnded(), 100);
  d.send(ev.sttFinal('when do you open'), 150);
  const turnId = d.state.turn?.turnId ?? '';
  d.send(ev.ragReady(turnId, text, opts), 500);
  assert.equal(d.state.state, 'SPEAKING');
  return turnId;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

describe('turns', () => {
  it('STT_FINAL in LISTENING opens turn_<seq> and queries rag with history, language and deadline', () => {
    const d = listening();
    const first = toSpeaking(d);
    d.send(ev.playbackDone(first, `${first}:answer`), 900);
    assert.equal(d.state.state, 'LISTENING');
    const r = d.send(ev.sttFinal('  and on sundays?  '), 2000);
    assert.equal(d.state.turn?.turnId, `turn_${d.seq}`);
    assert.deepEqual(sig(r), ['rag:RAG_QUERY']);
    const q = body(r.effects[0], 'ragQuery');
    assert.equal(r.effects[0]?.correlationId, `turn_${d.seq}`);
    assert.equal(q.text, 'and on sundays?');
    assert.equal(q.language, 'en-GB');
    assert.equal(q.skipIntent, false);
    assert.equal(q.deadline, d.now + d.config.turnTimeoutMs);
    assert.deepEqual(q.history, [{ turnId: first, userText: 'when do you open', agentText: 'We open at nine.', intent: 'hours', sourceIds: ['kb1'] }]);
  });

  it('100 rapid STT_FINALs: exactly one live turn at any time, 99 cancellations with a reason', () => {
    const d = listening();
    const queried: string[] = [];
    const cancelled: string[] = [];
    const cancelLogs: unknown[] = [];
    for (let i = 0; i < 100; i += 1) {
      const prev = d.state.turn?.turnId;
      const r = d.send(ev.sttFinal(`question number ${i}`), 10);
      assert.equal(d.state.state, 'THINKING');
      for (const e of r.effects) {
        if (e.commandType === CommandType.RAG_QUERY) queried.push(String(body(e, 'ragQuery').turnId));
        if (e.commandType === CommandType.RAG_CANCEL) {
          cancelled.push(String(body(e, 'ragCancel').turnId));
          assert.equal(body(e, 'ragCancel').reason, 'superseded');
        }
      }
      if (prev) {
        // the previous turn is cancelled FIRST, then the new one queried
        assert.deepEqual(sig(r), ['rag:RAG_CANCEL', 'rag:RAG_QUERY']);
        assert.equal(body(r.effects[0], 'ragCancel').turnId, prev);
        assert.ok(d.state.cancelledTurns.includes(prev));
      }
      cancelLogs.push(...r.logs.filter((l) => l.msg === 'turn cancelled').map((l) => l.fields));
      const live = queried.filter((t) => !cancelled.includes(t));
      assert.deepEqual(live, [d.state.turn?.turnId], 'one live turn');
    }
    assert.equal(queried.length, 100);
    assert.equal(cancelled.length, 99);
    assert.equal(cancelLogs.length, 99);
    assert.ok(cancelLogs.every((f) => (f as { reason: string }).reason === 'superseded'));
    assert.equal(d.state.counters.turns, 100);
    assert.equal(d.state.counters.cancelled, 99);
    assert.equal(d.state.cancelledTurns.length, STATE_LIMITS.cancelledTurns);
    assert.equal(d.state.turnsCompleted.filter((t) => t.outcome === 'cancelled').length, 50);

    // late answers of superseded turns are ignored; the live one is spoken
    const late = d.send(ev.ragReady(cancelled[98] ?? ''), 5);
    assert.equal(late.outcome, 'ignored');
    assert.equal(late.logs[0]?.msg, 'stale_result');
    assert.equal(late.logs[0]?.fields.cancelled, true);
    const live = d.state.turn?.turnId ?? '';
    assert.equal(d.send(ev.ragReady(live), 5).state.state, 'SPEAKING');
  });

  it('superseding a turn whose filler is playing also cancels the filler, before the new query', () => {
    const d = listening();
    d.send(ev.sttFinal('first'), 10);
    const first = d.state.turn?.turnId ?? '';
    const filler = d.fireNextTimer();
    assert.deepEqual(filler && sig(filler), ['tts:TTS_SPEAK']);
    const r = d.send(ev.sttFinal('second'), 10);
    assert.deepEqual(sig(r), ['rag:RAG_CANCEL', 'tts:TTS_CANCEL', 'rag:RAG_QUERY']);
    assert.deepEqual(body(r.effects[1], 'ttsCancel'), { turnId: first, speakId: `${first}:filler`, reason: 'superseded' });
  });

  it('answer with a filler playing: cancel filler, gate the mic (gateway and stt), speak', () => {
    const d = listening();
    d.send(ev.sttFinal('hello'), 10);
    const t = d.state.turn?.turnId ?? '';
    d.fireNextTimer();
    d.send(ev.ttsStarted(t, `${t}:filler`, SpeakKind.SPEAK_KIND_FILLER), 100);
    const r = d.send(ev.ragReady(t, 'Hi!'), 200);
    assert.deepEqual(sig(r), ['tts:TTS_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET', 'tts:TTS_SPEAK']);
    assert.equal(body(r.effects[0], 'ttsCancel').speakId, `${t}:filler`);
    assert.equal(body(r.effects[1], 'micSet').state, MicState.MIC_STATE_GATED);
    assert.deepEqual(body(r.effects[3], 'ttsSpeak'), { turnId: t, speakId: `${t}:answer`, text: 'Hi!', kind: SpeakKind.SPEAK_KIND_ANSWER, cacheKey: '', language: 'en-GB' });
  });

  it('mic commands are sent only when the mic actually changes', () => {
    const d = listening();
    const r = d.send(ev.sttFinal('hello'), 10); // OPEN → OPEN
    assert.ok(!sig(r).some((s) => s.endsWith('MIC_SET')));
    const again = d.send(ev.sttFinal('hello again'), 10); // THINKING → THINKING
    assert.ok(!sig(again).some((s) => s.endsWith('MIC_SET')));
  });

  it('escalation: the answer plays, then CALL_END escalated and ENDED', () => {
    const d = listening();
    const t = toSpeaking(d, 'Let me put you through to a colleague.', { escalate: true });
    const r = d.send(ev.playbackDone(t, `${t}:answer`), 2000);
    assert.equal(r.state.state, 'ENDED');
    assert.deepEqual(sig(r), ['gateway:MIC_SET', 'stt:MIC_SET', 'gateway:CALL_END']);
    assert.equal(body(r.effects[2], 'callEnd').reason, 'escalated');
    assert.equal(r.state.turnsCompleted.at(-1)?.outcome, 'completed');
    assert.equal(d.send(ev.callEnded()).outcome, 'ignored', 'ENDED takes nothing more: the echo is ignored');
  });

  it('CALL_ENDED in THINKING cancels the live turn with the reason, no CALL_END back', () => {
    const d = listening();
    d.send(ev.sttFinal('hello'), 10);
    const t = d.state.turn?.turnId;
    const r = d.send(ev.callEnded('hangup'), 10);
    assert.equal(r.state.state, 'ENDED');
    assert.deepEqual(body(r.effects[0], 'ragCancel'), { turnId: t, reason: 'call_ended' });
    assert.ok(!sig(r).includes('gateway:CALL_END'));
    assert.deepEqual(r.state.timers, {});
    assert.deepEqual(r.state.end, { reason: 'hangup', by: 'caller', at: d.now });
  });
});

describe('barge-in', () => {
  it('SPEAKING + SPEECH_STARTED → INTERRUPT → LISTENING: cancel tts, flush playback, open the mic', () => {
    const d = listening();
    const t = toSpeaking(d);
    d.send(ev.playbackStarted(t, `${t}:answer`), 100);
    const r = d.send(ev.speechStarted(MicState.MIC_STATE_GATED), 700);
    assert.deepEqual(sig(r), ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET']);
    assert.deepEqual(body(r.effects[0], 'ttsCancel'), { turnId: t, speakId: '', reason: 'barge_in' });
    assert.deepEqual(body(r.effects[1], 'playbackFlush'), { turnId: t, reason: 'barge_in', fadeMs: 5 });
    assert.equal(body(r.effects[2], 'micSet').state, MicState.MIC_STATE_OPEN);
    assert.deepEqual(r.transitions.map((x) => `${x.from}→${x.to}`), ['SPEAKING→INTERRUPT', 'INTERRUPT→LISTENING']);
    assert.ok(r.transitions.every((x) => x.turnId === t));
    assert.equal(r.state.state, 'LISTENING');
    assert.equal(r.state.counters.bargeIns, 1);
    assert.ok(r.logs.some((l) => l.msg === 'barge-in'));
    assert.equal(r.state.turnsCompleted.at(-1)?.reason, 'barge_in');
    assert.equal(r.state.timers.noInput, undefined, 'caller is talking: no-input waits for SPEECH_ENDED');
    // the interrupted answer's late events are stale
    assert.equal(d.send(ev.playbackDone(t, `${t}:answer`), 20).outcome, 'ignored');
    assert.ok(d.send(ev.speechEnded(), 500).state.timers.noInput);
    // the caller's words open the next turn
    assert.equal(d.send(ev.sttFinal('actually, on saturday?'), 200).state.state, 'THINKING');
  });

  it('a still-playing filler is cancelled after the flush', () => {
    const d = listening();
    const t = toSpeaking(d);
    // A filler the SPEAKING entry could not cancel (e.g. state written by an older replica).
    const s: SessionState = structuredClone(d.state);
    if (s.turn) Object.assign(s.turn, { filler: 'requested', fillerSpeakId: `${t}:filler` });
    const r = reduce(s, ev.bargeIn('', 'dtmf'), { now: d.now + 5, seq: d.seq + 1, config: d.config });
    assert.deepEqual(sig(r), ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'tts:TTS_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET']);
    assert.equal(body(r.effects[2], 'ttsCancel').speakId, `${t}:filler`);
    assert.ok(r.state.timers.noInput, 'a BARGE_IN without speech re-arms no-input');
  });

  it('barging in on a prompt flushes the prompt', () => {
    const d = listening();
    const p = d.fireNextTimer(); // no-input prompt
    const promptTurn = p?.state.out?.turnId ?? '';
    const r = d.send(ev.speechStarted(MicState.MIC_STATE_GATED), 300);
    assert.deepEqual(sig(r), ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET']);
    assert.equal(body(r.effects[1], 'playbackFlush').turnId, promptTurn);
    assert.ok(r.state.cancelledTurns.includes(promptTurn));
  });
});

describe('stale results', () => {
  it('results of a cancelled turn are ignored with stale_result, not rejected', () => {
    const d = listening();
    d.send(ev.sttFinal('one'), 10);
    const old = d.state.turn?.turnId ?? '';
    d.send(ev.sttFinal('two'), 10);
    const live = d.state.turn?.turnId ?? '';
    const before = JSON.stringify({ ...d.state, lastSeq: 0, updatedAt: 0, counters: 0 });
    for (const e of [ev.intent(old), ev.ragPartial(old), ev.ragReady(old), ev.ttsStarted(old, `${old}:filler`), ev.playbackDone(old, `${old}:filler`), ev.error('rag', old), ev.bargeIn(old)]) {
      const r = d.send(e, 1);
      assert.equal(r.outcome, 'ignored', e.eventType);
      assert.equal(r.rejected, undefined);
      assert.deepEqual(r.effects, []);
      assert.deepEqual(r.logs.map((l) => [l.msg, l.fields.turnId, l.fields.liveTurnId]), [['stale_result', old, live]]);
    }
    assert.equal(JSON.stringify({ ...d.state, lastSeq: 0, updatedAt: 0, counters: 0 }), before);
    assert.equal(d.state.counters.stale, 7);
    assert.equal(d.state.counters.rejected, 0);
  });

  it('the turn id is read from the payload, else from the correlation id', () => {
    const d = listening();
    d.send(ev.sttFinal('one'), 10);
    const live = d.state.turn?.turnId ?? '';
    const e: Event = { ...ev.ragReady(''), correlationId: live };
    assert.equal(d.send(e, 10).state.state, 'SPEAKING');
  });
});

describe('timers', () => {
  it('filler after fillerAfterMs with a deterministic id; TTS_SPEAK kind FILLER from the cache', () => {
    const d = listening();
    d.send(ev.sttFinal('hello'), 10);
    const t = d.state.turn?.turnId ?? '';
    assert.deepEqual(nextDeadline(d.state), { name: 'filler', kind: TimerKind.TIMER_KIND_FILLER, timerId: `filler:${d.seq}`, deadline: d.now + 1200 });
    const r = d.fireNextTimer();
    assert.equal(r?.outcome, 'observed');
    assert.equal(r?.state.state, 'THINKING');
    assert.deepEqual(body(r?.effects[0], 'ttsSpeak'), { turnId: t, speakId: `${t}:filler`, text: 'One moment…', kind: SpeakKind.SPEAK_KIND_FILLER, cacheKey: 'filler', language: 'en-GB' });
    assert.equal(r?.state.timers.filler, undefined);
    assert.ok(r?.state.timers.turnTimeout, 'turn timeout still armed');
  });

  it('no input → prompt → no input → hang-up (maxNoInput = 2)', () => {
    const d = listening();
    assert.equal(nextDeadline(d.state)?.deadline, d.now + 8000);
    const p1 = d.fireNextTimer();
    assert.equal(p1?.state.state, 'SPEAKING');
    assert.equal(p1?.state.noInputCount, 1);
    const prompt = body(p1?.effects.at(-1), 'ttsSpeak');
    assert.equal(prompt.kind, SpeakKind.SPEAK_KIND_PROMPT);
    assert.equal(prompt.cacheKey, 'no_input');
    assert.equal(d.send(ev.playbackDone(String(prompt.turnId), String(prompt.speakId), SpeakKind.SPEAK_KIND_PROMPT), 1500).state.state, 'LISTENING');
    const end = d.fireNextTimer();
    assert.equal(end?.state.state, 'ENDED');
    assert.equal(end?.state.noInputCount, 2);
    assert.deepEqual(end && sig(end), ['gateway:MIC_SET', 'stt:MIC_SET', 'gateway:CALL_END']);
    assert.deepEqual(body(end?.effects[2], 'callEnd'), { reason: 'no_input' });
    assert.equal(nextDeadline(d.state), undefined);
  });

  it('a new STT_FINAL resets the no-input count; speech clears and re-arms the deadline', () => {
    const d = listening();
    const p1 = d.fireNextTimer();
    d.send(ev.playbackDone(p1?.state.out?.turnId ?? '', p1?.state.out?.speakId ?? ''), 1000);
    assert.equal(d.state.noInputCount, 1);
    d.send(ev.speechStarted(), 100);
    assert.equal(d.state.timers.noInput, undefined);
    d.send(ev.speechEnded(), 100);
    assert.ok(d.state.timers.noInput);
    const t = toSpeaking(d);
    assert.equal(d.state.noInputCount, 0);
    d.send(ev.playbackDone(t, `${t}:answer`), 1000);
    assert.equal(d.fireNextTimer()?.state.state, 'SPEAKING', 'prompt again rather than hang up');
  });

  it('turn timeout: rag cancelled, apology spoken, then LISTENING', () => {
    const d = listening();
    d.send(ev.sttFinal('hello'), 10);
    const t = d.state.turn?.turnId ?? '';
    d.fireNextTimer(); // filler
    const r = d.fireNextTimer();
    assert.equal(r?.state.state, 'SPEAKING');
    assert.deepEqual(r && sig(r), ['rag:RAG_CANCEL', 'tts:TTS_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET', 'tts:TTS_SPEAK']);
    assert.deepEqual(body(r?.effects[0], 'ragCancel'), { turnId: t, reason: 'turn_timeout' });
    const apology = body(r?.effects[4], 'ttsSpeak');
    assert.equal(apology.cacheKey, 'apology');
    assert.notEqual(apology.turnId, t);
    assert.equal(r?.state.turnsCompleted.at(-1)?.outcome, 'failed');
    assert.equal(d.send(ev.ragReady(t), 10).outcome, 'ignored', 'the late answer is stale');
    assert.equal(d.send(ev.playbackDone(String(apology.turnId), String(apology.speakId)), 2000).state.state, 'LISTENING');
  });

  it('playback timeout: TTS_DONE arms audioMs + grace; a lost PLAYBACK_DONE cannot leave the call stuck', () => {
    const d = listening();
    const t = toSpeaking(d);
    assert.equal(nextDeadline(d.state)?.deadline, d.now + d.config.speakTimeoutMs, 'armed on entry against a lost tts');
    d.send(ev.ttsDone(t, `${t}:answer`, 2500), 300);
    assert.deepEqual(nextDeadline(d.state), {
      name: 'playbackTimeout', kind: TimerKind.TIMER_KIND_PLAYBACK_TIMEOUT, timerId: `playback_timeout:${d.seq}`, deadline: d.now + 2500 + 3000,
    });
    const r = d.fireNextTimer();
    assert.equal(r?.state.state, 'LISTENING');
    assert.ok(r?.logs.some((l) => l.msg === 'playback_timeout' && l.level === 'warn'));
    assert.equal(r?.state.turnsCompleted.at(-1)?.outcome, 'completed');
  });

  it('timers with a stale id are ignored', () => {
    const d = listening();
    d.send(ev.sttFinal('hello'), 10);
    const oldFiller = d.state.timers.filler?.id ?? '';
    d.send(ev.sttFinal('hello again'), 10); // re-entry re-arms with new ids
    for (const id of [oldFiller, 'filler:999', '', 'no_input:1']) {
      const r = d.send(ev.timerFired(id, TimerKind.TIMER_KIND_FILLER), 5000);
      assert.equal(r.outcome, 'ignored', id);
      assert.deepEqual(r.effects, []);
      assert.equal(r.logs[0]?.msg, 'stale_timer');
    }
    assert.equal(d.state.counters.stale, 4);
  });
});

describe('errors', () => {
  it('THINKING + rag ERROR → apology → LISTENING; a tts ERROR there (the filler) is only noted', () => {
    const d = listening();
    d.send(ev.sttFinal('hello'), 10);
    const t = d.state.turn?.turnId ?? '';
    assert.equal(d.send(ev.error('tts', t), 10).outcome, 'observed');
    const r = d.send(ev.error('rag', t), 10);
    assert.equal(r.state.state, 'SPEAKING');
    assert.equal(body(r.effects[0], 'ragCancel').reason, 'worker_error');
    assert.equal(r.state.out?.cacheKey, 'apology');
  });

  it('SPEAKING + tts ERROR → LISTENING with cancel and flush', () => {
    const d = listening();
    const t = toSpeaking(d);
    const r = d.send(ev.error('tts', t), 10);
    assert.equal(r.state.state, 'LISTENING');
    assert.deepEqual(sig(r), ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET']);
  });
});

describe('purity and robustness', () => {
  const script = (d: FsmDriver): void => {
    d.send(ev.callStarted());
    d.send(ev.speechStarted(), 100);
    d.send(ev.speechEnded(), 900);
    d.send(ev.sttFinal('where is my parcel'), 200);
    d.fireNextTimer();
    const t = d.state.turn?.turnId ?? '';
    d.send(ev.intent(t), 10);
    d.send(ev.ragPartial(t), 300);
    d.send(ev.ragReady(t), 300);
    d.send(ev.ttsStarted(t, `${t}:answer`), 80);
    d.send(ev.playbackStarted(t, `${t}:answer`), 30);
    d.send(ev.speechStarted(MicState.MIC_STATE_GATED), 400);
    d.send(ev.sttFinal(''), 10);
    d.send(ev.callStarted(), 10);
    d.send(ev.speechEnded(), 500);
    d.fireNextTimer();
  };

  it('same input twice → deep-equal output; input state never mutated (deep-frozen)', () => {
    const a = new FsmDriver();
    const b = new FsmDriver();
    script(a);
    script(b);
    assert.deepEqual(a.results, b.results);
    // replay every step against a frozen copy of its input
    const c = new FsmDriver();
    const inputs: SessionState[] = [];
    const orig = c.send.bind(c);
    c.send = (e: Event, after = 0) => {
      c.state = deepFreeze(structuredClone(c.state));
      inputs.push(c.state);
      return orig(e, after);
    };
    script(c);
    assert.deepEqual(c.results, a.results);
    for (const r of c.results) assert.ok(!r.rejected?.reason.startsWith('internal error'), r.rejected?.reason);
  });

  it('the state survives a JSON round trip unchanged (it is stored in KV)', () => {
    const d = new FsmDriver();
    script(d);
    assert.deepEqual(JSON.parse(JSON.stringify(d.state)), d.state);
  });

  it('never throws on garbage: missing payload, unknown type, wrong types, null', () => {
    const garbage: unknown[] = [
      null, undefined, 42, 'STT_FINAL', [], {},
      { eventType: 'NOPE' }, { eventType: 123 }, { eventType: EventType.EVENT_TYPE_UNSPECIFIED }, { eventType: EventType.UNRECOGNIZED },
      { eventType: EventType.STT_FINAL }, { eventType: EventType.STT_FINAL, sttFinal: null },
      { eventType: EventType.STT_FINAL, sttFinal: { text: 42, isFinal: true } },
      { eventType: EventType.STT_FINAL, sttFinal: { text: 'x'.repeat(10), isFinal: 'yes' } },
      { eventType: EventType.RAG_ANSWER_READY, ragAnswerReady: { turnId: { a: 1 }, text: null } },
      { eventType: EventType.TIMER_FIRED, timerFired: { timerId: { toString: null } } },
      { eventType: EventType.PLAYBACK_DONE, playbackDone: [] },
      { eventType: EventType.CALL_STARTED, callStarted: { language: 7 } },
      { eventType: EventType.ERROR, error: { stage: null, turnId: null }, correlationId: 5 },
      { eventType: '__proto__', __proto__: { x: 1 } },
    ];
    const states = ['IDLE', 'LISTENING', 'THINKING', 'SPEAKING'].map((name) => {
      const d = new FsmDriver();
      if (name !== 'IDLE') d.send(ev.callStarted());
      if (name === 'THINKING' || name === 'SPEAKING') d.send(ev.sttFinal('hi'));
      if (name === 'SPEAKING') d.send(ev.ragReady(d.state.turn?.turnId ?? ''));
      return d.state;
    });
    const config = defaultFsmConfig();
    for (const s of states) {
      for (const g of garbage) {
        let r: ReduceResult | undefined;
        assert.doesNotThrow(() => {
          r = reduce(s, g as Event, { now: s.updatedAt + 1, seq: s.lastSeq + 1, config });
        }, JSON.stringify(g));
        assert.ok(r && ['rejected', 'ignored', 'observed', 'transition'].includes(r.outcome));
        if (r?.outcome === 'rejected') assert.deepEqual(r.effects, []);
      }
    }
    // even a garbage state
    assert.doesNotThrow(() => reduce(null as unknown as SessionState, ev.callStarted(), { now: 1, seq: 1, config }));
    assert.equal(reduce(null as unknown as SessionState, ev.callStarted(), { now: 1, seq: 1, config }).outcome, 'rejected');
  });

  it('a repeated or lower sequence is ignored without touching state', () => {
    const d = listening();
    const s = d.state;
    const r = reduce(s, ev.sttFinal('hi'), { now: d.now, seq: s.lastSeq, config: d.config });
    assert.equal(r.outcome, 'ignored');
    assert.equal(r.state, s);
    assert.equal(r.logs[0]?.msg, 'duplicate_seq');
  });

  it('state stays bounded: timeline ≤ 200, completed turns ≤ 50, history ≤ historyTurns', () => {
    const d = listening();
    for (let i = 0; i < 120; i += 1) {
      const t = toSpeaking(d, `answer ${i}`);
      d.send(ev.playbackDone(t, `${t}:answer`), 800);
    }
    assert.equal(d.state.timeline.length, STATE_LIMITS.timeline);
    assert.equal(d.state.turnsCompleted.length, STATE_LIMITS.turnsCompleted);
    assert.equal(d.state.history.length, 4);
    assert.equal(d.state.history.at(-1)?.agentText, 'answer 119');
    assert.ok(JSON.stringify(d.state).length < 64 * 1024, `state is ${JSON.stringify(d.state).length} bytes`);
  });

  it('transcripts appear in logs only under the `transcript` key', () => {
    const d = new FsmDriver();
    const secret = 'my card number is 4111';
    d.send(ev.callStarted());
    d.send(ev.sttFinal(secret), 10);
    d.send(ev.sttFinal(secret + ' sorry'), 10);
    d.send(ev.sttPartial(secret));
    const t = d.state.turn?.turnId ?? '';
    d.send(ev.ragReady(t, 'Please do not share it.'));
    d.send(ev.speechStarted(MicState.MIC_STATE_GATED));
    let seen = 0;
    for (const r of d.results) {
      for (const l of r.logs) {
        for (const [k, v] of Object.entries(l.fields)) {
          if (JSON.stringify(v).includes('4111')) {
            assert.equal(k, 'transcript');
            seen += 1;
          }
        }
        assert.ok(!l.msg.includes('4111'));
      }
    }
    assert.equal(seen, 2);
  });
});

describe('config and commands', () => {
  it('defaults and validation', () => {
    const c = parseFsmConfig({});
    assert.deepEqual(
      [c.fillerAfterMs, c.noInputMs, c.maxNoInput, c.turnTimeoutMs, c.playbackGraceMs, c.skipIntent, c.historyTurns],
      [1200, 8000, 2, 10000, 3000, false, 4],
    );
    assert.throws(() => parseFsmConfig({ maxNoInput: 0 }));
    assert.equal(parseFsmConfig({ skipIntent: true }).skipIntent, true);
  });

  it('skipIntent and maxNoInput = 1 are honoured', () => {
    const d = new FsmDriver({ config: parseFsmConfig({ skipIntent: true, maxNoInput: 1 }) });
    d.send(ev.callStarted());
    const r = d.send(ev.sttFinal('x'));
    assert.equal(body(r.effects[0], 'ragQuery').skipIntent, true);
    const d2 = new FsmDriver({ config: parseFsmConfig({ maxNoInput: 1 }) });
    d2.send(ev.callStarted());
    assert.equal(d2.fireNextTimer()?.state.state, 'ENDED');
  });

  it('toCommand builds the envelope with the dedup id <sessionId>:<eventSeq>:<index>', () => {
    const s = initialState('ses_01J0000000000000000000000A', 0);
    const r = reduce(s, ev.callStarted(), { now: 5, seq: 7, config: defaultFsmConfig() });
    const cmd = toCommand(r.effects[1] as Effect, { sessionId: s.sessionId, eventSeq: 7, index: 1, timestamp: 5 });
    assert.equal(cmd.commandId, 'ses_01J0000000000000000000000A:7:1');
    assert.equal(cmd.commandType, CommandType.MIC_SET);
    assert.equal(cmd.micSet?.state, MicState.MIC_STATE_OPEN);
    assert.equal(cmd.ragQuery, undefined);
  });
});

describe('effects honour the wire contracts', () => {
  it('every command of a busy call passes @switchboard/contracts validation', () => {
    const sessionId = newSessionId();
    const d = new FsmDriver({ sessionId });
    const all: Effect[] = [];
    const run = (r: ReduceResult | undefined): void => {
      all.push(...(r?.effects ?? []));
    };
    run(d.send(ev.callStarted()));
    run(d.fireNextTimer()); // no-input prompt
    const p = d.state.out;
    run(d.send(ev.speechStarted(MicState.MIC_STATE_GATED), 100)); // barge-in on the prompt
    assert.ok(p);
    for (let i = 0; i < 3; i += 1) run(d.send(ev.sttFinal(`question ${i}`), 10)); // supersede
    run(d.fireNextTimer()); // filler
    run(d.send(ev.sttFinal('the real question'), 10)); // supersede with a filler
    run(d.fireNextTimer()); // filler
    run(d.fireNextTimer()); // turn timeout → apology
    run(d.send(ev.playbackDone(d.state.out?.turnId ?? '', d.state.out?.speakId ?? ''), 1000));
    const t = toSpeaking(d, 'Here you go.', { escalate: true });
    run(d.send(ev.playbackDone(t, `${t}:answer`), 1000)); // escalated → CALL_END
    const types = new Set(all.map((e) => e.commandType));
    for (const c of [CommandType.RAG_QUERY, CommandType.RAG_CANCEL, CommandType.TTS_SPEAK, CommandType.TTS_CANCEL, CommandType.PLAYBACK_FLUSH, CommandType.MIC_SET, CommandType.CALL_END]) {
      assert.ok(types.has(c), `script covers ${c}`);
    }
    all.forEach((effect, index) => {
      const cmd = toCommand(effect, { sessionId, eventSeq: 1, index, timestamp: 1_700_000_000_000 });
      assert.doesNotThrow(() => decodeCommand(encodeCommand(cmd)), `${effect.commandType} ${JSON.stringify(effect.body)}`);
    });
  });
});
