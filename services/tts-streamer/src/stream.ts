// From synthesized PCM chunks (one per sentence, as the engine produces them) to paced 20 ms
// frames. No NATS here: `emit` is given the frame and publishes it. Frames go out as soon as the
// first sentence exists, ahead of the wall clock by at most `aheadMs`, so a cancel stops audio
// that has not been played yet; the signal is checked right before every frame.
import { performance } from 'node:perf_hooks';

export const FRAME_MS = 20;

/** Splits a stream of PCM chunks into whole 20 ms frames; `flush` pads the tail with silence. */
export class FrameSplitter {
  readonly #size: number;
  #pending: Int16Array;
  #fill = 0;

  get frameSamples(): number {
    return this.#size;
  }

  constructor(sampleRate: number) {
    this.#size = (sampleRate * FRAME_MS) / 1000;
    if (!Number.isInteger(this.#size) || this.#size <= 0) throw new RangeError(`sample rate ${sampleRate} has no whole 20 ms frame`);
    this.#pending = new Int16Array(this.#size);
  }

  push(chunk: Int16Array): Int16Array[] {
    const out: Int16Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.#size - this.#fill, chunk.length - at);
      this.#pending.set(chunk.subarray(at, at + take), this.#fill);
      this.#fill += take;
      at += take;
      if (this.#fill === this.#size) {
        out.push(this.#pending);
        this.#pending = new Int16Array(this.#size);
        this.#fill = 0;
      }
    }
    return out;
  }

  /** The partial last frame, zero-padded; undefined when there is none. */
  flush(): Int16Array | undefined {
    if (this.#fill === 0) return undefined;
    const f = this.#pending;
    this.#pending = new Int16Array(this.#size);
    this.#fill = 0;
    return f;
  }
}

/** When frame `seq` may be published: its play time (anchor + seq × 20 ms) minus the lead. */
export function frameDueAt(anchorMs: number, seq: number, aheadMs: number): number {
  return anchorMs + seq * FRAME_MS - aheadMs;
}

export interface OutFrame {
  seq: number;
  /** Offset of this frame in the utterance. */
  audioMs: number;
  pcm: Buffer;
  last: boolean;
  /** Unix ms at publish. */
  capturedAt: number;
}

export interface StreamResult {
  frames: number;
  audioMs: number;
  cancelled: boolean;
  /** Stopped because a frame came due `maxLateMs` ago: this process was frozen (see StreamOptions). */
  frozen?: boolean;
  /** Unix ms of the first frame, when there was one. */
  firstFrameAt?: number;
}

export interface StreamOptions {
  sampleRate: number;
  aheadMs: number;
  signal: AbortSignal;
  /** Publishes one frame (synchronously: the hot path is a core NATS publish). */
  emit(frame: OutFrame): void;
  /** Called once, right after the first frame went out. */
  onFirstFrame?(at: number): void;
  /**
   * Frames before this one are not sent (they went out from another replica that died). A
   * function is read when the first frame is due, so it may be settled while the engine synthesizes.
   */
  startSeq?: number | (() => number);
  /**
   * A frame this late means the process was frozen (SIGSTOP, a stalled VM) long enough for the
   * speak to be redelivered to another replica, which continues the utterance: stop sending.
   */
  maxLateMs?: number;
  /**
   * Checked before every frame: false means this delivery may be with another replica already
   * (the process was frozen past the ack_wait before its first frame, which maxLateMs cannot
   * see: there is no anchor yet). Stops like a frozen stream.
   */
  stillOwned?: () => boolean;
  now?: () => number;
}

/** Streams `chunks` as paced frames; the final frame carries last=true unless cancelled. */
export async function streamFrames(chunks: AsyncIterable<Int16Array>, opts: StreamOptions): Promise<StreamResult> {
  const now = opts.now ?? (() => performance.now());
  const splitter = new FrameSplitter(opts.sampleRate);
  const { signal } = opts;
  let seq = 0;
  let anchor: number | undefined;
  let firstFrameAt: number | undefined;
  // One frame is held back: only when the next one exists (or the source ended) is it known
  // whether it is the last.
  let held: Int16Array | undefined;
  let frozen = false;
  const startSeqOf = (): number => (typeof opts.startSeq === 'function' ? opts.startSeq() : (opts.startSeq ?? 0));

  async function send(pcm: Int16Array, last: boolean): Promise<boolean> {
    if (seq < startSeqOf()) {
      seq++;
      return !signal.aborted;
    }
    if (anchor !== undefined) {
      const wait = frameDueAt(anchor, seq, opts.aheadMs) - now();
      if (wait > 1) await sleep(wait, signal);
    }
    if (signal.aborted) return false;
    if (anchor !== undefined && opts.maxLateMs !== undefined && now() - frameDueAt(anchor, seq, opts.aheadMs) > opts.maxLateMs) {
      frozen = true;
      return false;
    }
    if (opts.stillOwned && !opts.stillOwned()) {
      frozen = true;
      return false;
    }
    const capturedAt = Date.now();
    // A resumed stream is paced from its first frame sent, as if the skipped ones had just played.
    if (anchor === undefined) anchor = now() - seq * FRAME_MS;
    opts.emit({ seq, audioMs: seq * FRAME_MS, pcm: Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), last, capturedAt });
    seq++;
    if (firstFrameAt === undefined) {
      firstFrameAt = capturedAt;
      opts.onFirstFrame?.(capturedAt);
    }
    return true;
  }

  const result = (cancelled: boolean): StreamResult => ({
    frames: seq,
    audioMs: seq * FRAME_MS,
    cancelled,
    ...(frozen ? { frozen } : {}),
    ...(firstFrameAt !== undefined ? { firstFrameAt } : {}),
  });

  for await (const chunk of prefetch(chunks, signal)) {
    for (const frame of splitter.push(chunk)) {
      if (held && !(await send(held, false))) return result(true);
      held = frame;
    }
  }
  if (signal.aborted) return result(true);
  const tail = splitter.flush();
  if (held && !(await send(held, tail === undefined))) return result(true);
  if (tail && !(await send(tail, true))) return result(true);
  // Resumed, and nothing was left to send: every frame went out before (the previous replica died
  // between its last audio frame and the end marker, or this synthesis came out a frame shorter).
  // The end still needs its last frame, or playback never ends (found by the 100-kill run: the call
  // waited for its playback timeout). A silent frame after the last one sent carries it.
  const startSeq = startSeqOf();
  if (startSeq > 0 && firstFrameAt === undefined) {
    seq = Math.max(seq, startSeq);
    if (!(await send(new Int16Array(splitter.frameSamples), true))) return result(true);
  }
  return result(false);
}

/**
 * Pulls the source ahead of the consumer, so the next sentence is synthesized while the current
 * one is paced out (synthesis is ~40× faster than real time). At most `depth` items wait in the
 * buffer: the engine synthesizes one sentence at a time for every call on this replica, and a
 * deeper lookahead would put this call's later sentences in front of other calls' first ones.
 */
export function prefetch<T>(source: AsyncIterable<T>, signal: AbortSignal, depth = 1): AsyncIterable<T> {
  const buffer: T[] = [];
  let finished = false;
  let failure: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  let space: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
    const s = space;
    space = undefined;
    s?.();
  };
  void (async () => {
    try {
      for await (const item of source) {
        buffer.push(item);
        notify();
        while (buffer.length >= depth && !signal.aborted) await new Promise<void>((resolve) => (space = resolve));
        if (signal.aborted) break;
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      notify();
    }
  })();
  signal.addEventListener('abort', notify, { once: true });
  return {
    async *[Symbol.asyncIterator](): AsyncGenerator<T> {
      try {
        for (;;) {
          if (signal.aborted) return;
          if (buffer.length > 0) {
            const next = buffer.shift() as T;
            notify(); // room for the next one
            yield next;
            continue;
          }
          if (failure) throw failure.error;
          if (finished) return;
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        signal.removeEventListener('abort', notify);
      }
    },
  };
}

/** Resolves after `ms`, or at once when the signal aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
