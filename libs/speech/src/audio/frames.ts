/** Samples in a 20 ms frame at this rate (320 at 16 kHz). */
export function samplesPer20ms(sampleRate: number): number {
  const n = (sampleRate * 20) / 1000;
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`sample rate ${sampleRate} has no whole 20 ms frame`);
  return n;
}

/** Joins PCM chunks into one new array (always a copy, even of a single chunk). */
export function concatPcm(chunks: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Splits PCM into 20 ms frames; a short last frame is zero-padded so every frame has equal length. */
export function frames20ms(pcm: Int16Array, sampleRate: number): Int16Array[] {
  const size = samplesPer20ms(sampleRate);
  const frames: Int16Array[] = [];
  for (let at = 0; at < pcm.length; at += size) {
    const frame = new Int16Array(size);
    frame.set(pcm.subarray(at, Math.min(at + size, pcm.length)));
    frames.push(frame);
  }
  return frames;
}

/**
 * Re-chunks a stream of arbitrary PCM chunks into exact 20 ms frames. Owned by one stream;
 * keeps at most one partial frame.
 */
export class FrameChunker {
  private readonly size: number;
  private pending: Int16Array;
  private fill = 0;

  constructor(sampleRate: number) {
    this.size = samplesPer20ms(sampleRate);
    this.pending = new Int16Array(this.size);
  }

  push(chunk: Int16Array): Int16Array[] {
    const out: Int16Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      const take = Math.min(this.size - this.fill, chunk.length - at);
      this.pending.set(chunk.subarray(at, at + take), this.fill);
      this.fill += take;
      at += take;
      if (this.fill === this.size) {
        out.push(this.pending);
        this.pending = new Int16Array(this.size);
        this.fill = 0;
      }
    }
    return out;
  }
}
