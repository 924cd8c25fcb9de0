/** A failure the bus understands: retryable ones are nak'ed with backoff, others dead-lettered. */
export class BusError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'BusError';
  }
}

/** Thrown by a handler to send a message to the DLQ at once (no retries), with a DLQ reason. */
export class PermanentError extends BusError {
  readonly dlqReason: string;
  constructor(code: string, message: string, options?: { cause?: unknown; dlqReason?: string }) {
    super(code, message, false, options);
    this.name = 'PermanentError';
    this.dlqReason = options?.dlqReason ?? 'permanent_error';
  }
}

/**
 * Thrown by a handler that finds its delivery no longer its own (HandlerContext.owned() false):
 * the message is neither acked nor nak'ed — the server has given it, or will give it within
 * ack_wait, to another replica, and a nak now would hand it to yet another one.
 */
export class DeliveryLost extends BusError {
  constructor(message: string) {
    super('delivery_lost', message, true);
    this.name = 'DeliveryLost';
  }
}

export function isRetryable(err: unknown): boolean {
  if (err && typeof err === 'object' && 'retryable' in err) return Boolean((err as { retryable: unknown }).retryable);
  return true; // unknown failures are assumed transient; maxDeliver bounds them
}

export function errorCode(err: unknown): string {
  if (err && typeof err === 'object' && 'code' in err && typeof (err as { code: unknown }).code === 'string') return (err as { code: string }).code;
  return 'HANDLER_FAILED';
}

/** Delay before retry `attempt` (1-based) of work retried in place to keep a key's order: 100 ms doubling, at most 2 s. */
export function inPlaceRetryDelayMs(attempt: number): number {
  return Math.min(2_000, 50 * 2 ** Math.min(attempt, 6));
}
