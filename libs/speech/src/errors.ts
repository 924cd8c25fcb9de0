export type SpeechErrorCode =
  | 'CONFIG_INVALID'
  | 'MODEL_MISSING'
  | 'ENGINE_INIT_FAILED'
  | 'ENGINE_CLOSED'
  | 'LANGUAGE_UNSUPPORTED'
  | 'POOL_EXHAUSTED'
  | 'UTTERANCE_DONE'
  | 'DECODE_FAILED'
  | 'SYNTHESIS_FAILED'
  | 'AUDIO_FORMAT';

/** Every failure this package throws: `code` says what, `retryable` whether trying again later can help. */
export class SpeechError extends Error {
  override readonly name = 'SpeechError';
  constructor(
    readonly code: SpeechErrorCode,
    message: string,
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The logging surface this package needs; a pino logger fits. */
export interface SpeechLogger {
  warn(obj: object, msg: string): void;
  info?(obj: object, msg: string): void;
}

export const silentLogger: SpeechLogger = { warn: () => undefined };
