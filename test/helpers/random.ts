/**
 * Deterministic numbers for the unit tests: the same seed gives the same
 * sequence on every machine, so a failure can be replayed.
 */

/** xorshift32: numbers in (0, 1) from `seed` (0 is taken as 1). */
export function prng(seed: number): () => number {
  // The state lives in a typed array: a uint32 above 2^31 kept in a plain
  // closure variable would be boxed on every call, and the allocation tests
  // draw from this source while they count bytes.
  const state = new Uint32Array(1);
  state[0] = seed >>> 0 || 1;
  return () => {
    let s = state[0]!;
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    state[0] = s;
    return state[0]! / 4294967296;
  };
}

/** A random source for strategies that must not draw: throws when called. */
export const noRandom = (): number => {
  throw new Error('this strategy must not draw random numbers');
};
