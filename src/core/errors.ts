/**
 * Typed errors with stable codes, each described in docs/reference.md
 * ("Error codes"; a unit test checks that every code is). Socket errno
 * mapping lives here and only here.
 */

export type ErrorSide = 'client' | 'backend' | 'internal';

/** Every error code lb4 raises (the native relay's addon throws the last two). */
export const LB_ERROR_CODES = [
  'LB_ERR_CONNECT_REFUSED',
  'LB_ERR_CONNECT_RESET',
  'LB_ERR_CONNECT_TIMEOUT',
  'LB_ERR_CONNECT_UNREACHABLE',
  'LB_ERR_CONNECT_OTHER',
  'LB_ERR_LOCAL_RESOURCE',
  'LB_ERR_USAGE',
  'LB_ERR_LISTEN',
  'LB_ERR_RELAY',
  'LB_ERR_RELAY_ARG',
] as const;

export type LbErrorCode = (typeof LB_ERROR_CODES)[number];

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
  /** Every problem found, one line each (more than one from the library's configFrom()). */
  readonly problems: readonly string[];
  constructor(message: string, problems: readonly string[] = [message]) {
    super('LB_ERR_USAGE', message, 'internal', false);
    this.name = 'UsageError';
    this.problems = problems;
  }
}

/** The listener could not bind: the CLI prints the message and exits 1. */
export class ListenError extends LbError {
  constructor(message: string, errno?: string) {
    super('LB_ERR_LISTEN', message, 'internal', false, errno);
    this.name = 'ListenError';
  }
}

/** What the errno names of system calls mean, in the words the shell uses (strerror). */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EISDIR: 'is a directory',
  ENOTDIR: 'not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'file name too long',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in system',
  EIO: 'input/output error',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ETIMEDOUT: 'timed out',
  EHOSTUNREACH: 'no route to host',
  ENETUNREACH: 'network is unreachable',
  ENOTFOUND: 'name not found',
};

/**
 * A system error in words, for messages to people: `no such file or
 * directory` for ENOENT, `permission denied` for EACCES...; an errno this
 * table does not know is shown as its name, an error without one as its
 * message. Used wherever a file (or a bind) error is reported.
 */
export function systemErrorText(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return ERRNO_TEXT[code] ?? code;
  return err instanceof Error ? err.message : String(err);
}

/** The words and the errno name, `address already in use (EADDRINUSE)`, for errors an operator may search for. */
export function systemErrorTextWithCode(err: unknown): string {
  const text = systemErrorText(err);
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code !== text ? `${text} (${code})` : text;
}

/**
 * Errnos that mean lb4 itself ran short of something (descriptors, socket
 * buffers, memory, local ports), whatever the backend: they never count
 * against a backend (not in `failures`, not toward passive or active health)
 * and are not retried on another backend, which would fail the same way.
 */
const LOCAL_RESOURCE_ERRNOS: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM', 'EADDRNOTAVAIL']);

/** Is `errno` (`EMFILE`...) one of lb4's own resource errors? */
export function isLocalResourceErrno(errno: string | undefined): boolean {
  return errno !== undefined && LOCAL_RESOURCE_ERRNOS.has(errno);
}

/** Is `errno` the process (EMFILE) or the system (ENFILE) out of file descriptors? */
export function isOutOfDescriptors(errno: string | undefined): boolean {
  return errno === 'EMFILE' || errno === 'ENFILE';
}

/**
 * Map a failed backend connect to a typed error. A failure on the backend's
 * side is retryable on another backend: nothing reached the backend yet. One
 * of lb4's own resource errors (isLocalResourceErrno) has side `internal`
 * and is not retryable.
 */
export function connectError(err: NodeJS.ErrnoException | Error | undefined, timedOut: boolean, timeoutMs = 0): LbError {
  if (timedOut) return new LbError('LB_ERR_CONNECT_TIMEOUT', `timeout ${timeoutMs}ms`, 'backend', true, 'ETIMEDOUT');
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (isLocalResourceErrno(errno)) return new LbError('LB_ERR_LOCAL_RESOURCE', `connect ${errno}`, 'internal', false, errno);
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
      return new LbError('LB_ERR_CONNECT_UNREACHABLE', `connect ${errno}`, 'backend', true, errno);
    default:
      return new LbError('LB_ERR_CONNECT_OTHER', `connect ${errno ?? err?.message ?? 'failed'}`, 'backend', true, errno);
  }
}
