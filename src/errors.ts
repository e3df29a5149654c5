// Error codes shared by every layer. Outcomes (duplicate, quarantined, suppressed) are values, not errors:
// an IntakeError means the work itself could not be done.
export type ErrorCode =
  | 'CONFIG' // bad setting or campaign file: exit 2
  | 'USAGE' // bad command line: exit 2
  | 'DB' // database unreachable or failed
  | 'DB_LOCKED' // embedded database held by a process we cannot reach
  | 'IMAP' // inbox protocol or connection failure
  | 'SMTP' // outgoing mail refused our login: sending paused
  | 'STORE' // raw message could not be made durable
  | 'PARSE' // a message could not be parsed (after budgets)
  | 'NOT_FOUND'
  | 'INVALID' // a request the current state does not allow (approving twice, no story yet)
  | 'INTERNAL';

export class IntakeError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;
  /** For loops: wait at least this long before trying again. */
  readonly retryAfterMs?: number;
  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown>; retryAfterMs?: number } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = 'IntakeError';
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.details = opts.details;
    this.retryAfterMs = opts.retryAfterMs;
  }
}

/** Exit code of the command-line contract: 2 for usage and configuration, 1 for everything else. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof IntakeError && (err.code === 'CONFIG' || err.code === 'USAGE')) return 2;
  return 1;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
