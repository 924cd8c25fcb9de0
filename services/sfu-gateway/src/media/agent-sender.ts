// Agent → caller RTP: one Opus frame per 20 ms clock slot. Speech is upsampled 16→48 kHz and
// encoded at 48 kHz; when there is nothing to say, canned Opus silence frames keep the stream
// alive (if the sender stops, Chromium's concealment keeps "talking" for ~150–300 ms). The RTP
// timestamp advances 960 per slot, sent or skipped; marker on a talkspurt start and after a gap.
import { Encoder } from '@evan/opus';
import type { AgentPlayout, PlayoutEvent } from './agent-playout';
import { FRAME_SAMPLES_16K } from './caller-audio';
import { buildRtp, OPUS_SILENCE_FRAME } from './rtp';

const TS_PER_FRAME = 960; // 20 ms at Opus's 48 kHz RTP clock

export interface AgentSenderOptions {
  playout: AgentPlayout;
  /** Hands one RTP packet to the DirectTransport producer (producer.send). */
  send: (packet: Buffer) => void;
  payloadType: number;
  ssrc: number;
  /** Opus encoder complexity (0–10). Default 5: ~40 % less CPU than 9, same quality for TTS speech. */
  complexity?: number;
  onEvent: (event: PlayoutEvent) => void;
  /** Random start values are RFC 3550's advice; tests may pin them. */
  initialSequence?: number;
  initialTimestamp?: number;
}

export interface AgentSenderStats {
  packets: number;
  speechFrames: number;
  silenceFrames: number;
  skippedSlots: number;
  sendErrors: number;
  encoderResets: number;
}

export interface AgentSender {
  /** One clock slot. */
  onFrame(): void;
  /** `count` slots were too late to send: advance the timestamp, mark the next packet. */
  onSkip(count: number): void;
  readonly stats: Readonly<AgentSenderStats>;
}

/** Linear 16→48 kHz interpolation; the encoder's bandwidth is capped at wideband (8 kHz), which
 *  removes the interpolation images above it. `state.prev` carries the last sample across frames. */
export function upsample16to48(pcm16: Buffer, state: { prev: number }, out: Int16Array): Int16Array {
  let prev = state.prev;
  for (let i = 0; i < FRAME_SAMPLES_16K; i++) {
    const x = pcm16.readInt16LE(i * 2);
    const d = x - prev;
    out[i * 3] = prev + Math.round(d / 3);
    out[i * 3 + 1] = prev + Math.round((2 * d) / 3);
    out[i * 3 + 2] = x;
    prev = x;
  }
  state.prev = prev;
  return out;
}

export function createAgentSender(opts: AgentSenderOptions): AgentSender {
  const encoder = new Encoder({ channels: 1, sample_rate: 48000, application: 'voip' });
  encoder.complexity = (opts.complexity ?? 5) as 5;
  encoder.max_bandwidth = 'wideband';
  const up = { prev: 0 };
  const pcm48 = new Int16Array(FRAME_SAMPLES_16K * 3);
  // The native encoder reads bytes: hand it a byte view of the same memory.
  const pcm48Bytes = new Uint8Array(pcm48.buffer, pcm48.byteOffset, pcm48.byteLength);
  let seq = (opts.initialSequence ?? Math.floor(Math.random() * 0x10000)) & 0xffff;
  let ts = (opts.initialTimestamp ?? Math.floor(Math.random() * 0x100000000)) >>> 0;
  let marker = true;
  // true while the encoder carries state from the speech just sent; false after silence/fade,
  // and then it is reset before the next speech (else speech starts ~40 ms late and ramps slowly).
  let encoderHot = false;
  const stats: AgentSenderStats = { packets: 0, speechFrames: 0, silenceFrames: 0, skippedSlots: 0, sendErrors: 0, encoderResets: 0 };

  return {
    stats,
    onFrame() {
      const next = opts.playout.next();
      let payload: Uint8Array;
      if (next.kind === 'silence') {
        payload = OPUS_SILENCE_FRAME;
        encoderHot = false;
        stats.silenceFrames++;
      } else {
        if (!encoderHot && next.kind === 'speech') {
          encoder.reset();
          up.prev = 0;
          stats.encoderResets++;
          marker = true; // talkspurt start
        }
        upsample16to48(next.pcm, up, pcm48);
        payload = encoder.encode(pcm48Bytes);
        encoderHot = next.kind === 'speech';
        stats.speechFrames++;
      }
      const packet = buildRtp({ payloadType: opts.payloadType, marker, sequenceNumber: seq, timestamp: ts, ssrc: opts.ssrc, payload });
      marker = false;
      seq = (seq + 1) & 0xffff;
      ts = (ts + TS_PER_FRAME) >>> 0;
      try {
        opts.send(packet);
        stats.packets++;
      } catch {
        // The worker/transport is closing; the owner stops the clock. Nothing to recover here.
        stats.sendErrors++;
      }
      for (const e of next.events) opts.onEvent(e);
    },
    onSkip(count) {
      ts = (ts + TS_PER_FRAME * count) >>> 0;
      marker = true;
      stats.skippedSlots += count;
    },
  };
}
