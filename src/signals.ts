/**
 * The signals that stop lb4, the same in a single process, a --workers
 * primary and its workers (README "Logs and exit codes"): each closes the
 * listeners and drains for up to --drain-timeout before exit 0. Handling
 * SIGUSR1 also keeps Node from opening its inspector on it (whoever may
 * signal lb4 could then run code as its user); handling SIGQUIT keeps it
 * from ending lb4 without the drain.
 */
export const STOP_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGUSR1'] as const;

/**
 * Signals held by bin/lb4 until lb4 handles them itself: `release()` stops
 * holding (call it once lb4's own handlers are installed); `held` are the
 * ones that came meanwhile, to be acted on then.
 */
export interface EarlySignals {
  readonly held: readonly string[];
  release(): void;
}
