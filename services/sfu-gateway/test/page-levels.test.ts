import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { levelWindows } from '../src/page/levels';

/** A signal whose value at audio frame f is level(f): what an analyser would hold ending at `end`. */
function history(end: number, length: number, level: (frame: number) => number): Float32Array {
  const h = new Float32Array(length);
  for (let i = 0; i < length; i++) h[i] = level(end - length + i);
  return h;
}

void describe('call page level windows', () => {
  // Loud (0.5) in frames [2048, 3072), silent elsewhere: windows 4 and 5 of 512.
  const level = (f: number): number => (f >= 2048 && f < 3072 ? 0.5 : 0);

  void it('overlapping reads give every window once, in order, at its place on the audio clock', () => {
    let done = 0;
    const seen: { endFrame: number; rms: number }[] = [];
    // Reads at irregular points (a late timer, an early one), each holding the last 4096 frames.
    for (const end of [1000, 2900, 3100, 5000, 5100, 8000]) {
      const r = levelWindows(history(end, 4096, level), end, done, 512);
      seen.push(...r.windows);
      done = r.doneFrame;
    }
    assert.deepEqual(
      seen.map((w) => w.endFrame),
      Array.from({ length: 15 }, (_, i) => (i + 1) * 512),
    );
    const loud = seen.filter((w) => w.rms > 0.4).map((w) => w.endFrame);
    assert.deepEqual(loud, [2560, 3072]);
    assert.ok(Math.abs(seen[4]!.rms - 0.5) < 1e-6);
  });

  void it('windows that left the history before a read are skipped, the rest still on the grid', () => {
    const first = levelWindows(history(1024, 4096, level), 1024, 0, 512);
    assert.equal(first.doneFrame, 1024);
    // The next read comes 10 000 frames later: only the last 4096 are there.
    const late = levelWindows(history(11_024, 4096, level), 11_024, first.doneFrame, 512);
    assert.equal(late.windows[0]!.endFrame, Math.ceil((11_024 - 4096) / 512) * 512 + 512);
    assert.ok(late.windows.every((w) => w.endFrame % 512 === 0 && w.endFrame <= 11_024));
    assert.equal(late.doneFrame, Math.floor(11_024 / 512) * 512);
  });

  void it('a partial window waits for the next read', () => {
    const r = levelWindows(history(700, 4096, level), 700, 0, 512);
    assert.deepEqual(r.windows.map((w) => w.endFrame), [512]);
    assert.equal(r.doneFrame, 512);
    const next = levelWindows(history(1100, 4096, level), 1100, r.doneFrame, 512);
    assert.deepEqual(next.windows.map((w) => w.endFrame), [1024]);
  });
});
