/** RMS level of a PCM16 block in dBFS (-inf for digital silence, clamped to -120). */
export function rmsDbfs(pcm: Int16Array): number {
  if (pcm.length === 0) return -120;
  let sum = 0;
  for (let i = 0; i < pcm.length; i++) sum += pcm[i]! * pcm[i]!;
  const rms = Math.sqrt(sum / pcm.length) / 32768;
  return rms === 0 ? -120 : Math.max(-120, 20 * Math.log10(rms));
}

/**
 * Where speech starts and ends in a clean recording, by energy in 10 ms windows: the first and
 * last window within `belowPeakDb` of the loudest window. Used as ground truth for synthesized
 * test audio, the same measurement `sox ... silence` makes.
 */
export function speechBoundsByEnergy(
  pcm: Int16Array,
  sampleRate: number,
  belowPeakDb = 40,
): { startMs: number; endMs: number } | null {
  const win = Math.round(sampleRate / 100);
  const levels: number[] = [];
  for (let at = 0; at + win <= pcm.length; at += win) levels.push(rmsDbfs(pcm.subarray(at, at + win)));
  if (levels.length === 0) return null;
  const peak = Math.max(...levels);
  if (peak <= -90) return null;
  const threshold = peak - belowPeakDb;
  const first = levels.findIndex((l) => l >= threshold);
  let last = levels.length - 1;
  while (last > first && levels[last]! < threshold) last--;
  return { startMs: first * 10, endMs: (last + 1) * 10 };
}
