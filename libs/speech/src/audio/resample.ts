// Windowed-sinc resampler for PCM16. Quality is what speech recognition needs (anti-aliased
// when downsampling, e.g. festival's 32 kHz or 48 kHz WebRTC audio to 16 kHz), not hi-fi.

const HALF_TAPS = 16;

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

export function resample(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return samples.slice();
  if (!(fromRate > 0 && toRate > 0)) throw new RangeError(`invalid sample rates ${fromRate} -> ${toRate}`);
  const ratio = toRate / fromRate;
  // Low-pass at the lower Nyquist frequency when downsampling.
  const cutoff = Math.min(1, ratio);
  const outLength = Math.floor((samples.length * toRate) / fromRate);
  const out = new Int16Array(outLength);
  const halfWidth = HALF_TAPS / cutoff;
  for (let i = 0; i < outLength; i++) {
    const center = i / ratio;
    const first = Math.max(0, Math.ceil(center - halfWidth));
    const last = Math.min(samples.length - 1, Math.floor(center + halfWidth));
    let acc = 0;
    let norm = 0;
    for (let j = first; j <= last; j++) {
      const d = j - center;
      // Hann window over the kernel's support.
      const w = 0.5 + 0.5 * Math.cos((Math.PI * d) / halfWidth);
      const k = cutoff * sinc(cutoff * d) * w;
      acc += samples[j]! * k;
      norm += k;
    }
    const v = norm === 0 ? 0 : acc / norm;
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return out;
}
