/**
 * Hashing of keys (client IPs, host names, header and cookie values, backend
 * names) to unsigned 32-bit integers. Pure, deterministic across processes
 * and platforms, no allocation.
 *
 * FNV-1a over UTF-16 code units, finished with MurmurHash3's fmix32 so that
 * keys differing in one character (10.0.0.1 vs 10.0.0.2) spread over the
 * whole 32-bit range, which Maglev and modulo bucketing rely on.
 */

/** MurmurHash3 finaliser: a bijective avalanche of a 32-bit value. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hash a string (or part of it) to u32. `seed` gives independent hash functions. */
export function hashString(s: string, seed = 0, start = 0, end = s.length): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** Hash bytes (a Buffer slice) to u32, with the same function as hashString for ASCII. */
export function hashBytes(b: Uint8Array, start = 0, end = b.length, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = start; i < end; i++) {
    h ^= b[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

/** Combine a key hash with a small integer (an attempt number) into a new u32. */
export function mix32(key: number, n: number): number {
  return fmix32((key ^ Math.imul(n + 1, 0x9e3779b9)) >>> 0);
}
