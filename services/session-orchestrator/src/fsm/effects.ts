import { CommandType, MicState } from '@switchboard/contracts';
import type {
  CallEnd,
  Command,
  MicSet,
  PlaybackFlush,
  RagCancel,
  RagQuery,
  TtsCancel,
  TtsSpeak,
} from '@switchboard/contracts';
import type { MicContract } from './states';

/** Which service's command stream an effect is published to. */
export type EffectTarget = 'gateway' | 'stt' | 'rag' | 'tts';

/** Exactly one body key, matching commandType. */
export type EffectBody =
  | { ragQuery: RagQuery }
  | { ragCancel: RagCancel }
  | { ttsSpeak: TtsSpeak }
  | { ttsCancel: TtsCancel }
  | { playbackFlush: PlaybackFlush }
  | { micSet: MicSet }
  | { callEnd: CallEnd };

/** A command to publish, minus the envelope fields the shell fills (id, session, timestamp). */
export interface Effect {
  target: EffectTarget;
  commandType: CommandType;
  /** the turn id the command belongs to ('' for session-wide commands) */
  correlationId: string;
  body: EffectBody;
}

export function ragQuery(q: RagQuery): Effect {
  return { target: 'rag', commandType: CommandType.RAG_QUERY, correlationId: q.turnId, body: { ragQuery: q } };
}

export function ragCancel(turnId: string, reason: string): Effect {
  return { target: 'rag', commandType: CommandType.RAG_CANCEL, correlationId: turnId, body: { ragCancel: { turnId, reason } } };
}

export function ttsSpeak(s: TtsSpeak): Effect {
  return { target: 'tts', commandType: CommandType.TTS_SPEAK, correlationId: s.turnId, body: { ttsSpeak: s } };
}

/** speakId '' cancels every utterance of the turn. */
export function ttsCancel(turnId: string, speakId: string, reason: string): Effect {
  return { target: 'tts', commandType: CommandType.TTS_CANCEL, correlationId: turnId, body: { ttsCancel: { turnId, speakId, reason } } };
}

export function playbackFlush(turnId: string, reason: string, fadeMs: number): Effect {
  return {
    target: 'gateway',
    commandType: CommandType.PLAYBACK_FLUSH,
    correlationId: turnId,
    body: { playbackFlush: { turnId, reason, fadeMs } },
  };
}

const MIC_STATES: Readonly<Record<MicContract, MicState>> = {
  OPEN: MicState.MIC_STATE_OPEN,
  GATED: MicState.MIC_STATE_GATED,
  CLOSED: MicState.MIC_STATE_CLOSED,
};

/** The gateway gates what it forwards and the stt-adapter stops opening turns: both must know. */
export function micSet(mic: MicContract, reason: string, correlationId: string): Effect[] {
  const body = { micSet: { state: MIC_STATES[mic], reason } };
  return [
    { target: 'gateway', commandType: CommandType.MIC_SET, correlationId, body },
    { target: 'stt', commandType: CommandType.MIC_SET, correlationId, body: { micSet: { ...body.micSet } } },
  ];
}

export function callEnd(reason: string): Effect {
  return { target: 'gateway', commandType: CommandType.CALL_END, correlationId: '', body: { callEnd: { reason } } };
}

/**
 * Builds the wire command for an effect. `commandId` follows the architecture's dedup rule
 * `<sessionId>:<eventSeq>:<index>` so a re-published outbox is a no-op at the stream.
 */
export function toCommand(
  effect: Effect,
  env: { sessionId: string; eventSeq: number; index: number; timestamp: number; source?: string },
): Command {
  return {
    commandId: `${env.sessionId}:${env.eventSeq}:${env.index}`,
    commandType: effect.commandType,
    sessionId: env.sessionId,
    source: env.source ?? 'session-orchestrator',
    timestamp: env.timestamp,
    correlationId: effect.correlationId,
    ...effect.body,
    metadata: {},
  };
}
