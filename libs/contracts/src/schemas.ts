// zod schemas for the wire form of every event and command. Each payload schema is
// checked at compile time to produce exactly the ts-proto generated type (see the
// `Same<...>` assertions at the bottom), so proto and zod cannot drift apart.
// The proto says what fields exist; these schemas add what proto cannot: required fields,
// sizes, id formats, well-formed Unicode.
import { z } from 'zod';
import { AudioSource, MicState, SpeakKind, TimerKind, type TurnContext } from './gen/switchboard/v1/common';
import {
  EventType,
  type BargeIn,
  type CallEnded,
  type CallStarted,
  type ErrorEvent,
  type EscalationRequested,
  type Event,
  type IntentDetected,
  type PlaybackDone,
  type PlaybackStarted,
  type RagAnswerPartial,
  type RagAnswerReady,
  type SpeechEnded,
  type SpeechStarted,
  type SttFinal,
  type SttPartial,
  type TimerFired,
  type TtsDone,
  type TtsStarted,
} from './gen/switchboard/v1/events';
import {
  CommandType,
  type CallEnd,
  type Command,
  type MicSet,
  type PlaybackFlush,
  type RagCancel,
  type RagQuery,
  type TtsCancel,
  type TtsSpeak,
} from './gen/switchboard/v1/commands';
import { SESSION_ID_RE } from './ids';

export const LIMITS = {
  /** Largest event/command accepted on the bus, in bytes of UTF-8 JSON. */
  maxMessageBytes: 64 * 1024,
  /** Longest text field (transcript, answer) in UTF-16 code units. */
  maxTextChars: 8 * 1024,
  maxIdChars: 128,
  maxMetadataEntries: 32,
  maxMetadataValueChars: 512,
  maxHistoryTurns: 16,
  maxSourceIds: 16,
} as const;

const wellFormed = (s: string): boolean => s.isWellFormed();

/** Any text: bounded and well-formed Unicode (no lone surrogates). */
const text = z
  .string()
  .max(LIMITS.maxTextChars)
  .refine(wellFormed, { message: 'text is not well-formed Unicode' });
/** Optional text on the wire: absent means "". */
const optText = text.default('');
/** Required text: present and not blank. */
const requiredText = text.refine((s) => s.trim().length > 0, { message: 'required text is empty' });
const id = z.string().max(LIMITS.maxIdChars).refine(wellFormed, { message: 'id is not well-formed Unicode' });
const optId = id.default('');
const requiredId = id.min(1, { message: 'required id is empty' });
const int = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const optInt = int.default(0);
const optI32 = z.number().int().min(0).max(2 ** 31 - 1).default(0);
const optFloat = z.number().min(0).max(1e9).default(0);
const optBool = z.boolean().default(false);
const enumOf = <E extends Record<string, string>>(e: E, fallback: E[keyof E]) =>
  z.enum(e as unknown as Record<string, E[keyof E]>).default(fallback as never) as unknown as z.ZodDefault<z.ZodType<E[keyof E]>>;
const audioSource = enumOf(AudioSource, AudioSource.AUDIO_SOURCE_UNSPECIFIED);
const micState = enumOf(MicState, MicState.MIC_STATE_UNSPECIFIED);
const speakKind = enumOf(SpeakKind, SpeakKind.SPEAK_KIND_UNSPECIFIED);
const timerKind = enumOf(TimerKind, TimerKind.TIMER_KIND_UNSPECIFIED);
const sourceIds = z.array(id).max(LIMITS.maxSourceIds).default([]);
const metadata = z
  .record(z.string().max(64), z.string().max(LIMITS.maxMetadataValueChars))
  .refine((m) => Object.keys(m).length <= LIMITS.maxMetadataEntries, { message: 'too many metadata entries' })
  .default({});

export const TurnContextSchema = z.object({
  turnId: optId,
  userText: optText,
  agentText: optText,
  intent: optId,
  sourceIds,
});

// ---- event payloads ------------------------------------------------------------------
export const CallStartedSchema = z.object({
  audioSource,
  language: optId,
  gatewayId: optId,
  aliases: z.array(id).max(8).default([]),
});
export const CallEndedSchema = z.object({ reason: requiredId });
export const SpeechStartedSchema = z.object({ audioMs: int, mic: micState });
export const SpeechEndedSchema = z.object({ audioMs: int, durationMs: int });
export const SttPartialSchema = z.object({ text: optText, utterance: optI32, audioSource });
export const SttFinalSchema = z.object({
  text: requiredText,
  isFinal: z.literal(true, { message: 'STT_FINAL needs is_final = true' }),
  confidence: optFloat,
  utterance: optI32,
  audioSource,
  speechEndedAudioMs: optInt,
  decodeMs: optInt,
  language: optId,
});
export const IntentDetectedSchema = z.object({ turnId: requiredId, intent: requiredId, confidence: optFloat });
export const RagAnswerPartialSchema = z.object({ turnId: requiredId, index: optI32, text: requiredText });
export const RagAnswerReadySchema = z.object({
  turnId: requiredId,
  text: requiredText,
  intent: optId,
  confidence: optFloat,
  sourceIds,
  clarify: optBool,
  escalate: optBool,
  firstPartialMs: optInt,
  totalMs: optInt,
});
export const TtsStartedSchema = z.object({ turnId: optId, speakId: requiredId, kind: speakKind, timeToFirstAudioMs: optInt });
export const TtsDoneSchema = z.object({ turnId: optId, speakId: requiredId, kind: speakKind, audioMs: optInt, cancelled: optBool });
export const PlaybackStartedSchema = z.object({ turnId: optId, speakId: requiredId, kind: speakKind });
export const PlaybackDoneSchema = z.object({
  turnId: optId,
  speakId: requiredId,
  kind: speakKind,
  durationMs: int, // required: the real played duration
  interrupted: optBool,
});
export const BargeInSchema = z.object({ reason: requiredId, turnId: optId });
export const TimerFiredSchema = z
  .object({ kind: timerKind, timerId: requiredId, deadline: optInt })
  .refine((t) => t.kind !== TimerKind.TIMER_KIND_UNSPECIFIED, { message: 'timer kind required' });
export const ErrorEventSchema = z.object({
  code: requiredId,
  message: optText,
  retryable: optBool,
  stage: optId,
  turnId: optId,
});
export const EscalationRequestedSchema = z.object({ turnId: requiredId, reason: optId });

/** Event type → the envelope key of its payload and that payload's schema. */
export const EVENT_PAYLOADS = {
  [EventType.CALL_STARTED]: ['callStarted', CallStartedSchema],
  [EventType.CALL_ENDED]: ['callEnded', CallEndedSchema],
  [EventType.SPEECH_STARTED]: ['speechStarted', SpeechStartedSchema],
  [EventType.SPEECH_ENDED]: ['speechEnded', SpeechEndedSchema],
  [EventType.STT_PARTIAL]: ['sttPartial', SttPartialSchema],
  [EventType.STT_FINAL]: ['sttFinal', SttFinalSchema],
  [EventType.INTENT_DETECTED]: ['intentDetected', IntentDetectedSchema],
  [EventType.RAG_ANSWER_PARTIAL]: ['ragAnswerPartial', RagAnswerPartialSchema],
  [EventType.RAG_ANSWER_READY]: ['ragAnswerReady', RagAnswerReadySchema],
  [EventType.TTS_STARTED]: ['ttsStarted', TtsStartedSchema],
  [EventType.TTS_DONE]: ['ttsDone', TtsDoneSchema],
  [EventType.PLAYBACK_STARTED]: ['playbackStarted', PlaybackStartedSchema],
  [EventType.PLAYBACK_DONE]: ['playbackDone', PlaybackDoneSchema],
  [EventType.BARGE_IN]: ['bargeIn', BargeInSchema],
  [EventType.TIMER_FIRED]: ['timerFired', TimerFiredSchema],
  [EventType.ERROR]: ['error', ErrorEventSchema],
  [EventType.ESCALATION_REQUESTED]: ['escalationRequested', EscalationRequestedSchema],
} as const;

export type KnownEventType = keyof typeof EVENT_PAYLOADS;
export type EventPayloadKey = (typeof EVENT_PAYLOADS)[KnownEventType][0];
export const KNOWN_EVENT_TYPES = Object.keys(EVENT_PAYLOADS) as KnownEventType[];

export const EventEnvelopeSchema = z.object({
  eventId: requiredId,
  eventType: z.enum(KNOWN_EVENT_TYPES as [KnownEventType, ...KnownEventType[]]),
  sessionId: z.string().regex(SESSION_ID_RE, { message: 'session id must be ses_<ULID>' }),
  source: requiredId,
  timestamp: int.min(1),
  correlationId: optId,
  metadata,
});

// ---- command bodies ------------------------------------------------------------------
export const RagQuerySchema = z.object({
  turnId: requiredId,
  text: requiredText,
  skipIntent: optBool,
  history: z.array(TurnContextSchema).max(LIMITS.maxHistoryTurns).default([]),
  language: optId,
  deadline: optInt,
});
export const RagCancelSchema = z.object({ turnId: requiredId, reason: optId });
export const TtsSpeakSchema = z
  .object({ turnId: optId, speakId: requiredId, text: optText, kind: speakKind, cacheKey: optId, language: optId })
  .refine((s) => s.text.trim() !== '' || s.cacheKey !== '', { message: 'TTS_SPEAK needs text or cache_key' });
export const TtsCancelSchema = z.object({ turnId: optId, speakId: optId, reason: optId }).refine((c) => c.turnId !== '' || c.speakId !== '', {
  message: 'TTS_CANCEL needs turn_id or speak_id',
});
export const PlaybackFlushSchema = z.object({ turnId: optId, reason: optId, fadeMs: optI32 });
export const MicSetSchema = z
  .object({ state: micState, reason: optId })
  .refine((m) => m.state !== MicState.MIC_STATE_UNSPECIFIED, { message: 'mic state required' });
export const CallEndSchema = z.object({ reason: requiredId });

export const COMMAND_BODIES = {
  [CommandType.RAG_QUERY]: ['ragQuery', RagQuerySchema],
  [CommandType.RAG_CANCEL]: ['ragCancel', RagCancelSchema],
  [CommandType.TTS_SPEAK]: ['ttsSpeak', TtsSpeakSchema],
  [CommandType.TTS_CANCEL]: ['ttsCancel', TtsCancelSchema],
  [CommandType.PLAYBACK_FLUSH]: ['playbackFlush', PlaybackFlushSchema],
  [CommandType.MIC_SET]: ['micSet', MicSetSchema],
  [CommandType.CALL_END]: ['callEnd', CallEndSchema],
} as const;

export type KnownCommandType = keyof typeof COMMAND_BODIES;
export type CommandBodyKey = (typeof COMMAND_BODIES)[KnownCommandType][0];
export const KNOWN_COMMAND_TYPES = Object.keys(COMMAND_BODIES) as KnownCommandType[];

export const CommandEnvelopeSchema = z.object({
  commandId: requiredId,
  commandType: z.enum(KNOWN_COMMAND_TYPES as [KnownCommandType, ...KnownCommandType[]]),
  sessionId: z.string().regex(SESSION_ID_RE, { message: 'session id must be ses_<ULID>' }),
  source: requiredId,
  timestamp: int.min(1),
  correlationId: optId,
  metadata,
});

// ---- compile-time drift checks: zod output == generated type ---------------------------
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends true> = T;
export type DriftChecks = [
  Check<Same<z.output<typeof TurnContextSchema>, TurnContext>>,
  Check<Same<z.output<typeof CallStartedSchema>, CallStarted>>,
  Check<Same<z.output<typeof CallEndedSchema>, CallEnded>>,
  Check<Same<z.output<typeof SpeechStartedSchema>, SpeechStarted>>,
  Check<Same<z.output<typeof SpeechEndedSchema>, SpeechEnded>>,
  Check<Same<z.output<typeof SttPartialSchema>, SttPartial>>,
  Check<Same<Omit<z.output<typeof SttFinalSchema>, 'isFinal'> & { isFinal: boolean }, SttFinal>>,
  Check<Same<z.output<typeof IntentDetectedSchema>, IntentDetected>>,
  Check<Same<z.output<typeof RagAnswerPartialSchema>, RagAnswerPartial>>,
  Check<Same<z.output<typeof RagAnswerReadySchema>, RagAnswerReady>>,
  Check<Same<z.output<typeof TtsStartedSchema>, TtsStarted>>,
  Check<Same<z.output<typeof TtsDoneSchema>, TtsDone>>,
  Check<Same<z.output<typeof PlaybackStartedSchema>, PlaybackStarted>>,
  Check<Same<z.output<typeof PlaybackDoneSchema>, PlaybackDone>>,
  Check<Same<z.output<typeof BargeInSchema>, BargeIn>>,
  Check<Same<z.output<typeof TimerFiredSchema>, TimerFired>>,
  Check<Same<z.output<typeof ErrorEventSchema>, ErrorEvent>>,
  Check<Same<z.output<typeof EscalationRequestedSchema>, EscalationRequested>>,
  Check<Same<z.output<typeof EventEnvelopeSchema>, Pick<Event, 'eventId' | 'sessionId' | 'source' | 'timestamp' | 'correlationId' | 'metadata'> & { eventType: KnownEventType }>>,
  Check<Same<EventPayloadKey, Exclude<keyof Event, 'eventId' | 'eventType' | 'sessionId' | 'source' | 'timestamp' | 'correlationId' | 'metadata'>>>,
  Check<Same<z.output<typeof RagQuerySchema>, RagQuery>>,
  Check<Same<z.output<typeof RagCancelSchema>, RagCancel>>,
  Check<Same<z.output<typeof TtsSpeakSchema>, TtsSpeak>>,
  Check<Same<z.output<typeof TtsCancelSchema>, TtsCancel>>,
  Check<Same<z.output<typeof PlaybackFlushSchema>, PlaybackFlush>>,
  Check<Same<z.output<typeof MicSetSchema>, MicSet>>,
  Check<Same<z.output<typeof CallEndSchema>, CallEnd>>,
  Check<Same<CommandBodyKey, Exclude<keyof Command, 'commandId' | 'commandType' | 'sessionId' | 'source' | 'timestamp' | 'correlationId' | 'metadata'>>>,
];
