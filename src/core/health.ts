/**
 * Health as pure state machines, fed events by the active checker
 * (src/health/) and by real traffic (the connector). No timers here: time
 * comes in as `now` arguments, so tests drive them with a fake clock.
 *
 * - Active checks: rise/fall hysteresis. A backend that is up goes down after
 *   `fall` consecutive failed checks; a down one comes up after `rise`
 *   consecutive good checks (HAProxy's `rise`/`fall`, kept as two counters).
 * - Passive circuit breaker: `maxFails` consecutive failed connects on real
 *   traffic open the circuit for `failTimeout`; then it is half-open and lets
 *   one trial connection through: success closes it, failure reopens it with
 *   the timeout doubled, up to CIRCUIT_MAX_TIMEOUT_MS (like Envoy's outlier
 *   ejection backoff).
 */

export const CIRCUIT_MAX_TIMEOUT_MS = 5 * 60_000;

/** Rise/fall state of the active checks of one backend. */
export class CheckState {
  /** What the active checks say. Backends start up (README "Health and failover"). */
  up = true;
  /** Consecutive results against the current state. */
  streak = 0;
  /** The last check's outcome text (`ok`, `connect ECONNREFUSED`, `status 503`...), or null before the first. */
  lastResult: string | null = null;
  lastCheckAt = 0;
  lastDurationMs = 0;

  /**
   * Record one check result. Returns true when `up` changed.
   */
  record(ok: boolean, rise: number, fall: number): boolean {
    if (ok === this.up) {
      this.streak = 0;
      return false;
    }
    this.streak++;
    if (this.streak >= (this.up ? fall : rise)) {
      this.up = ok;
      this.streak = 0;
      return true;
    }
    return false;
  }

  /** Force a state (used when checks are turned off: everything is up). */
  reset(up: boolean): void {
    this.up = up;
    this.streak = 0;
  }
}

export type CircuitState = 'closed' | 'open' | 'half-open';

/** Passive circuit breaker of one backend. */
export class Circuit {
  state: CircuitState = 'closed';
  /** Consecutive failed connects while closed. */
  fails = 0;
  /** When an open circuit becomes half-open (ms, same clock as `now`). */
  openUntil = 0;
  /** The timeout used for the current/last opening (doubles on failed trials). */
  timeoutMs = 0;
  /** A half-open circuit lets exactly one trial connection through at a time. */
  trialInFlight = false;

  /**
   * A connect to this backend failed. Returns true when the circuit opened
   * (the backend leaves the eligible set).
   */
  onFailure(now: number, maxFails: number, failTimeoutMs: number): boolean {
    if (this.state === 'half-open') {
      this.trialInFlight = false;
      this.timeoutMs = Math.min(Math.max(this.timeoutMs, failTimeoutMs) * 2, Math.max(CIRCUIT_MAX_TIMEOUT_MS, failTimeoutMs));
      this.state = 'open';
      this.openUntil = now + this.timeoutMs;
      return true;
    }
    if (this.state === 'open') return false;
    this.fails++;
    if (maxFails > 0 && this.fails >= maxFails) {
      this.state = 'open';
      this.timeoutMs = failTimeoutMs;
      this.openUntil = now + failTimeoutMs;
      this.fails = 0;
      return true;
    }
    return false;
  }

  /** A connect succeeded (a half-open trial, or any connect while closed). Returns true when the circuit closed. */
  onSuccess(): boolean {
    return this.close();
  }

  /** Time passed: an open circuit whose timeout expired becomes half-open. Returns true on change. */
  tick(now: number): boolean {
    if (this.state === 'open' && now >= this.openUntil) {
      this.state = 'half-open';
      this.trialInFlight = false;
      return true;
    }
    return false;
  }

  /** Close unconditionally (an active check saw the backend come up). Returns true on change. */
  close(): boolean {
    this.fails = 0;
    this.trialInFlight = false;
    if (this.state === 'closed') return false;
    this.state = 'closed';
    this.timeoutMs = 0;
    return true;
  }
}
