import type { Event } from '@switchboard/contracts';
import type { FsmConfig } from './config';
import { ragCancel, ttsCancel } from './effects';
import type { Effect } from './effects';
import { STATE_LIMITS } from './session-state';
import type { SessionState, TimerName, TransitionRecord, TurnOutcome } from './session-state';

/** What the shell passes with each event: its clock, the event's stream sequence, the config. */
export interface ReduceContext {
  now: number;
  seq: number;
  config: FsmConfig;
}

/**
 * A log record for the shell's per-session child logger. Transcript text only ever appears under
 * the `transcript` key (redacted at info by the shell's pino config).
 */
export interface FsmLog {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/**
 * The working set of one reduce. `s` is the private working copy of the input state
 * (`workingCopy`), so the helpers below may mutate it while the reducer stays pure from the outside.
 */
export interface Step {
  s: SessionState;
  e: Event;
  ctx: ReduceContext;
  effects: Effect[];
  logs: FsmLog[];
  transitions: TransitionRecord[];
  /** turn id carried by the event (payload turnId, else correlationId), '' if none */
  eventTurnId: string;
  /** for TIMER_FIRED: which armed timer it matched */
  timer?: TimerName;
  /** why we are transitioning; reused as the `reason` of cancel/flush/mic commands */
  reason?: string;
}

/**
 * A copy of every container a step may change in place: the top level, the turn and its marks,
 * the utterance, timers, counters and the bounded lists. What they hold (list entries, `end`,
 * armed timers, source ids) is shared with the input: the helpers replace those, never edit
 * them. Costs a few small objects per event where a deep clone cost ~10 % of the CPU (profiled);
 * the deep-frozen replay test in fsm.turns.test.ts fails if a helper edits shared data.
 */
export function workingCopy(state: SessionState): SessionState {
  const s: SessionState = {
    ...state,
    timers: { ...state.timers },
    counters: { ...state.counters },
    cancelledTurns: [...state.cancelledTurns],
    history: [...state.history],
    timeline: [...state.timeline],
    turnsCompleted: [...state.turnsCompleted],
  };
  if (state.turn) s.turn = { ...state.turn, marks: { ...state.turn.marks } };
  if (state.out) s.out = { ...state.out };
  return s;
}

export function log(step: Step, level: FsmLog['level'], msg: string, fields: Record<string, unknown>): void {
  step.logs.push({ level, msg, fields: { sessionId: step.s.sessionId, seq: step.ctx.seq, ...fields } });
}

export function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/** The turn is over: remember it (latency, history, cancelled ids) and drop it from state. */
export function closeTurn(step: Step, outcome: TurnOutcome, reason: string): void {
  const { s, ctx } = step;
  const turn = s.turn;
  if (!turn) return;
  pushBounded(
    s.turnsCompleted,
    { turnId: turn.turnId, outcome, reason, startedAt: turn.startedAt, endedAt: ctx.now, marks: { ...turn.marks } },
    STATE_LIMITS.turnsCompleted,
  );
  if (turn.answerText !== undefined) {
    // The caller heard (at least part of) the answer: it is context for the next question.
    pushBounded(
      s.history,
      {
        turnId: turn.turnId,
        userText: turn.userText,
        agentText: turn.answerText,
        intent: turn.intent ?? '',
        sourceIds: [...(turn.sourceIds ?? [])],
      },
      Math.max(ctx.config.historyTurns, 0),
    );
    if (ctx.config.historyTurns === 0) s.history.length = 0;
  }
  if (outcome === 'completed') {
    log(step, 'info', 'turn completed', { turnId: turn.turnId });
  } else {
    pushBounded(s.cancelledTurns, turn.turnId, STATE_LIMITS.cancelledTurns);
    if (outcome === 'cancelled') {
      s.counters.cancelled += 1;
      log(step, 'info', 'turn cancelled', { turnId: turn.turnId, reason });
    } else {
      log(step, 'warn', 'turn failed', { turnId: turn.turnId, reason });
    }
  }
  if (s.out?.turnId === turn.turnId) delete s.out;
  delete s.turn;
}

/** Drops the utterance being played; an unfinished prompt's id joins the cancelled list. */
export function dropUtterance(step: Step, finished: boolean): void {
  const { s } = step;
  if (!s.out) return;
  if (!finished && s.out.kind === 'prompt') pushBounded(s.cancelledTurns, s.out.turnId, STATE_LIMITS.cancelledTurns);
  delete s.out;
}

/** TTS_CANCEL for the live turn's filler, if one was requested and has not finished. */
export function cancelFiller(step: Step, reason: string): void {
  const turn = step.s.turn;
  if (!turn || turn.filler !== 'requested' || !turn.fillerSpeakId) return;
  step.effects.push(ttsCancel(turn.turnId, turn.fillerSpeakId, reason));
  turn.filler = 'cancelled';
}

/**
 * Stops all work of the live turn and of the utterance being played, in the order the
 * workers need it: the rag query first (it is the expensive part), then its filler, then speech.
 */
export function cancelLiveWork(step: Step, reason: string, outcome: Exclude<TurnOutcome, 'completed'>): void {
  const { s } = step;
  const turn = s.turn;
  if (turn && turn.answerText === undefined) step.effects.push(ragCancel(turn.turnId, reason));
  cancelFiller(step, reason);
  if (s.out) step.effects.push(ttsCancel(s.out.turnId, '', reason));
  closeTurn(step, outcome, reason);
  dropUtterance(step, false);
}
