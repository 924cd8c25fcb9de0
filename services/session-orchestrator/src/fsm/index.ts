// The pure session state machine. The shell (NATS, KV, timers) imports from here only.
export { FsmConfigSchema, parseFsmConfig, defaultFsmConfig } from './config';
export type { FsmConfig } from './config';
export { SESSION_STATES, STATE_CONTRACTS, STATE_MARKERS, isSessionStateName } from './states';
export type { SessionStateName, MicContract, PlaybackContract, EntryEffect, StateContract } from './states';
export { initialState, nextDeadline, armedTimers, liveTurnId, STATE_LIMITS, TIMER_KINDS } from './session-state';
export type {
  SessionState,
  Turn,
  TurnMarks,
  Utterance,
  Timers,
  TimerName,
  ArmedTimer,
  DueTimer,
  TransitionRecord,
  TurnLatency,
  TurnOutcome,
  Counters,
} from './session-state';
export { toCommand } from './effects';
export type { Effect, EffectBody, EffectTarget } from './effects';
export { TRANSITIONS, validNextStates, validEvents } from './transitions';
export type { Rule, Cell, Row } from './transitions';
export { reduce } from './reducer';
export type { ReduceResult, ReduceOutcome, Rejection } from './reducer';
export type { ReduceContext, FsmLog } from './step';
export { latencyReport, percentile, STAGES } from './latency';
export type { LatencyReport, StageLatency } from './latency';
export { ev, testEvent, FsmDriver } from './testing';
