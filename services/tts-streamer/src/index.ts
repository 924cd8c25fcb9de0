// @switchboard/tts-streamer: speak/cancel commands → paced 20 ms PCM frames + TTS events.
export { ttsStreamerService, defineTtsStreamerService, type TtsServiceDeps } from './service';
export { TtsConfigSchema, DEFAULT_CACHE_TEXTS, type TtsConfig } from './config';
export { createTtsStreamer, cancelConsumerName, limitText, SPEAK_CONSUMER, type TtsStreamer, type TtsStreamerOptions } from './worker';
export { CancelRegistry, ExpiringSet, UtteranceCancelled, type CancelRequest, type UtteranceRef, type LiveUtterance, type CancelOutcome } from './cancels';
export { PromptCache, type CachedUtterance } from './prompt-cache';
export { streamFrames, FrameSplitter, frameDueAt, FRAME_MS, type OutFrame, type StreamResult, type StreamOptions } from './stream';
