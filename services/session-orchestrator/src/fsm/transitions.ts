/**
 * THE transition table: every valid (state, event) pair of the session state machine is here.
 *
 * A cell is an ordered list of rules; the first rule whose guards all pass is taken.
 *   - `to: <state>`  — a transition: action, then all timers cleared, then the target state's
 *                       entry effects (states.ts); recorded in the timeline.
 *   - `to: 'stay'`   — observe: recorded (counters, stage marks), no state change, no entry effects.
 * A pair with no cell is invalid: the event is rejected, logged as an error with the valid next
 * states, and recorded in the timeline. No rule passing its guards is a rejection too.
 *
 * Checked by the reducer BEFORE this table (reducer.ts):
 *   - ENDED accepts nothing;
 *   - results of a turn that is not the live one (INTENT_DETECTED, RAG_*, TTS_*, PLAYBACK_*, and
 *     BARGE_IN/ERROR when they name a turn) are ignored as `stale_result`;
 *   - TIMER_FIRED whose timerId is not armed any more is ignored as `stale_timer`.
 */
import { EventType } from '@switchboard/contracts';
import { actions, apologise, guards, timerIs } from './actions';
import type { Action, Guard } from './actions';
import { STATE_CONTRACTS } from './states';
import type { SessionStateName } from './states';

export interface Rule {
  to: SessionStateName | 'stay';
  when?: readonly Guard[];
  action?: Action;
  /** After arriving, apply the same event again in the new state (a final heard while SPEAKING
   *  interrupts the agent, then opens its turn from LISTENING). */
  replay?: true;
}
export type Cell = readonly Rule[];
export type Row = Partial<Record<EventType, Cell>>;

const observe = (action?: Action): Cell => [action ? { to: 'stay', action } : { to: 'stay' }];
const go = (to: SessionStateName, action?: Action, when?: readonly Guard[]): Rule => ({
  to,
  ...(action ? { action } : {}),
  ...(when ? { when } : {}),
});

/** A hang-up from any live state cancels the live turn (ENDED entry: cancel_turn). */
const callEnded: Cell = [go('ENDED', actions.callEnded)];
const escalate: Cell = [go('ENDED', actions.escalationEnd)];

export const TRANSITIONS: Readonly<Record<SessionStateName, Row>> = {
  IDLE: {
    [EventType.CALL_STARTED]: [go('LISTENING', actions.callStarted)],
    [EventType.CALL_ENDED]: callEnded,
  },

  LISTENING: {
    [EventType.CALL_ENDED]: callEnded,
    [EventType.SPEECH_STARTED]: observe(actions.speechStarted),
    [EventType.SPEECH_ENDED]: observe(actions.speechEnded),
    [EventType.STT_PARTIAL]: observe(),
    [EventType.STT_FINAL]: [go('THINKING', actions.openTurn, [guards.nonEmptyFinal])],
    [EventType.TIMER_FIRED]: [
      go('ENDED', actions.noInputHangUp, [guards.noInputLimitReached]),
      go('SPEAKING', actions.noInputPrompt, [timerIs('noInput')]),
    ],
    [EventType.ERROR]: observe(),
    [EventType.ESCALATION_REQUESTED]: escalate,
  },

  THINKING: {
    [EventType.CALL_ENDED]: callEnded,
    [EventType.SPEECH_STARTED]: observe(actions.speechStarted),
    [EventType.SPEECH_ENDED]: observe(actions.speechEnded),
    [EventType.STT_PARTIAL]: observe(),
    // A new utterance supersedes the live turn: cancel it first, then query for the new one.
    [EventType.STT_FINAL]: [go('THINKING', actions.openTurn, [guards.nonEmptyFinal])],
    [EventType.INTENT_DETECTED]: observe(actions.intent),
    [EventType.RAG_ANSWER_PARTIAL]: observe(actions.answerPartial),
    [EventType.RAG_ANSWER_READY]: [
      go('SPEAKING', actions.answerReady, [guards.nonEmptyAnswer]),
      // An empty answer would leave the caller in silence until the turn timeout.
      go('SPEAKING', apologise('empty_answer')),
    ],
    // The filler's own events.
    [EventType.TTS_STARTED]: observe(),
    [EventType.TTS_DONE]: observe(),
    [EventType.PLAYBACK_STARTED]: observe(),
    [EventType.PLAYBACK_DONE]: observe(actions.otherPlaybackDone),
    [EventType.TIMER_FIRED]: [
      { to: 'stay', action: actions.filler, when: [timerIs('filler')] },
      go('SPEAKING', apologise('turn_timeout'), [timerIs('turnTimeout')]),
    ],
    [EventType.ERROR]: [go('SPEAKING', apologise('worker_error'), [guards.turnWorkerError]), { to: 'stay' }],
    [EventType.ESCALATION_REQUESTED]: escalate,
  },

  SPEAKING: {
    [EventType.CALL_ENDED]: callEnded,
    [EventType.SPEECH_STARTED]: [go('INTERRUPT', actions.bargeIn)],
    [EventType.BARGE_IN]: [go('INTERRUPT', actions.bargeIn)],
    // The caller's words reached a final while the agent was talking (the utterance began before
    // the mic was gated, or its onset raced the answer): that is a barge-in, and the words are
    // not lost — INTERRUPT → LISTENING, then the final opens its turn there.
    [EventType.STT_FINAL]: [{ ...go('INTERRUPT', actions.bargeIn, [guards.nonEmptyFinal]), replay: true }],
    [EventType.SPEECH_ENDED]: observe(actions.speechEnded),
    [EventType.STT_PARTIAL]: observe(),
    [EventType.INTENT_DETECTED]: observe(),
    [EventType.RAG_ANSWER_PARTIAL]: observe(),
    [EventType.TTS_STARTED]: observe(actions.ttsStarted),
    [EventType.TTS_DONE]: observe(actions.ttsDone),
    [EventType.PLAYBACK_STARTED]: observe(actions.playbackStarted),
    [EventType.PLAYBACK_DONE]: [
      go('ENDED', actions.utteranceDone, [guards.isOutUtterance, guards.escalating]),
      go('LISTENING', actions.utteranceDone, [guards.isOutUtterance]),
      { to: 'stay', action: actions.otherPlaybackDone },
    ],
    [EventType.TIMER_FIRED]: [
      go('ENDED', actions.utteranceDone, [timerIs('playbackTimeout'), guards.escalating]),
      go('LISTENING', actions.utteranceDone, [timerIs('playbackTimeout')]),
    ],
    [EventType.ERROR]: [go('LISTENING', actions.ttsFailed, [guards.outTtsError]), { to: 'stay' }],
    [EventType.ESCALATION_REQUESTED]: observe(actions.markEscalate),
  },

  // Transient: entered and left within one reduce (STATE_CONTRACTS.INTERRUPT.then = LISTENING),
  // so it is never stored; only a hang-up could find it.
  INTERRUPT: {
    [EventType.CALL_ENDED]: callEnded,
  },

  ENDED: {},
};

/** The states reachable from `state` (including through a transient state). */
export function validNextStates(state: SessionStateName): SessionStateName[] {
  const out = new Set<SessionStateName>();
  for (const cell of Object.values(TRANSITIONS[state])) {
    for (const rule of cell ?? []) {
      if (rule.to === 'stay') continue;
      out.add(rule.to);
      const then = STATE_CONTRACTS[rule.to].then;
      if (then) out.add(then);
    }
  }
  return [...out];
}

/** Event types `state` accepts (as a transition or an observation). */
export function validEvents(state: SessionStateName): string[] {
  return Object.keys(TRANSITIONS[state]);
}
