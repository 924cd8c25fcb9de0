// Test audio made with real synthesizers (flite voices, festival HTS) and sox, as 16 kHz mono
// PCM16. espeak-ng is deliberately absent: its speech is too robotic for recognition tests.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readWav, type PcmAudio } from '../audio/wav';
import { resample } from '../audio/resample';
import { concatPcm } from '../audio/frames';

const run = promisify(execFile);

export type FixtureVoice = 'flite:slt' | 'flite:kal16' | 'flite:rms' | 'flite:awb' | 'festival:slt-hts';

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'speech-fixture-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function loadAs16k(path: string): Promise<PcmAudio> {
  const audio = readWav(await readFile(path));
  return audio.sampleRate === 16000 ? audio : { sampleRate: 16000, samples: resample(audio.samples, audio.sampleRate, 16000) };
}

export async function hasCommand(cmd: string, args: string[] = ['--help']): Promise<boolean> {
  try {
    await run(cmd, args, { timeout: 10_000 });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** Speaks `text` with a real synthesizer; 16 kHz mono. */
export async function synthesizeFixture(text: string, voice: FixtureVoice): Promise<PcmAudio> {
  return withTempDir(async (dir) => {
    const out = join(dir, 'out.wav');
    if (voice.startsWith('flite:')) {
      await run('flite', ['-voice', voice.slice('flite:'.length), '-t', text, '-o', out], { timeout: 30_000 });
    } else {
      const txt = join(dir, 'in.txt');
      await writeFile(txt, text);
      await run('text2wave', ['-eval', '(voice_cmu_us_slt_arctic_hts)', '-o', out, txt], { timeout: 60_000 });
    }
    return loadAs16k(out);
  });
}

/** sox-generated noise (pink by default) at roughly `dbfs` RMS. */
export async function noiseFixture(durationMs: number, opts: { color?: 'pink' | 'white' | 'brown'; gainDb?: number } = {}): Promise<PcmAudio> {
  return withTempDir(async (dir) => {
    const out = join(dir, 'noise.wav');
    await run(
      'sox',
      ['-n', '-r', '16000', '-c', '1', '-b', '16', out, 'synth', String(durationMs / 1000), `${opts.color ?? 'pink'}noise`, 'vol', String(opts.gainDb ?? -20), 'dB'],
      { timeout: 30_000 },
    );
    return loadAs16k(out);
  });
}

export function silence(durationMs: number, sampleRate = 16000): PcmAudio {
  return { sampleRate, samples: new Int16Array(Math.round((durationMs * sampleRate) / 1000)) };
}

/** Joins clips of the same rate (e.g. silence + speech + silence with known lengths). */
export function concatAudio(...clips: PcmAudio[]): PcmAudio {
  const sampleRate = clips[0]?.sampleRate ?? 16000;
  if (clips.some((c) => c.sampleRate !== sampleRate)) throw new RangeError('concatAudio: clips differ in sample rate');
  const samples = concatPcm(clips.map((c) => c.samples));
  return { sampleRate, samples };
}

/** Adds `noise` under `audio` (looped if shorter), saturating. */
export function mixAudio(audio: PcmAudio, noise: PcmAudio): PcmAudio {
  const samples = new Int16Array(audio.samples.length);
  for (let i = 0; i < samples.length; i++) {
    const n = noise.samples.length ? noise.samples[i % noise.samples.length]! : 0;
    samples[i] = Math.max(-32768, Math.min(32767, audio.samples[i]! + n));
  }
  return { sampleRate: audio.sampleRate, samples };
}
