import { TimerKind } from '@switchboard/contracts';
import type { TurnContext } from '@switchboard/contracts';
import type { MicContract, PlaybackContract, SessionStateName } from './states';


/** Bounds that keep the KV value small (the state is rewritten on every event). */
export const STATE_LIMITS = {
  cancelledTurns: 32,
  timeline: 200,
  turnsCompleted: 50,
} as const;

/** Stage marks of one turn, unix ms taken from the events' producer timestamps. */
export interface TurnMarks {
  speechEnded?: number;
  final?: number;
  intent?: number;
  firstPartial?: number;
  answer?: number;
  ttsStarted?: number;
  playbackStarted?: number;
  playbackDone?: number;
}

export type FillerStatus = 'requested' | 'done' | 'cancelled';

/** The one live exchange: opened by a non-empty STT_FINAL, closed on playback done, cancel or failure. */
export interface Turn {
  turnId: string;
  /** stream sequence of the STT_FINAL that opened it */
  openedSeq: number;
  startedAt: number;
  userText: string;
  answerText?: string;
  answerSpeakId?: string;
  fillerSpeakId?: string;
  filler?: FillerStatus;
  intent?: string;
  sourceIds?: string[];
  escalate?: boolean;
  marks: TurnMarks;
}

/** What SPEAKING is playing: the live turn's answer, or a prompt (no-input, apology) with its own id. */
export interface Utterance {
  kind: 'answer' | 'prompt';
  turnId: string;
  speakId: string;
  text: string;
  cacheKey?: string;
  /** end the call (CALL_END 'escalated') once this utterance has played */
  escalate?: boolean;
}

export interface ArmedTimer {
  id: string;
  deadline: number;
}

export interface Timers {
  filler?: ArmedTimer;
  noInput?: ArmedTimer;
  turnTimeout?: ArmedTimer;
  playbackTimeout?: ArmedTimer;
}
export type TimerName = keyof Timers;

/** Same fields as switchboard.v1.TransitionRecord (control API); `rejected` marks refused events. */
export interface TransitionRecord {
  from: SessionStateName;
  to: SessionStateName;
  eventType: string;
  /** ctx.now of the reduce (orchestrator clock) */
  at: number;
  /** time spent in `from` */
  latencyMs: number;
  turnId: string;
  eventSeq: number;
  rejected?: true;
}

export type TurnOutcome = 'completed' | 'cancelled' | 'failed';

export interface TurnLatency {
  turnId: string;
  outcome: TurnOutcome;
  reason?: string;
  startedAt: number;
  endedAt: number;
  marks: TurnMarks;
}

export interface Counters {
  turns: number;
  cancelled: number;
  bargeIns: number;
  rejected: number;
  stale: number;
  observed: number;
}

/** JSON-serialisable, bounded; stored as is in the `sessions` KV bucket. */
export interface SessionState {
  v: 1;
  sessionId: string;
  state: SessionStateName;
  enteredAt: number;
  /** seq of the last event reduced (stale/rejected ones included) */
  lastSeq: number;
  updatedAt: number;
  mic: MicContract;
  playback: PlaybackContract;
  language: string;
  turn?: Turn;
  out?: Utterance;
  /** SPEECH_ENDED timestamp waiting for its STT_FINAL (becomes the turn's speechEnded mark) */
  pendingSpeechEndedAt?: number;
  /** most recent last; late results of these turns are ignored */
  cancelledTurns: string[];
  history: TurnContext[];
  timers: Timers;
  noInputCount: number;
  end?: { reason: string; by: 'caller' | 'agent'; at: number };
  timeline: TransitionRecord[];
  turnsCompleted: TurnLatency[];
  counters: Counters;
}

export function initialState(sessionId: string, now: number): SessionState {
  return {
    v: 1,
    sessionId,
    state: 'IDLE',
    enteredAt: now,
    lastSeq: 0,
    updatedAt: now,
    mic: 'CLOSED',
    playback: 'STOPPED',
    language: '',
    cancelledTurns: [],
    history: [],
    timers: {},
    noInputCount: 0,
    timeline: [],
    turnsCompleted: [],
    counters: { turns: 0, cancelled: 0, bargeIns: 0, rejected: 0, stale: 0, observed: 0 },
  };
}

export const TIMER_KINDS: Readonly<Record<TimerName, TimerKind>> = {
  filler: TimerKind.TIMER_KIND_FILLER,
  noInput: TimerKind.TIMER_KIND_NO_INPUT,
  turnTimeout: TimerKind.TIMER_KIND_TURN_TIMEOUT,
  playbackTimeout: TimerKind.TIMER_KIND_PLAYBACK_TIMEOUT,
};

export interface DueTimer {
  name: TimerName;
  kind: TimerKind;
  timerId: string;
  deadline: number;
}

/** Every armed timer, earliest first. The shell re-arms these after a reload. */
export function armedTimers(state: SessionState): DueTimer[] {
  const out: DueTimer[] = [];
  for (const name of Object.keys(TIMER_KINDS) as TimerName[]) {
    const t = state.timers[name];
    if (t) out.push({ name, kind: TIMER_KINDS[name], timerId: t.id, deadline: t.deadline });
  }
  return out.sort((a, b) => a.deadline - b.deadline || a.timerId.localeCompare(b.timerId));
}

/**
 * The earliest deadline the shell must wake up for, or undefined. When it passes, inject a
 * TIMER_FIRED event with `timerFired: { kind, timerId, deadline }`; ids of timers that were
 * cleared in the meantime are ignored by the reducer, so a late or duplicate fire is harmless.
 */
export function nextDeadline(state: SessionState): DueTimer | undefined {
  return armedTimers(state)[0];
}

/** The turn id results must carry to be accepted: the live turn's, else the prompt being played. */
export function liveTurnId(state: SessionState): string | undefined {
  return state.turn?.turnId ?? state.out?.turnId;
}
