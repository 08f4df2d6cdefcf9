/**
 * The picker contract (DESIGN.md, "The picker contract").
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
}

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
   * the first backends.
   */
  build(backends: readonly BackendView[], random: () => number, startAfter?: number): Picker;
}
