// The logging surface the media layer needs: pino-compatible (`log.child({ sessionId })` from the
// service fits), with a no-op default so the media layer never needs a logger to run.
export interface MediaLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = (): void => {};

export const noopLogger: MediaLogger = { debug: noop, info: noop, warn: noop, error: noop };
