// The one module that builds NATS subject names, stream names and the session→partition
// hash. Nobody concatenates subject strings anywhere else.
import { isSessionId } from './ids';

export const SERVICES = ['sfu-gateway', 'stt-adapter', 'session-orchestrator', 'rag-worker', 'tts-streamer'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Command targets: the subject token of each service that receives commands. */
export const COMMAND_TARGETS = ['gateway', 'stt', 'rag', 'tts'] as const;
export type CommandTarget = (typeof COMMAND_TARGETS)[number];

export const DEFAULT_PARTITIONS = 64;

export const STREAMS = {
  events: 'VOICE_EVENTS',
  audioIn: 'VOICE_AUDIO_IN',
  audioOut: 'VOICE_AUDIO_OUT',
  dlq: 'VOICE_DLQ',
  cmd: {
    gateway: 'VOICE_CMD_GATEWAY',
    stt: 'VOICE_CMD_STT',
    rag: 'VOICE_CMD_RAG',
    tts: 'VOICE_CMD_TTS',
  },
} as const satisfies { cmd: Record<CommandTarget, string> } & Record<string, unknown>;

export const BUCKETS = {
  sessions: 'sessions',
  leases: 'leases',
  aliases: 'aliases',
} as const;

/** A subject token must be a plain non-empty token: no dots, wildcards or whitespace. */
export function assertToken(kind: string, value: string): string {
  if (!/^[A-Za-z0-9_\-:]{1,128}$/.test(value)) {
    throw new SubjectError(`invalid ${kind} token ${JSON.stringify(value.slice(0, 64))}`);
  }
  return value;
}

export class SubjectError extends Error {
  readonly code = 'INVALID_SUBJECT';
  readonly retryable = false;
}

function sessionToken(sessionId: string): string {
  if (!isSessionId(sessionId)) throw new SubjectError(`invalid session id ${JSON.stringify(String(sessionId).slice(0, 64))}`);
  return sessionId;
}

/** FNV-1a 32-bit over the session id's UTF-16 code units (ids are ASCII). Every publisher uses this. */
export function partitionOf(sessionId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  let h = 0x811c9dc5;
  for (let i = 0; i < sessionId.length; i++) {
    h ^= sessionId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

export const subjects = {
  /** voice.evt.<partition>.<sessionId>.<type> */
  event(sessionId: string, eventType: string, partitions: number): string {
    return `voice.evt.${partitionOf(sessionToken(sessionId), partitions)}.${sessionId}.${assertToken('event type', eventType)}`;
  },
  /** Everything of one partition (an orchestrator durable consumer's filter). */
  eventsOfPartition(partition: number): string {
    return `voice.evt.${partition}.>`;
  },
  eventsAll: 'voice.evt.>',
  /** voice.cmd.<service>.<sessionId>.<type> */
  command(target: CommandTarget, sessionId: string, commandType: string): string {
    return `voice.cmd.${target}.${sessionToken(sessionId)}.${assertToken('command type', commandType)}`;
  },
  commandsOf(target: CommandTarget): string {
    return `voice.cmd.${target}.>`;
  },
  commandsOfSession(target: CommandTarget, sessionId: string): string {
    return `voice.cmd.${target}.${sessionToken(sessionId)}.>`;
  },
  commandsOfType(target: CommandTarget, commandType: string): string {
    return `voice.cmd.${target}.*.${assertToken('command type', commandType)}`;
  },
  /** voice.audio.in.<partition>.<sessionId> */
  audioIn(sessionId: string, partitions: number): string {
    return `voice.audio.in.${partitionOf(sessionToken(sessionId), partitions)}.${sessionId}`;
  },
  audioInOfPartition(partition: number): string {
    return `voice.audio.in.${partition}.*`;
  },
  audioInAll: 'voice.audio.in.>',
  /** voice.audio.out.<sessionId> */
  audioOut(sessionId: string): string {
    return `voice.audio.out.${sessionToken(sessionId)}`;
  },
  audioOutAll: 'voice.audio.out.>',
  /** voice.dlq.<service>.<reason> — reason is a short code (see DlqReason). */
  dlq(service: string, reason: string): string {
    return `voice.dlq.${assertToken('service', service)}.${assertToken('reason', reason)}`;
  },
  dlqAll: 'voice.dlq.>',
  /** Live session updates for UIs/CLI (core NATS, not persisted). */
  sessionUpdates(sessionId: string): string {
    return `voice.ui.${sessionToken(sessionId)}`;
  },
  sessionUpdatesAll: 'voice.ui.>',
} as const;

/** Parse the session id out of any voice.* subject; undefined when absent or malformed. */
export function sessionIdOfSubject(subject: string): string | undefined {
  const t = subject.split('.');
  let candidate: string | undefined;
  if (t[1] === 'evt') candidate = t[3];
  else if (t[1] === 'cmd') candidate = t[3];
  else if (t[1] === 'audio' && t[2] === 'in') candidate = t[4];
  else if (t[1] === 'audio' && t[2] === 'out') candidate = t[3];
  else if (t[1] === 'ui') candidate = t[2];
  return candidate !== undefined && isSessionId(candidate) ? candidate : undefined;
}

/** The partition token of a voice.evt / voice.audio.in subject. */
export function partitionOfSubject(subject: string): number | undefined {
  const t = subject.split('.');
  const raw = t[1] === 'evt' ? t[2] : t[1] === 'audio' && t[2] === 'in' ? t[3] : undefined;
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}
