// A cheap spectral-shape measure for one 20 ms frame at 16 kHz: how much denser (per Hz) the
// energy is in 4–7.5 kHz than in 100–2000 Hz. Sibilant fricatives ("s", "sh": the onset of
// "stop", "sorry", "shut up") sit up there, 15–35 dB above their low band; broadband noise does
// not (white ≈ 0 dB, pink and brown below 0), nor do voiced sounds. Silero rates those fricatives
// near 0 until the vowel, ~200 ms later, which is why barge-in looks at this too.
const N = 512;

/** Hann window over `len` samples. */
function hann(len: number): Float64Array {
  const w = new Float64Array(len);
  for (let i = 0; i < len; i++) w[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (len - 1));
  return w;
}

const windows = new Map<number, Float64Array>();

/** In-place radix-2 FFT of (re, im), length N. */
function fft(re: Float64Array, im: Float64Array): void {
  for (let i = 1, j = 0; i < N; i++) {
    let bit = N >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= N; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < N; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

/** Mean power per bin in [loHz, hiHz) over mean power per bin in [100, 2000) Hz, in dB. */
export function highBandTiltDb(pcm: Int16Array, sampleRate = 16000, loHz = 4000, hiHz = 7500): number {
  const len = Math.min(pcm.length, N);
  let w = windows.get(len);
  if (!w) windows.set(len, (w = hann(len)));
  const re = new Float64Array(N);
  const im = new Float64Array(N);
  for (let i = 0; i < len; i++) re[i] = pcm[i]! * w[i]!;
  fft(re, im);
  const bin = (hz: number): number => Math.round((hz / sampleRate) * N);
  const band = (a: number, b: number): number => {
    let s = 0;
    for (let k = bin(a); k < bin(b); k++) s += re[k]! * re[k]! + im[k]! * im[k]!;
    return s / Math.max(1, bin(b) - bin(a));
  };
  const hi = band(loHz, hiHz);
  const lo = band(100, 2000);
  if (hi === 0 && lo === 0) return 0;
  return 10 * Math.log10((hi + 1e-9) / (lo + 1e-9));
}
