// The transition table, pair by pair: for EVERY (state, event type) the outcome is spelled out
// below independently of src/fsm/transitions.ts, so a change to the table must change this spec.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventType, MicState, SpeakKind } from '@switchboard/contracts';
import type { Event } from '@switchboard/contracts';
import {
  FsmDriver,
  STATE_CONTRACTS,
  SESSION_STATES,
  defaultFsmConfig,
  ev,
  liveTurnId,
  testEvent,
  nextDeadline,
  reduce,
} from '../src/fsm/index';
import type { SessionState, SessionStateName } from '../src/fsm/index';

const config = defaultFsmConfig();

/** A session parked in each state the natural way (INTERRUPT is transient: built by hand). */
function stateIn(name: SessionStateName): SessionState {
  const d = new FsmDriver();
  if (name === 'IDLE') return d.state;
  d.send(ev.callStarted());
  if (name === 'LISTENING') return d.state;
  d.send(ev.sttFinal('what are your opening hours'), 100); // seq 2 → turn_2
  if (name === 'THINKING') return d.state;
  if (name === 'ENDED') {
    d.send(ev.callEnded(), 10);
    return d.state;
  }
  d.send(ev.ragReady('turn_2', 'We open at nine.'), 400);
  if (name === 'SPEAKING') return d.state;
  return { ...structuredClone(d.state), state: 'INTERRUPT', playback: 'STOPPED' };
}

/** The "natural" event of each type for a state: it names the live turn, the current speakId, the armed timer. */
function eventFor(type: EventType, s: SessionState): Event {
  const turnId = liveTurnId(s) ?? '';
  const speakId = s.out?.speakId ?? `${turnId}:filler`;
  const kind = s.out ? SpeakKind.SPEAK_KIND_ANSWER : SpeakKind.SPEAK_KIND_FILLER;
  switch (type) {
    case EventType.CALL_STARTED: return ev.callStarted();
    case EventType.CALL_ENDED: return ev.callEnded();
    case EventType.SPEECH_STARTED: return ev.speechStarted(s.mic === 'GATED' ? MicState.MIC_STATE_GATED : MicState.MIC_STATE_OPEN);
    case EventType.SPEECH_ENDED: return ev.speechEnded();
    case EventType.STT_PARTIAL: return ev.sttPartial('can I');
    case EventType.STT_FINAL: return ev.sttFinal('can I book a table');
    case EventType.INTENT_DETECTED: return ev.intent(turnId);
    case EventType.RAG_ANSWER_PARTIAL: return ev.ragPartial(turnId);
    case EventType.RAG_ANSWER_READY: return ev.ragReady(turnId);
    case EventType.TTS_STARTED: return ev.ttsStarted(turnId, speakId, kind);
    case EventType.TTS_DONE: return ev.ttsDone(turnId, speakId, 1500, kind);
    case EventType.PLAYBACK_STARTED: return ev.playbackStarted(turnId, speakId, kind);
    case EventType.PLAYBACK_DONE: return ev.playbackDone(turnId, speakId, kind);
    case EventType.BARGE_IN: return ev.bargeIn(turnId);
    case EventType.TIMER_FIRED: {
      const due = nextDeadline(s);
      return due ? ev.timerFired(due.timerId, due.kind, due.deadline) : ev.timerFired('no_input:1');
    }
    case EventType.ERROR: return ev.error(s.state === 'THINKING' ? 'rag' : s.state === 'SPEAKING' ? 'tts' : 'stt', s.state === 'THINKING' || s.state === 'SPEAKING' ? turnId : '');
    // escalation is honoured whatever turn it names (the contracts require one)
    case EventType.ESCALATION_REQUESTED: return ev.escalation(turnId || 'turn_0');
    default: return testEvent(type, {});
  }
}

// Expected outcome per pair. `→X` transition to X, `=` observed, `~` ignored (stale), `✗` rejected.
// Effects: target:command in order (only listed for pairs that emit any).
type Expect = `→${SessionStateName}` | '=' | '~' | '✗';
const E = EventType;
const ALL_TYPES = Object.values(EventType) as EventType[];

const SPEC: Record<SessionStateName, Partial<Record<EventType, Expect>>> = {
  IDLE: {
    [E.CALL_STARTED]: '→LISTENING', [E.CALL_ENDED]: '→ENDED',
    // no live turn: every result is stale; timers: none armed
    [E.INTENT_DETECTED]: '~', [E.RAG_ANSWER_PARTIAL]: '~', [E.RAG_ANSWER_READY]: '~', [E.TTS_STARTED]: '~',
    [E.TTS_DONE]: '~', [E.PLAYBACK_STARTED]: '~', [E.PLAYBACK_DONE]: '~', [E.TIMER_FIRED]: '~',
  },
  LISTENING: {
    [E.CALL_ENDED]: '→ENDED', [E.SPEECH_STARTED]: '=', [E.SPEECH_ENDED]: '=', [E.STT_PARTIAL]: '=',
    [E.STT_FINAL]: '→THINKING', [E.TIMER_FIRED]: '→SPEAKING', [E.ERROR]: '=', [E.ESCALATION_REQUESTED]: '→ENDED',
    [E.INTENT_DETECTED]: '~', [E.RAG_ANSWER_PARTIAL]: '~', [E.RAG_ANSWER_READY]: '~', [E.TTS_STARTED]: '~',
    [E.TTS_DONE]: '~', [E.PLAYBACK_STARTED]: '~', [E.PLAYBACK_DONE]: '~',
  },
  THINKING: {
    [E.CALL_ENDED]: '→ENDED', [E.SPEECH_STARTED]: '=', [E.SPEECH_ENDED]: '=', [E.STT_PARTIAL]: '=',
    [E.STT_FINAL]: '→THINKING', [E.INTENT_DETECTED]: '=', [E.RAG_ANSWER_PARTIAL]: '=', [E.RAG_ANSWER_READY]: '→SPEAKING',
    [E.TTS_STARTED]: '=', [E.TTS_DONE]: '=', [E.PLAYBACK_STARTED]: '=', [E.PLAYBACK_DONE]: '=',
    [E.TIMER_FIRED]: '=', [E.ERROR]: '→SPEAKING', [E.ESCALATION_REQUESTED]: '→ENDED',
  },
  SPEAKING: {
    [E.CALL_ENDED]: '→ENDED', [E.SPEECH_STARTED]: '→LISTENING', [E.SPEECH_ENDED]: '=', [E.STT_PARTIAL]: '=',
    [E.STT_FINAL]: '→THINKING',
    [E.INTENT_DETECTED]: '=', [E.RAG_ANSWER_PARTIAL]: '=', [E.TTS_STARTED]: '=', [E.TTS_DONE]: '=',
    [E.PLAYBACK_STARTED]: '=', [E.PLAYBACK_DONE]: '→LISTENING', [E.BARGE_IN]: '→LISTENING',
    [E.TIMER_FIRED]: '→LISTENING', [E.ERROR]: '→LISTENING', [E.ESCALATION_REQUESTED]: '=',
  },
  INTERRUPT: { [E.CALL_ENDED]: '→ENDED' },
  // Late events after the end (the gateway's CALL_ENDED echo, a cancelled TTS_DONE…) are normal: ignored, not errors.
  ENDED: Object.fromEntries(ALL_TYPES.filter((t) => t !== E.EVENT_TYPE_UNSPECIFIED && t !== E.UNRECOGNIZED).map((t) => [t, '~' as const])),
};

const EFFECTS: Partial<Record<`${SessionStateName}+${EventType}`, string[]>> = {
  'IDLE+CALL_STARTED': ['gateway:MIC_SET', 'stt:MIC_SET'],
  'LISTENING+CALL_ENDED': ['gateway:MIC_SET', 'stt:MIC_SET'],
  'LISTENING+STT_FINAL': ['rag:RAG_QUERY'],
  'LISTENING+TIMER_FIRED': ['gateway:MIC_SET', 'stt:MIC_SET', 'tts:TTS_SPEAK'],
  'LISTENING+ESCALATION_REQUESTED': ['gateway:MIC_SET', 'stt:MIC_SET', 'gateway:CALL_END'],
  'THINKING+CALL_ENDED': ['rag:RAG_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET'],
  'THINKING+STT_FINAL': ['rag:RAG_CANCEL', 'rag:RAG_QUERY'],
  'THINKING+RAG_ANSWER_READY': ['gateway:MIC_SET', 'stt:MIC_SET', 'tts:TTS_SPEAK'],
  'THINKING+TIMER_FIRED': ['tts:TTS_SPEAK'],
  'THINKING+ERROR': ['rag:RAG_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET', 'tts:TTS_SPEAK'],
  'THINKING+ESCALATION_REQUESTED': ['rag:RAG_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET', 'gateway:CALL_END'],
  'SPEAKING+CALL_ENDED': ['tts:TTS_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET'],
  'SPEAKING+SPEECH_STARTED': ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET'],
  'SPEAKING+BARGE_IN': ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET'],
  // barge-in, then the final opens its turn from LISTENING
  'SPEAKING+STT_FINAL': ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET', 'rag:RAG_QUERY'],
  'SPEAKING+PLAYBACK_DONE': ['gateway:MIC_SET', 'stt:MIC_SET'],
  'SPEAKING+TIMER_FIRED': ['gateway:MIC_SET', 'stt:MIC_SET'],
  'SPEAKING+ERROR': ['tts:TTS_CANCEL', 'gateway:PLAYBACK_FLUSH', 'gateway:MIC_SET', 'stt:MIC_SET'],
  'INTERRUPT+CALL_ENDED': ['tts:TTS_CANCEL', 'gateway:MIC_SET', 'stt:MIC_SET'],
};

const VALID_NEXT: Record<SessionStateName, SessionStateName[]> = {
  IDLE: ['ENDED', 'LISTENING'],
  LISTENING: ['ENDED', 'SPEAKING', 'THINKING'],
  THINKING: ['ENDED', 'SPEAKING', 'THINKING'],
  SPEAKING: ['ENDED', 'INTERRUPT', 'LISTENING'],
  INTERRUPT: ['ENDED'],
  ENDED: [],
};

/** Drops what every reduce may touch, to compare "the rest of the state". */
function core(s: SessionState): unknown {
  const { lastSeq: _a, updatedAt: _b, counters: _c, timeline: _d, ...rest } = s;
  return rest;
}

describe('transition table: every (state, event type) pair', () => {
  for (const stateName of SESSION_STATES) {
    describe(stateName, () => {
      for (const type of ALL_TYPES) {
        const expected: Expect = SPEC[stateName][type] ?? '✗';
        it(`${type} → ${expected}`, () => {
          const before = stateIn(stateName);
          const frozen = JSON.stringify(before);
          const event = eventFor(type, before);
          const seq = before.lastSeq + 1;
          const r = reduce(before, event, { now: before.updatedAt + 50, seq, config });
          assert.equal(JSON.stringify(before), frozen, 'input state must not be mutated');
          const effects = r.effects.map((e) => `${e.target}:${e.commandType}`);
          for (const e of r.effects) assert.equal(Object.keys(e.body).length, 1, 'exactly one body key');

          if (expected === '✗') {
            assert.equal(r.outcome, 'rejected');
            assert.ok(r.rejected);
            assert.equal(r.rejected.state, stateName);
            assert.equal(r.rejected.eventType, type);
            assert.deepEqual([...r.rejected.validNext].sort(), VALID_NEXT[stateName]);
            assert.deepEqual(effects, []);
            assert.equal(r.state.state, stateName);
            assert.deepEqual(core(r.state), core(before), 'only counters/timeline/seq change on a rejection');
            assert.equal(r.state.counters.rejected, before.counters.rejected + 1);
            const last = r.state.timeline.at(-1);
            assert.deepEqual(last && { from: last.from, to: last.to, eventType: last.eventType, rejected: last.rejected, eventSeq: last.eventSeq },
              { from: stateName, to: stateName, eventType: type, rejected: true, eventSeq: seq });
            const log = r.logs.find((l) => l.level === 'error');
            assert.equal(log?.msg, 'invalid transition');
            assert.deepEqual(log?.fields.validNext, r.rejected.validNext);
            assert.equal(log?.fields.state, stateName);
          } else if (expected === '~') {
            assert.equal(r.outcome, 'ignored');
            assert.equal(r.rejected, undefined);
            assert.deepEqual(effects, []);
            assert.deepEqual(core(r.state), core(before));
            assert.equal(r.state.counters.stale, before.counters.stale + 1);
            assert.ok(r.logs.some((l) => l.msg === 'stale_result' || l.msg === 'stale_timer' || l.msg === 'after_end'));
          } else if (expected === '=') {
            assert.equal(r.outcome, 'observed');
            assert.equal(r.state.state, stateName);
            assert.deepEqual(r.transitions, []);
            assert.deepEqual(effects, EFFECTS[`${stateName}+${type}`] ?? []);
          } else {
            const to = expected.slice(1) as SessionStateName;
            assert.equal(r.outcome, 'transition');
            assert.equal(r.state.state, to);
            assert.equal(r.transitions[0]?.from, stateName);
            assert.deepEqual(effects, EFFECTS[`${stateName}+${type}`] ?? []);
            // the contract of the state we ended in holds
            assert.equal(r.state.mic, STATE_CONTRACTS[to].mic);
            assert.equal(r.state.playback, STATE_CONTRACTS[to].playback);
          }
        });
      }
    });
  }
});

describe('guards', () => {
  it('LISTENING + empty or non-final STT_FINAL is rejected: no turn', () => {
    for (const bad of [ev.sttFinal('   '), ev.sttFinal(''), ev.sttFinal('hello', false)]) {
      const before = stateIn('LISTENING');
      const r = reduce(before, bad, { now: before.updatedAt + 1, seq: before.lastSeq + 1, config });
      assert.equal(r.outcome, 'rejected');
      assert.match(r.rejected?.reason ?? '', /final_has_text/);
      assert.equal(r.state.turn, undefined);
      assert.equal(r.state.counters.turns, 0);
    }
  });

  it('a final heard while SPEAKING interrupts the agent and opens its turn (INTERRUPT → LISTENING → THINKING)', () => {
    const before = stateIn('SPEAKING');
    const r = reduce(before, ev.sttFinal('stop, I need a human'), { now: before.updatedAt + 1, seq: before.lastSeq + 1, config });
    assert.deepEqual(r.transitions.map((t) => `${t.from}→${t.to}`), ['SPEAKING→INTERRUPT', 'INTERRUPT→LISTENING', 'LISTENING→THINKING']);
    assert.equal(r.state.turn?.userText, 'stop, I need a human');
    assert.equal(r.state.counters.bargeIns, before.counters.bargeIns + 1);
    const blank = reduce(before, ev.sttFinal('  '), { now: before.updatedAt + 1, seq: before.lastSeq + 1, config });
    assert.equal(blank.outcome, 'rejected', 'a blank final interrupts nothing');
  });

  it('STT_FINAL is invalid in IDLE and INTERRUPT, and ignored after the end', () => {
    for (const name of ['IDLE', 'INTERRUPT'] as const) {
      const before = stateIn(name);
      const r = reduce(before, ev.sttFinal('hi there'), { now: before.updatedAt + 1, seq: before.lastSeq + 1, config });
      assert.equal(r.outcome, 'rejected', name);
    }
    const ended = stateIn('ENDED');
    const r = reduce(ended, ev.sttFinal('hi there'), { now: ended.updatedAt + 1, seq: ended.lastSeq + 1, config });
    assert.equal(r.outcome, 'ignored');
    assert.equal(r.state.turn, undefined);
  });

  it('THINKING + empty RAG_ANSWER_READY speaks an apology (never SPEAKING without text)', () => {
    const before = stateIn('THINKING');
    const r = reduce(before, ev.ragReady('turn_2', '  '), { now: before.updatedAt + 1, seq: before.lastSeq + 1, config });
    assert.equal(r.state.state, 'SPEAKING');
    assert.equal(r.state.out?.kind, 'prompt');
    assert.equal(r.state.out?.cacheKey, 'apology');
    assert.equal(r.state.turn, undefined);
    assert.ok(r.state.cancelledTurns.includes('turn_2'));
  });

  it('a transition log reads at a glance; invalid ones list valid next states', () => {
    const d = new FsmDriver();
    d.send(ev.callStarted());
    const r = d.send(ev.sttFinal('my card was stolen'), 300);
    const t = r.logs.find((l) => l.msg.includes('→'));
    assert.equal(t?.msg, '🟢 LISTENING → 🤔 THINKING');
    assert.deepEqual(
      { from: t?.fields.from, to: t?.fields.to, event: t?.fields.event, turnId: t?.fields.turnId, latencyMs: t?.fields.latencyMs },
      { from: 'LISTENING', to: 'THINKING', event: 'STT_FINAL', turnId: 'turn_2', latencyMs: 300 },
    );
    const bad = d.send(ev.callStarted());
    assert.deepEqual(bad.logs.map((l) => [l.level, l.msg]), [['error', 'invalid transition']]);
    assert.deepEqual(bad.logs[0]?.fields.validEvents, bad.rejected?.validEvents);
    assert.ok((bad.rejected?.validEvents ?? []).includes('STT_FINAL'));
  });
});
