// Speech engines behind small interfaces: any SttProvider (startUtterance → push / partial /
// finish / finishAsync / abort) can replace the embedded PocketSphinx, e.g. a cloud STT client;
// a deployment registers its factory under a name and selects it with STT_PROVIDER.
import { SpeechError, createPocketSphinxEngine, createVad, type SttProvider, type Vad } from '@switchboard/speech';
import type { SttAdapterConfig } from './config';

/** The logging surface engines need (a pino logger fits; worker threads forward to the main thread's). */
export interface EngineLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export type SttProviderFactory = (config: SttAdapterConfig, log: EngineLog) => Promise<SttProvider>;

export interface SttEngines {
  readonly stt: SttProvider;
  readonly vad: Vad;
  /** Observed decoders in use, when the provider can tell. */
  readonly decodersInUse?: () => number;
  close(): Promise<void>;
}

/** Start-up failure with the variable to fix in the message. */
export class SttStartupError extends Error {
  readonly code: string;
  readonly retryable = false;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export const BUILTIN_STT_PROVIDERS: Readonly<Record<string, SttProviderFactory>> = {
  pocketsphinx: async (c, log) =>
    createPocketSphinxEngine(
      {
        modelDir: c.STT_MODEL_DIR,
        dict: c.STT_DICT,
        lm: { general: c.STT_LM_GENERAL, domain: c.STT_LM_DOMAIN, domainWeight: c.STT_LM_DOMAIN_WEIGHT },
        language: c.STT_LANGUAGE,
        pool: { warm: c.STT_POOL_MAX, max: c.STT_POOL_MAX },
        ...(c.STT_SECOND_PASS === 'off' ? { decoderArgs: { '-fwdflat': 'no' } } : {}),
      },
      { logger: { warn: (o, m) => log.warn(o, m), info: (o, m) => log.info(o, m) } },
    ),
};

const MODEL_VARS: Record<string, string> = {
  pocketsphinx: 'STT_MODEL_DIR / STT_DICT / STT_LM_GENERAL / STT_LM_DOMAIN',
};

export async function createEngines(
  config: SttAdapterConfig,
  log: EngineLog,
  providers: Readonly<Record<string, SttProviderFactory>> = BUILTIN_STT_PROVIDERS,
): Promise<SttEngines> {
  const factory = providers[config.STT_PROVIDER];
  if (!factory) {
    throw new SttStartupError(
      'UNKNOWN_PROVIDER',
      `STT_PROVIDER=${config.STT_PROVIDER} is not registered (known: ${Object.keys(providers).join(', ')})`,
    );
  }
  let vad: Vad;
  try {
    vad = await createVad(config.VAD_MODEL_PATH === '' ? {} : { modelPath: config.VAD_MODEL_PATH });
  } catch (cause) {
    throw new SttStartupError(codeOf(cause), `VAD could not start (check VAD_MODEL_PATH): ${(cause as Error).message}`, { cause });
  }
  let stt: SttProvider;
  try {
    stt = await factory(config, log);
  } catch (cause) {
    await vad.close().catch(() => undefined);
    const hint = MODEL_VARS[config.STT_PROVIDER];
    throw new SttStartupError(
      codeOf(cause),
      `STT provider ${config.STT_PROVIDER} could not start${hint ? ` (check ${hint})` : ''}: ${(cause as Error).message}`,
      { cause },
    );
  }
  const stats = (stt as { stats?: () => { inUse: number; idle: number } }).stats?.bind(stt);
  return {
    stt: stats ? nonBlocking(stt, stats) : stt,
    vad,
    ...(stats ? { decodersInUse: () => stats().inUse } : {}),
    async close() {
      stt.close();
      await vad.close();
    },
  };
}

/**
 * PocketSphinx builds a missing decoder synchronously (measured 1.2-2.4 s of blocked event
 * loop on this box, during which no session's audio moves). The pool is warmed to its maximum
 * at start-up instead, and an utterance that finds no idle decoder gets a retryable
 * POOL_EXHAUSTED: the session keeps the audio and tries again on the next frame.
 */
function nonBlocking(stt: SttProvider, stats: () => { idle: number }): SttProvider {
  return {
    name: stt.name,
    startUtterance(opts) {
      if (stats().idle === 0) throw new SpeechError('POOL_EXHAUSTED', 'no idle decoder', true);
      return stt.startUtterance(opts);
    },
    close: () => stt.close(),
  };
}

function codeOf(err: unknown): string {
  return err instanceof SpeechError ? err.code : 'ENGINE_INIT_FAILED';
}
