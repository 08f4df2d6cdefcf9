/**
 * The picker contract (docs/architecture.md).
 *
 * Building is slow, picking is fast: a pool builds a new picker whenever the
 * set of backends it may use, or their weights, change, and swaps one
 * reference. `pick()` is O(1) or O(log n), never allocates, and knows nothing
 * of health, sockets or retries: the pool only hands it backends that may be
 * used, and skips (with a bounded number of attempts) those that are full.
 */

/** What a picker may know about one backend. Index = position in the snapshot. */
export interface BackendView {
  /** Stable identity (unique in a pool); hashing strategies key on it. */
  readonly name: string;
  /** Effective weight, an integer >= 1 (slow start already applied). */
  readonly weight: number;
  /** Live count of open connections (L4) or in-flight requests (L7). */
  readonly active: number;
  /** Latency estimate (p2c-ewma reads it); absent = no sample. */
  readonly ewma?: LatencyView;
}

/** A backend's peak-EWMA latency as a picker sees it (src/core/ewma.ts). */
export interface LatencyView {
  /** ms */
  readonly value: number;
  /** False until the first sample. */
  readonly sampled: boolean;
}

/** Pool-wide facts the pool keeps current for its picker (read live by pick()). */
export interface PoolLive {
  /**
   * The lowest latency estimate (ms) among the eligible backends that have
   * a sample, 0 when none has; recomputed once a second (Pool.decayLatency).
   * p2c-ewma charges it to a backend with no sample yet.
   */
  lowestLatency: number;
}

/** What a pool hands every build(), besides the backends. */
export interface PickerOptions {
  /**
   * ip-hash: bounded loads, in percent of the average load (0 = off,
   * else >= 100): `--hash-balance-factor`.
   */
  readonly hashBalanceFactor: number;
  readonly live: PoolLive;
}

/** Options for a picker built outside a pool (tests, benchmarks): factor off, no latency. */
export const DEFAULT_PICKER_OPTIONS: PickerOptions = Object.freeze({ hashBalanceFactor: 0, live: Object.freeze({ lowestLatency: 0 }) });

export interface Picker {
  /**
   * Index into the snapshot's backends, or -1 when there are none.
   * `key` is a 32-bit unsigned hash of the client key (only hashing
   * strategies read it); `attempt` is 0 for the first pick of a
   * connection and counts up on each retry or skip, so a deterministic
   * strategy can return a different backend. Must not allocate.
   */
  pick(key: number, attempt: number): number;
  /**
   * Optional: the live `active` count of the backend at `index` changed.
   * Least-connections keeps its ordering structure current with it.
   */
  update?(index: number): void;
}

export interface PickerFactory {
  /** Canonical name, as shown in /stats. */
  readonly name: string;
  readonly aliases: readonly string[];
  /** What the strategy needs from a request: nothing, the client IP, or the HTTP head. */
  readonly needs: 'none' | 'client-ip' | 'http';
  /**
   * False when slow start must not change this strategy's weights: for
   * consistent hashing a ramp would move keys back and forth and rebuild a
   * large table on every step. Default true.
   */
  readonly slowStart?: boolean;
  /**
   * Build a picker over `backends` (never empty). `random` is a source of
   * uniform numbers in [0, 1); strategies that do not need it ignore it.
   * `startAfter` is the index (in `backends`) of the backend the previous
   * picker chose last, or -1: cyclic strategies continue after it, so that
   * frequent rebuilds (health flaps, slow-start ramps) do not keep favouring
   * the first backends. `options` carries the pool's settings for the
   * strategies that read them (absent: DEFAULT_PICKER_OPTIONS).
   */
  build(backends: readonly BackendView[], random: () => number, startAfter?: number, options?: PickerOptions): Picker;
}
