/**
 * Typed errors with stable codes (house rule 4). Socket errno mapping lives
 * here and only here.
 */

export type ErrorSide = 'client' | 'backend' | 'internal';

export type LbErrorCode =
  | 'LB_ERR_CONNECT_REFUSED'
  | 'LB_ERR_CONNECT_RESET'
  | 'LB_ERR_CONNECT_TIMEOUT'
  | 'LB_ERR_CONNECT_UNREACHABLE'
  | 'LB_ERR_CONNECT_OTHER'
  | 'LB_ERR_NO_BACKEND'
  | 'LB_ERR_USAGE'
  | 'LB_ERR_CONFIG'
  | 'LB_ERR_LISTEN';

/** Base class of every error lb4 raises on purpose. */
export class LbError extends Error {
  readonly code: LbErrorCode;
  readonly side: ErrorSide;
  readonly retryable: boolean;
  /** The errno name behind it (`ECONNREFUSED`...), when there is one. */
  readonly errno: string | undefined;
  constructor(code: LbErrorCode, message: string, side: ErrorSide, retryable: boolean, errno?: string) {
    super(message);
    this.name = 'LbError';
    this.code = code;
    this.side = side;
    this.retryable = retryable;
    this.errno = errno;
  }
}

/** A bad flag, env value or config entry: the CLI prints the message and exits 2. */
export class UsageError extends LbError {
  constructor(message: string) {
    super('LB_ERR_USAGE', message, 'internal', false);
    this.name = 'UsageError';
  }
}

/** The listener could not bind: the CLI prints the message and exits 1. */
export class ListenError extends LbError {
  constructor(message: string, errno?: string) {
    super('LB_ERR_LISTEN', message, 'internal', false, errno);
    this.name = 'ListenError';
  }
}

/**
 * Map a failed backend connect to a typed, retryable error. Every connect
 * failure is retryable on another backend: nothing reached the backend yet.
 */
export function connectError(err: NodeJS.ErrnoException | Error | undefined, timedOut: boolean, timeoutMs = 0): LbError {
  if (timedOut) return new LbError('LB_ERR_CONNECT_TIMEOUT', `timeout ${timeoutMs}ms`, 'backend', true, 'ETIMEDOUT');
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (errno) {
    case 'ECONNREFUSED':
      return new LbError('LB_ERR_CONNECT_REFUSED', 'connect ECONNREFUSED', 'backend', true, errno);
    case 'ECONNRESET':
    case 'EPIPE':
      return new LbError('LB_ERR_CONNECT_RESET', `connect ${errno}`, 'backend', true, errno);
    case 'ETIMEDOUT':
      return new LbError('LB_ERR_CONNECT_TIMEOUT', 'connect ETIMEDOUT', 'backend', true, errno);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return new LbError('LB_ERR_CONNECT_UNREACHABLE', `connect ${errno}`, 'backend', true, errno);
    default:
      return new LbError('LB_ERR_CONNECT_OTHER', `connect ${errno ?? err?.message ?? 'failed'}`, 'backend', true, errno);
  }
}
