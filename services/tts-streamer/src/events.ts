// Events the tts-streamer publishes for the orchestrator. Ids are derived from the speak
// command's id, so a redelivered command re-publishes the same ids and the stream drops them.
import { LIMITS, makeEvent, type Event, type SpeakKind } from '@switchboard/contracts';

export const SOURCE = 'tts-streamer';

export interface SpeakRef {
  commandId: string;
  sessionId: string;
  turnId: string;
  speakId: string;
  kind: SpeakKind;
}

/** Extra context carried in event metadata (string values, capped by the contracts). */
export type EventMeta = Record<string, string>;

/** TTS_STARTED's id: a replica that takes over a redelivered speak looks it up. */
export const ttsStartedId = (commandId: string): string => `${commandId}:started`;

function init(ref: SpeakRef, suffix: string, meta: EventMeta) {
  return { sessionId: ref.sessionId, source: SOURCE, eventId: suffix === 'started' ? ttsStartedId(ref.commandId) : `${ref.commandId}:${suffix}`, correlationId: ref.turnId, metadata: capMeta(meta) };
}

export function ttsStarted(ref: SpeakRef, timeToFirstAudioMs: number, meta: EventMeta = {}): Event {
  return makeEvent('TTS_STARTED', init(ref, 'started', meta), {
    turnId: ref.turnId,
    speakId: ref.speakId,
    kind: ref.kind,
    timeToFirstAudioMs: Math.max(0, Math.round(timeToFirstAudioMs)),
  });
}

export function ttsDone(ref: SpeakRef, audioMs: number, cancelled: boolean, meta: EventMeta = {}): Event {
  return makeEvent('TTS_DONE', init(ref, 'done', meta), { turnId: ref.turnId, speakId: ref.speakId, kind: ref.kind, audioMs, cancelled });
}

export function ttsError(ref: SpeakRef, code: string, message: string, retryable: boolean): Event {
  return makeEvent('ERROR', init(ref, 'error', {}), {
    code: code.slice(0, LIMITS.maxIdChars),
    message: truncateCodePoints(message, 1_000),
    retryable,
    stage: 'tts',
    turnId: ref.turnId,
  });
}

/** Cut at a code point boundary, so a cut never leaves half a surrogate pair (ill-formed text). */
export function truncateCodePoints(text: string, maxUnits: number): string {
  if (text.length <= maxUnits) return text;
  let out = '';
  for (const ch of text) {
    if (out.length + ch.length > maxUnits) break;
    out += ch;
  }
  return out;
}

function capMeta(meta: EventMeta): EventMeta {
  const out: EventMeta = {};
  for (const [k, v] of Object.entries(meta).slice(0, LIMITS.maxMetadataEntries)) out[k.slice(0, 64)] = truncateCodePoints(v, LIMITS.maxMetadataValueChars);
  return out;
}
