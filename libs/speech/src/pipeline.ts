// VAD + segmenter + STT for one audio stream: 20 ms frames in, speech/partial/final events out.
// The thin shell the speech service wraps; all timing decisions live in the segmenter.
import { rmsDbfs } from './audio/energy';
import type { SttProvider, SttUtterance } from './stt/types';
import type { Vad, VadStream } from './vad/silero';
import { UtteranceSegmenter, type SegmenterConfig, type SegmenterEvent } from './vad/segmenter';

export type RecognizerEvent =
  | SegmenterEvent
  | { readonly type: 'partial'; readonly audioMs: number; readonly text: string }
  | { readonly type: 'final'; readonly audioMs: number; readonly text: string; readonly confidence: number };

export interface StreamingRecognizerOptions {
  readonly vad: Vad;
  readonly stt: SttProvider;
  readonly segmenter?: SegmenterConfig;
  /** Audio before the detected onset handed to STT too (onsets are detected a little late). */
  readonly prerollMs?: number;
  /** How often a changed partial hypothesis is reported while speaking; 0 disables partials. */
  readonly partialEveryMs?: number;
  readonly language?: string;
}

export interface StreamingRecognizer {
  /** One 20 ms frame (320 samples at 16 kHz). Frames must be pushed in order; await each. */
  push(frame: Int16Array): Promise<RecognizerEvent[]>;
  /** End of stream: finishes an open utterance. */
  flush(): RecognizerEvent[];
  /** Aborts an open utterance (its decoder goes back to the pool). Idempotent. */
  close(): void;
  readonly audioMs: number;
}

export function createStreamingRecognizer(opts: StreamingRecognizerOptions): StreamingRecognizer {
  const segmenter = new UtteranceSegmenter(opts.segmenter);
  const frameMs = segmenter.config.frameMs;
  const prerollMs = opts.prerollMs ?? 300;
  const partialEveryMs = opts.partialEveryMs ?? 200;
  const vadStream: VadStream = opts.vad.createStream();
  // Bounded: enough frames to reach back over the onset confirmation, VAD lag and preroll.
  const ringCapacity = Math.ceil((prerollMs + segmenter.config.onsetConfirmMs + segmenter.config.onsetGapMs + 200) / frameMs);
  const ring: { audioMs: number; frame: Int16Array }[] = [];
  let audioMs = 0;
  let utterance: SttUtterance | null = null;
  let lastPartial = '';
  let sincePartialMs = 0;
  let closed = false;

  function finishUtterance(ev: SegmenterEvent, out: RecognizerEvent[]): void {
    if (!utterance) return;
    const u = utterance;
    utterance = null;
    if (ev.type === 'speech_end') {
      const r = u.finish();
      out.push({ type: 'final', audioMs: ev.audioMs, text: r.text, confidence: r.confidence });
    } else {
      u.abort();
    }
  }

  async function finishUtteranceAsync(ev: SegmenterEvent, out: RecognizerEvent[]): Promise<void> {
    if (!utterance) return;
    const u = utterance;
    utterance = null;
    if (ev.type === 'speech_end') {
      const r = await u.finishAsync();
      out.push({ type: 'final', audioMs: ev.audioMs, text: r.text, confidence: r.confidence });
    } else {
      u.abort();
    }
  }

  return {
    get audioMs() {
      return audioMs;
    },
    async push(frame: Int16Array): Promise<RecognizerEvent[]> {
      if (closed) return [];
      const frameAt = audioMs;
      audioMs += frameMs;
      const probability = await vadStream.process(frame);
      ring.push({ audioMs: frameAt, frame });
      if (ring.length > ringCapacity) ring.shift();
      const out: RecognizerEvent[] = [];
      let fedThisFrame = false;
      for (const ev of segmenter.push({ audioMs: frameAt, probability, energyDb: rmsDbfs(frame) })) {
        out.push(ev);
        if (ev.type === 'speech_start') {
          utterance?.abort();
          utterance = opts.stt.startUtterance(opts.language === undefined ? {} : { language: opts.language });
          lastPartial = '';
          sincePartialMs = 0;
          for (const r of ring) if (r.audioMs >= ev.audioMs - prerollMs) utterance.push(r.frame);
          fedThisFrame = true;
        } else {
          await finishUtteranceAsync(ev, out);
        }
      }
      if (utterance && !fedThisFrame) {
        utterance.push(frame);
        sincePartialMs += frameMs;
        if (partialEveryMs > 0 && sincePartialMs >= partialEveryMs) {
          sincePartialMs = 0;
          const text = utterance.partial();
          if (text !== lastPartial) {
            lastPartial = text;
            out.push({ type: 'partial', audioMs: audioMs, text });
          }
        }
      }
      return out;
    },
    flush(): RecognizerEvent[] {
      const out: RecognizerEvent[] = [];
      for (const ev of segmenter.flush()) {
        out.push(ev);
        finishUtterance(ev, out);
      }
      return out;
    },
    close(): void {
      if (closed) return;
      closed = true;
      utterance?.abort();
      utterance = null;
    },
  };
}
