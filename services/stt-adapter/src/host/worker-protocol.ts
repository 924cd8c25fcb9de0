// Messages between the main thread and a recognizer worker thread.
import type { Mic, RecognizerEvent, ResumePoint } from '../core/session-recognizer';

export type ToWorker =
  | { t: 'open'; id: string; mic: Mic; resume?: ResumePoint; firstUtterance: number }
  /** pcm: the frame's PCM16 samples, transferred (not copied) */
  | { t: 'frame'; id: string; audioMs: number; afterJump: boolean; pcm: ArrayBuffer }
  | { t: 'mic'; id: string; mic: Mic }
  | { t: 'close'; id: string }
  | { t: 'shutdown' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'fatal'; message: string; code?: string }
  | { t: 'event'; id: string; ev: RecognizerEvent }
  /** one frame processed; the session's state after it */
  | { t: 'done'; id: string; ms: number; mic: Mic; speaking: boolean; decoding: boolean }
  | { t: 'closed'; id: string }
  | { t: 'error'; id: string; msg: string; err: { message: string; code?: string } }
  | { t: 'log'; level: 'warn' | 'info'; obj: object; msg: string }
  | { t: 'stats'; decodersInUse: number }
  | { t: 'bye' };
