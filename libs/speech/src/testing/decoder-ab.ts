// Two PocketSphinx configurations on the same audio, interleaved on this thread (finish() is
// synchronous), with the CPU time of each: the speech test checks the transcripts match, the
// speech bench prints the CPU ratio (CPU time, not wall time, so other processes' load does not
// decide the comparison — but on shared cores it still varies, so it is a figure, not a test).
import { frames20ms } from '../audio/frames';
import type { PocketSphinxEngine } from '../stt/pocketsphinx';

export interface DecoderAbResult {
  /** per clip: the transcript of each side */
  texts: Array<{ a: string; b: string }>;
  cpuMs: { a: { push: number; pass: number }; b: { push: number; pass: number } };
}

export function decoderAb(a: PocketSphinxEngine, b: PocketSphinxEngine, clips: readonly Int16Array[]): DecoderAbResult {
  const cpuMs = { a: { push: 0, pass: 0 }, b: { push: 0, pass: 0 } };
  const ms = (u: NodeJS.CpuUsage): number => (u.user + u.system) / 1000;
  const texts = clips.map((pcm, i) => {
    const text = { a: '', b: '' };
    for (const side of i % 2 ? (['b', 'a'] as const) : (['a', 'b'] as const)) {
      const u = (side === 'a' ? a : b).startUtterance();
      let c = process.cpuUsage();
      for (const f of frames20ms(pcm, 16000)) u.push(f);
      cpuMs[side].push += ms(process.cpuUsage(c));
      c = process.cpuUsage();
      text[side] = u.finish().text;
      cpuMs[side].pass += ms(process.cpuUsage(c));
    }
    return text;
  });
  return { texts, cpuMs };
}

/** Stock values of the options FAST_SEARCH_ARGS narrows (pocketsphinx 5prealpha defaults). */
export const STOCK_SEARCH_ARGS: Readonly<Record<string, string>> = { '-maxhmmpf': '30000', '-fwdflatbeam': '1e-64', '-fwdflatwbeam': '7e-29' };
