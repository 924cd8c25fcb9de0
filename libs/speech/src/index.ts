export { SpeechError, silentLogger } from './errors';
export type { SpeechErrorCode, SpeechLogger } from './errors';
export { readWav, writeWav } from './audio/wav';
export type { PcmAudio } from './audio/wav';
export { resample } from './audio/resample';
export { concatPcm, frames20ms, samplesPer20ms, FrameChunker } from './audio/frames';
export { rmsDbfs, speechBoundsByEnergy } from './audio/energy';
export { highBandTiltDb } from './audio/spectrum';
export { normalizeWords, wordErrorRate, corpusWordErrorRate } from './text/wer';
export type { WerResult } from './text/wer';
export type { SttProvider, SttUtterance, SttResult } from './stt/types';
export { createPocketSphinxEngine, PocketSphinxConfigSchema, FAST_SEARCH_ARGS } from './stt/pocketsphinx';
export type { PocketSphinxConfig, PocketSphinxEngine, LmMode } from './stt/pocketsphinx';
export { DEFAULT_MODEL_PATHS, buildDomainModelFiles } from './stt/model-files';
export { buildTrigramArpa, dictionarySubset, tokenizeForLm } from './stt/lm-build';
export { DOMAIN_CORPUS } from './stt/domain-corpus';
export { createVad, VadConfigSchema } from './vad/silero';
export type { Vad, VadStream, VadConfig } from './vad/silero';
export {
  UtteranceSegmenter,
  stepSegmenter,
  SegmenterConfigSchema,
  INITIAL_SEGMENTER_STATE,
} from './vad/segmenter';
export type { SegmenterConfig, SegmenterEvent, SegmenterFrame, SegmenterState } from './vad/segmenter';
export { createStreamingRecognizer } from './pipeline';
export type { RecognizerEvent, StreamingRecognizer, StreamingRecognizerOptions } from './pipeline';
export { synthesizeFixture, noiseFixture, silence, concatAudio, mixAudio, hasCommand } from './testing/fixtures';
export type { FixtureVoice } from './testing/fixtures';
export { decoderAb, STOCK_SEARCH_ARGS, type DecoderAbResult } from './testing/decoder-ab';
export { createFliteEngine, FliteConfigSchema } from './tts/flite';
export type { FliteConfig, TtsProvider, TtsSynthesis, TtsNote } from './tts/flite';
export { splitSentences } from './text/sentences';
export { planSpeakable } from './text/speakable';
export type { SpeakablePlan } from './text/speakable';
