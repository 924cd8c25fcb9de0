// Utterance segmentation as a pure state machine over 20 ms frames: (state, frame) -> (state, events).
// Input is a speech probability per frame (from any VAD) with the frame's position in the audio,
// so reported times are audio times, independent of when frames happen to be processed.
import { z } from 'zod';

export const SegmenterConfigSchema = z.object({
  frameMs: z.number().int().positive().default(20),
  /** A frame at or above this probability is speech. */
  threshold: z.number().gt(0).lt(1).default(0.5),
  /** Once speaking, frames stay "speech" until they fall below this (hysteresis). */
  negativeThreshold: z.number().gt(0).lt(1).default(0.35),
  /**
   * Speech needed before speech_start is emitted. It is the barge-in latency knob: start is
   * emitted this long (plus the VAD's own lag) after the real onset, and dated back to it.
   */
  onsetConfirmMs: z.number().int().min(0).default(60),
  /** While confirming an onset, a dip this long is tolerated. */
  onsetGapMs: z.number().int().min(0).default(40),
  /** Trailing silence that ends an utterance. */
  hangoverMs: z.number().int().min(0).default(400),
  /** Shorter segments (start to last speech) end with speech_discarded instead of speech_end. */
  minSpeechMs: z.number().int().min(0).default(60),
  /** Subtracted from reported onsets to compensate the VAD's detection lag (Silero ~ one window). */
  onsetLeadMs: z.number().int().min(0).default(0),
});
export type SegmenterConfig = z.input<typeof SegmenterConfigSchema>;
type Resolved = z.output<typeof SegmenterConfigSchema>;

export type SegmenterEvent =
  | { readonly type: 'speech_start'; readonly audioMs: number }
  | { readonly type: 'speech_end'; readonly audioMs: number; readonly durationMs: number }
  | { readonly type: 'speech_discarded'; readonly audioMs: number; readonly durationMs: number };

export interface SegmenterFrame {
  /** Start of the frame in the stream's audio timeline, ms. */
  readonly audioMs: number;
  readonly probability: number;
}

export type SegmenterState =
  | { readonly kind: 'silence'; readonly candidate: null }
  | { readonly kind: 'silence'; readonly candidate: { readonly startMs: number; readonly speechMs: number; readonly gapMs: number } }
  | { readonly kind: 'speaking'; readonly startMs: number; readonly lastSpeechEndMs: number; readonly silenceMs: number };

export const INITIAL_SEGMENTER_STATE: SegmenterState = { kind: 'silence', candidate: null };

export function stepSegmenter(
  state: SegmenterState,
  frame: SegmenterFrame,
  config: Resolved,
): { state: SegmenterState; events: SegmenterEvent[] } {
  const frameEnd = frame.audioMs + config.frameMs;
  if (state.kind === 'silence') {
    const isSpeech = frame.probability >= config.threshold;
    if (state.candidate === null) {
      if (!isSpeech) return { state, events: [] };
      const candidate = { startMs: frame.audioMs, speechMs: config.frameMs, gapMs: 0 };
      return confirmOrWait(candidate, frameEnd, config);
    }
    if (isSpeech) {
      const c = state.candidate;
      return confirmOrWait({ startMs: c.startMs, speechMs: c.speechMs + config.frameMs, gapMs: 0 }, frameEnd, config);
    }
    const gapMs = state.candidate.gapMs + config.frameMs;
    if (gapMs > config.onsetGapMs) return { state: INITIAL_SEGMENTER_STATE, events: [] };
    return { state: { kind: 'silence', candidate: { ...state.candidate, gapMs } }, events: [] };
  }

  if (frame.probability >= config.threshold) {
    return { state: { ...state, lastSpeechEndMs: frameEnd, silenceMs: 0 }, events: [] };
  }
  // Between the two thresholds: neither extends the speech nor counts as silence.
  if (frame.probability >= config.negativeThreshold) return { state, events: [] };
  const silenceMs = state.silenceMs + config.frameMs;
  if (silenceMs < config.hangoverMs) return { state: { ...state, silenceMs }, events: [] };
  return { state: INITIAL_SEGMENTER_STATE, events: [endEvent(state.startMs, state.lastSpeechEndMs, config)] };
}

function confirmOrWait(
  candidate: { startMs: number; speechMs: number; gapMs: number },
  frameEnd: number,
  config: Resolved,
): { state: SegmenterState; events: SegmenterEvent[] } {
  if (candidate.speechMs < config.onsetConfirmMs || candidate.speechMs === 0) {
    return { state: { kind: 'silence', candidate }, events: [] };
  }
  const startMs = Math.max(0, candidate.startMs - config.onsetLeadMs);
  return {
    state: { kind: 'speaking', startMs, lastSpeechEndMs: frameEnd, silenceMs: 0 },
    events: [{ type: 'speech_start', audioMs: startMs }],
  };
}

function endEvent(startMs: number, endMs: number, config: Resolved): SegmenterEvent {
  const durationMs = endMs - startMs;
  return durationMs >= config.minSpeechMs
    ? { type: 'speech_end', audioMs: endMs, durationMs }
    : { type: 'speech_discarded', audioMs: endMs, durationMs };
}

/** Owner of one stream's segmenter state. */
export class UtteranceSegmenter {
  readonly config: Resolved;
  private state: SegmenterState = INITIAL_SEGMENTER_STATE;

  constructor(config: SegmenterConfig = {}) {
    this.config = SegmenterConfigSchema.parse(config);
  }

  get speaking(): boolean {
    return this.state.kind === 'speaking';
  }

  push(frame: SegmenterFrame): SegmenterEvent[] {
    const next = stepSegmenter(this.state, frame, this.config);
    this.state = next.state;
    return next.events;
  }

  /** End of stream: closes an open utterance at its last speech frame. */
  flush(): SegmenterEvent[] {
    const s = this.state;
    this.state = INITIAL_SEGMENTER_STATE;
    return s.kind === 'speaking' ? [endEvent(s.startMs, s.lastSpeechEndMs, this.config)] : [];
  }

  reset(): void {
    this.state = INITIAL_SEGMENTER_STATE;
  }
}
