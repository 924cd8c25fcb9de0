// Typed CLI errors: each carries the process exit code the user (or a script) sees.

/** Exit codes: 0 ok, 1 usage or unexpected failure, 2 unknown session, 3 orchestrator unreachable. */
export const EXIT = { ok: 0, failure: 1, unknownSession: 2, unreachable: 3 } as const;

export class CliError extends Error {
  constructor(
    readonly code: 'USAGE' | 'UNKNOWN_SESSION' | 'UNREACHABLE' | 'API_ERROR',
    message: string,
    readonly exitCode: number,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string) => new CliError('USAGE', message, EXIT.failure, false);

export const unknownSession = (sessionId: string, via: string) =>
  new CliError('UNKNOWN_SESSION', `unknown session ${sessionId} (the orchestrator at ${via} has no record of it)`, EXIT.unknownSession, false);

export const unreachable = (what: string, target: string, cause: string) =>
  new CliError('UNREACHABLE', `cannot reach the orchestrator's ${what} at ${target}: ${cause}`, EXIT.unreachable, true);

export const apiError = (target: string, message: string) => new CliError('API_ERROR', `orchestrator at ${target}: ${message}`, EXIT.failure, false);
