/**
 * A pool: its backends, the picker snapshot over the eligible ones, and the
 * panic rule of README "Health and failover". Pure (clock and randomness are injected).
 *
 * Building is slow, picking is fast: every state, weight or membership change
 * calls rebuild(), which computes the eligible set, applies slow start, builds
 * a new picker and swaps it in. pick() only asks the picker and skips what
 * cannot take a connection right now (the backend that just failed, a full
 * backend), with a hard bound on tries and then a scan.
 */
import type { Backend } from './backend.js';
import type { Picker, PickerFactory, PickerOptions, PoolLive } from './pickers/picker.js';
import { isRamping, slowStartWeight } from './slow-start.js';

/** Weights are multiplied by this while slow start is on, so that ramps of weight-1 backends have steps. */
const SLOW_START_SCALE = 10;

export interface PoolOptions {
  /** Per-backend connection cap (0 = none). */
  backendMaxConns: number;
  /** Slow-start window in ms (0 = off). */
  slowStart: number;
  /** ip-hash bounded loads, percent of the average load (0 = off): --hash-balance-factor. */
  hashBalanceFactor?: number;
  random: () => number;
  now: () => number;
  /** Called at the state change itself when panic mode starts (true) or ends (false). */
  onPanic?: (pool: Pool, panic: boolean) => void;
}

export class Pool {
  readonly name: string;
  backends: Backend[];
  factory: PickerFactory;
  readonly opts: PoolOptions;
  /** The eligible backends, in configured order; index = picker index. */
  private snap: Backend[] = [];
  private picker: Picker | null = null;
  /** No backend up but some down: picking among the down ones. */
  panic = false;
  /** The longest its wait queue has been (src/stream/pools.ts keeps the queue). */
  maxQueued = 0;
  /** Set by pick() when it returned null because every candidate was full (queue), not because there was none. */
  lastPickFull = false;
  private scanStart = 0;
  /** The backend reserved last, so a rebuilt cyclic picker continues after it. */
  private lastPick: Backend | null = null;
  /** Pool-wide facts its picker reads live (the lowest latency, for p2c-ewma). */
  readonly live: PoolLive = { lowestLatency: 0 };

  constructor(name: string, backends: Backend[], factory: PickerFactory, opts: PoolOptions) {
    this.name = name;
    this.backends = backends;
    this.factory = factory;
    this.opts = opts;
    this.rebuild();
  }

  /** Backends currently handed to the picker. */
  get eligible(): readonly Backend[] {
    return this.snap;
  }

  /** Count of backends whose state is `up`. */
  upCount(): number {
    let n = 0;
    for (const b of this.backends) if (b.state === 'up') n++;
    return n;
  }

  /** Recompute the eligible set and the picker. Call after any state, weight or membership change. */
  rebuild(): void {
    const now = this.opts.now();
    const window = this.slowStartWindow();
    const scale = window > 0 ? SLOW_START_SCALE : 1;
    const usable: Backend[] = [];
    let healthy = 0;
    const best = this.bestPriorities();
    for (const b of this.backends) {
      b.slot = -1;
      if (b.admin !== 'enabled' || b.removed || b.configWeight <= 0) continue;
      // an SRV target of a higher priority than its source's best one that is up waits
      if (b.priority >= 0 && best !== null && b.priority > (best.get(b.source) ?? Infinity)) continue;
      usable.push(b);
      if (b.healthy) healthy++;
    }
    const panic = healthy === 0 && usable.length > 0;
    const snap: Backend[] = [];
    for (const b of usable) {
      const trial = b.check.up && b.circuit.state === 'half-open' && !b.circuit.trialInFlight;
      if (panic || b.healthy || trial) {
        b.weight = slowStartWeight(b.configWeight * scale, b.upSince, window, now);
        b.slot = snap.length;
        snap.push(b);
      }
    }
    this.snap = snap;
    const startAfter = this.continueAfter();
    const options: PickerOptions = { hashBalanceFactor: this.opts.hashBalanceFactor ?? 0, live: this.live };
    this.picker = snap.length > 0 ? this.factory.build(snap, this.opts.random, startAfter, options) : null;
    this.updateLowestLatency();
    if (panic !== this.panic) {
      this.panic = panic;
      this.opts.onPanic?.(this, panic);
    }
  }

  /**
   * RFC 2782 priorities, with lb4's backend state as the arbiter of "up":
   * for each source that gave priorities (srv:), the lowest priority that has
   * a backend up (admin enabled, not removed, healthy). Backends of a higher
   * priority get no traffic while it is there; when no backend of a source is
   * up, none is held back (panic mode may then try them all). Null when no
   * backend has a priority (the usual case: no map is built).
   */
  private bestPriorities(): Map<string, number> | null {
    let best: Map<string, number> | null = null;
    for (const b of this.backends) {
      if (b.priority < 0 || b.state !== 'up' || b.configWeight <= 0) continue;
      best ??= new Map();
      const cur = best.get(b.source);
      if (cur === undefined || b.priority < cur) best.set(b.source, b.priority);
    }
    return best;
  }

  /**
   * Index in the new snapshot after which a cyclic picker continues: the
   * backend picked last, or (when it left the snapshot) the one before the
   * next survivor in configured order; -1 to start at the beginning.
   */
  private continueAfter(): number {
    const last = this.lastPick;
    if (last === null) return -1;
    if (last.slot >= 0) return last.slot;
    const all = this.backends;
    const at = all.indexOf(last);
    if (at < 0) return -1;
    for (let j = 1; j < all.length; j++) {
      const next = all[(at + j) % all.length]!;
      if (next.slot >= 0) return next.slot - 1;
    }
    return -1;
  }

  /**
   * Once a second (the balancer's housekeeping): every backend's latency
   * estimate decays toward 0 by the time since its last update (a backend
   * avoided for being slow gets tried again), then the lowest estimate
   * among the eligible ones is recomputed. `now` is the monotonic ms clock
   * the samples use (performance.now()). O(backends); pick() never reads a
   * clock.
   */
  decayLatency(now: number): void {
    for (const b of this.backends) b.ewma.decay(now);
    this.updateLowestLatency();
  }

  /** live.lowestLatency = the lowest estimate among sampled eligible backends, 0 when none has one. */
  private updateLowestLatency(): void {
    let lowest = Infinity;
    for (const b of this.snap) if (b.ewma.sampled && b.ewma.value < lowest) lowest = b.ewma.value;
    this.live.lowestLatency = lowest === Infinity ? 0 : lowest;
  }

  /** The earliest time a slow-start ramp needs another rebuild, or 0 when nothing ramps. */
  rampingUntil(): number {
    const now = this.opts.now();
    const window = this.slowStartWindow();
    let until = 0;
    for (const b of this.snap) {
      if (isRamping(b.upSince, window, now)) until = Math.max(until, b.upSince + window);
    }
    return until;
  }

  /** The slow-start window for this pool's strategy (0 when off or when the strategy opts out). */
  private slowStartWindow(): number {
    return this.factory.slowStart === false ? 0 : this.opts.slowStart;
  }

  private isFull(b: Backend): boolean {
    const cap = this.opts.backendMaxConns;
    return cap > 0 && b.active >= cap;
  }

  /**
   * Choose a backend for a new connection (or request) and reserve a slot on
   * it (active + 1). `attempt` counts the tries already made for this client;
   * `avoid` is the backend whose connect just failed (never returned). Returns
   * null when nothing can be tried; then `lastPickFull` tells whether that was
   * because every candidate was full (the caller queues) or there was none.
   */
  pick(key: number, attempt: number, avoid: Backend | null): Backend | null {
    this.lastPickFull = false;
    const picker = this.picker;
    const snap = this.snap;
    const n = snap.length;
    if (picker === null || n === 0) return null;
    let sawFull = false;
    const tries = n + 2;
    for (let a = 0; a < tries; a++) {
      const i = picker.pick(key, attempt + a);
      if (i < 0 || i >= n) break;
      const b = snap[i]!;
      if (b === avoid) continue;
      if (this.isFull(b)) {
        sawFull = true;
        continue;
      }
      return this.reserve(b);
    }
    // The picker kept returning unusable ones: scan once from a rotating start.
    const start = this.scanStart++ % n;
    for (let j = 0; j < n; j++) {
      const b = snap[(start + j) % n]!;
      if (b === avoid) continue;
      if (this.isFull(b)) {
        sawFull = true;
        continue;
      }
      return this.reserve(b);
    }
    this.lastPickFull = sawFull;
    return null;
  }

  /** True when some eligible backend could take a connection now (used to wake queued clients). */
  hasFreeSlot(): boolean {
    for (const b of this.snap) if (!this.isFull(b)) return true;
    return false;
  }

  private reserve(b: Backend): Backend {
    this.lastPick = b;
    b.active++;
    b.noteActive();
    if (b.slot >= 0) this.picker!.update?.(b.slot);
    if (b.circuit.state === 'half-open') {
      // the one trial connection of a half-open circuit: nobody else until it resolves
      b.circuit.trialInFlight = true;
      this.rebuild();
    }
    return b;
  }

  /** The connection (or request) reserved on `b` reached it: count it. */
  connected(b: Backend, now: number): void {
    b.total++;
    b.lastUsed = now;
  }

  /** Give back a slot reserved by pick(). */
  release(b: Backend): void {
    b.active--;
    if (b.slot >= 0) this.picker?.update?.(b.slot);
  }
}
