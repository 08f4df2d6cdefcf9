/**
 * Slow start: a backend that comes back up gets its weight ramped linearly
 * from about 10% (never below 1) to its full weight over the slow-start
 * window, so a cold cache or JIT is not flooded (HAProxy's `slowstart`,
 * nginx's `slow_start`). Pure: the caller passes the clock.
 */

/**
 * The weight to use at `now` for a backend of configured `weight` that came
 * up at `upSince` (0 = was up from the start: no ramp). Returns an integer.
 */
export function slowStartWeight(weight: number, upSince: number, windowMs: number, now: number): number {
  if (weight <= 0) return 0;
  if (windowMs <= 0 || upSince <= 0) return weight;
  const elapsed = now - upSince;
  if (elapsed >= windowMs) return weight;
  const frac = 0.1 + 0.9 * Math.max(0, elapsed) / windowMs;
  return Math.max(1, Math.min(weight, Math.ceil(weight * frac)));
}

/** True while a backend is still ramping at `now`. */
export function isRamping(upSince: number, windowMs: number, now: number): boolean {
  return windowMs > 0 && upSince > 0 && now - upSince < windowMs;
}
