import { EventType } from '@switchboard/contracts';
import type { Event } from '@switchboard/contracts';
import type { Effect } from './effects';
import { ENTRY_EFFECTS } from './entry-effects';
import { STATE_LIMITS, liveTurnId } from './session-state';
import type { SessionState, TimerName, TransitionRecord } from './session-state';
import { STATE_CONTRACTS, STATE_MARKERS } from './states';
import type { SessionStateName } from './states';
import { closeTurn, dropUtterance, log, pushBounded, workingCopy } from './step';
import type { FsmLog, ReduceContext, Step } from './step';
import { TRANSITIONS, validEvents, validNextStates } from './transitions';
import type { Rule } from './transitions';

export interface Rejection {
  reason: string;
  state: SessionStateName;
  eventType: string;
  validNext: SessionStateName[];
  validEvents: string[];
}

/**
 * - transition: the state changed (or re-entered, THINKING → THINKING on a superseding final);
 * - observed: accepted, no state change (effects possible, e.g. the filler);
 * - ignored: a stale result/timer or a duplicate sequence: nothing but counters changed;
 * - rejected: invalid in this state; recorded in the timeline, no effects.
 */
export type ReduceOutcome = 'transition' | 'observed' | 'ignored' | 'rejected';

export interface ReduceResult {
  state: SessionState;
  /** commands to publish, in this order */
  effects: Effect[];
  /** transitions taken by this event (two when passing through INTERRUPT) */
  transitions: TransitionRecord[];
  rejected?: Rejection;
  logs: FsmLog[];
  outcome: ReduceOutcome;
}

/** The payload field each event type must carry. */
const PAYLOAD_KEY: Readonly<Partial<Record<string, keyof Event>>> = {
  [EventType.CALL_STARTED]: 'callStarted',
  [EventType.CALL_ENDED]: 'callEnded',
  [EventType.SPEECH_STARTED]: 'speechStarted',
  [EventType.SPEECH_ENDED]: 'speechEnded',
  [EventType.STT_PARTIAL]: 'sttPartial',
  [EventType.STT_FINAL]: 'sttFinal',
  [EventType.INTENT_DETECTED]: 'intentDetected',
  [EventType.RAG_ANSWER_PARTIAL]: 'ragAnswerPartial',
  [EventType.RAG_ANSWER_READY]: 'ragAnswerReady',
  [EventType.TTS_STARTED]: 'ttsStarted',
  [EventType.TTS_DONE]: 'ttsDone',
  [EventType.PLAYBACK_STARTED]: 'playbackStarted',
  [EventType.PLAYBACK_DONE]: 'playbackDone',
  [EventType.BARGE_IN]: 'bargeIn',
  [EventType.TIMER_FIRED]: 'timerFired',
  [EventType.ERROR]: 'error',
  [EventType.ESCALATION_REQUESTED]: 'escalationRequested',
};

/** Results that always belong to a turn; they are accepted only for the live one. */
const TURN_RESULTS: ReadonlySet<string> = new Set([
  EventType.INTENT_DETECTED,
  EventType.RAG_ANSWER_PARTIAL,
  EventType.RAG_ANSWER_READY,
  EventType.TTS_STARTED,
  EventType.TTS_DONE,
  EventType.PLAYBACK_STARTED,
  EventType.PLAYBACK_DONE,
]);
/**
 * Events that may name a turn (then it must be the live one) or be session-wide. Not
 * ESCALATION_REQUESTED: a caller who asked for a human is escalated whatever turn it came from.
 */
const MAYBE_TURN_EVENTS: ReadonlySet<string> = new Set([EventType.BARGE_IN, EventType.ERROR]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The session state machine: `(state, event, ctx) → { state', effects, … }`.
 * Pure: no clock, no randomness, no I/O; the input state is never mutated; never throws — a
 * malformed event or an internal fault comes back as a rejection.
 */
export function reduce(state: SessionState, event: Event, ctx: ReduceContext): ReduceResult {
  try {
    return reduceUnsafe(state, event, ctx);
  } catch (err) {
    return internalFailure(state, event, ctx, err);
  }
}

function reduceUnsafe(state: SessionState, event: Event, ctx: ReduceContext): ReduceResult {
  const rawType: unknown = isObject(event) ? event.eventType : undefined;
  const eventType = typeof rawType === 'string' ? rawType : 'INVALID';

  // Redelivery is the shell's business (it skips seq <= lastSeq); this keeps turn/timer ids unique anyway.
  if (!Number.isFinite(ctx.seq) || ctx.seq <= state.lastSeq) {
    return {
      state,
      effects: [],
      transitions: [],
      logs: [{ level: 'warn', msg: 'duplicate_seq', fields: { sessionId: state.sessionId, seq: ctx.seq, lastSeq: state.lastSeq, event: eventType } }],
      outcome: 'ignored',
    };
  }

  const s = workingCopy(state);
  s.lastSeq = ctx.seq;
  s.updatedAt = ctx.now;
  const step: Step = { s, e: (isObject(event) ? event : {}) as Event, ctx, effects: [], logs: [], transitions: [], eventTurnId: '' };

  const payloadKey = PAYLOAD_KEY[eventType];
  if (!payloadKey) return reject(step, eventType, 'unknown event type');
  const payload: unknown = step.e[payloadKey];
  if (!isObject(payload)) return reject(step, eventType, `missing payload ${payloadKey}`);
  // Late events after the call ended (the gateway's CALL_ENDED echo, a cancelled TTS_DONE…) are
  // normal: recorded as ignored, not errors.
  if (s.state === 'ENDED') return ignore(step, 'after_end', { event: eventType });

  const payloadTurn = typeof payload.turnId === 'string' ? payload.turnId : '';
  step.eventTurnId = payloadTurn || (typeof step.e.correlationId === 'string' ? step.e.correlationId : '');

  if (TURN_RESULTS.has(eventType) || (MAYBE_TURN_EVENTS.has(eventType) && step.eventTurnId !== '')) {
    const live = liveTurnId(s);
    if (step.eventTurnId !== live) {
      return ignore(step, 'stale_result', {
        event: eventType,
        turnId: step.eventTurnId,
        liveTurnId: live ?? null,
        cancelled: s.cancelledTurns.includes(step.eventTurnId),
      });
    }
  }

  if (eventType === EventType.TIMER_FIRED) {
    const id = typeof payload.timerId === 'string' ? payload.timerId : '';
    const name = (Object.keys(s.timers) as TimerName[]).find((n) => s.timers[n]?.id === id);
    if (!name) return ignore(step, 'stale_timer', { timerId: id, armed: Object.values(s.timers).map((t) => t.id) });
    step.timer = name;
  }

  const cell = TRANSITIONS[s.state][eventType as EventType];
  if (!cell) return reject(step, eventType, 'no transition');
  const rule = cell.find((r) => (r.when ?? []).every((g) => g.test(step)));
  if (!rule) {
    const failed = cell.flatMap((r) => (r.when ?? []).filter((g) => !g.test(step)).map((g) => g.name));
    return reject(step, eventType, `guard failed: ${[...new Set(failed)].join(', ')}`);
  }
  return apply(step, eventType, rule);
}

function apply(step: Step, eventType: string, rule: Rule): ReduceResult {
  const { s } = step;
  const subject = liveTurnId(s) ?? step.eventTurnId;
  if (rule.to === 'stay') {
    s.counters.observed += 1;
    rule.action?.(step);
    log(step, 'debug', `· ${eventType} in ${s.state}`, { state: s.state, event: eventType, turnId: liveTurnId(s) ?? subject });
    return done(step, 'observed');
  }
  rule.action?.(step);
  enter(step, eventType, rule.to, subject);
  if (rule.replay) {
    const again = TRANSITIONS[s.state][eventType as EventType]?.find((r) => r.to !== 'stay' && (r.when ?? []).every((g) => g.test(step)));
    if (again) return apply(step, eventType, again);
  }
  return done(step, 'transition');
}

/** Leaves the current state and runs the target's contract: entry effects, then any `then`. */
function enter(step: Step, eventType: string, to: SessionStateName, subject: string): void {
  const { s, ctx } = step;
  const from = s.state;
  // Each state arms the timers it needs on entry; nothing outlives the state that armed it.
  s.timers = {};
  if (to === 'LISTENING' && (s.turn || s.out)) {
    // Every path into LISTENING closes its turn itself; this only guards the invariant.
    log(step, 'warn', 'turn left open on entering LISTENING', { turnId: liveTurnId(s) });
    closeTurn(step, 'failed', 'abandoned');
    dropUtterance(step, false);
  }
  const record: TransitionRecord = {
    from,
    to,
    eventType,
    at: ctx.now,
    latencyMs: Math.max(ctx.now - s.enteredAt, 0),
    turnId: liveTurnId(s) ?? subject,
    eventSeq: ctx.seq,
  };
  pushBounded(s.timeline, record, STATE_LIMITS.timeline);
  step.transitions.push(record);
  log(step, 'info', `${STATE_MARKERS[from]} ${from} → ${STATE_MARKERS[to]} ${to}`, {
    from,
    to,
    event: eventType,
    turnId: record.turnId,
    latencyMs: record.latencyMs,
    ...(step.reason ? { reason: step.reason } : {}),
  });
  s.state = to;
  s.enteredAt = ctx.now;
  const contract = STATE_CONTRACTS[to];
  s.playback = contract.playback;
  for (const effect of contract.entry) ENTRY_EFFECTS[effect](step);
  if (contract.then) enter(step, eventType, contract.then, record.turnId);
}

function done(step: Step, outcome: ReduceOutcome): ReduceResult {
  return { state: step.s, effects: step.effects, transitions: step.transitions, logs: step.logs, outcome };
}

function ignore(step: Step, msg: 'stale_result' | 'stale_timer' | 'after_end', fields: Record<string, unknown>): ReduceResult {
  step.s.counters.stale += 1;
  log(step, 'info', msg, fields);
  return done(step, 'ignored');
}

function reject(step: Step, eventType: string, reason: string): ReduceResult {
  const { s, ctx } = step;
  const rejected: Rejection = {
    reason,
    state: s.state,
    eventType,
    validNext: validNextStates(s.state),
    validEvents: validEvents(s.state),
  };
  s.counters.rejected += 1;
  pushBounded(
    s.timeline,
    { from: s.state, to: s.state, eventType, at: ctx.now, latencyMs: 0, turnId: step.eventTurnId, eventSeq: ctx.seq, rejected: true },
    STATE_LIMITS.timeline,
  );
  // Rejections carry no effects even if something was computed before the decision.
  step.effects.length = 0;
  step.logs.push({
    level: 'error',
    msg: 'invalid transition',
    fields: { sessionId: s.sessionId, seq: ctx.seq, state: s.state, event: eventType, reason, validNext: rejected.validNext, validEvents: rejected.validEvents },
  });
  return { state: s, effects: [], transitions: [], rejected, logs: step.logs, outcome: 'rejected' };
}

/** Last line of defence: a bug or a hostile input must not take the session actor down. */
function internalFailure(state: SessionState, event: Event, ctx: ReduceContext, err: unknown): ReduceResult {
  const message = err instanceof Error ? err.message : String(err);
  const eventType = isObject(event) && typeof event.eventType === 'string' ? event.eventType : 'INVALID';
  try {
    const s = workingCopy(state);
    s.lastSeq = ctx.seq;
    s.updatedAt = ctx.now;
    const step: Step = { s, e: {} as Event, ctx, effects: [], logs: [], transitions: [], eventTurnId: '' };
    const result = reject(step, eventType, `internal error: ${message}`);
    return result;
  } catch {
    return {
      state,
      effects: [],
      transitions: [],
      rejected: { reason: `internal error: ${message}`, state: 'IDLE', eventType, validNext: [], validEvents: [] },
      logs: [{ level: 'error', msg: 'reducer failed', fields: { error: message, event: eventType } }],
      outcome: 'rejected',
    };
  }
}
