/**
 * Health events: what real traffic (passive) and the active checker say
 * about backends, applied to the pure state machines of src/core/health.ts.
 * This is the one place that logs `backend up` / `backend down`, runs the
 * passive circuit's timers, and rebuilds the pools after a change.
 *
 * Rules (README, "Health"): a backend is down while its active checks say
 * down or its passive circuit is open; --max-fails consecutive failed
 * connects open the circuit for --fail-timeout, then one trial connection
 * decides; an active check transition to up closes the circuit too. lb4's
 * own resource errors (out of descriptors, memory or ports: errors whose
 * side is not `backend`) never count against a backend.
 */
import type { Logger } from 'pino';
import type { Backend } from '../core/backend.js';
import type { LbError } from '../core/errors.js';
import type { Pool } from '../core/pool.js';
import type { Config } from '../config/types.js';
import type { ConnectEvents } from '../stream/services.js';
import { RateLimitedWarning } from '../logger.js';
import type { ProbeResult } from './probes.js';

/** What health events need of the pools: a rebuild of every picker after a change. */
export interface Rebuildable {
  rebuildAll(): void;
}

/** Called after every active check result (metrics: the check duration histogram; workers: the broadcast). */
export type CheckObserver = (b: Backend, r: ProbeResult) => void;

export class HealthEvents implements ConnectEvents {
  private readonly getConfig: () => Config;
  private readonly log: Logger;
  private readonly pools: Rebuildable;
  private readonly circuitTimers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Observers of every active check result. */
  readonly observers: CheckObserver[] = [];
  private readonly outOfDescriptors = new RateLimitedWarning('out of file descriptors');
  private readonly localResourceError = new RateLimitedWarning('local resource error');

  constructor(getConfig: () => Config, log: Logger, pools: Rebuildable) {
    this.getConfig = getConfig;
    this.log = log;
    this.pools = pools;
  }

  connectSucceeded(b: Backend): void {
    if (b.circuit.state === 'closed') {
      b.circuit.fails = 0;
      return;
    }
    this.change(b, 'trial connection succeeded', () => b.circuit.onSuccess());
  }

  connectFailed(pool: Pool, b: Backend, err: LbError): void {
    if (err.side !== 'backend') {
      // lb4's own shortage (EMFILE...): nothing is known about the backend; an undecided circuit trial is freed
      (err.errno === 'EMFILE' || err.errno === 'ENFILE' ? this.outOfDescriptors : this.localResourceError).note(this.log, { reason: err.message, backend: b.name });
      if (b.circuit.state === 'half-open' && b.circuit.trialInFlight) {
        b.circuit.trialInFlight = false;
        pool.rebuild();
      }
      return;
    }
    b.failures++;
    const c = this.getConfig();
    const opened = this.change(b, `${c.maxFails} failed connects (${err.message})`, () => b.circuit.onFailure(Date.now(), c.maxFails, c.failTimeout));
    if (opened) this.scheduleCircuit(b);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ backend: b.name, pool: pool.name, err: err.message, code: err.code }, 'connect failed');
  }

  /** An active check finished: feed the rise/fall machine (an up transition closes the circuit too). */
  checkResult(b: Backend, r: ProbeResult): void {
    b.check.lastResult = r.ok ? 'ok' : r.reason;
    b.check.lastCheckAt = Date.now();
    b.check.lastDurationMs = r.durationMs;
    const c = this.getConfig();
    this.change(b, r.ok ? `${c.rise} good checks` : r.reason, () => {
      const changed = b.check.record(r.ok, c.rise, c.fall);
      if (changed && r.ok) b.circuit.close();
      return changed;
    });
    for (const o of this.observers) o(b, r);
  }

  private scheduleCircuit(b: Backend): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.circuitTimers.delete(t);
      if (b.circuit.tick(Date.now())) this.pools.rebuildAll();
      // Timers run on a monotonic clock and may fire a millisecond before
      // Date.now() reaches openUntil: try again rather than stay open for good.
      else if (b.circuit.state === 'open') this.scheduleCircuit(b);
    }, Math.max(1, b.circuit.openUntil - Date.now()));
    t.unref();
    this.circuitTimers.add(t);
  }

  /**
   * Apply a health event to a backend; log `backend up`/`backend down` when
   * its up/down state changes, rebuild the pools, and remember when it came
   * back (slow start). Returns what `fn` returned.
   */
  change(b: Backend, reason: string, fn: () => boolean): boolean {
    const wasHealthy = b.healthy;
    const changed = fn();
    if (!changed) return false;
    const healthy = b.healthy;
    if (healthy !== wasHealthy) {
      b.noteHealth(!healthy, Date.now());
      if (healthy) {
        b.upSince = Date.now();
        this.log.info({ backend: b.name, reason }, 'backend up');
      } else {
        this.log.warn({ backend: b.name, reason }, 'backend down');
      }
    }
    this.pools.rebuildAll();
    return true;
  }

  /** An active check gave no verdict: lb4 itself was short of descriptors or memory. */
  inconclusive(b: Backend, r: ProbeResult): void {
    if (this.log.isLevelEnabled('debug')) this.log.debug({ backend: b.name, reason: r.reason }, 'health check inconclusive');
  }

  /** Stop the circuit timers (shutdown). */
  stop(): void {
    this.stopped = true;
    for (const t of this.circuitTimers) clearTimeout(t);
    this.circuitTimers.clear();
  }
}
