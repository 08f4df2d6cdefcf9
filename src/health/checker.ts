/**
 * The active health checker: every backend is probed every
 * --health-interval (with ±10% jitter so checks don't march in step), never
 * two checks of one backend at once (the next is scheduled when the last
 * ends), timers unref'd so they never hold the process open. Results go to
 * a CheckTarget (src/health/events.ts applies them to the rise/fall machine).
 * Health checks never go through the picker and never count in a backend's
 * total/active.
 */
import type { Backend } from '../core/backend.js';
import type { Config } from '../config/types.js';
import { probe, type ProbeResult, type ProbeTarget } from './probes.js';

/** What the checker needs: the settings, the backends to check, how to reach one, where results go. */
export interface CheckTarget {
  readonly config: Config;
  backends(): readonly Backend[];
  /** Where and how to reach `b` (upstream TLS, a PROXY header). */
  probeTarget(b: Backend): ProbeTarget;
  checkResult(b: Backend, r: ProbeResult): void;
  /** Optional: a check gave no verdict (lb4 itself was short of descriptors or memory). */
  inconclusive?(b: Backend, r: ProbeResult): void;
}

interface Slot {
  timer: NodeJS.Timeout | null;
  running: boolean;
}

export class HealthChecker {
  private readonly target: CheckTarget;
  private readonly slots = new Map<Backend, Slot>();
  private stopped = false;

  constructor(target: CheckTarget) {
    this.target = target;
  }

  /** Start checking every backend (no-op when checks are off). Safe to call again after a reload. */
  start(): void {
    this.stopped = false;
    this.sync();
  }

  /** Align the schedule with the current backends and settings (after a reload). */
  sync(): void {
    const off = this.target.config.healthCheck.type === 'off';
    const current = new Set(this.target.backends());
    for (const [b, slot] of this.slots) {
      if (off || !current.has(b)) {
        if (slot.timer) clearTimeout(slot.timer);
        this.slots.delete(b);
      }
    }
    if (off || this.stopped) return;
    const interval = this.target.config.healthInterval;
    for (const b of current) {
      if (this.slots.has(b)) continue;
      const slot: Slot = { timer: null, running: false };
      this.slots.set(b, slot);
      // first check soon, spread over a fraction of the interval
      this.schedule(b, slot, Math.floor(Math.random() * Math.min(interval, 200)));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const slot of this.slots.values()) if (slot.timer) clearTimeout(slot.timer);
    this.slots.clear();
  }

  private schedule(b: Backend, slot: Slot, delay: number): void {
    slot.timer = setTimeout(() => this.run(b, slot), delay);
    slot.timer.unref();
  }

  private async run(b: Backend, slot: Slot): Promise<void> {
    slot.timer = null;
    if (this.stopped || slot.running || this.slots.get(b) !== slot) return;
    slot.running = true;
    const c = this.target.config;
    const result = await probe(this.target.probeTarget(b), c.healthCheck, c.healthTimeout);
    slot.running = false;
    if (this.stopped || this.slots.get(b) !== slot) return;
    // lb4 itself was short of descriptors (or memory...): no verdict on the backend, try again at the next interval
    if (!result.inconclusive) this.target.checkResult(b, result);
    else this.target.inconclusive?.(b, result);
    const interval = this.target.config.healthInterval;
    const jitter = interval * 0.1 * (Math.random() * 2 - 1);
    this.schedule(b, slot, Math.max(1, Math.round(interval + jitter)));
  }
}
