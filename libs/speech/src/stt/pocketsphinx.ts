// Offline speech-to-text with CMU PocketSphinx (Debian's libpocketsphinx3) through koffi.
// Accuracy comes from mixing a small call-center trigram LM (0.7) with the stock general
// English LM (0.3) at run time via sphinxbase's ngram_model_set_init: the CLI cannot weight LMs.
import { existsSync, statSync } from 'node:fs';
import { z } from 'zod';
import { SpeechError, silentLogger, type SpeechLogger } from '../errors';
import { concatPcm } from '../audio/frames';
import { DEFAULT_MODEL_PATHS } from './model-files';
import { loadPocketSphinx, NGRAM_AUTO, type PocketSphinxLib, type Ptr } from './pocketsphinx-ffi';
import type { SttProvider, SttResult, SttUtterance } from './types';

/**
 * Search settings used unless decoderArgs says otherwise. Stock PocketSphinx keeps up to 30 000
 * HMMs active per frame and runs its second (fwdflat) pass with beams of 1e-64 / 7e-29; on this
 * box the final pass is on the voice-to-voice path (STT_EARLY_FINAL_MS) and two calls ending
 * together decode at once. Measured interleaved on 90 utterances (flite slt, kal16, festival HTS):
 * the same 90 transcripts, final pass −22 % (median 68 → 54 ms), streaming push −12 %.
 * Narrower still (-maxhmmpf 3000, -topn 2, -fwdflat no) changed 2–4 of the 90 transcripts.
 */
export const FAST_SEARCH_ARGS: Readonly<Record<string, string>> = {
  '-maxhmmpf': '10000',
  '-fwdflatbeam': '1e-48',
  '-fwdflatwbeam': '1e-20',
};

export const PocketSphinxConfigSchema = z.object({
  /** Acoustic model directory (mdef, means, ...). */
  modelDir: z.string().min(1).default(DEFAULT_MODEL_PATHS.acousticModel),
  /** Pronunciation dictionary; must cover both LMs' words (the stock cmudict does). */
  dict: z.string().min(1).default(DEFAULT_MODEL_PATHS.dict),
  lm: z
    .object({
      general: z.string().min(1).default(DEFAULT_MODEL_PATHS.generalLm),
      /** Domain LM (ARPA or binary); null decodes with the general LM alone. */
      domain: z.string().min(1).nullable().default(DEFAULT_MODEL_PATHS.domainLm),
      domainWeight: z.number().gt(0).lt(1).default(0.7),
    })
    .prefault({}),
  /** BCP-47 tag; the stock model is US English. */
  language: z.string().min(2).default('en-US'),
  sampleRate: z.literal(16000).default(16000),
  pool: z
    .object({
      /** Decoders created (off the event loop) before the factory resolves. */
      warm: z.number().int().min(0).default(1),
      /** Concurrent utterances at most; each holds one decoder (~130 MB). */
      max: z.number().int().min(1).default(4),
      /** Keep one idle decoder ready, created in the background when the last idle one is taken. */
      keepSpare: z.boolean().default(true),
    })
    .prefault({}),
  /** Extra decoder options, e.g. { '-vad_threshold': '3.5' }; they override FAST_SEARCH_ARGS. */
  decoderArgs: z.record(z.string(), z.string()).default({}),
  libraries: z
    .object({
      pocketsphinx: z.string().default('libpocketsphinx.so.3'),
      sphinxbase: z.string().default('libsphinxbase.so.3'),
    })
    .prefault({}),
  /** Where sphinxbase logs go; null silences it (the library logs to stderr by default). */
  logFile: z.string().nullable().default(null),
});
export type PocketSphinxConfig = z.input<typeof PocketSphinxConfigSchema>;
type ResolvedConfig = z.output<typeof PocketSphinxConfigSchema>;

export type LmMode = 'mixed' | 'general';

export interface PocketSphinxEngine extends SttProvider {
  /** 'general' when mixing failed (or no domain LM was configured) and the stock LM is used alone. */
  readonly lmMode: LmMode;
  stats(): { decoders: number; idle: number; inUse: number; creating: number };
}

interface Decoder {
  readonly ps: Ptr;
  readonly cfg: Ptr;
  readonly lmath: Ptr;
}

function requireFile(path: string, what: string, dir = false): void {
  const ok = existsSync(path) && (dir ? statSync(path).isDirectory() : statSync(path).isFile());
  if (!ok) {
    throw new SpeechError(
      'MODEL_MISSING',
      `${what} not found at ${path} (Debian: apt-get install pocketsphinx-en-us libpocketsphinx3)`,
    );
  }
}

function languageMatches(engine: string, requested: string): boolean {
  const primary = (tag: string): string => tag.toLowerCase().split(/[-_]/)[0] ?? '';
  return primary(engine) === primary(requested);
}

export async function createPocketSphinxEngine(
  input: PocketSphinxConfig = {},
  deps: { logger?: SpeechLogger } = {},
): Promise<PocketSphinxEngine> {
  const parsed = PocketSphinxConfigSchema.safeParse(input);
  if (!parsed.success) throw new SpeechError('CONFIG_INVALID', `invalid PocketSphinx config: ${parsed.error.message}`);
  const config: ResolvedConfig = parsed.data;
  const log = deps.logger ?? silentLogger;
  requireFile(config.modelDir, 'acoustic model directory', true);
  requireFile(`${config.modelDir}/mdef`, 'acoustic model definition (mdef)');
  requireFile(config.dict, 'pronunciation dictionary');
  requireFile(config.lm.general, 'general language model');
  if (config.lm.domain !== null) requireFile(config.lm.domain, 'domain language model');
  if (config.pool.warm > config.pool.max) {
    throw new SpeechError('CONFIG_INVALID', `pool.warm (${config.pool.warm}) exceeds pool.max (${config.pool.max})`);
  }

  let lib: PocketSphinxLib;
  try {
    lib = loadPocketSphinx(config.libraries);
  } catch (cause) {
    throw new SpeechError('ENGINE_INIT_FAILED', `cannot load libpocketsphinx through koffi: ${String(cause)}`, false, {
      cause,
    });
  }
  // Process-wide in sphinxbase: set once here rather than per decoder (`-logfn` would reopen
  // the log file from worker threads while other decoders may be logging).
  if (config.logFile === null) lib.err_set_logfp(null);
  else lib.err_set_logfile(config.logFile);

  const argv: string[] = [
    '-hmm', config.modelDir,
    '-dict', config.dict,
    '-samprate', String(config.sampleRate),
    ...Object.entries({ ...FAST_SEARCH_ARGS, ...config.decoderArgs }).flat(),
  ];
  // No -lm here: lmSteps() installs the search (mixed, or the general LM alone as fallback),
  // so the general LM is loaded once per decoder, not twice.
  let lmMode: LmMode = config.lm.domain === null ? 'general' : 'mixed';
  let mixWarned = false;

  // Decoder construction is written once as a generator that yields its slow FFI calls; one
  // driver runs them on koffi's worker threads (warm-up, spares), the other inline (slow path).
  type SlowCall = { fn: 'ps_init' | 'ngram_model_read' | 'ps_set_lm'; args: unknown[] };
  function* decoderSteps(): Generator<SlowCall, Decoder, unknown> {
    const cfg = lib.cmd_ln_parse_r(null, lib.ps_args(), argv.length, argv, 0);
    if (!cfg) throw new SpeechError('CONFIG_INVALID', `pocketsphinx rejected the arguments: ${argv.join(' ')}`);
    const ps = (yield { fn: 'ps_init', args: [cfg] }) as Ptr | null;
    if (!ps) {
      lib.cmd_ln_free_r(cfg);
      throw new SpeechError('ENGINE_INIT_FAILED', 'ps_init failed (set logFile in the config to see why)');
    }
    const d: Decoder = { ps, cfg, lmath: lib.ps_get_logmath(ps) };
    try {
      yield* lmSteps(d);
    } catch (err) {
      freeDecoder(d);
      throw err;
    }
    return d;
  }

  function* lmSteps(d: Decoder): Generator<SlowCall, void, unknown> {
    const general = (yield { fn: 'ngram_model_read', args: [d.cfg, config.lm.general, NGRAM_AUTO, d.lmath] }) as Ptr | null;
    if (!general) throw new SpeechError('ENGINE_INIT_FAILED', `cannot read general LM ${config.lm.general}`);
    let lm: Ptr = general;
    if (lmMode === 'mixed' && config.lm.domain !== null) {
      const domain = (yield { fn: 'ngram_model_read', args: [d.cfg, config.lm.domain, NGRAM_AUTO, d.lmath] }) as Ptr | null;
      const w = config.lm.domainWeight;
      // The set takes ownership of its members (frees them with itself).
      const set = domain
        ? lib.ngram_model_set_init(d.cfg, [domain, general], ['domain', 'general'], new Float32Array([w, 1 - w]), 2)
        : null;
      if (set) lm = set;
      else {
        if (domain) lib.ngram_model_free(domain);
        lmMode = 'general';
        if (!mixWarned) {
          mixWarned = true;
          log.warn(
            { domainLm: config.lm.domain, generalLm: config.lm.general },
            'speech: mixing the domain LM with the general LM failed; decoding with the general LM only',
          );
        }
      }
    }
    // ps_set_lm builds the search and keeps its own reference to the LM.
    const rc = (yield { fn: 'ps_set_lm', args: [d.ps, 'lm', lm] }) as number;
    lib.ngram_model_free(lm);
    if (rc !== 0 || lib.ps_set_search(d.ps, 'lm') !== 0) {
      throw new SpeechError('ENGINE_INIT_FAILED', 'installing the language model search failed');
    }
  }

  function runInline<T>(steps: Generator<SlowCall, T, unknown>): T {
    let next = steps.next();
    while (!next.done) {
      const { fn, args } = next.value;
      next = steps.next((lib[fn] as (...a: unknown[]) => unknown)(...args));
    }
    return next.value;
  }

  async function runOffThread<T>(steps: Generator<SlowCall, T, unknown>): Promise<T> {
    let next = steps.next();
    while (!next.done) {
      const { fn, args } = next.value;
      next = steps.next(await lib.async(fn, ...args));
    }
    return next.value;
  }

  function freeDecoder(d: Decoder): void {
    lib.ps_free(d.ps);
    lib.cmd_ln_free_r(d.cfg);
  }

  const idle: Decoder[] = [];
  const inUse = new Set<Decoder>();
  let creating = 0;
  let closed = false;

  const warmed = await Promise.allSettled(Array.from({ length: config.pool.warm }, () => runOffThread(decoderSteps())));
  for (const r of warmed) if (r.status === 'fulfilled') idle.push(r.value);
  const failedWarmup = warmed.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failedWarmup) {
    for (const d of idle.splice(0)) freeDecoder(d);
    throw failedWarmup.reason;
  }

  function addSpare(): void {
    if (!config.pool.keepSpare || closed) return;
    if (idle.length + creating > 0 || idle.length + inUse.size + creating >= config.pool.max) return;
    creating += 1;
    runOffThread(decoderSteps()).then(
      (d) => {
        creating -= 1;
        if (closed) freeDecoder(d);
        else idle.push(d);
      },
      (err: unknown) => {
        creating -= 1;
        log.warn({ err }, 'speech: creating a spare decoder failed');
      },
    );
  }

  function release(d: Decoder): void {
    inUse.delete(d);
    if (closed) freeDecoder(d);
    else idle.push(d);
  }

  function acquire(): Decoder {
    const ready = idle.pop();
    if (ready) return ready;
    if (inUse.size + creating >= config.pool.max) {
      throw new SpeechError('POOL_EXHAUSTED', `all ${config.pool.max} decoders are busy`, true);
    }
    // Slow path: blocks the event loop for a decoder's load time (~0.5-1 s); keepSpare makes it rare.
    log.warn({ inUse: inUse.size }, 'speech: no idle decoder; creating one synchronously');
    return runInline(decoderSteps());
  }

  return {
    name: 'pocketsphinx',
    get lmMode() {
      return lmMode;
    },
    stats: () => ({ decoders: idle.length + inUse.size, idle: idle.length, inUse: inUse.size, creating }),
    startUtterance(opts = {}): SttUtterance {
      if (closed) throw new SpeechError('ENGINE_CLOSED', 'the speech engine is closed');
      if (opts.language !== undefined && !languageMatches(config.language, opts.language)) {
        throw new SpeechError('LANGUAGE_UNSUPPORTED', `language ${opts.language} is not supported (engine: ${config.language})`);
      }
      const d = acquire();
      inUse.add(d);
      addSpare();
      if (lib.ps_start_utt(d.ps) !== 0) {
        release(d);
        throw new SpeechError('DECODE_FAILED', 'ps_start_utt failed', true);
      }
      return createUtterance(lib, d, release);
    },
    close(): void {
      if (closed) return;
      closed = true;
      for (const d of idle.splice(0)) freeDecoder(d);
    },
  };
}

function createUtterance(lib: PocketSphinxLib, d: Decoder, release: (d: Decoder) => void): SttUtterance {
  let done = false;
  let framesSinceHyp = 0;
  let lastPartial = '';
  const scratch = [0];
  // Backlog fed on a koffi worker thread: while it runs, nothing else may touch the decoder, so
  // pushes queue, partial() answers from the last hypothesis, and the end (finish, abort) waits.
  let feeding: Promise<void> | null = null;
  const queued: Int16Array[] = [];
  let feedError: unknown;
  let abortWhenFed = false;
  const end = (): void => {
    done = true;
    lib.ps_end_utt(d.ps);
  };
  const result = (): SttResult => {
    const text = lib.ps_get_hyp(d.ps, scratch) ?? '';
    const confidence = text === '' ? 0 : lib.logmath_exp(d.lmath, lib.ps_get_prob(d.ps));
    return { text, confidence: Number.isFinite(confidence) ? Math.min(1, Math.max(0, confidence)) : 0 };
  };
  const ensureActive = (): void => {
    if (done) throw new SpeechError('UTTERANCE_DONE', 'the utterance has already finished or been aborted');
    if (feedError !== undefined) throw feedError;
  };
  const processNow = (pcm: Int16Array): void => {
    if (lib.ps_process_raw(d.ps, pcm, pcm.length, 0, 0) < 0) {
      throw new SpeechError('DECODE_FAILED', 'ps_process_raw failed', true);
    }
    framesSinceHyp += 1;
  };
  /**
   * Feeds the backlog off-thread in one call (the same words as pushing it chunk by chunk), then
   * what was pushed meanwhile inline, as push() would have; ends the utterance there if abort()
   * came meanwhile. Never rejects: a failure is kept for the next call. One hop only: with the
   * pushes fed off-thread too (a hop per batch, and every utterance's preroll fed this way),
   * finals came 1–2.7 s late in bench/e2e while 6 calls were being opened on saturated cores
   * (likely the decoder falling behind real time, one scheduling wait per hop).
   */
  const feed = async (): Promise<void> => {
    try {
      const backlog = concatPcm(queued.splice(0));
      const rc = await lib.async<number>('ps_process_raw', d.ps, backlog, backlog.length, 0, 0);
      if (rc < 0) throw new SpeechError('DECODE_FAILED', 'ps_process_raw failed', true);
      framesSinceHyp += 1;
      if (!abortWhenFed) for (const pcm of queued.splice(0)) processNow(pcm);
    } catch (err) {
      feedError = err;
      queued.length = 0;
    }
    feeding = null;
    if (abortWhenFed) {
      abortWhenFed = false;
      try {
        end();
      } finally {
        release(d);
      }
    }
  };
  return {
    push(pcm: Int16Array): void {
      ensureActive();
      if (pcm.length === 0) return;
      if (feeding) queued.push(pcm);
      else processNow(pcm);
    },
    pushBacklog(chunks: readonly Int16Array[]): void {
      ensureActive();
      for (const c of chunks) if (c.length > 0) queued.push(c);
      if (!feeding && queued.length > 0) feeding = feed();
    },
    partial(): string {
      ensureActive();
      // Backtracing the best path is cheap but not free: only redo it when audio arrived.
      if (framesSinceHyp > 0 && !feeding) {
        framesSinceHyp = 0;
        lastPartial = lib.ps_get_hyp(d.ps, scratch) ?? '';
      }
      return lastPartial;
    },
    finish(): SttResult {
      ensureActive();
      if (feeding) throw new SpeechError('DECODE_FAILED', 'audio is still being fed on a worker thread: use finishAsync()', true);
      try {
        end();
        return result();
      } finally {
        release(d);
      }
    },
    async finishAsync(): Promise<SttResult> {
      if (done) throw new SpeechError('UTTERANCE_DONE', 'the utterance has already finished or been aborted');
      done = true;
      try {
        while (feeding) await feeding;
        if (feedError !== undefined) throw feedError;
        // The decoder belongs to this utterance alone until release(), so running its final
        // pass on another thread cannot race with other calls on it.
        await lib.async('ps_end_utt', d.ps);
        return result();
      } finally {
        release(d);
      }
    },
    abort(): void {
      if (done) return;
      if (feeding) {
        done = true;
        abortWhenFed = true;
        queued.length = 0;
        return;
      }
      try {
        end();
      } finally {
        release(d);
      }
    },
  };
}
