/**
 * IP hash: consistent hashing of the client key (README "Strategies"), on a hash
 * ring with virtual nodes: Karger et al., "Consistent hashing and random
 * trees" (STOC 1997), section 4 (each cache is copied to several random
 * points of the unit circle and a key goes to the first point clockwise),
 * with weights as in ketama (vnodes proportional to weight).
 *
 * Why a ring, and not Maglev or rendezvous hashing:
 * - Maglev's table is rebuilt as a whole, so when one backend leaves a few
 *   keys of other backends move too; ip-hash promises that exactly the leaver's keys move.
 * - Weighted rendezvous hashing (Thaler & Ravishankar 1998; weights per
 *   Schindelhauer & Schomaker 2005) is exact but scores every backend on
 *   every pick, O(n); its O(log n) hierarchical forms are no longer exact.
 * - On a ring, a backend's points depend on its own name and weight only.
 *   Removing it deletes its points: keys that were on them go to the next
 *   point clockwise, every other key still finds the same first point; adding
 *   it back restores the same ring. Lookup is one binary search, O(log n).
 *
 * The ring, identical in every lb4 process for the same (name, weight) set:
 * - Backend named s with weight w gets w * V points; point j (0-based) sits at
 *   fmix32(mix32(hashString(s), j) ^ hashString(s, 0x5bd1e995)). The second
 *   hash keeps two names whose first hashes collide apart.
 * - V = 1024 >> k with the smallest k >= 0 that keeps sum(w) * V <= 2^20
 *   points (about 14 MiB of typed arrays at most); beyond k = 10 each backend gets
 *   max(1, floor(w * 1024 / 2^k)) points. 1024 points per unit of weight keep
 *   5 equal backends within about +-5% of an even share (160, ketama's count,
 *   often misses +-15%). Because V depends on
 *   sum(w), the exact "only the leaver's keys move" holds while sum(w) stays
 *   in the same power-of-two band, which is always the case up to
 *   sum(w) = 1024; a change across a band boundary remaps more keys.
 * - Points at equal positions are ordered by backend name (then configured
 *   index, for duplicate names), so the configured order never matters.
 * - A key goes to the first point at or after it, wrapping to the first point.
 *
 * Alternatives (attempt k >= 1) return the k-th distinct backend met walking
 * clockwise from the key's point: deterministic, different from attempt 0,
 * and all n within n attempts. A precomputed "next point with another owner"
 * array makes attempt 1 O(1); later attempts continue the walk of the
 * previous attempt when the caller asks in order (the usual case), so each
 * costs only the points skipped, marking seen backends in a stamped typed array.
 */
import { hashString, fmix32, mix32 } from '../hash.js';
import type { BackendView, Picker, PickerFactory, PickerOptions } from './picker.js';
import { DEFAULT_PICKER_OPTIONS } from './picker.js';

/** Points per unit of weight when the ring is small enough. */
export const VNODES_PER_WEIGHT = 1024;
/** The ring holds at most about this many points. */
export const MAX_RING_POINTS = 1 << 20;
/** Seed of the second name hash in the point formula. */
const SECOND_SEED = 0x5bd1e995;

/** Position of point `j` of a backend whose name hashes are h1 and h2. */
function pointPosition(h1: number, h2: number, j: number): number {
  return fmix32((mix32(h1, j) ^ h2) >>> 0);
}

class IpHashPicker implements Picker {
  protected readonly n: number;
  /** Point positions, ascending. */
  private readonly pos: Uint32Array;
  /** Configured index of each point's backend. */
  protected readonly owner: Int32Array;
  /** Next point (cyclically) whose owner differs from this point's, or itself when n = 1. */
  protected readonly nextOther: Int32Array;
  /** start[b] = first point whose position's top `bits` bits are >= b. */
  private readonly start: Uint32Array;
  private readonly shift: number;
  /** Walk state for attempts >= 1. */
  protected readonly stamp: Uint32Array;
  protected gen: number;
  protected walkKey: number;
  private walkAttempt: number;
  private walkPoint: number;

  constructor(backends: readonly BackendView[]) {
    const n = backends.length;
    this.n = n;

    // Backends in name order, so that ties between equal positions never
    // depend on the configured order.
    const order: number[] = [];
    for (let i = 0; i < n; i++) order.push(i);
    order.sort((a, b) => {
      const x = backends[a]!.name;
      const y = backends[b]!.name;
      return x < y ? -1 : x > y ? 1 : a - b;
    });

    const weights = new Float64Array(n);
    let sumW = 0;
    for (let i = 0; i < n; i++) {
      const w = backends[i]!.weight;
      weights[i] = w >= 1 ? Math.floor(w) : 1;
      sumW += weights[i]!;
    }
    let scale = VNODES_PER_WEIGHT;
    while (scale > 1 / (1 << 30) && sumW * scale > MAX_RING_POINTS) scale /= 2;
    let total = 0;
    const count = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.max(1, Math.floor(weights[i]! * scale));
      count[i] = c;
      total += c;
    }

    // Points in name order, then a stable radix sort by position.
    const keys = new Uint32Array(total);
    const owners = new Int32Array(total);
    let k = 0;
    for (let r = 0; r < n; r++) {
      const i = order[r]!;
      const name = backends[i]!.name;
      const h1 = hashString(name);
      const h2 = hashString(name, SECOND_SEED);
      for (let j = 0; j < count[i]!; j++) {
        keys[k] = pointPosition(h1, h2, j);
        owners[k] = i;
        k++;
      }
    }
    radixSortPairs(keys, owners);
    this.pos = keys;
    this.owner = owners;

    // Bucket index over the top bits: about two points per bucket.
    let bits = 1;
    while (bits < 24 && 1 << (bits + 1) <= total) bits++;
    this.shift = 32 - bits;
    const buckets = 1 << bits;
    const start = new Uint32Array(buckets + 1);
    for (let p = 0; p < total; p++) start[(keys[p]! >>> this.shift) + 1]++;
    for (let b = 0; b < buckets; b++) start[b + 1] = start[b + 1]! + start[b]!;
    this.start = start;

    // nextOther: two passes backwards round the ring, so runs that wrap
    // past the end are resolved too; -1 left means a single owner.
    const nextOther = new Int32Array(total).fill(-1);
    for (let step = 2 * total - 1; step >= 0; step--) {
      const p = step % total;
      const q = p + 1 === total ? 0 : p + 1;
      nextOther[p] = owners[q] !== owners[p] ? q : nextOther[q]!;
    }
    for (let p = 0; p < total; p++) if (nextOther[p] === -1) nextOther[p] = p;
    this.nextOther = nextOther;

    this.stamp = new Uint32Array(n);
    this.gen = 0;
    this.walkKey = -1;
    this.walkAttempt = 0;
    this.walkPoint = 0;
  }

  /** A new stamp generation for a walk (stamps wrap after 2^32 - 1 walks). */
  protected nextGen(): void {
    if (++this.gen === 0xffffffff) {
      this.stamp.fill(0);
      this.gen = 1;
    }
  }

  /** Index of the first point at or after `key`, wrapping to 0. O(log n), no allocation. */
  protected lookup(key: number): number {
    const pos = this.pos;
    const b = key >>> this.shift;
    let lo = this.start[b]!;
    let hi = this.start[b + 1]!;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pos[mid]! < key) lo = mid + 1;
      else hi = mid;
    }
    return lo === pos.length ? 0 : lo;
  }

  /**
   * attempt 0: the owner of the first point clockwise from `key` (a u32);
   * attempt k >= 1: the k-th distinct backend after it clockwise (mod n).
   * No allocation.
   */
  pick(key: number, attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    key = key >>> 0;
    const p0 = this.lookup(key);
    const owner = this.owner;
    if (attempt <= 0 || n === 1) return owner[p0]!;
    const a = attempt % n;
    if (a === 0) return owner[p0]!;

    const stamp = this.stamp;
    const nextOther = this.nextOther;
    let found: number;
    let p: number;
    if (this.walkKey === key && this.walkAttempt === a - 1) {
      found = a - 1;
      p = this.walkPoint;
    } else {
      this.nextGen();
      found = 0;
      p = p0;
      stamp[owner[p0]!] = this.gen;
    }
    const gen = this.gen;
    while (found < a) {
      p = nextOther[p]!;
      while (stamp[owner[p]!] === gen) p = nextOther[p]!;
      stamp[owner[p]!] = gen;
      found++;
    }
    this.walkKey = key;
    this.walkAttempt = a;
    this.walkPoint = p;
    return owner[p]!;
  }
}

/**
 * Consistent hashing with bounded loads (`--hash-balance-factor N`):
 * Mirrokni, Thorup and Zadimoghaddam, "Consistent Hashing with Bounded
 * Loads" (SODA 2018), section 2, as HAProxy's `hash-balance-factor`
 * (src/lb_chash.c, chash_server_is_eligible). With T connections (L4) or
 * in-flight requests (L7) open on the eligible backends, and the one being
 * placed, backend i may hold at most
 *
 *     capacity_i = max(1, ceil(N/100 × (T + 1) × w_i / W))      (W = sum of weights)
 *
 * A key whose ring owner is at its capacity goes to the next backend
 * clockwise that is below its own (the paper's forwarding rule), so no
 * backend ever holds more than N% of the weighted average + 1, and a
 * backend's keys stay put while it is below its bound. The sum of the
 * capacities exceeds T, so some backend is always below its own: the walk
 * ends, after O(1) backends in the usual case (the paper's bound on the
 * expected forwarding distance is O(1/ε²) for N = 100(1+ε)).
 *
 * T is kept incrementally: the pool calls update(i) after every change of a
 * backend's `active` (reserve and release), which adds the difference to a
 * running total. pick() attempt 0 is O(log n) plus the walk, allocation-free;
 * alternatives (attempt >= 1) are the plain ring walk of IpHashPicker. With
 * nothing open every capacity is 1 > 0, so keys map exactly as without the
 * factor.
 */
class BoundedIpHashPicker extends IpHashPicker {
  private readonly backends: readonly BackendView[];
  /** N / 100. */
  private readonly factor: number;
  /** w_i / W. */
  private readonly share: Float64Array;
  /** Copy of backends[i].active as of the last update(i). */
  private readonly active: Float64Array;
  /** Sum of `active`: T. */
  private total: number;

  constructor(backends: readonly BackendView[], factorPercent: number) {
    super(backends);
    const n = backends.length;
    this.backends = backends;
    this.factor = factorPercent / 100;
    this.share = new Float64Array(n);
    this.active = new Float64Array(n);
    let sumW = 0;
    for (let i = 0; i < n; i++) sumW += ringWeight(backends[i]!.weight);
    let total = 0;
    for (let i = 0; i < n; i++) {
      this.share[i] = ringWeight(backends[i]!.weight) / sumW;
      const a = backends[i]!.active;
      this.active[i] = a;
      total += a;
    }
    this.total = total;
  }

  /** Is backend i below its capacity for one more? */
  private fits(i: number): boolean {
    const cap = Math.ceil(this.factor * (this.total + 1) * this.share[i]! - 1e-9);
    return this.active[i]! < (cap > 1 ? cap : 1);
  }

  /**
   * attempt 0: the ring owner of `key`, or the first backend clockwise from
   * it that is below its capacity; attempt k >= 1: the plain ring walk.
   */
  override pick(key: number, attempt: number): number {
    const n = this.n;
    if (n === 0) return -1;
    if (attempt > 0 || n === 1) return super.pick(key, attempt);
    const p0 = this.lookup(key >>> 0);
    const owner = this.owner;
    const first = owner[p0]!;
    if (this.fits(first)) return first;
    const stamp = this.stamp;
    const nextOther = this.nextOther;
    this.nextGen();
    this.walkKey = -1; // the alternatives' cached walk used the stamps
    const gen = this.gen;
    stamp[first] = gen;
    let p = p0;
    for (let seen = 1; seen < n; ) {
      p = nextOther[p]!;
      const o = owner[p]!;
      if (stamp[o] === gen) continue;
      stamp[o] = gen;
      seen++;
      if (this.fits(o)) return o;
    }
    return first;
  }

  /** The live `active` of backend `index` changed: keep T current. O(1). */
  update(index: number): void {
    if (!(index >= 0 && index < this.n)) return;
    const a = this.backends[index]!.active;
    this.total += a - this.active[index]!;
    this.active[index] = a;
  }
}

/** The weight a backend has on the ring (at least 1). */
function ringWeight(w: number): number {
  return w >= 1 ? Math.floor(w) : 1;
}

/**
 * Stable LSD radix sort, in place, of u32 keys each carrying an i32 value:
 * two 16-bit passes, through a scratch copy and back.
 */
function radixSortPairs(keys: Uint32Array, vals: Int32Array): void {
  const len = keys.length;
  const tmpK = new Uint32Array(len);
  const tmpV = new Int32Array(len);
  const counts = new Uint32Array(65536);
  scatter(keys, vals, tmpK, tmpV, 0, counts);
  scatter(tmpK, tmpV, keys, vals, 16, counts);
}

/** One counting-sort pass on the 16-bit digit at `shift`, from src to dst. */
function scatter(
  srcK: Uint32Array,
  srcV: Int32Array,
  dstK: Uint32Array,
  dstV: Int32Array,
  shift: number,
  counts: Uint32Array,
): void {
  const len = srcK.length;
  counts.fill(0);
  for (let i = 0; i < len; i++) counts[(srcK[i]! >>> shift) & 0xffff]++;
  let sum = 0;
  for (let d = 0; d < 65536; d++) {
    const c = counts[d]!;
    counts[d] = sum;
    sum += c;
  }
  for (let i = 0; i < len; i++) {
    const d = (srcK[i]! >>> shift) & 0xffff;
    const at = counts[d]!;
    counts[d] = at + 1;
    dstK[at] = srcK[i]!;
    dstV[at] = srcV[i]!;
  }
}

/**
 * `ip-hash` (`ip_hash`, `iphash`, `consistent-hash`): consistent hashing of
 * the client key on a weighted ring keyed by backend name. Needs the client
 * IP (or the `--hash-key` value), hashed to u32 by the caller. With
 * `options.hashBalanceFactor` > 0, bounded loads (BoundedIpHashPicker).
 */
export const ipHash: PickerFactory = {
  name: 'ip-hash',
  aliases: ['ip_hash', 'iphash', 'consistent-hash'],
  needs: 'client-ip',
  slowStart: false,
  build(backends: readonly BackendView[], _random: () => number, _startAfter?: number, options: PickerOptions = DEFAULT_PICKER_OPTIONS): Picker {
    const f = options.hashBalanceFactor;
    return f > 0 ? new BoundedIpHashPicker(backends, f) : new IpHashPicker(backends);
  },
};
