/**
 * Peak-sensitive EWMA of a backend's latency, for the `p2c-ewma` strategy
 * (src/core/pickers/p2c-ewma.ts), as Finagle's and Linkerd's PeakEwma
 * (finagle-core `loadbalancer/PeakEwma.scala`; linkerd2-proxy
 * `tower::load::PeakEwma`):
 *
 * - a sample above the current value replaces it at once (the peak: a
 *   backend that turns slow is avoided from its first slow answer);
 * - a sample at or below it pulls the value toward itself with weight
 *   1 - e^(-dt/tau), dt being the time since the previous update and
 *   tau = EWMA_DECAY_MS (10 s): the value falls back over seconds, so one
 *   fast answer does not clear a bad record;
 * - with no sample the value decays toward 0 the same way (decay(), called
 *   once a second by the pool's housekeeping): a backend that was slow and
 *   was therefore avoided gets tried again, and its next sample decides.
 *
 * Samples (ms): L4, the connect time (connect start → connected, TLS
 * handshake included when lb4 speaks TLS to the backend), recorded by the
 * stream; L7, the time to the response's first byte, recorded by the HTTP
 * exchange through Backend.observeLatency(). `now` is a monotonic clock in
 * ms (performance.now()); nothing here reads a clock.
 *
 * observe() and decay() are O(1) and allocate nothing.
 */

/** The decay time constant tau (ms): after tau without a sample, 1/e of the value is left. */
export const EWMA_DECAY_MS = 10_000;

export class PeakEwma {
  /** The estimate in ms (0 before the first sample). */
  value = 0;
  /** True once a sample was observed. */
  sampled = false;
  /** `now` of the last observe() or decay(). */
  private stamp = 0;

  /** Record a latency sample of `ms` taken at `now`. */
  observe(ms: number, now: number): void {
    if (!(ms >= 0)) return;
    if (!this.sampled) {
      this.sampled = true;
      this.value = ms;
      this.stamp = now;
      return;
    }
    const dt = now > this.stamp ? now - this.stamp : 0;
    this.stamp = now;
    if (ms > this.value) {
      this.value = ms;
      return;
    }
    const w = Math.exp(-dt / EWMA_DECAY_MS);
    this.value = this.value * w + ms * (1 - w);
  }

  /** No sample since the last update: decay toward 0 by the time passed until `now`. */
  decay(now: number): void {
    if (!this.sampled) return;
    const dt = now - this.stamp;
    if (dt <= 0) return;
    this.stamp = now;
    this.value *= Math.exp(-dt / EWMA_DECAY_MS);
  }
}
