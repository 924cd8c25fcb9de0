// Signaling failures carry a code the page shows and tests match; none of them is retryable
// on the same socket (the call is ended, the page may start a new one).
export type SignalingErrorCode =
  | 'BAD_JSON'
  | 'BAD_MESSAGE'
  | 'UNKNOWN_TYPE'
  | 'BAD_REQUEST'
  | 'UNKNOWN_TRANSPORT'
  | 'NOT_JOINED'
  | 'ALREADY_JOINED'
  | 'JOIN_TIMEOUT'
  | 'TOKEN_INVALID'
  | 'TOKEN_EXPIRED'
  | 'MESSAGE_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'CAPACITY'
  | 'DRAINING'
  | 'SESSION_NOT_HERE'
  | 'ALIAS_REJECTED'
  | 'MEDIA_FAILED'
  | 'INTERNAL';

export class SignalingError extends Error {
  readonly retryable = false;
  constructor(
    readonly code: SignalingErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}
