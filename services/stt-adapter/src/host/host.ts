// Where sessions' recognizers run. The inline host runs them on the calling thread; the worker
// host runs an inline host inside worker threads so that PocketSphinx's synchronous decoding
// (~3-15 ms per 20 ms frame and stream on this box) never delays NATS I/O or lease renewals on
// the main thread. Both expose the same small interface to the session shell.
import type { SegmenterConfig } from '@switchboard/speech';
import type { Mic, RecognizerEvent, RecognizerFrame, ResumePoint } from '../core/session-recognizer';

/** Serializable recognizer settings (they cross into worker threads). */
export interface RecognizerSettings {
  readonly segmenter: SegmenterConfig;
  readonly prerollMs: number;
  readonly partialEveryMs: number;
  readonly maxUtteranceMs: number;
  readonly gatedGraceMs: number;
  readonly resumeToleranceMs: number;
  readonly gatedOnsetConfirmMs: number;
  readonly earlyFinalMs: number;
  readonly completeEndMs: number;
  readonly rejoinMs: number;
  readonly language: string;
}

export interface OpenSession {
  readonly sessionId: string;
  readonly mic: Mic;
  readonly resume?: ResumePoint;
  readonly firstUtterance: number;
  readonly sink: (ev: RecognizerEvent) => void;
  readonly onError: (msg: string, err: { message: string; code?: string }) => void;
  /** After each frame has been processed: the wall time it took (VAD + STT, including waits). */
  readonly onFrameDone?: (ms: number) => void;
}

export interface HostedSession {
  /** Queues a frame; frames are processed strictly in order. */
  push(frame: RecognizerFrame): void;
  setMic(mic: Mic): void;
  /** Aborts an utterance in progress; resolves once the session's queue has stopped. Idempotent. */
  close(): Promise<void>;
  /** Frames queued and not yet processed (for the bounded queue). */
  readonly pending: number;
  readonly state: { mic: Mic; speaking: boolean; decoding: boolean };
}

export interface RecognizerHost {
  readonly kind: 'inline' | 'worker';
  open(o: OpenSession): HostedSession;
  decodersInUse(): number;
  close(): Promise<void>;
}
