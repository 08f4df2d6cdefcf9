/**
 * Power of two choices over peak-EWMA latency (`p2c-ewma`), as Finagle's
 * and Linkerd's balancers do: Mitzenmacher, "The Power of Two Choices in
 * Randomized Load Balancing" (IEEE TPDS 12(10), 2001) for the two random
 * candidates, and Finagle's PeakEwma load metric for their cost
 * (finagle-core `loadbalancer/PeakEwma.scala`: cost = EWMA × (pending + 1)).
 *
 * pick(), attempt 0: draw two distinct backends uniformly at random, take
 * the one with the lower
 *
 *     cost = latency × (active + 1)
 *
 * where latency is the backend's peak-EWMA (src/core/ewma.ts), and at
 * least LATENCY_FLOOR_MS; a backend with no sample yet is charged the pool's
 * lowest latency (PoolLive), so a new backend is tried rather than starved;
 * with no sample anywhere every cost is 0. Ties go to the one with fewer
 * active connections, then to the first drawn. Weights are not read (as in
 * Finagle and Linkerd; weight 0 still keeps a backend out, the pool never
 * hands it over).
 *
 * The floor: connect times on a LAN are a fraction of a millisecond, and
 * their differences there are measurement noise (when lb4's event loop got
 * to the connect callback). Peak-sensitive estimates of noise make one
 * backend look cheapest for seconds after another's hiccup, and traffic
 * herds to it whatever its load (measured: a backend slow to respond, which
 * connect times cannot see, got 43% of the requests instead of a third).
 * Below the floor, latencies compare equal and the connection counts decide,
 * as in least-connections; a backend slow to accept (tens of ms) still
 * stands out.
 *
 * Two random candidates instead of the global minimum: every lb4 process
 * (and every worker) picks with stale or partial knowledge; the least-cost
 * backend of all would take every new connection until its cost catches
 * up (herding), while two random choices spread the load and still avoid
 * the slow and the busy with high probability.
 *
 * Alternatives (attempt >= 1: the pool skips a full or just-failed backend,
 * or a connect is retried): a new draw of two, and when its winner is the
 * first choice of attempt 0, the other candidate; so with two backends the
 * retry goes to the other one. The pool bounds the tries and then scans.
 *
 * O(1), no allocation: two calls of the random source, four field reads
 * per candidate.
 */
import type { BackendView, LatencyView, Picker, PickerFactory, PickerOptions, PoolLive } from './picker.js';
import { DEFAULT_PICKER_OPTIONS } from './picker.js';

/** Latencies below this (ms) count as this: differences below it are noise. */
export const LATENCY_FLOOR_MS = 1;

/** Stands for a backend without an estimate (BackendView.ewma absent). */
const NO_SAMPLE: LatencyView = Object.freeze({ value: 0, sampled: false });

class P2cEwmaPicker implements Picker {
  declare private readonly backends: readonly BackendView[];
  /** backends[i].ewma, read live (one indirection fewer per candidate). */
  declare private readonly ewma: readonly LatencyView[];
  declare private readonly n: number;
  declare private readonly random: () => number;
  declare private readonly live: PoolLive;
  /** The choice of the last attempt-0 pick. */
  declare private first: number;

  constructor(backends: readonly BackendView[], random: () => number, live: PoolLive) {
    this.backends = backends;
    this.ewma = backends.map((b) => b.ewma ?? NO_SAMPLE);
    this.n = backends.length;
    this.random = random;
    this.live = live;
    this.first = 0;
  }

  pick(_key: number, attempt: number): number {
    const n = this.n;
    if (n <= 1) return n - 1;
    const i = uniformIndex(this.random(), n);
    let j = uniformIndex(this.random(), n - 1);
    if (j >= i) j++;
    const lowest = this.live.lowestLatency;
    const aa = this.backends[i]!.active;
    const ab = this.backends[j]!.active;
    const ca = latency(this.ewma[i]!, lowest) * (aa + 1);
    const cb = latency(this.ewma[j]!, lowest) * (ab + 1);
    let win = i;
    let lose = j;
    if (cb < ca || (cb === ca && ab < aa)) {
      win = j;
      lose = i;
    }
    if (attempt <= 0) {
      this.first = win;
      return win;
    }
    return win === this.first ? lose : win;
  }
}

/** The latency a backend is charged: its estimate (no sample: the pool's lowest), at least the floor; 0 when nothing is known. */
function latency(e: LatencyView, lowest: number): number {
  if (!e.sampled) {
    if (lowest <= 0) return 0;
    return lowest < LATENCY_FLOOR_MS ? LATENCY_FLOOR_MS : lowest;
  }
  return e.value < LATENCY_FLOOR_MS ? LATENCY_FLOOR_MS : e.value;
}

/** floor(u * n) for u in [0, 1] and n < 2^31, clamped so a source that returns 1 still yields n - 1. */
function uniformIndex(u: number, n: number): number {
  const i = (u * n) | 0;
  return i >= n ? n - 1 : i < 0 ? 0 : i;
}

/**
 * `p2c-ewma` (`peak-ewma`, `p2c`): the cheaper of two random backends by
 * peak-EWMA latency × (active + 1). Needs nothing from the request; reads
 * the pool's live lowest latency.
 */
export const p2cEwma: PickerFactory = {
  name: 'p2c-ewma',
  aliases: ['peak-ewma', 'p2c'],
  needs: 'none',
  // weights are not read, so a slow-start ramp would change nothing
  slowStart: false,
  build(backends: readonly BackendView[], random: () => number, _startAfter?: number, options: PickerOptions = DEFAULT_PICKER_OPTIONS): Picker {
    return new P2cEwmaPicker(backends, random, options.live);
  },
};
