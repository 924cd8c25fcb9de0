// Typed errors of the media layer: callers branch on `code`, retry only when `retryable`.

export type MediaErrorCode =
  | 'WORKER_BIN_MISSING' // the mediasoup-worker binary is not built (scripts/mediasoup/build-worker.sh)
  | 'WORKER_BIN_MISMATCH' // mediasoup was loaded earlier with another MEDIASOUP_WORKER_BIN
  | 'POOL_NOT_STARTED'
  | 'POOL_STOPPED'
  | 'NO_WORKER' // every worker is dead and none could be respawned yet
  | 'CALL_CLOSED'
  | 'PEER_CLOSED'
  | 'UNKNOWN_TRANSPORT'
  | 'BAD_REQUEST'
  | 'ALREADY_PRODUCING';

const RETRYABLE: ReadonlySet<MediaErrorCode> = new Set(['NO_WORKER']);

export class MediaError extends Error {
  readonly code: MediaErrorCode;
  readonly retryable: boolean;

  constructor(code: MediaErrorCode, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MediaError';
    this.code = code;
    this.retryable = options?.retryable ?? RETRYABLE.has(code);
  }
}
