// Speech engines behind small interfaces: any SttProvider (startUtterance → push / partial /
// finish / finishAsync / abort) can replace the embedded PocketSphinx, e.g. a cloud STT client;
// a deployment registers its factory under a name and selects it with STT_PROVIDER.
import { SpeechError, createPocketSphinxEngine, createVad, type SttProvider, type Vad } from '@switchboard/speech';
import type { Logger } from '@switchboard/telemetry';
import type { SttAdapterConfig } from './config';

export type SttProviderFactory = (config: SttAdapterConfig, log: Logger) => Promise<SttProvider>;

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
        pool: { warm: Math.min(c.STT_POOL_WARM, c.STT_POOL_MAX), max: c.STT_POOL_MAX },
      },
      { logger: { warn: (o, m) => log.warn(o, m), info: (o, m) => log.info(o, m) } },
    ),
};

const MODEL_VARS: Record<string, string> = {
  pocketsphinx: 'STT_MODEL_DIR / STT_DICT / STT_LM_GENERAL / STT_LM_DOMAIN',
};

export async function createEngines(
  config: SttAdapterConfig,
  log: Logger,
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
  const stats = (stt as { stats?: () => { inUse: number } }).stats;
  return {
    stt,
    vad,
    ...(stats ? { decodersInUse: () => stats.call(stt).inUse } : {}),
    async close() {
      stt.close();
      await vad.close();
    },
  };
}

function codeOf(err: unknown): string {
  return err instanceof SpeechError ? err.code : 'ENGINE_INIT_FAILED';
}
