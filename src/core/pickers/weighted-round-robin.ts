/**
 * Weighted round robin, nginx's "smooth" variant (ngx_http_upstream_round_robin.c,
 * ngx_http_upstream_get_peer, M. Dounin 2012), as README "Strategies" requires:
 *
 *     for every backend: current += weight
 *     chosen = the backend with the largest current (the first in configured
 *              order on ties)
 *     chosen.current -= total            (total = sum of weights)
 *
 * Over every run of `total` picks each backend is chosen exactly `weight`
 * times, spread out: weights 5,1,1 give 0 0 1 0 2 0 0.
 *
 * Done naively that is O(n) per pick. Here it is O(log n) amortised and
 * allocation-free, and O(1) once a whole period has been seen:
 *
 * - After t steps, current_i = t * w_i - total * c_i (c_i = times chosen so
 *   far), a line in t. Choosing the largest current is a max over n lines at
 *   an increasing query point where only the chosen line changes (it drops by
 *   `total`). That is the kinetic tournament of Basch, Guibas and Hershberger
 *   ("Data structures for mobile data", SODA 1997, section 3): a complete
 *   binary tree whose nodes keep the winner of their two children and the
 *   first step at which the loser's line overtakes it (its certificate). A
 *   step replays the certificates that have failed, then recomputes the path
 *   from the chosen leaf to the root. Ties compare configured indices, so the
 *   sequence is nginx's exactly (a unit test checks it against the naive loop).
 * - The sequence is periodic: after `total` picks every current is 0 again.
 *   Dividing the weights by their gcd keeps the sequence and shortens the
 *   period. When the period is at most SCHEDULE_MEMO_LIMIT the picks of the
 *   first period are recorded in an Int32Array allocated at build, and later
 *   periods just read it.
 *
 * Alternatives (attempt k >= 1) return (first choice + k) mod n: other
 * backends, all n within n attempts, so a full heavy backend cannot block a
 * connection; they do not advance the schedule.
 * The schedule restarts at its beginning on every build.
 */
import type { BackendView, Picker, PickerFactory } from './picker.js';
import { gcd } from '../int.js';

/** Largest period (picks) recorded into a table; 4 MiB of Int32Array at most. */
export const SCHEDULE_MEMO_LIMIT = 1 << 20;


/**
 * Generates nginx's smooth weighted round-robin sequence one step at a time
 * with a kinetic tournament tree (see the module comment). next() is
 * O(log n) amortised and allocation-free.
 */
class SmoothSequence {
  private readonly n: number;
  /** Leaves start at `size` (a power of two >= n); padding leaves hold -1. */
  private readonly size: number;
  private readonly w: Float64Array;
  /** total * (times chosen), the intercept of each line. */
  private readonly b: Float64Array;
  /** Winner of each node at step t (-1: none). */
  private readonly win: Int32Array;
  /** Earliest step at which some certificate in the node's subtree fails. */
  private readonly fail: Float64Array;
  readonly total: number;
  /** The step being decided, 1-based. */
  private t: number;

  constructor(weights: Float64Array) {
    const n = weights.length;
    let size = 1;
    while (size < n) size <<= 1;
    let total = 0;
    for (let i = 0; i < n; i++) total += weights[i]!;
    this.n = n;
    this.size = size;
    this.w = weights;
    this.b = new Float64Array(n);
    this.win = new Int32Array(2 * size);
    this.fail = new Float64Array(2 * size);
    this.total = total;
    this.t = 1;
    this.reset();
  }

  /** Back to step 1 with every current at 0 (the state at the start of each period). */
  reset(): void {
    const { n, size, win, fail } = this;
    this.b.fill(0);
    this.t = 1;
    for (let i = 0; i < size; i++) {
      win[size + i] = i < n ? i : -1;
      fail[size + i] = Infinity;
    }
    for (let node = size - 1; node >= 1; node--) this.recompute(node);
  }

  /** The index chosen at the current step; advances one step. */
  next(): number {
    this.advance(1);
    const j = this.win[1]!;
    this.b[j] += this.total;
    for (let node = (this.size + j) >> 1; node >= 1; node >>= 1) this.recompute(node);
    this.t++;
    return j;
  }

  /** Recompute every node whose subtree has a certificate failing by step t. */
  private advance(node: number): void {
    if (this.fail[node]! > this.t) return;
    this.advance(2 * node);
    this.advance(2 * node + 1);
    this.recompute(node);
  }

  /** Winner of `node` at step t from its children, and its next failure step. */
  private recompute(node: number): void {
    const { w, b, win, fail, t } = this;
    const l = 2 * node;
    const x = win[l]!;
    const y = win[l + 1]!;
    let winner = x;
    let own = Infinity;
    if (x >= 0 && y >= 0) {
      const vx = w[x]! * t - b[x]!;
      const vy = w[y]! * t - b[y]!;
      const loser = vx > vy || (vx === vy && x < y) ? y : x;
      winner = loser === y ? x : y;
      // The loser's line overtakes only if it is steeper: at the first step
      // t' with dw * t' > db (or >= when the loser comes first on ties).
      const dw = w[loser]! - w[winner]!;
      if (dw > 0) {
        const q = (b[loser]! - b[winner]!) / dw;
        own = loser < winner ? Math.ceil(q) : Math.floor(q) + 1;
      }
    } else if (x < 0) {
      winner = y;
    }
    win[node] = winner;
    const fl = fail[l]!;
    const fr = fail[l + 1]!;
    fail[node] = own < fl ? (own < fr ? own : fr) : fl < fr ? fl : fr;
  }
}

class WeightedRoundRobinPicker implements Picker {
  private readonly n: number;
  private readonly seq: SmoothSequence;
  private readonly period: number;
  /** The first period's picks, or null when the period exceeds the memo limit. */
  private readonly table: Int32Array | null;
  private filled: number;
  private pos: number;
  private last: number;

  constructor(backends: readonly BackendView[], memoLimit: number) {
    const n = backends.length;
    const weights = new Float64Array(n);
    let g = 0;
    for (let i = 0; i < n; i++) {
      const wi = backends[i]!.weight;
      weights[i] = wi >= 1 ? Math.floor(wi) : 1;
      g = gcd(weights[i]!, g);
    }
    if (g > 1) for (let i = 0; i < n; i++) weights[i] = weights[i]! / g;
    this.n = n;
    this.seq = new SmoothSequence(weights);
    this.period = this.seq.total;
    this.table = this.period <= memoLimit ? new Int32Array(this.period) : null;
    this.filled = 0;
    this.pos = 0;
    this.last = 0;
  }

  /**
   * attempt 0: the next backend of the smooth schedule; attempt k >= 1:
   * (that backend + k) mod n. `key` is not read. O(1) from the table,
   * O(log n) amortised before it is filled; no allocation.
   */
  pick(_key: number, attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    if (attempt > 0) return (this.last + (attempt % n)) % n;
    const pos = this.pos;
    let i: number;
    const table = this.table;
    if (pos < this.filled) {
      i = table![pos]!;
    } else {
      i = this.seq.next();
      if (table !== null) {
        table[pos] = i;
        this.filled = pos + 1;
      }
    }
    if (pos + 1 === this.period) {
      this.pos = 0;
      if (table === null) this.seq.reset();
    } else {
      this.pos = pos + 1;
    }
    this.last = i;
    return i;
  }
}

/**
 * Build a smooth weighted round-robin picker. `memoLimit` (tests only)
 * bounds the period recorded into a table; above it every pick runs the
 * kinetic tournament. Allocates O(n + min(period, memoLimit)) at build.
 */
export function buildWeightedRoundRobin(
  backends: readonly BackendView[],
  memoLimit: number = SCHEDULE_MEMO_LIMIT,
): Picker {
  return new WeightedRoundRobinPicker(backends, memoLimit);
}

/**
 * `weighted-round-robin` (`weighted`, `wrr`, `weighted_round_robin`): nginx's
 * smooth weighted round robin. Needs nothing from the request.
 */
export const weightedRoundRobin: PickerFactory = {
  name: 'weighted-round-robin',
  aliases: ['weighted', 'wrr', 'weighted_round_robin'],
  needs: 'none',
  build(backends: readonly BackendView[], _random: () => number): Picker {
    return buildWeightedRoundRobin(backends);
  },
};
