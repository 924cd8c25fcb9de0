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
  /**
   * While speaking, a frame at least this many dB below the utterance's loudest frame counts as
   * trailing silence whatever Silero says (needs frame energies; 0 = off). Silero keeps rating
   * the quiet tail of a word as speech for 40–140 ms after its last audible sample (flite "stop":
   * 0.95 at −49/−61 dBFS, then 0.43–0.50 — inside the hysteresis band, where the hangover neither
   * runs nor resets — until 140 ms after the word), and every turn waited that long on top of
   * its hangover. Speech 30 dB under the utterance's peak is at most a weak fricative, which a
   * vowel after it resets; only an utterance's end accumulates it.
   */
  quietReleaseDb: z.number().min(0).default(30),
  /** Shorter segments (start to last speech) end with speech_discarded instead of speech_end. */
  // Above onsetConfirmMs so an onset that only the energy path saw, never confirmed by Silero,
  // ends as speech_discarded (barge-in may have fired; no transcript is produced).
  minSpeechMs: z.number().int().min(0).default(120),
  /** Subtracted from reported onsets to compensate the VAD's detection lag (Silero ~ one window). */
  onsetLeadMs: z.number().int().min(0).default(0),
  /**
   * Fast onset path (needs frame energies): Silero rates fricative onsets ("s" in "stop") low
   * for 100-200 ms. A frame this far above the tracked noise floor whose probability is at least
   * weakThreshold also counts towards an onset (never towards keeping an utterance alive).
   * Measured: sox pink/white/brown noise up to -3 dB stays at or below ~0.15 with most frames
   * under 0.05, so steady noise is excluded by the floor, bursts mostly by the probability.
   */
  energyOnset: z
    .object({
      enabled: z.boolean().default(true),
      minSnrDb: z.number().default(15),
      weakThreshold: z.number().gt(0).lt(1).default(0.07),
      /** Noise floor = lowest 100 ms block energy over this window. */
      floorWindowMs: z.number().int().positive().default(1000),
    })
    .prefault({}),
  /**
   * Sibilant onset path (needs frame energies and `tiltDb`, which callers give only where a fast
   * onset matters: while the mic is GATED, for barge-in). After an utterance Silero's recurrent
   * state rates a following "s" at 0.00 for seconds (measured on a call's decoded audio: "stop"
   * 4.6 s after "How do I reset my password?" stayed < 0.03 until the vowel, 240 ms after the
   * onset), so neither threshold above sees it. A frame this far above the noise floor, this
   * loud, whose 4–7.5 kHz band is this much denser than its 100–2000 Hz band, counts towards an
   * onset. Measured tilt: "s"/"sh" onsets 16–39 dB; white noise −3…+4, pink −13…−7, brown ≤ −17,
   * voiced speech ≤ −8. Like the energy path it never keeps an utterance alive.
   */
  fricativeOnset: z
    .object({
      enabled: z.boolean().default(true),
      minTiltDb: z.number().default(15),
      minSnrDb: z.number().default(20),
      minLevelDb: z.number().default(-50),
    })
    .prefault({}),
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
  /** Frame RMS in dBFS; enables the fast energy onset path. */
  readonly energyDb?: number;
  /** `highBandTiltDb` of the frame; enables the sibilant onset path (with `energyDb`). */
  readonly tiltDb?: number;
}

/** Noise floor tracker: minima of completed 100 ms blocks plus the running block. */
export interface FloorState {
  readonly blocks: readonly number[];
  readonly current: number;
  readonly currentMs: number;
}

export type SegmenterState = { readonly floor: FloorState } & (
  | { readonly kind: 'silence'; readonly candidate: null }
  | { readonly kind: 'silence'; readonly candidate: { readonly startMs: number; readonly speechMs: number; readonly gapMs: number } }
  | {
      readonly kind: 'speaking';
      readonly startMs: number;
      readonly lastSpeechEndMs: number;
      readonly silenceMs: number;
      /** Loudest frame energy since the onset (dBFS; -Infinity without energies). */
      readonly peakDb: number;
    }
);

const EMPTY_FLOOR: FloorState = { blocks: [], current: Infinity, currentMs: 0 };
export const INITIAL_SEGMENTER_STATE: SegmenterState = { kind: 'silence', candidate: null, floor: EMPTY_FLOOR };

const BLOCK_MS = 100;

function trackFloor(floor: FloorState, energyDb: number, frameMs: number, windowMs: number): FloorState {
  const current = Math.min(floor.current, energyDb);
  const currentMs = floor.currentMs + frameMs;
  if (currentMs < BLOCK_MS) return { blocks: floor.blocks, current, currentMs };
  const keep = Math.max(1, Math.round(windowMs / BLOCK_MS));
  return { blocks: [...floor.blocks, current].slice(-keep), current: Infinity, currentMs: 0 };
}

function floorDb(floor: FloorState): number {
  return Math.min(floor.current, ...floor.blocks);
}

export function stepSegmenter(
  prev: SegmenterState,
  frame: SegmenterFrame,
  config: Resolved,
): { state: SegmenterState; events: SegmenterEvent[] } {
  const frameEnd = frame.audioMs + config.frameMs;
  const eo = config.energyOnset;
  // The floor is judged before this frame joins it, so an onset is compared with what preceded it.
  const snrDb = frame.energyDb === undefined || prev.floor.blocks.length === 0 ? -Infinity : frame.energyDb - floorDb(prev.floor);
  const floor = frame.energyDb === undefined ? prev.floor : trackFloor(prev.floor, frame.energyDb, config.frameMs, eo.floorWindowMs);
  const state = { ...prev, floor } as SegmenterState;
  if (state.kind === 'silence') {
    const fo = config.fricativeOnset;
    const isSpeech =
      frame.probability >= config.threshold ||
      (eo.enabled && frame.probability >= eo.weakThreshold && snrDb >= eo.minSnrDb) ||
      (fo.enabled &&
        frame.tiltDb !== undefined &&
        frame.energyDb !== undefined &&
        frame.tiltDb >= fo.minTiltDb &&
        frame.energyDb >= fo.minLevelDb &&
        snrDb >= fo.minSnrDb);
    if (state.candidate === null) {
      if (!isSpeech) return { state, events: [] };
      const candidate = { startMs: frame.audioMs, speechMs: config.frameMs, gapMs: 0 };
      return confirmOrWait(candidate, frameEnd, floor, config, frame.energyDb);
    }
    if (isSpeech) {
      const c = state.candidate;
      return confirmOrWait({ startMs: c.startMs, speechMs: c.speechMs + config.frameMs, gapMs: 0 }, frameEnd, floor, config, frame.energyDb);
    }
    const gapMs = state.candidate.gapMs + config.frameMs;
    if (gapMs > config.onsetGapMs) return { state: { kind: 'silence', candidate: null, floor }, events: [] };
    return { state: { kind: 'silence', candidate: { ...state.candidate, gapMs }, floor }, events: [] };
  }

  const peakDb = frame.energyDb === undefined ? state.peakDb : Math.max(state.peakDb, frame.energyDb);
  const quiet = config.quietReleaseDb > 0 && frame.energyDb !== undefined && frame.energyDb <= peakDb - config.quietReleaseDb;
  // Speech by Silero's rating dates the end of the utterance (its reported boundary stays Silero's);
  // a quiet frame still counts towards the hangover.
  const speech = frame.probability >= config.threshold;
  if (speech && !quiet) return { state: { ...state, peakDb, lastSpeechEndMs: frameEnd, silenceMs: 0 }, events: [] };
  const lastSpeechEndMs = speech ? frameEnd : state.lastSpeechEndMs;
  // Between the two thresholds: neither extends the speech nor counts as silence.
  if (!quiet && frame.probability >= config.negativeThreshold) return { state: { ...state, peakDb }, events: [] };
  const silenceMs = state.silenceMs + config.frameMs;
  if (silenceMs < config.hangoverMs) return { state: { ...state, peakDb, lastSpeechEndMs, silenceMs }, events: [] };
  return { state: { kind: 'silence', candidate: null, floor }, events: [endEvent(state.startMs, lastSpeechEndMs, config)] };
}

function confirmOrWait(
  candidate: { startMs: number; speechMs: number; gapMs: number },
  frameEnd: number,
  floor: FloorState,
  config: Resolved,
  frameEnergyDb: number | undefined,
): { state: SegmenterState; events: SegmenterEvent[] } {
  if (candidate.speechMs < config.onsetConfirmMs || candidate.speechMs === 0) {
    return { state: { kind: 'silence', candidate, floor }, events: [] };
  }
  const startMs = Math.max(0, candidate.startMs - config.onsetLeadMs);
  return {
    state: { kind: 'speaking', startMs, lastSpeechEndMs: frameEnd, silenceMs: 0, peakDb: frameEnergyDb ?? -Infinity, floor },
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

  /** Silence counted towards the hangover so far (0 when not speaking or speech just resumed). */
  get trailingSilenceMs(): number {
    return this.state.kind === 'speaking' ? this.state.silenceMs : 0;
  }

  /** `onsetConfirmMs` overrides the configured one for this frame (e.g. a faster barge-in onset). */
  push(frame: SegmenterFrame, opts?: { onsetConfirmMs?: number }): SegmenterEvent[] {
    const c = opts?.onsetConfirmMs;
    const next = stepSegmenter(this.state, frame, c === undefined || c === this.config.onsetConfirmMs ? this.config : { ...this.config, onsetConfirmMs: c });
    this.state = next.state;
    return next.events;
  }

  /** End of stream: closes an open utterance at its last speech frame. */
  flush(): SegmenterEvent[] {
    const s = this.state;
    this.state = { kind: 'silence', candidate: null, floor: s.floor };
    return s.kind === 'speaking' ? [endEvent(s.startMs, s.lastSpeechEndMs, this.config)] : [];
  }

  reset(): void {
    this.state = INITIAL_SEGMENTER_STATE;
  }
}
