/**
 * Random: each first choice (attempt 0) is uniform over the backends, drawn
 * from the `random` source given to build() (never Math.random, so tests
 * are deterministic; core is pure: clock and randomness come in as parameters).
 *
 * Alternatives (attempt >= 1) walk from the first choice with a stride drawn
 * uniformly among the strides coprime to n: attempt k returns
 * (first + k * stride) mod n. Because the stride is coprime to n, attempts
 * 0..n-1 of one connection visit every backend exactly once, and because
 * the stride is random, the overflow of a full backend spreads over the others
 * instead of all landing on its neighbour.
 */
import type { BackendView, Picker, PickerFactory } from './picker.js';
import { gcd } from '../int.js';


class RandomPicker implements Picker {
  private readonly n: number;
  private readonly random: () => number;
  /** Every s in [1, n) with gcd(s, n) = 1 (at least {1} when n >= 2). */
  private readonly strides: Int32Array;
  private first: number;
  private stride: number;

  constructor(n: number, random: () => number) {
    this.n = n;
    this.random = random;
    let count = 0;
    for (let s = 1; s < n; s++) if (gcd(s, n) === 1) count++;
    this.strides = new Int32Array(count);
    count = 0;
    for (let s = 1; s < n; s++) if (gcd(s, n) === 1) this.strides[count++] = s;
    this.first = 0;
    this.stride = 1;
  }

  /** Uniform draw on attempt 0, then a coprime walk from it. O(1), no allocation. */
  pick(_key: number, attempt: number): number {
    const n = this.n;
    if (n <= 1) return n - 1;
    if (attempt <= 0) {
      const i = uniformIndex(this.random(), n);
      this.first = i;
      this.stride = 0;
      return i;
    }
    if (this.stride === 0) {
      const strides = this.strides;
      this.stride = strides[uniformIndex(this.random(), strides.length)]!;
    }
    return (this.first + (attempt % n) * this.stride) % n;
  }
}

/** floor(u * n), clamped so a source that returns 1 still yields n - 1. */
function uniformIndex(u: number, n: number): number {
  const i = Math.floor(u * n);
  return i >= n ? n - 1 : i < 0 ? 0 : i;
}

/**
 * `random`: uniform over the backends, from the injected random source.
 * Needs nothing from the request.
 */
export const random: PickerFactory = {
  name: 'random',
  aliases: [],
  needs: 'none',
  build(backends: readonly BackendView[], rnd: () => number): Picker {
    return new RandomPicker(backends.length, rnd);
  },
};
