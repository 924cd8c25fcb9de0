// @switchboard/contracts — the one place that says what travels on the bus.
export { ContractError, isContractError, type ContractErrorCode } from './errors';
export { SESSION_ID_RE, TURN_ID_RE, isSessionId, newSessionId, newTurnId, newId } from './ids';
export {
  SERVICES,
  COMMAND_TARGETS,
  DEFAULT_PARTITIONS,
  STREAMS,
  BUCKETS,
  SubjectError,
  assertToken,
  partitionOf,
  subjects,
  sessionIdOfSubject,
  partitionOfSubject,
  type ServiceName,
  type CommandTarget,
} from './subjects';
export {
  LIMITS,
  EVENT_PAYLOADS,
  KNOWN_EVENT_TYPES,
  COMMAND_BODIES,
  KNOWN_COMMAND_TYPES,
  type KnownEventType,
  type KnownCommandType,
  type EventPayloadKey,
  type CommandBodyKey,
} from './schemas';
export {
  decodeEvent,
  encodeEvent,
  decodeCommand,
  encodeCommand,
  decodeAudioFrame,
  encodeAudioFrame,
  pcmSamples,
  makeEvent,
  makeCommand,
  AUDIO_LIMITS,
  type EnvelopeInit,
  type CommandInit,
  type DecodeOptions,
  type EventTypeName,
  type CommandTypeName,
} from './codec';
export { AudioSource, MicState, SpeakKind, TimerKind, TurnContext } from './gen/switchboard/v1/common';
export {
  EventType,
  Event,
  CallStarted,
  CallEnded,
  SpeechStarted,
  SpeechEnded,
  SttPartial,
  SttFinal,
  IntentDetected,
  RagAnswerPartial,
  RagAnswerReady,
  TtsStarted,
  TtsDone,
  PlaybackStarted,
  PlaybackDone,
  BargeIn,
  TimerFired,
  ErrorEvent,
  EscalationRequested,
} from './gen/switchboard/v1/events';
export { CommandType, Command, RagQuery, RagCancel, TtsSpeak, TtsCancel, PlaybackFlush, MicSet, CallEnd } from './gen/switchboard/v1/commands';
export { AudioFrame } from './gen/switchboard/v1/audio';
export {
  PROVISIONER,
  PRINCIPALS,
  COMMAND_TARGET_OF,
  permissionsFor,
  permissionMatrix,
  natsAuthConfig,
  passwordEnvName,
  NATS_ENV_PASSWORD_RE,
  type Principal,
  type SubjectPermissions,
  type NatsCredential,
  type NatsUsers,
} from './permissions';
