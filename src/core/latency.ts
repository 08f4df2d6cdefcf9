/**
 * Per-backend request latency summary for /stats (`latency_ms`: p50, p90,
 * p99, max, count) in L7 mode. An HDR-like histogram: 8 sub-buckets per
 * power of two of microseconds (about 9 % relative error), in one
 * Uint32Array allocated with its backend (src/core/backend.ts `latency`);
 * record() does not allocate.
 */

const SUB = 8;
const BUCKETS = 40 * SUB; // 2^40 µs is about 12 days

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS);
  count = 0;
  maxUs = 0;

  /** Record one duration in microseconds. */
  record(us: number): void {
    if (us < 1) us = 1;
    if (us > this.maxUs) this.maxUs = us;
    this.count++;
    this.counts[bucketOf(us)]!++;
  }

  /** The value (µs) below which `q` (0..1) of the recorded durations fall; 0 when empty. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperOf(i), this.maxUs);
    }
    return this.maxUs;
  }

  /** The /stats summary in milliseconds (3 decimals). Allocates the result. */
  summary(): { count: number; p50: number; p90: number; p99: number; max: number } {
    const ms = (us: number): number => Math.round(us) / 1000;
    return { count: this.count, p50: ms(this.quantile(0.5)), p90: ms(this.quantile(0.9)), p99: ms(this.quantile(0.99)), max: ms(this.maxUs) };
  }
}

function bucketOf(us: number): number {
  const v = Math.floor(us);
  const exp = 31 - Math.clz32(v); // floor(log2 v), v >= 1
  if (exp < 3) return v; // 1..7 exact
  const sub = Math.floor((v - 2 ** exp) / 2 ** (exp - 3)); // 0..7
  const i = exp * SUB + sub - 16; // exp 3 → 8..15
  return i >= BUCKETS ? BUCKETS - 1 : i;
}

function upperOf(i: number): number {
  if (i < 8) return i;
  const exp = Math.floor((i + 16) / SUB);
  const sub = (i + 16) % SUB;
  return 2 ** exp + (sub + 1) * 2 ** (exp - 3);
}
