/** Why a message was refused at a boundary. Never retryable: the same bytes fail again. */
export type ContractErrorCode =
  | 'TOO_LARGE'
  | 'INVALID_UTF8'
  | 'INVALID_JSON'
  | 'UNKNOWN_TYPE'
  | 'PAYLOAD_MISMATCH'
  | 'INVALID_FIELDS'
  | 'INVALID_BINARY';

export class ContractError extends Error {
  readonly retryable = false;
  constructor(
    readonly code: ContractErrorCode,
    message: string,
    readonly issues: readonly string[] = [],
  ) {
    super(issues.length > 0 ? `${message}: ${issues.slice(0, 5).join('; ')}` : message);
    this.name = 'ContractError';
  }
}

export function isContractError(err: unknown): err is ContractError {
  return err instanceof ContractError;
}
