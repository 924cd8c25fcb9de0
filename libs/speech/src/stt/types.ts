export interface SttResult {
  /** Recognised words, lower-case, space-separated; '' when nothing was recognised. */
  readonly text: string;
  /** Posterior probability of the hypothesis, 0..1 (useful for "could you repeat that"). */
  readonly confidence: number;
}

/** One utterance on one decoder. finish() or abort() returns the decoder to the pool; both are final. */
export interface SttUtterance {
  /** 16 kHz mono PCM16, any chunk size (20 ms frames in practice). */
  push(pcm: Int16Array): void;
  /**
   * Optional: feeds audio already buffered (an utterance's audio from its onset, when a decoder
   * attaches late) off the calling thread; push() calls made meanwhile queue behind it, and
   * partial() returns the previous hypothesis until it is done. Providers without it get push()
   * per chunk.
   */
  pushBacklog?(chunks: readonly Int16Array[]): void;
  /** Best hypothesis so far. */
  partial(): string;
  finish(): SttResult;
  /**
   * Same as finish(), with the final search pass (70-230 ms measured on a loaded 2-core box)
   * run on a koffi worker thread so the event loop keeps serving other streams.
   */
  finishAsync(): Promise<SttResult>;
  /** Idempotent; safe after finish(). */
  abort(): void;
}

export interface SttProvider {
  readonly name: string;
  startUtterance(opts?: { language?: string }): SttUtterance;
  /** Frees idle decoders now and busy ones when their utterance ends. Idempotent. */
  close(): void;
}
