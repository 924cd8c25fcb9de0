// @switchboard/stt-adapter: VAD + speech recognition per session, as a bus service.
export { sttAdapterService, makeSttAdapterService, recognizerSettings } from './service';
export { SttAdapterConfigSchema } from './config';
export type { SttAdapterConfig } from './config';
export { BUILTIN_STT_PROVIDERS, createEngines, SttStartupError } from './providers';
export type { SttEngines, SttProviderFactory, EngineLog } from './providers';
export { createInlineHost } from './host/inline-host';
export { createWorkerHost } from './host/worker-host';
export type { RecognizerHost, HostedSession, OpenSession, RecognizerSettings } from './host/host';
export { createSttAdapter, LEASE_GROUP } from './shell/adapter';
export type { SttAdapter } from './shell/adapter';
export { FrameSequencer } from './core/frame-sequencer';
export type { SeqFrame, SequencedFrame, SequencerResult, FrameSequencerOptions } from './core/frame-sequencer';
export { SessionRecognizer, cleanTranscript } from './core/session-recognizer';
export type { Endpoint, Mic, RecognizerEvent, ResumePoint, SessionRecognizerOptions, NoFinalReason } from './core/session-recognizer';
export { MicMemory } from './core/mic-memory';
export { toBusEvent, eventIds, utteranceOfEventId } from './core/to-events';
