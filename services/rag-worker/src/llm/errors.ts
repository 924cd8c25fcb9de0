export type LlmErrorCode =
  /** The caller's AbortSignal fired. */
  | 'aborted'
  /** No first token / no chunk / no completion within the configured budget. */
  | 'timeout'
  /** 429 from the server. */
  | 'rate_limited'
  /** Any other non-2xx status. */
  | 'http'
  /** Connection refused/reset, DNS, TLS. */
  | 'network'
  /** 2xx but not the chat-completions protocol (bad JSON, an `error` event, no choices). */
  | 'bad_response';

export class LlmError extends Error {
  readonly code: LlmErrorCode;
  readonly retryable: boolean;
  readonly status: number | undefined;
  /** How many HTTP attempts were made before giving up. */
  attempts = 1;
  constructor(code: LlmErrorCode, message: string, opts: { retryable: boolean; status?: number; cause?: unknown }) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'LlmError';
    this.code = code;
    this.retryable = opts.retryable;
    this.status = opts.status;
  }
}
