import { SpeechError } from '../errors';

export interface PcmAudio {
  readonly sampleRate: number;
  /** Mono PCM16 samples (multi-channel input is averaged to mono on read). */
  readonly samples: Int16Array;
}

/** Parses a RIFF/WAVE file with 16-bit PCM data (any channel count), skipping unknown chunks. */
export function readWav(bytes: Uint8Array): PcmAudio {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tag = (at: number): string => String.fromCharCode(...bytes.subarray(at, at + 4));
  if (bytes.byteLength < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') {
    throw new SpeechError('AUDIO_FORMAT', 'not a RIFF/WAVE file');
  }
  let offset = 12;
  let fmt: { format: number; channels: number; sampleRate: number; bits: number } | undefined;
  while (offset + 8 <= bytes.byteLength) {
    const id = tag(offset);
    // flite and sox sometimes write 0 or an oversized length for data in streamed output.
    let size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      fmt = {
        format: view.getUint16(body, true),
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bits: view.getUint16(body + 14, true),
      };
      // WAVE_FORMAT_EXTENSIBLE carries the real format in its sub-format GUID.
      if (fmt.format === 0xfffe && size >= 26) fmt.format = view.getUint16(body + 24, true);
    } else if (id === 'data') {
      if (!fmt) throw new SpeechError('AUDIO_FORMAT', 'WAV data chunk before fmt chunk');
      if (fmt.format !== 1 || fmt.bits !== 16) {
        throw new SpeechError('AUDIO_FORMAT', `only 16-bit PCM WAV is supported (format ${fmt.format}, ${fmt.bits} bits)`);
      }
      if (size === 0 || body + size > bytes.byteLength) size = bytes.byteLength - body;
      const frames = Math.floor(size / (2 * fmt.channels));
      const samples = new Int16Array(frames);
      for (let i = 0; i < frames; i++) {
        let sum = 0;
        for (let c = 0; c < fmt.channels; c++) sum += view.getInt16(body + (i * fmt.channels + c) * 2, true);
        samples[i] = Math.round(sum / fmt.channels);
      }
      return { sampleRate: fmt.sampleRate, samples };
    }
    offset = body + size + (size % 2);
  }
  throw new SpeechError('AUDIO_FORMAT', 'WAV file has no data chunk');
}

/** Encodes mono PCM16 as a canonical 44-byte-header WAV file. */
export function writeWav(audio: PcmAudio): Uint8Array {
  const dataBytes = audio.samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const ascii = (at: number, s: string): void => {
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
  };
  ascii(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, 'WAVE');
  ascii(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, audio.sampleRate, true);
  view.setUint32(28, audio.sampleRate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  ascii(36, 'data');
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < audio.samples.length; i++) view.setInt16(44 + i * 2, audio.samples[i]!, true);
  return out;
}
