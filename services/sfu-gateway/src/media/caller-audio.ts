// Caller → agent: RTP packets from a DirectTransport consumer become exact 20 ms PCM16 frames at
// 16 kHz. The RTP timestamp is the clock: lost, late or DTX'd audio is filled with silence (the
// decoder has no loss concealment here, and STT wants a gap-free timeline), and a stall watchdog
// keeps frames flowing in real time when packets stop altogether.
import type { RtpView } from './rtp';
import { tsDelta } from './rtp';

export const FRAME_MS = 20;
export const SAMPLE_RATE_16K = 16000;
export const FRAME_SAMPLES_16K = 320;
export const FRAME_BYTES_16K = 640;
/** Opus RTP clock ticks (48 kHz) per 16 kHz sample. */
const TS_PER_SAMPLE = 3;

export interface CallerFrame {
  /** +1 per frame from 0; keeps counting while the mic is CLOSED (those frames are not delivered). */
  readonly seq: number;
  /** Offset in the caller's audio clock: seq × 20. */
  readonly audioMs: number;
  readonly sampleRate: 16000;
  /** Exactly 640 bytes: 320 samples PCM16 little-endian mono. */
  readonly pcm: Buffer;
  /** Unix ms when the frame was completed (packet arrival or silence fill). */
  readonly capturedAt: number;
  /** Samples of this frame that are inserted silence (lost/late/stalled audio). */
  readonly filledSamples: number;
}

export interface CallerAudioStats {
  packets: number;
  framesOut: number;
  /** Frames-worth of silence inserted for gaps (timestamp jumps, stalls). */
  filledMs: number;
  lateDropped: number;
  decodeErrors: number;
  gapsTruncated: number;
}

export interface CallerAudioOptions {
  /** Decodes one Opus payload to PCM16 mono at 16 kHz (little-endian bytes). */
  decode: (payload: Buffer) => Uint8Array;
  /** Resets the decoder (new SSRC). */
  resetDecoder: () => void;
  onFrame: (frame: CallerFrame) => void;
  /** After this long without packets, silence frames are produced in real time. Default 200 ms. */
  stallFillMs?: number;
  /** A single timestamp jump is filled with at most this much silence. Default 5000 ms. */
  maxGapFillMs?: number;
  now?: () => number;
}

export interface CallerAudioAssembler {
  /** One RTP packet (already parsed). `arrivalMs` is a monotonic ms clock (performance.now()). */
  onPacket(rtp: RtpView, arrivalMs: number): void;
  /** Called regularly (every 20 ms): produces stall silence when packets stopped arriving. */
  onTick(nowMs: number): void;
  readonly stats: Readonly<CallerAudioStats>;
}

export function createCallerAudioAssembler(opts: CallerAudioOptions): CallerAudioAssembler {
  const stallFillMs = opts.stallFillMs ?? 200;
  const maxGapFillTs = (opts.maxGapFillMs ?? 5000) * 48;
  const now = opts.now ?? Date.now;
  const stats: CallerAudioStats = { packets: 0, framesOut: 0, filledMs: 0, lateDropped: 0, decodeErrors: 0, gapsTruncated: 0 };

  let ssrc: number | undefined;
  let nextTs = 0; // RTP timestamp of the next sample to produce
  let lastProgressMs = 0; // monotonic ms when audio last advanced (packet or stall fill)
  let seq = 0;
  // Pending partial frame.
  let pending = Buffer.alloc(FRAME_BYTES_16K);
  let pendingBytes = 0;
  let pendingFilled = 0;

  function emitIfFull(): void {
    if (pendingBytes < FRAME_BYTES_16K) return;
    const frame: CallerFrame = {
      seq,
      audioMs: seq * FRAME_MS,
      sampleRate: SAMPLE_RATE_16K,
      pcm: pending,
      capturedAt: now(),
      filledSamples: pendingFilled,
    };
    seq++;
    stats.framesOut++;
    pending = Buffer.alloc(FRAME_BYTES_16K);
    pendingBytes = 0;
    pendingFilled = 0;
    opts.onFrame(frame);
  }

  function append(pcm: Uint8Array): void {
    let off = 0;
    while (off < pcm.length) {
      const n = Math.min(FRAME_BYTES_16K - pendingBytes, pcm.length - off);
      pending.set(pcm.subarray(off, off + n), pendingBytes);
      pendingBytes += n;
      off += n;
      emitIfFull();
    }
  }

  function fillSilence(samples: number): void {
    stats.filledMs += samples / 16;
    let left = samples;
    while (left > 0) {
      const n = Math.min(FRAME_SAMPLES_16K - pendingBytes / 2, left);
      pending.fill(0, pendingBytes, pendingBytes + n * 2);
      pendingBytes += n * 2;
      pendingFilled += n;
      left -= n;
      emitIfFull();
    }
  }

  return {
    stats,
    onPacket(rtp, arrivalMs) {
      stats.packets++;
      if (ssrc !== rtp.ssrc) {
        // First packet, or the browser restarted its stream: re-anchor the clock, keep seq.
        ssrc = rtp.ssrc;
        nextTs = rtp.timestamp;
        opts.resetDecoder();
      }
      const ahead = tsDelta(nextTs, rtp.timestamp);
      if (ahead < 0) {
        // Duplicate, reordered, or already covered by stall silence: its slot is in the past.
        stats.lateDropped++;
        return;
      }
      if (ahead > 0) {
        const fillTs = Math.min(ahead, maxGapFillTs);
        if (fillTs < ahead) stats.gapsTruncated++;
        fillSilence(Math.round(fillTs / TS_PER_SAMPLE));
        nextTs = rtp.timestamp;
      }
      let pcm: Uint8Array;
      try {
        pcm = opts.decode(rtp.payload);
      } catch {
        // Corrupt payload: the next packet's timestamp jump fills this slot with silence.
        stats.decodeErrors++;
        return;
      }
      append(pcm);
      nextTs = (nextTs + (pcm.length / 2) * TS_PER_SAMPLE) >>> 0;
      lastProgressMs = arrivalMs;
    },
    onTick(nowMs) {
      if (ssrc === undefined) return; // nothing started yet: no timeline to keep
      while (nowMs - lastProgressMs > stallFillMs + FRAME_MS) {
        fillSilence(FRAME_SAMPLES_16K);
        nextTs = (nextTs + FRAME_SAMPLES_16K * TS_PER_SAMPLE) >>> 0;
        lastProgressMs += FRAME_MS;
      }
    },
  };
}
