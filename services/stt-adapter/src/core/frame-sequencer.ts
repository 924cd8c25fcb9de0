// Puts one session's audio frames back into a gap-free, in-order timeline by their sequence
// numbers: duplicates and late frames are dropped, small reorderings are repaired in a short
// window, and lost frames become silence so VAD and STT keep an unbroken audio clock.
// Pure and synchronous: the shell feeds it from the subscription callback.

export interface SeqFrame {
  readonly seq: number;
  /** Start of the frame on the session's audio clock (gateway: seq × 20). */
  readonly audioMs: number;
  readonly samples: Int16Array;
}

export interface SequencedFrame {
  readonly seq: number;
  readonly audioMs: number;
  readonly samples: Int16Array;
  /** true for silence inserted in place of a lost frame */
  readonly filled: boolean;
  /** The timeline jumped before this frame (a hole too long to fill): the utterance ends here. */
  readonly afterJump: boolean;
}

/** stale: older than what was already played out (a late frame or a duplicate of a played one). */
export type SequencerOutcome = 'accepted' | 'duplicate' | 'stale' | 'discontinuity';

export interface SequencerResult {
  readonly outcome: SequencerOutcome;
  /** Frames now ready, in order (may include filled silence). */
  readonly frames: readonly SequencedFrame[];
  /** Silence frames inserted by this push. */
  readonly filled: number;
}

export interface FrameSequencerOptions {
  /** Frames held back waiting for a missing one before it is declared lost. */
  readonly reorderWindow: number;
  /** A hole of at most this many frames is filled with silence; a longer one is a discontinuity. */
  readonly maxFillFrames: number;
  readonly frameMs: number;
  readonly frameSamples: number;
}

export class FrameSequencer {
  readonly #o: FrameSequencerOptions;
  #next: number | undefined;
  /** The audio time that `#next` should carry (for filling silence). */
  #nextAudioMs = 0;
  #jumped = false;
  readonly #pending = new Map<number, SeqFrame>();

  constructor(opts: FrameSequencerOptions) {
    this.#o = opts;
  }

  get pending(): number {
    return this.#pending.size;
  }

  push(frame: SeqFrame): SequencerResult {
    if (this.#next === undefined) {
      this.#next = frame.seq;
      this.#nextAudioMs = frame.audioMs;
    }
    if (frame.seq < this.#next) return { outcome: 'stale', frames: [], filled: 0 };
    if (this.#pending.has(frame.seq)) return { outcome: 'duplicate', frames: [], filled: 0 };
    this.#pending.set(frame.seq, frame);
    const out: SequencedFrame[] = [];
    this.#drain(out);
    let filled = 0;
    let jumped = false;
    // Still waiting for a missing frame while the window is full: give up on it.
    while (this.#pending.size > this.#o.reorderWindow) {
      const r = this.#skipHole(out);
      filled += r.filled;
      jumped ||= r.jumped;
    }
    return { outcome: jumped ? 'discontinuity' : 'accepted', frames: out, filled };
  }

  /** Stop waiting for missing frames (the stream went quiet): release everything held. */
  flush(): SequencerResult {
    const out: SequencedFrame[] = [];
    let filled = 0;
    let jumped = false;
    while (this.#pending.size > 0) {
      const r = this.#skipHole(out);
      filled += r.filled;
      jumped ||= r.jumped;
    }
    return { outcome: jumped ? 'discontinuity' : 'accepted', frames: out, filled };
  }

  #skipHole(out: SequencedFrame[]): { filled: number; jumped: boolean } {
    const lowest = Math.min(...this.#pending.keys());
    const missing = lowest - this.#next!;
    let filled = 0;
    let jumped = false;
    if (missing <= this.#o.maxFillFrames) {
      for (let i = 0; i < missing; i++) this.#emit(out, this.#next!, this.#nextAudioMs, new Int16Array(this.#o.frameSamples), true);
      filled = missing;
    } else {
      jumped = true;
      this.#jumped = true;
      this.#next = lowest;
      this.#nextAudioMs = this.#pending.get(lowest)!.audioMs;
    }
    this.#drain(out);
    return { filled, jumped };
  }

  #drain(out: SequencedFrame[]): void {
    for (let f = this.#pending.get(this.#next!); f !== undefined; f = this.#pending.get(this.#next!)) {
      this.#pending.delete(f.seq);
      this.#emit(out, f.seq, f.audioMs, f.samples, false);
    }
  }

  #emit(out: SequencedFrame[], seq: number, audioMs: number, samples: Int16Array, filled: boolean): void {
    out.push({ seq, audioMs, samples, filled, afterJump: this.#jumped });
    this.#jumped = false;
    this.#next = seq + 1;
    this.#nextAudioMs = audioMs + this.#o.frameMs;
  }
}
