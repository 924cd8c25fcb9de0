/**
 * Event builders and an in-memory driver for exercising the reducer without NATS: used by the
 * FSM's tests, and handy for the shell's tests and benchmarks. Pure helpers, no I/O.
 */
import { AudioSource, EventType, MicState, SpeakKind, TimerKind } from '@switchboard/contracts';
import type { Event } from '@switchboard/contracts';
import { defaultFsmConfig } from './config';
import type { FsmConfig } from './config';
import { reduce } from './reducer';
import type { ReduceResult } from './reducer';
import { initialState, nextDeadline } from './session-state';
import type { SessionState } from './session-state';

type Payload = Omit<Partial<Event>, 'eventType'>;

export function testEvent(eventType: EventType, payload: Payload, at = 0, sessionId = 'ses_TEST'): Event {
  return {
    eventId: '',
    eventType,
    sessionId,
    source: 'test',
    timestamp: at,
    correlationId: '',
    metadata: {},
    ...payload,
  };
}

/** One builder per event type, with the payload fields that matter to the FSM. */
export const ev = {
  callStarted: (language = 'en-US') => testEvent(EventType.CALL_STARTED, { callStarted: { audioSource: AudioSource.AUDIO_SOURCE_TEST, language, gatewayId: 'gw', aliases: [] } }),
  callEnded: (reason = 'hangup') => testEvent(EventType.CALL_ENDED, { callEnded: { reason } }),
  speechStarted: (mic: MicState = MicState.MIC_STATE_OPEN) => testEvent(EventType.SPEECH_STARTED, { speechStarted: { audioMs: 0, mic } }),
  speechEnded: () => testEvent(EventType.SPEECH_ENDED, { speechEnded: { audioMs: 0, durationMs: 0 } }),
  sttPartial: (text = 'hel') =>
    testEvent(EventType.STT_PARTIAL, { sttPartial: { text, utterance: 0, audioSource: AudioSource.AUDIO_SOURCE_TEST } }),
  sttFinal: (text = 'what are your opening hours', isFinal = true, decodeMs = 0) =>
    testEvent(EventType.STT_FINAL, {
      sttFinal: { text, isFinal, confidence: 0.9, utterance: 0, audioSource: AudioSource.AUDIO_SOURCE_TEST, speechEndedAudioMs: 0, decodeMs, language: '' },
    }),
  intent: (turnId: string, intent = 'hours') =>
    testEvent(EventType.INTENT_DETECTED, { correlationId: turnId, intentDetected: { turnId, intent, confidence: 0.9 } }),
  ragPartial: (turnId: string, text = 'We open', index = 0) =>
    testEvent(EventType.RAG_ANSWER_PARTIAL, { correlationId: turnId, ragAnswerPartial: { turnId, index, text } }),
  ragReady: (turnId: string, text = 'We open at nine.', opts: { escalate?: boolean } = {}) =>
    testEvent(EventType.RAG_ANSWER_READY, {
      correlationId: turnId,
      ragAnswerReady: {
        turnId,
        text,
        intent: 'hours',
        confidence: 0.9,
        sourceIds: ['kb1'],
        clarify: false,
        escalate: opts.escalate ?? false,
        firstPartialMs: 0,
        totalMs: 0,
      },
    }),
  ttsStarted: (turnId: string, speakId: string, kind = SpeakKind.SPEAK_KIND_ANSWER) =>
    testEvent(EventType.TTS_STARTED, { correlationId: turnId, ttsStarted: { turnId, speakId, kind, timeToFirstAudioMs: 0 } }),
  ttsDone: (turnId: string, speakId: string, audioMs = 1000, kind = SpeakKind.SPEAK_KIND_ANSWER) =>
    testEvent(EventType.TTS_DONE, { correlationId: turnId, ttsDone: { turnId, speakId, kind, audioMs, cancelled: false } }),
  playbackStarted: (turnId: string, speakId: string, kind = SpeakKind.SPEAK_KIND_ANSWER) =>
    testEvent(EventType.PLAYBACK_STARTED, { correlationId: turnId, playbackStarted: { turnId, speakId, kind } }),
  playbackDone: (turnId: string, speakId: string, kind = SpeakKind.SPEAK_KIND_ANSWER) =>
    testEvent(EventType.PLAYBACK_DONE, { correlationId: turnId, playbackDone: { turnId, speakId, kind, durationMs: 1000, interrupted: false } }),
  bargeIn: (turnId = '', reason = 'manual') => testEvent(EventType.BARGE_IN, { correlationId: turnId, bargeIn: { reason, turnId } }),
  timerFired: (timerId: string, kind: TimerKind = TimerKind.TIMER_KIND_UNSPECIFIED, deadline = 0) =>
    testEvent(EventType.TIMER_FIRED, { timerFired: { kind, timerId, deadline } }),
  error: (stage: string, turnId = '', code = 'E_TEST') =>
    testEvent(EventType.ERROR, { correlationId: turnId, error: { code, message: 'test', retryable: false, stage, turnId } }),
  escalation: (turnId = '', reason = 'asked_for_human') =>
    testEvent(EventType.ESCALATION_REQUESTED, { correlationId: turnId, escalationRequested: { turnId, reason } }),
};

/**
 * Holds one session's state and feeds it events with increasing sequence numbers and a
 * controllable clock, as the shell would. `fireNextTimer()` plays the shell's timer role.
 */
export class FsmDriver {
  state: SessionState;
  now: number;
  seq = 0;
  readonly config: FsmConfig;
  readonly results: ReduceResult[] = [];

  constructor(opts: { sessionId?: string; now?: number; config?: FsmConfig; state?: SessionState } = {}) {
    this.now = opts.now ?? 1_000_000;
    this.config = opts.config ?? defaultFsmConfig();
    this.state = opts.state ?? initialState(opts.sessionId ?? 'ses_TEST', this.now);
    this.seq = this.state.lastSeq;
  }

  /** Advances the clock by `afterMs`, stamps the event with it (unless set) and reduces it. */
  send(event: Event, afterMs = 0): ReduceResult {
    this.now += afterMs;
    this.seq += 1;
    const stamped = event.timestamp ? event : { ...event, timestamp: this.now };
    const result = reduce(this.state, stamped, { now: this.now, seq: this.seq, config: this.config });
    this.state = result.state;
    this.results.push(result);
    return result;
  }

  /** Jumps to the earliest armed deadline and fires it; undefined when nothing is armed. */
  fireNextTimer(): ReduceResult | undefined {
    const due = nextDeadline(this.state);
    if (!due) return undefined;
    return this.send(ev.timerFired(due.timerId, due.kind, due.deadline), Math.max(due.deadline - this.now, 0));
  }
}
