// Level windows from an AnalyserNode's time-domain history (the call page's meters), kept apart
// from the page so it can be tested without a browser.

/** RMS of `size`-frame windows on a fixed grid of the audio clock (frame index = time × rate). */
export interface LevelWindow {
  /** Audio frame just after the window's last sample. */
  readonly endFrame: number;
  readonly rms: number;
}

/**
 * The windows in `history` (the newest samples, ending at `endFrame`) that end after `doneFrame`,
 * in order, and the new `doneFrame`. Windows sit on multiples of `size`, so overlapping reads give
 * each window once; a window that left the history before it was read is skipped.
 */
export function levelWindows(history: Float32Array, endFrame: number, doneFrame: number, size: number): { windows: LevelWindow[]; doneFrame: number } {
  const firstFrame = endFrame - history.length;
  const windows: LevelWindow[] = [];
  let w = Math.max(Math.ceil(firstFrame / size), Math.ceil(doneFrame / size)) * size;
  for (; w + size <= endFrame; w += size) {
    let s = 0;
    for (let i = w - firstFrame, n = i + size; i < n; i++) s += history[i]! * history[i]!;
    windows.push({ endFrame: w + size, rms: Math.sqrt(s / size) });
  }
  return { windows, doneFrame: Math.max(doneFrame, w) };
}
