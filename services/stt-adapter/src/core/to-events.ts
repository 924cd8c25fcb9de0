// Recognizer events → bus events. Event ids are deterministic (session, utterance index, kind),
// so whatever replica (re)publishes an utterance, the events stream's dedup keeps one copy.
import { AudioSource, MicState, makeEvent, type Event } from '@switchboard/contracts';
import type { Mic, RecognizerEvent } from './session-recognizer';

export const SOURCE = 'stt-adapter';

export const eventIds = {
  start: (sessionId: string, utterance: number) => `${sessionId}:stt:${utterance}:start`,
  end: (sessionId: string, utterance: number) => `${sessionId}:stt:${utterance}:end`,
  partial: (sessionId: string, utterance: number, index: number) => `${sessionId}:stt:${utterance}:partial:${index}`,
  final: (sessionId: string, utterance: number) => `${sessionId}:stt:${utterance}:final`,
} as const;

/** The utterance index inside one of our event ids; undefined for ids we did not make. */
export function utteranceOfEventId(sessionId: string, eventId: string): number | undefined {
  const prefix = `${sessionId}:stt:`;
  if (!eventId.startsWith(prefix)) return undefined;
  const n = Number(eventId.slice(prefix.length).split(':')[0]);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

export const MIC_TO_STATE: Readonly<Record<Mic, MicState>> = {
  OPEN: MicState.MIC_STATE_OPEN,
  GATED: MicState.MIC_STATE_GATED,
  CLOSED: MicState.MIC_STATE_CLOSED,
};

export function micOf(state: MicState): Mic | undefined {
  switch (state) {
    case MicState.MIC_STATE_OPEN:
      return 'OPEN';
    case MicState.MIC_STATE_GATED:
      return 'GATED';
    case MicState.MIC_STATE_CLOSED:
      return 'CLOSED';
    default:
      return undefined;
  }
}

export interface EventContext {
  readonly sessionId: string;
  readonly audioSource: AudioSource;
  readonly language: string;
  readonly now: number;
}

export function toBusEvent(ev: RecognizerEvent, c: EventContext): Event | undefined {
  const env = (eventId: string) => ({ sessionId: c.sessionId, source: SOURCE, eventId, timestamp: c.now });
  switch (ev.type) {
    case 'speech_started':
      return makeEvent('SPEECH_STARTED', env(eventIds.start(c.sessionId, ev.utterance)), {
        audioMs: ev.audioMs,
        mic: MIC_TO_STATE[ev.mic],
      });
    case 'speech_ended':
      return makeEvent('SPEECH_ENDED', env(eventIds.end(c.sessionId, ev.utterance)), {
        audioMs: ev.audioMs,
        durationMs: ev.durationMs,
      });
    case 'partial':
      return makeEvent('STT_PARTIAL', env(eventIds.partial(c.sessionId, ev.utterance, ev.index)), {
        text: ev.text,
        utterance: ev.utterance,
        audioSource: c.audioSource,
      });
    case 'final':
      return makeEvent('STT_FINAL', env(eventIds.final(c.sessionId, ev.utterance)), {
        text: ev.text,
        isFinal: true,
        confidence: Math.min(1, Math.max(0, ev.confidence)),
        utterance: ev.utterance,
        audioSource: c.audioSource,
        speechEndedAudioMs: ev.speechEndedAudioMs,
        decodeMs: Math.max(0, Math.round(ev.decodeMs)),
        language: c.language,
      });
    case 'no_final':
      return undefined;
  }
}
