// Public API of the gateway's media layer (mediasoup workers, per-call media, audio in/out).
export { createWorkerPool, loadMediasoup } from './worker-pool';
export type { WorkerPool, WorkerPoolConfig, RouterLease, RouterEndReason, WorkerStats } from './worker-pool';
export { createCallMedia, OPUS_ROUTER_CODEC } from './call-media';
export type {
  CallMedia,
  CallMediaConfig,
  CallMediaHooks,
  CallMediaStats,
  CallEndReason,
  ConsumerOptions,
  MediaPeer,
  MicState,
  PeerRole,
  TransportDirection,
  TransportOptions,
  WhisperFrame,
} from './call-media';
export type { CallerFrame, CallerAudioStats } from './caller-audio';
export { FRAME_BYTES_16K, FRAME_MS, FRAME_SAMPLES_16K, SAMPLE_RATE_16K, createCallerAudioAssembler } from './caller-audio';
export type { AgentPcm, PlaybackDone, PlaybackStarted, PushResult } from './agent-playout';
export { createAgentPlayout } from './agent-playout';
export { createSendClock } from './send-clock';
export type { SendClock, SendClockStats } from './send-clock';
export { parseRtp, buildRtp, OPUS_SILENCE_FRAME } from './rtp';
export type { RtpView } from './rtp';
export { MediaError } from './errors';
export type { MediaErrorCode } from './errors';
export type { MediaLogger } from './logger';
