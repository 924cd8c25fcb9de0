// @switchboard/stt-adapter: VAD + speech recognition per session, as a bus service.
export { sttAdapterService, makeSttAdapterService } from './service';
export { SttAdapterConfigSchema } from './config';
export type { SttAdapterConfig } from './config';
export { BUILTIN_STT_PROVIDERS, createEngines, SttStartupError } from './providers';
export type { SttEngines, SttProviderFactory } from './providers';
export { createSttAdapter, LEASE_GROUP } from './shell/adapter';
export type { SttAdapter } from './shell/adapter';
export { FrameSequencer } from './core/frame-sequencer';
export type { SeqFrame, SequencedFrame, SequencerResult, FrameSequencerOptions } from './core/frame-sequencer';
export { SessionRecognizer, cleanTranscript } from './core/session-recognizer';
export type { Mic, RecognizerEvent, ResumePoint, SessionRecognizerOptions, NoFinalReason } from './core/session-recognizer';
export { MicMemory } from './core/mic-memory';
export { toBusEvent, eventIds, utteranceOfEventId } from './core/to-events';
